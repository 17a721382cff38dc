#!/usr/bin/env bash
# HyperPod lifecycle script (the cluster's OnCreate): provision this node with the
# hyperpod.eks_lifecycle collection.
#
# HyperPod runs it as root, from the folder it downloaded from the lifecycle S3 URI. It
#   - appends timestamped lines to /var/log/provision/provisioning.log (which HyperPod sends to
#     CloudWatch) and to its own output, between "[start]" and "[stop]" markers, line by line,
#     each synced to disk;
#   - in a bundle made by `make bundle`: checks every file against SHA256SUMS before anything else,
#     then installs the bundle's Ansible runtime for the OS's own Python (offline, from the
#     bundle's wheels) into /opt/hyperpod-eks-lifecycle/runtime, or reuses it on a re-run;
#   - runs `ansible-playbook -c local` on playbooks/on_create.yml, whose tasks the provision_log
#     callback also writes to the log;
#   - leaves a machine-readable report of the run beside the log (report.json, written by the
#     provision_report callback, or by this script when the run failed before the play could),
#     and, when hyperpod_metrics_textfile_dir is set, the same figures for node-exporter;
#   - on failure writes an "[error]" line naming the step, syncs, waits so that the log reaches
#     CloudWatch, and exits non-zero, so that HyperPod sees a failed node as failed.
#
# Settings (environment):
#   HYPERPOD_PROVISION_LOG    the log file            (/var/log/provision/provisioning.log)
#   HYPERPOD_PROVISION_REPORT the report              (report.json beside the log)
#   HYPERPOD_METRICS_TEXTFILE_DIR  node-exporter's textfile directory, for metrics (the
#                             settings' hyperpod_metrics_textfile_dir; empty: no metrics)
#   HYPERPOD_FAILURE_WAIT     seconds to wait before exiting on failure (60)
#   HYPERPOD_PLAYBOOK         the playbook            (playbooks/on_create.yml beside this script,
#                                                      or ../playbooks/on_create.yml in a checkout)
#   HYPERPOD_ANSIBLE_PLAYBOOK the ansible-playbook command (the bundle's runtime; outside a
#                             bundle, ansible-playbook on PATH)
#   HYPERPOD_PYTHON           the Python the runtime is installed for (/usr/bin/python3)
#   HYPERPOD_RUNTIME_DIR      where runtimes are installed (/opt/hyperpod-eks-lifecycle/runtime)
#   HYPERPOD_LOCK_FILE        the lock that keeps two runs from interleaving
#                             (/run/lock/hyperpod-eks-lifecycle.lock)
#   HYPERPOD_LOCK_WAIT        seconds a run waits for another one to finish before failing (600)
# Arguments are passed on to ansible-playbook (e.g. --check --diff, -e @my-vars.yml).
set -Eeuo pipefail

LOG_FILE=${HYPERPOD_PROVISION_LOG:-/var/log/provision/provisioning.log}
REPORT_FILE=${HYPERPOD_PROVISION_REPORT:-$(dirname "$LOG_FILE")/report.json}
FAILURE_WAIT=${HYPERPOD_FAILURE_WAIT:-60}
PYTHON=${HYPERPOD_PYTHON:-/usr/bin/python3}
RUNTIME_DIR=${HYPERPOD_RUNTIME_DIR:-/opt/hyperpod-eks-lifecycle/runtime}
LOCK_FILE=${HYPERPOD_LOCK_FILE:-/run/lock/hyperpod-eks-lifecycle.lock}
LOCK_WAIT=${HYPERPOD_LOCK_WAIT:-600}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT=$(basename "${BASH_SOURCE[0]}")
STEP=setup
PLAYBOOK_CMD=
PLAYBOOK=
RUN_STARTED=$(date +%s.%N)
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)-$$
STEPS=          # "name=seconds ..." of the bootstrap steps done, for the report
STEP_STARTED=

timestamp() {
  date -u +%Y-%m-%dT%H:%M:%S.%3NZ
}

now_ms() {
  echo $(($(date +%s%N) / 1000000))
}

seconds_since() {  # seconds_since START_MS: elapsed seconds with two decimals
  local ms=$(($(now_ms) - $1))
  printf '%d.%02d' $((ms / 1000)) $((ms % 1000 / 10))
}

# sync_log: flush the log to disk. Only the log's data where sync can do that (coreutils 8.24 and
# later; a plain sync flushes every file system, which costs seconds after a runtime install).
if sync --help 2>&1 | grep -q -- '--data'; then
  sync_log() { sync --data "$LOG_FILE"; }
else
  sync_log() { sync; }
fi

# log TAG MESSAGE...: one timestamped line to the log and to stdout, synced to disk.
log() {
  local line
  line="$(timestamp) [$1] ${*:2}"
  printf '%s\n' "$line" >>"$LOG_FILE"
  printf '%s\n' "$line"
  sync_log
}

# stamp TAG: the same for every line read from stdin, as it arrives.
stamp() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    line="$(timestamp) [$1] $line"
    printf '%s\n' "$line" >>"$LOG_FILE"
    printf '%s\n' "$line"
  done
  sync_log
}

# step NAME: the bootstrap step now running; the one before it goes into STEPS with its duration.
step() {
  if [ -n "$STEP_STARTED" ]; then
    STEPS="${STEPS:+$STEPS }$STEP=$(seconds_since "$STEP_STARTED")"
  fi
  STEP=$1
  STEP_STARTED=$(now_ms)
}

# report_written: whether the play's provision_report callback wrote this run's report.
report_written() {
  local path
  for path in "$REPORT_FILE" "${REPORT_FILE%.json}.check.json"; do
    [ -f "$path" ] && grep -qF "\"run_id\": \"$RUN_ID\"" "$path" && return 0
  done
  return 1
}

# metrics_dir: the textfile collector directory, from the environment or the settings file
# (a plain `hyperpod_metrics_textfile_dir: /path` line in the playbook's vars/on_create.yml).
metrics_dir() {
  local settings
  if [ -n "${HYPERPOD_METRICS_TEXTFILE_DIR+set}" ]; then
    printf '%s\n' "$HYPERPOD_METRICS_TEXTFILE_DIR"
    return
  fi
  settings=$(dirname "${PLAYBOOK:-$(find_playbook)}")/vars/on_create.yml
  [ -f "$settings" ] || return 0
  sed -n -E "s/^hyperpod_metrics_textfile_dir:[[:space:]]*['\"]?([^'\"#[:space:]]*).*$/\1/p" "$settings" | tail -n 1
}

# failure_report RC MESSAGE: a report for a run that failed before (or outside) the play, written
# with the node's own Python by the collection's provision_report.py (no Ansible needed).
failure_report() {
  local writer=
  local candidate
  report_written && return 0
  for candidate in "$HERE/collections/ansible_collections/hyperpod/eks_lifecycle" "$HERE/.."; do
    if [ -f "$candidate/plugins/module_utils/provision_report.py" ]; then
      writer=$candidate/plugins/module_utils/provision_report.py
      break
    fi
  done
  if [ -z "$writer" ] || [ ! -x "$PYTHON" ]; then
    log info "no report written: ${writer:-provision_report.py} or $PYTHON is missing"
    return 0
  fi
  "$PYTHON" "$writer" --report "$REPORT_FILE" --metrics-dir "$(metrics_dir)" --run-id "$RUN_ID" \
    --started "$RUN_STARTED" --step "$STEP" --exit-code "$1" --message "$2" --bootstrap-steps "$STEPS" 2>&1 \
    | stamp info || true
  log info "report: $REPORT_FILE"
}

# fail RC MESSAGE...: the failure path: [error] line, sync, wait for the log upload, exit non-zero.
fail() {
  local rc=$1
  shift
  [ "$rc" -ne 0 ] || rc=1
  trap - ERR
  log error "step '$STEP' failed (exit $rc): $*"
  step "$STEP"
  failure_report "$rc" "$*"
  log stop "$SCRIPT failed; waiting ${FAILURE_WAIT}s for the log upload"
  sleep "$FAILURE_WAIT"
  exit "$rc"
}

on_unexpected_error() {
  # In a subshell (a command substitution), leave the reporting to the main shell.
  [ "$BASHPID" = "$$" ] || exit "$1"
  fail "$1" "command failed at line $2 of $SCRIPT"
}

find_playbook() {
  local candidate
  if [ -n "${HYPERPOD_PLAYBOOK:-}" ]; then
    printf '%s\n' "$HYPERPOD_PLAYBOOK"
    return
  fi
  for candidate in "$HERE/playbooks/on_create.yml" "$HERE/../playbooks/on_create.yml"; do
    if [ -f "$candidate" ]; then
      printf '%s\n' "$candidate"
      return
    fi
  done
  printf '%s\n' "$HERE/playbooks/on_create.yml"
}

# verify_bundle: every file listed in SHA256SUMS is present and unaltered. Runs before anything
# on the node changes (only the log has been written to).
verify_bundle() {
  local bad
  if [ ! -f "$HERE/SHA256SUMS" ]; then
    [ ! -d "$HERE/runtime" ] || fail 3 "the bundle has no SHA256SUMS: incomplete upload?"
    log info "no SHA256SUMS: not a bundle, using ansible-playbook from PATH"
    return
  fi
  if ! bad=$(cd "$HERE" && LC_ALL=C sha256sum --check --strict --quiet SHA256SUMS 2>&1); then
    fail 3 "the bundle is corrupt or incomplete, nothing was changed: $(printf '%s' "$bad" | head -n 5 | tr '\n' ';')"
  fi
  log info "bundle verified: $(wc -l <"$HERE/SHA256SUMS") files match SHA256SUMS"
}

# runtime: install the bundle's Ansible runtime for this node's Python, or reuse an installed one.
# Sets PLAYBOOK_CMD to its ansible-playbook.
runtime() {
  local version tag digest dest started have
  started=$(now_ms)
  [ -x "$PYTHON" ] || fail 4 "$PYTHON not found: the runtime needs the OS's Python 3"
  version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') \
    || fail 4 "$PYTHON does not run"
  tag=py${version/./}
  if [ ! -f "$HERE/runtime/requirements-$tag.txt" ]; then
    have=$(find "$HERE/runtime" -maxdepth 1 -name 'requirements-py*.txt' -printf '%f ' | sed 's/requirements-//g; s/\.txt//g')
    fail 4 "the bundle has no Ansible runtime for Python $version (it has: $have)"
  fi
  # The installed runtime is named after the checksums of its wheels: a new bundle gets a new one.
  digest=$(grep -E "  (\./)?runtime/($tag/|install_wheels|requirements-$tag)" "$HERE/SHA256SUMS" | sha256sum | cut -c1-12)
  dest=$RUNTIME_DIR/$tag-$digest
  if [ -f "$dest/.complete" ] && [ -x "$dest/bin/ansible-playbook" ]; then
    log info "runtime: reusing $dest (Python $version)"
  else
    log info "runtime: installing ansible-core for Python $version into $dest (offline)"
    rm -rf "$dest"
    mkdir -p "$RUNTIME_DIR"
    chmod 0755 "$RUNTIME_DIR"
    # A venv of the OS's Python (which stays as it is); --without-pip, as the OS's Python need not
    # have ensurepip. The bundle's wheels are checked, pinned and complete, so installing them is
    # unpacking them: install_wheels.py does that in a fraction of the time pip takes to start.
    { "$PYTHON" -m venv --without-pip "$dest" 2>&1 | stamp runtime; } \
      || fail 4 "$PYTHON -m venv $dest failed"
    { "$dest/bin/python" "$HERE/runtime/install_wheels.py" "$dest" "$HERE/runtime/$tag"/*.whl 2>&1 \
        | stamp runtime; } \
      || fail 4 "installing ansible-core from the bundle's wheels failed"
    [ -x "$dest/bin/ansible-playbook" ] || fail 4 "ansible-core did not install into $dest"
    touch "$dest/.complete"
  fi
  PLAYBOOK_CMD=$dest/bin/ansible-playbook
  log info "runtime: $("$PLAYBOOK_CMD" --version | head -n 1 | sed 's/ *$//') ready in $(seconds_since "$started")s"
}

# lock: one provisioning run at a time on a node. A second run waits up to LOCK_WAIT seconds for
# the first to finish, then fails; the lock goes with the process, even if it is killed.
lock() {
  local holder
  mkdir -p "$(dirname "$LOCK_FILE")"
  exec 9>>"$LOCK_FILE"
  if ! flock --nonblock 9; then
    holder=$(cat "$LOCK_FILE.pid" 2>/dev/null || echo unknown)
    log info "another provisioning run (pid $holder) holds $LOCK_FILE; waiting up to ${LOCK_WAIT}s"
    flock --wait "$LOCK_WAIT" 9 \
      || fail 5 "another provisioning run (pid $holder) still holds $LOCK_FILE after ${LOCK_WAIT}s; not running two at once"
  fi
  echo "$$" >"$LOCK_FILE.pid"
}

main() {
  local rc started error

  mkdir -p "$(dirname "$LOG_FILE")"
  touch "$LOG_FILE"
  chmod 0640 "$LOG_FILE"
  trap 'on_unexpected_error $? $LINENO' ERR

  log start "$SCRIPT on $(hostname) (pid $$, from $HERE, run $RUN_ID)"

  step lock
  lock

  step verify-bundle
  verify_bundle

  step locate-playbook
  PLAYBOOK=$(find_playbook)
  [ -f "$PLAYBOOK" ] || fail 2 "playbook $PLAYBOOK not found"

  step runtime
  if [ -n "${HYPERPOD_ANSIBLE_PLAYBOOK:-}" ] || [ ! -d "$HERE/runtime" ]; then
    PLAYBOOK_CMD=${HYPERPOD_ANSIBLE_PLAYBOOK:-ansible-playbook}
  else
    runtime
  fi
  command -v "$PLAYBOOK_CMD" >/dev/null || fail 127 "$PLAYBOOK_CMD not found on PATH ($PATH)"
  if [ -d "$HERE/collections" ]; then
    export ANSIBLE_COLLECTIONS_PATH="$HERE/collections${ANSIBLE_COLLECTIONS_PATH:+:$ANSIBLE_COLLECTIONS_PATH}"
  fi

  step ansible-playbook
  log info "running $PLAYBOOK_CMD -c local $PLAYBOOK $*"
  started=$(now_ms)
  rc=0
  env ANSIBLE_CALLBACKS_ENABLED=hyperpod.eks_lifecycle.provision_log,hyperpod.eks_lifecycle.provision_report \
      HYPERPOD_PROVISION_LOG="$LOG_FILE" \
      HYPERPOD_PROVISION_REPORT="$REPORT_FILE" \
      HYPERPOD_RUN_ID="$RUN_ID" \
      HYPERPOD_RUN_STARTED="$RUN_STARTED" \
      HYPERPOD_BOOTSTRAP_STEPS="$STEPS" \
      ANSIBLE_DISPLAY_SKIPPED_HOSTS=false \
      ANSIBLE_DISPLAY_OK_HOSTS=false \
      ANSIBLE_NOCOLOR=1 \
      ANSIBLE_RETRY_FILES_ENABLED=false \
      ANSIBLE_PIPELINING=true \
      PYTHONUNBUFFERED=1 \
      stdbuf -oL -eL "$PLAYBOOK_CMD" -c local "$PLAYBOOK" "$@" 2>&1 | stamp ansible-playbook \
    || rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ]; then
    # A play that stops before its first task (a syntax error, a missing role) says why in an
    # "ERROR!" line; a failed task is logged with its reason by the provision_log callback.
    error=$(tail -n 400 "$LOG_FILE" | sed -n 's/^[^ ]* \[ansible-playbook\] \(ERROR! .*\)$/\1/p' | tail -n 1)
    [ -n "$error" ] || error="the failed task is logged above"
    fail "$rc" "$PLAYBOOK_CMD exited with $rc after $(seconds_since "$started")s; $error"
  fi
  log info "playbook finished in $(seconds_since "$started")s"
  report_written || log info "the play wrote no report to $REPORT_FILE (provision_report callback disabled?)"

  log stop "$SCRIPT succeeded"
}

main "$@"
