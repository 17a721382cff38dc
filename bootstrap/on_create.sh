#!/usr/bin/env bash
# HyperPod lifecycle script (the cluster's OnCreate): provision this node with the
# hyperpod.eks_lifecycle collection. The bundle also holds this script as on_init_complete.sh (the
# cluster's OnInitComplete, run once the AMI has started containerd and kubelet): under that name
# it runs playbooks/on_init_complete.yml, which checks that provisioning is in effect, adds a
# "verification" section to the report and fails the node when it is not.
#
# HyperPod runs it as root, from the folder it downloaded from the lifecycle S3 URI. It
#   - appends timestamped lines to /var/log/provision/provisioning.log (which HyperPod sends to
#     CloudWatch) and to its own output, between "[start]" and "[stop]" markers, line by line,
#     each synced to disk; losing its output (a closed stdout, a reader that went away) never
#     stops a run: the log file is the record;
#   - checks the bundle made by `make bundle` before anything else: every line of SHA256SUMS must
#     name a file inside the folder, and only the files it lists are used: they are copied into a
#     private staging directory, checked there, and everything else runs from that copy (files
#     the list does not name are ignored, and the log says which);
#   - then takes the node's provisioning lock, installs the bundle's Ansible runtime for the OS's
#     own Python (offline, from the bundle's wheels) into /opt/hyperpod-eks-lifecycle/runtime, or
#     reuses it on a re-run;
#   - runs `ansible-playbook -c local` on playbooks/on_create.yml, whose tasks the provision_log
#     callback also writes to the log;
#   - leaves a machine-readable report of the run beside the log (report.json, written by the
#     provision_report callback, or by this script itself when the run failed before the play
#     could), and, when hyperpod_metrics_textfile_dir is set, the same figures for node-exporter;
#   - on failure writes an "[error]" line naming the step, syncs, waits so that the log reaches
#     CloudWatch, and exits non-zero, so that HyperPod sees a failed node as failed.
#
# Settings (environment):
#   HYPERPOD_PROVISION_LOG    the log file            (/var/log/provision/provisioning.log)
#   HYPERPOD_PROVISION_REPORT the report              (report.json beside the log)
#   HYPERPOD_METRICS_TEXTFILE_DIR  node-exporter's textfile directory, for metrics (the
#                             settings' hyperpod_metrics_textfile_dir; empty: no metrics)
#   HYPERPOD_FAILURE_WAIT     seconds to wait before exiting on failure (60)
#   HYPERPOD_PLAYBOOK         the playbook            (playbooks/on_create.yml of the bundle)
#   HYPERPOD_ANSIBLE_PLAYBOOK the ansible-playbook command (the bundle's runtime; outside a
#                             bundle, ansible-playbook on PATH)
#   HYPERPOD_PYTHON           the Python the runtime is installed for (/usr/bin/python3)
#   HYPERPOD_RUNTIME_DIR      where runtimes are installed (/opt/hyperpod-eks-lifecycle/runtime)
#   HYPERPOD_STATE_DIR        the run's private directory: lock, staged bundle
#                             (/run/hyperpod-eks-lifecycle)
#   HYPERPOD_LOCK_FILE        the lock that keeps two runs from interleaving (lock in the state
#                             directory; fleet_apply.yml takes the same one)
#   HYPERPOD_LOCK_WAIT        seconds a run waits for another one to finish before failing (600)
#   HYPERPOD_ALLOW_UNVERIFIED 1: run a folder without SHA256SUMS (a checkout of the collection,
#                             for development); a bundle always needs it
# Arguments are passed on to ansible-playbook (e.g. --check --diff, -e @my-vars.yml); values given
# with -e are not written to the log.
set -Eeuo pipefail
umask 0022

LOG_FILE=${HYPERPOD_PROVISION_LOG:-/var/log/provision/provisioning.log}
REPORT_FILE=${HYPERPOD_PROVISION_REPORT:-$(dirname "$LOG_FILE")/report.json}
FAILURE_WAIT=${HYPERPOD_FAILURE_WAIT:-60}
PYTHON=${HYPERPOD_PYTHON:-/usr/bin/python3}
RUNTIME_DIR=${HYPERPOD_RUNTIME_DIR:-/opt/hyperpod-eks-lifecycle/runtime}
STATE_DIR=${HYPERPOD_STATE_DIR:-/run/hyperpod-eks-lifecycle}
LOCK_FILE=${HYPERPOD_LOCK_FILE:-$STATE_DIR/lock}
LOCK_WAIT=${HYPERPOD_LOCK_WAIT:-600}
SCRIPT=${BASH_SOURCE[0]##*/}
# Which lifecycle hook this run is, by the script's name: its play is playbooks/<hook>.yml.
case "$SCRIPT" in
  on_init_complete.sh) HOOK=on_init_complete ;;
  *) HOOK=on_create ;;
esac
# The folder this script is in, exactly (a command substitution would drop a trailing newline).
HERE=$(case "${BASH_SOURCE[0]}" in */*) cd -- "${BASH_SOURCE[0]%/*}/" ;; esac && pwd -P && echo x)
HERE=${HERE%$'\n'x}
STEP=setup
PLAYBOOK_CMD=
PLAYBOOK=
STAGE=          # the run's staging directory (removed when the run ends): its list, its sums,
BUNDLE=         # and files/, the checked copy of the bundle everything runs from ("" outside a bundle)
RUN_STARTED=$(date +%s.%N)
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)-$$
STEPS=          # "name=seconds ..." of the bootstrap steps done, for the report
STEP_STARTED=
CHECK_MODE=     # 1 for a --check run: its report goes to report.check.json, and no metrics
REDACT=()       # the values given with -e, never written to the log
QUIET_DEPRECATIONS=  # 1 where ansible-core's deprecation warnings say nothing an admin can act on

# Standard output and error go through one relay that never stops reading: if HyperPod's reader
# goes away (or the output was closed to begin with), the relay drops what it cannot write, and
# neither this script nor ansible-playbook is ever killed by SIGPIPE or stopped by a write error.
exec 1> >(trap '' PIPE; cat 2>/dev/null || exec cat >/dev/null) 2>&1

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
  sync_log() { sync --data "$LOG_FILE" 2>/dev/null || true; }
else
  sync_log() { sync || true; }
fi

# one_line TEXT: TEXT with tabs as spaces and other control characters as '?', for the log.
one_line() {
  local text=${1//$'\t'/ }
  printf '%s' "${text//[[:cntrl:]]/?}"
}

# log TAG MESSAGE...: one timestamped line to the log and to stdout, synced to disk. A log that
# cannot be written (a full disk) costs the line, never the run.
log() {
  local line
  line="$(timestamp) [$1] $(one_line "${*:2}")"
  printf '%s\n' "$line" >>"$LOG_FILE" 2>/dev/null || true
  printf '%s\n' "$line"
  sync_log
}

# What ansible-playbook prints that the log does not need: its banners, blank lines, the results
# and the recap the provision_log callback writes already (one line per step, with its duration).
# Warnings, errors, diffs and anything else are logged as they are.
NOT_LOGGED='^(|(PLAY|TASK|RUNNING HANDLER) \[.*\] \**|PLAY RECAP \**|included: .* for [^ ]+|(ok|changed|skipping): \[[^]]+\]( => \(item=.*\))?|[^ ]+ +: ok=[0-9]+ +changed=[0-9]+ .*)$'

# stamp TAG: the same for every line read from stdin, as it arrives. It reads to the end whatever
# happens to the log, so that the command writing into it is never cut off. For ansible-playbook,
# the lines the log does not need go to standard output only.
stamp() {
  local line secret stamped
  while IFS= read -r line || [ -n "$line" ]; do
    for secret in "${REDACT[@]}"; do
      line=${line//"$secret"/<redacted>}
    done
    line=$(one_line "$line")
    stamped="$(timestamp) [$1] $line"
    if [ "$1" != ansible-playbook ] || [[ ! ${line%"${line##*[! ]}"} =~ $NOT_LOGGED ]]; then
      printf '%s\n' "$stamped" >>"$LOG_FILE" 2>/dev/null || true
    fi
    printf '%s\n' "$stamped"
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

# private_dir DIR: create DIR (mode 0700) if it is missing; succeed only if it is a real directory
# (not a symlink), owned by this user, that no one else can write to.
private_dir() {
  if [ ! -e "$1" ] && [ ! -L "$1" ]; then
    mkdir -p -- "$(dirname -- "$1")" 2>/dev/null || return 1
    mkdir -m 0700 -- "$1" 2>/dev/null || true
  fi
  [ -d "$1" ] && [ ! -L "$1" ] && [ "$(stat -c %u -- "$1")" = "$(id -u)" ] \
    && [ -z "$(find "$1" -maxdepth 0 -perm /022)" ]
}

# -- the report of a run that failed before the play ----------------------------------------------

# report_written: whether the play's provision_report callback wrote this run's report.
report_written() {
  local path
  for path in "$REPORT_FILE" "${REPORT_FILE%.json}.check.json"; do
    [ -f "$path" ] && grep -qF "\"run_id\": \"$RUN_ID\"" "$path" && return 0
  done
  return 1
}

# json_string TEXT: TEXT as a JSON string (printable ASCII only; anything else becomes '?').
json_string() {
  local text
  text=$(printf '%s' "$1" | LC_ALL=C tr -c '\040-\176' '?')
  text=${text//\\/\\\\}
  printf '"%s"' "${text//\"/\\\"}"
}

# label_value TEXT: TEXT as a Prometheus label value.
label_value() {
  local text
  text=$(printf '%s' "$1" | LC_ALL=C tr -c '\040-\176' '?')
  text=${text//\\/\\\\}
  printf '%s' "${text//\"/\\\"}"
}

iso_ms() {  # iso_ms EPOCH_MS
  printf '%s.%03dZ' "$(date -u -d "@$(($1 / 1000))" +%Y-%m-%dT%H:%M:%S)" $(($1 % 1000))
}

decimal_ms() {  # decimal_ms MS: MS as seconds with three decimals
  printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
}

# metrics_dir: the textfile collector directory, from the environment or, once the bundle is
# verified, from its settings files (a plain `hyperpod_metrics_textfile_dir: /path` line in
# playbooks/vars/on_create.yml or site/settings.yml). Never
# from a folder that failed verification.
metrics_dir() {
  local settings=() dir
  if [ -n "${HYPERPOD_METRICS_TEXTFILE_DIR+set}" ]; then
    dir=$HYPERPOD_METRICS_TEXTFILE_DIR
  elif [ -n "$BUNDLE" ] && [ -f "$BUNDLE/playbooks/vars/on_create.yml" ]; then
    settings=("$BUNDLE/playbooks/vars/on_create.yml")
    # The site folder's settings sit over the bundle's (the last line found wins).
    [ ! -f "$BUNDLE/site/settings.yml" ] || settings+=("$BUNDLE/site/settings.yml")
    # A plain, a "double-quoted" or a 'single-quoted' value (spaces allowed in the quoted ones).
    dir=$(sed -n -E -e "s/^hyperpod_metrics_textfile_dir:[[:space:]]*\"([^\"]*)\".*$/\1/p" \
                    -e "s/^hyperpod_metrics_textfile_dir:[[:space:]]*'([^']*)'.*$/\1/p" \
                    -e "s/^hyperpod_metrics_textfile_dir:[[:space:]]*([^\"'#[:space:]][^#]*[^#[:space:]]|[^\"'#[:space:]])[[:space:]]*(#.*)?$/\1/p" \
                    "${settings[@]}" | tail -n 1)
  fi
  case "${dir:-}" in
    /*) printf '%s\n' "$dir" ;;
  esac
}

# write_file PATH MODE: stdin to PATH, through a synced temporary file renamed over it.
write_file() {
  local tmp
  mkdir -p -- "$(dirname "$1")" || return 1
  tmp=$(mktemp "$(dirname "$1")/.$(basename "$1").XXXXXX") || return 1
  if cat >"$tmp" && chmod "$2" "$tmp" && sync "$tmp" 2>/dev/null && mv -f -- "$tmp" "$1"; then
    return 0
  fi
  rm -f -- "$tmp"
  return 1
}

# failure_report RC MESSAGE: report.json (schema 1, as the provision_report callback writes it) and
# the metrics for a run that failed outside the play. Written by this script alone: nothing of a
# bundle that may have failed its check runs to write it.
failure_report() {
  local rc=$1 message=$2 now started_ms dir item name value steps_json="" steps_prom="" duration
  local report=$REPORT_FILE check=false
  report_written && return 0
  # A preview (--check) never replaces the last real run's report, and writes no metrics.
  if [ -n "$CHECK_MODE" ]; then
    report=${REPORT_FILE%.json}.check.json
    check=true
  fi
  now=$(now_ms)
  started_ms=$((${RUN_STARTED%.*} * 1000 + 10#$(printf '%.3s' "${RUN_STARTED#*.}000")))
  duration=$(decimal_ms $((now - started_ms)))
  for item in $STEPS; do
    name=${item%%=*}
    value=${item#*=}
    steps_json="${steps_json:+$steps_json, }{\"duration_seconds\": $value, \"name\": $(json_string "$name")}"
    steps_prom="${steps_prom}hyperpod_provision_step_duration_seconds{step=\"$(label_value "$name")\"} $value"$'\n'
  done
  if [ "$HOOK" = on_init_complete ]; then
    verification_failure_report "$report" "$rc" "$message" "$now" "$started_ms" "$duration" "$steps_json" "$check"
    return 0
  fi
  if {
    printf '{\n'
    printf '  "bootstrap": {"steps": [%s]},\n' "$steps_json"
    printf '  "check_mode": %s,\n' "$check"
    printf '  "duration_seconds": %s,\n' "$duration"
    printf '  "failure": {"exit_code": %d, "host": null, "message": %s, "role": null, "stage": "bootstrap", "step": %s, "task": null},\n' \
      "$rc" "$(json_string "$(one_line "$message" | cut -c1-2000)")" "$(json_string "$STEP")"
    printf '  "finished": "%s",\n' "$(iso_ms "$now")"
    printf '  "hosts": {},\n'
    printf '  "outcome": "failed",\n'
    printf '  "playbook": null,\n'
    printf '  "run_id": %s,\n' "$(json_string "$RUN_ID")"
    printf '  "schema_version": 1,\n'
    printf '  "started": "%s"\n' "$(iso_ms "$started_ms")"
    printf '}\n'
  } | write_file "$report" 0640; then
    log info "report: $report"
  else
    log info "no report written: cannot write $report"
  fi
  dir=$(metrics_dir)
  [ -n "$dir" ] && [ -z "$CHECK_MODE" ] || return 0
  {
    printf '# HELP hyperpod_provision_last_run_timestamp_seconds When the last provisioning run finished, in seconds since the epoch.\n'
    printf '# TYPE hyperpod_provision_last_run_timestamp_seconds gauge\n'
    printf 'hyperpod_provision_last_run_timestamp_seconds %s\n' "$(decimal_ms "$now")"
    printf '# HELP hyperpod_provision_success 1 if the last provisioning run succeeded or skipped an unsupported OS by policy, 0 if it failed.\n'
    printf '# TYPE hyperpod_provision_success gauge\nhyperpod_provision_success 0\n'
    printf '# HELP hyperpod_provision_duration_seconds Wall time of the last provisioning run.\n'
    printf '# TYPE hyperpod_provision_duration_seconds gauge\nhyperpod_provision_duration_seconds %s\n' "$duration"
    printf '# HELP hyperpod_provision_changed_tasks Tasks that reported a change in the last provisioning run.\n'
    printf '# TYPE hyperpod_provision_changed_tasks gauge\nhyperpod_provision_changed_tasks 0\n'
    printf '# HELP hyperpod_provision_failed_tasks Tasks that failed in the last provisioning run (rescued failures included).\n'
    printf '# TYPE hyperpod_provision_failed_tasks gauge\nhyperpod_provision_failed_tasks 0\n'
    if [ -n "$steps_prom" ]; then
      printf '# HELP hyperpod_provision_step_duration_seconds Wall time of each bootstrap step in the last provisioning run.\n'
      printf '# TYPE hyperpod_provision_step_duration_seconds gauge\n%s' "$steps_prom"
    fi
    printf '# HELP hyperpod_provision_info Always 1; the labels describe the last provisioning run.\n'
    printf '# TYPE hyperpod_provision_info gauge\n'
    printf 'hyperpod_provision_info{outcome="failed",failed_step="%s",platform="",os_version="",containerd_version=""} 1\n' \
      "$(label_value "$STEP")"
  } | write_file "$dir/hyperpod_provision.prom" 0644 || log info "no metrics written: cannot write $dir"
}

# verification_failure_report REPORT RC MESSAGE NOW STARTED_MS DURATION STEPS_JSON CHECK: for
# on_init_complete.sh, the same failure as the "verification" section of the existing report (the
# OnCreate run's is kept), merged by the OS's own Python (isolated, no code of the bundle), and
# the verification metrics.
verification_failure_report() {
  local report=$1 rc=$2 message=$3 now=$4 started_ms=$5 duration=$6 steps_json=$7 check=$8 section dir
  section=$(printf '{"bootstrap": {"steps": [%s]}, "check_mode": %s, "duration_seconds": %s, "failure": {"exit_code": %d, "host": null, "message": %s, "role": null, "stage": "bootstrap", "step": %s, "task": null}, "finished": "%s", "hosts": {}, "outcome": "failed", "playbook": null, "run_id": %s, "schema_version": 1, "started": "%s"}' \
    "$steps_json" "$check" "$duration" "$rc" "$(json_string "$(one_line "$message" | cut -c1-2000)")" "$(json_string "$STEP")" \
    "$(iso_ms "$now")" "$(json_string "$RUN_ID")" "$(iso_ms "$started_ms")")
  # shellcheck disable=SC2016  # Python code, not shell
  if printf '%s' "$section" | "$PYTHON" -I -c '
import json, os, stat, sys, tempfile
path = sys.argv[1]
section = json.load(sys.stdin)
report = None
try:
    # The last report only if it is a regular file (not a FIFO to block on, not a symlink).
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        if stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            report = json.loads(handle.read(16 << 20).decode("utf-8", "replace"))
except (IOError, OSError, ValueError):
    report = None
if not isinstance(report, dict):
    report = {"schema_version": 1, "run_id": None, "outcome": None,
              "note": "no readable report of the OnCreate run was found; this file holds the verification only"}
report["verification"] = section
directory = os.path.dirname(path) or "."
if not os.path.isdir(directory):
    os.makedirs(directory, 0o755)
fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".")
with os.fdopen(fd, "w") as handle:
    handle.write(json.dumps(report, indent=2, sort_keys=True) + "\n")
    handle.flush()
    os.fsync(handle.fileno())
os.chmod(tmp, 0o640)
os.rename(tmp, path)
' "$report" 2>/dev/null; then
    log info "report: $report (verification)"
  else
    log info "no report written: cannot add the verification to $report"
  fi
  dir=$(metrics_dir)
  [ -n "$dir" ] && [ "$check" = false ] || return 0
  {
    printf '# HELP hyperpod_provision_verification_timestamp_seconds When the last check after the AMI'"'"'s start-up (OnInitComplete) finished, in seconds since the epoch.\n'
    printf '# TYPE hyperpod_provision_verification_timestamp_seconds gauge\n'
    printf 'hyperpod_provision_verification_timestamp_seconds %s\n' "$(decimal_ms "$now")"
    printf '# HELP hyperpod_provision_verification_success 1 if the last check after the AMI'"'"'s start-up found provisioning in effect (or skipped an unsupported OS), 0 if not.\n'
    printf '# TYPE hyperpod_provision_verification_success gauge\nhyperpod_provision_verification_success 0\n'
  } | write_file "$dir/hyperpod_provision_verification.prom" 0644 || log info "no metrics written: cannot write $dir"
}

# fail RC MESSAGE...: the failure path: [error] line, sync, wait for the log upload, exit non-zero.
fail() {
  local rc=$1
  shift
  [ "$rc" -ne 0 ] || rc=1
  trap - ERR
  log error "step '$STEP' failed (exit $rc): $*"
  step "$STEP"
  failure_report "$rc" "$*" || true
  log stop "$SCRIPT failed; waiting ${FAILURE_WAIT}s for the log upload"
  sleep "$FAILURE_WAIT"
  exit "$rc"
}

on_unexpected_error() {
  # In a subshell (a command substitution), leave the reporting to the main shell.
  [ "$BASHPID" = "$$" ] || exit "$1"
  fail "$1" "command failed at line $2 of $SCRIPT"
}

on_exit() {
  if [ -n "$STAGE" ]; then
    rm -rf -- "$STAGE" || true
  fi
}

# -- the bundle -----------------------------------------------------------------------------------

# stage_bundle: check SHA256SUMS and copy the files it lists, and only those, into a private
# staging directory; check each copy there. Sets BUNDLE. Runs before anything on the node changes
# (only the log and the run's own directory under STATE_DIR have been written to).
stage_bundle() {
  local line hash path number=0 bad="" ignored count listed
  if [ ! -f "$HERE/SHA256SUMS" ]; then
    if [ "${HYPERPOD_ALLOW_UNVERIFIED:-}" = 1 ] && [ ! -d "$HERE/runtime" ]; then
      log info "no SHA256SUMS and HYPERPOD_ALLOW_UNVERIFIED=1: not a bundle, running $HERE as it is"
      return
    fi
    fail 3 "the bundle has no SHA256SUMS (an incomplete upload?); nothing from it was used and nothing was changed"
  fi
  if ! private_dir "$STATE_DIR" || ! private_dir "$STATE_DIR/bundle"; then
    fail 3 "$STATE_DIR/bundle is not a directory that only $(id -un) can write to; nothing was changed"
  fi
  STAGE=$(mktemp -d "$STATE_DIR/bundle/run.$$.XXXXXX")
  mkdir "$STAGE/files"
  listed=$STAGE/listed
  : >"$listed"
  # Each line: a SHA-256, two spaces (or a space and '*'), a relative path of a file in the folder.
  while IFS= read -r line || [ -n "$line" ]; do
    number=$((number + 1))
    if [[ $line == *$'\r' ]]; then
      bad="line $number ends with a carriage return (a file saved with Windows line ends?)"
      break
    fi
    if [[ ! $line =~ ^([0-9a-f]{64})\ [\ *](.+)$ ]]; then
      bad="line $number is not '<sha256>  <file>'"
      break
    fi
    hash=${BASH_REMATCH[1]}
    path=${BASH_REMATCH[2]#./}
    case "/$path/" in
      *//* | */./* | */../*) bad="line $number names a path outside the bundle: $path" ;;
      */-*) bad="line $number names a file whose name starts with '-': $path" ;;
    esac
    if [ -z "$bad" ] && [[ $path == *[[:cntrl:]\\]* ]]; then
      bad="line $number names a file with a control character or a backslash"
    elif [ -z "$bad" ] && [ "$path" = SHA256SUMS ]; then
      bad="line $number lists SHA256SUMS itself"
    elif [ -z "$bad" ]; then
      bad=$(symlink_on_the_way "$path")
      if [ -z "$bad" ] && [ ! -f "$HERE/$path" ]; then
        bad="$path: missing"
      fi
    fi
    [ -z "$bad" ] || break
    printf '%s  %s\n' "$hash" "$path" >>"$STAGE/sums"
    printf '%s\0' "$path" >>"$listed"
  done <"$HERE/SHA256SUMS"
  if [ -z "$bad" ] && [ "$number" -eq 0 ]; then
    bad="SHA256SUMS lists no file"
  fi
  if [ -z "$bad" ] && [ -n "$(LC_ALL=C sort -z "$listed" | uniq -z -d | tr '\0' ' ')" ]; then
    bad="SHA256SUMS lists a file twice: $(LC_ALL=C sort -z "$listed" | uniq -z -d | tr '\0' ' ')"
  fi
  for path in "$SCRIPT" "playbooks/$HOOK.yml"; do
    [ -n "$bad" ] || grep -qzxF -- "$path" "$listed" || bad="SHA256SUMS does not list $path"
  done
  [ -z "$bad" ] || fail 3 "the bundle is refused, nothing from it was used and nothing was changed: $bad"
  # Copy the listed files only (ownership and permissions not taken from the folder), then check
  # the copies: what runs is what was checked, whatever happens to the folder meanwhile.
  if ! bad=$( { tar -C "$HERE" --null --no-recursion -T "$listed" -cf - \
                  | tar -C "$STAGE/files" --no-same-owner --no-same-permissions -xf -; } 2>&1); then
    fail 3 "the bundle is corrupt or incomplete, nothing from it was used and nothing was changed: $(one_line "$bad" | cut -c1-500)"
  fi
  bad=$(find "$STAGE/files" -mindepth 1 ! -type f ! -type d -printf '%P ' | cut -c1-500)
  [ -z "$bad" ] || fail 3 "the bundle is refused, nothing from it was used and nothing was changed: not regular files: $bad"
  if ! bad=$(cd "$STAGE/files" && LC_ALL=C sha256sum --check --strict --quiet ../sums 2>&1); then
    fail 3 "the bundle is corrupt or incomplete, nothing from it was used and nothing was changed: $(printf '%s\n' "$bad" | sed -n '1,5p' | tr '\n' ';')"
  fi
  chmod -R go-w "$STAGE/files"
  BUNDLE=$STAGE/files
  log info "bundle verified: $number files match SHA256SUMS"
  # What the folder holds beyond the list (an `aws s3 sync` without --delete leaves old files):
  # never used; named here so that a stale or planted file is seen.
  ignored=$(cd "$HERE" && comm -23 <(find . -mindepth 1 ! -type d -printf '%P\n' | LC_ALL=C sort) \
                                   <({ tr '\0' '\n' <"$listed"; echo SHA256SUMS; } | LC_ALL=C sort))
  if [ -n "$ignored" ]; then
    count=$(printf '%s\n' "$ignored" | wc -l)
    log warning "ignored $count files that SHA256SUMS does not list (never used; upload with aws s3 sync --delete): $(printf '%s\n' "$ignored" | sed -n '1,20p' | tr '\n' ' ')"
  fi
}

# symlink_on_the_way PATH: "<prefix> is a symlink" for the first component of PATH (relative to the
# folder) that is one, nothing when none is: every listed file must really be inside the folder.
symlink_on_the_way() {
  local rest=$1 prefix=
  while [ -n "$rest" ]; do
    prefix=${prefix:+$prefix/}${rest%%/*}
    [ "$rest" = "${rest#*/}" ] && rest= || rest=${rest#*/}
    if [ -L "$HERE/$prefix" ]; then
      printf '%s is a symlink' "$prefix"
      return
    fi
  done
}

# clean_stages: remove the staging directories of runs that are gone (killed). Called with the lock
# held, so no other run is between staging and the lock... except ones still waiting for it, whose
# process is alive.
clean_stages() {
  local dir pid
  for dir in "$STATE_DIR/bundle"/run.*; do
    if [ ! -d "$dir" ] || [ "$dir" = "$STAGE" ]; then
      continue
    fi
    pid=${dir##*/run.}
    pid=${pid%%.*}
    kill -0 "$pid" 2>/dev/null || rm -rf -- "$dir"
  done
}

find_playbook() {
  local candidate
  if [ -n "${HYPERPOD_PLAYBOOK:-}" ]; then
    printf '%s\n' "$HYPERPOD_PLAYBOOK"
    return
  fi
  if [ -n "$BUNDLE" ]; then
    printf '%s\n' "$BUNDLE/playbooks/$HOOK.yml"
    return
  fi
  for candidate in "$HERE/playbooks/$HOOK.yml" "$HERE/../playbooks/$HOOK.yml"; do
    if [ -f "$candidate" ]; then
      printf '%s\n' "$candidate"
      return
    fi
  done
  printf '%s\n' "$HERE/playbooks/$HOOK.yml"
}

# runtime: install the bundle's Ansible runtime for this node's Python, or reuse an installed one.
# Sets PLAYBOOK_CMD to its ansible-playbook.
runtime() {
  local version tag digest dest started have
  started=$(now_ms)
  # ansible-core runs its modules through /bin/sh with the interpreter's path unquoted.
  if [[ ! $RUNTIME_DIR =~ ^/[A-Za-z0-9._+/-]+$ ]] || [[ $RUNTIME_DIR == *..* ]]; then
    fail 4 "HYPERPOD_RUNTIME_DIR '$RUNTIME_DIR' must be an absolute path of letters, digits and . _ + - / only (no spaces: ansible-core runs its modules through /bin/sh with this path unquoted)"
  fi
  [ -x "$PYTHON" ] || fail 4 "$PYTHON not found: the runtime needs the OS's Python 3"
  # -I: the OS's Python takes nothing from the environment or the current directory (HyperPod's
  # download folder, which may hold files SHA256SUMS does not list).
  version=$("$PYTHON" -I -c 'import sys; print("%d.%d" % sys.version_info[:2])') \
    || fail 4 "$PYTHON does not run"
  tag=py${version/./}
  if [ ! -f "$BUNDLE/runtime/requirements-$tag.txt" ]; then
    have=$(find "$BUNDLE/runtime" -maxdepth 1 -name 'requirements-py*.txt' -printf '%f ' | sed 's/requirements-//g; s/\.txt//g')
    fail 4 "the bundle has no Ansible runtime for Python $version (it has: $have)"
  fi
  # The installed runtime is named after the checksums of its wheels: a new bundle gets a new one.
  digest=$(grep -E "  runtime/($tag/|install_wheels|requirements-$tag)" "$STAGE/sums" | sha256sum | cut -c1-12)
  dest=$RUNTIME_DIR/$tag-$digest
  # Only root may have written what runs as root: the runtime directory and every directory above it.
  if [ -e "$RUNTIME_DIR" ] || [ -L "$RUNTIME_DIR" ]; then
    trusted "$RUNTIME_DIR" \
      || fail 4 "$RUNTIME_DIR (or a directory above it) is a symlink, not $(id -un)'s, or writable by others; not running a runtime from there"
  fi
  if [ -f "$dest/.complete" ] && [ -x "$dest/bin/ansible-playbook" ] && trusted_runtime "$dest"; then
    log info "runtime: reusing $dest (Python $version)"
  else
    log info "runtime: installing ansible-core for Python $version into $dest (offline)"
    mkdir -p "$RUNTIME_DIR"
    trusted "$RUNTIME_DIR" \
      || fail 4 "$RUNTIME_DIR (or a directory above it) is a symlink, not $(id -un)'s, or writable by others; not installing a runtime there"
    chmod 0755 "$RUNTIME_DIR"
    rm -rf "$dest"
    # A venv of the OS's Python (which stays as it is); --without-pip, as the OS's Python need not
    # have ensurepip. The bundle's wheels are checked, pinned and complete, so installing them is
    # unpacking them: install_wheels.py does that in a fraction of the time pip takes to start.
    { "$PYTHON" -I -m venv --without-pip "$dest" 2>&1 | stamp runtime; } \
      || { rm -rf "$dest"; fail 4 "$PYTHON -m venv $dest failed"; }
    { "$dest/bin/python" -I "$BUNDLE/runtime/install_wheels.py" "$dest" "$BUNDLE/runtime/$tag"/*.whl 2>&1 \
        | stamp runtime; } \
      || { rm -rf "$dest"; fail 4 "installing ansible-core from the bundle's wheels failed"; }
    [ -x "$dest/bin/ansible-playbook" ] || { rm -rf "$dest"; fail 4 "ansible-core did not install into $dest"; }
    # The runtime is on disk before it is marked complete, and the mark after it.
    sync
    date -u +%Y-%m-%dT%H:%M:%SZ >"$dest/.complete.tmp"
    mv -f "$dest/.complete.tmp" "$dest/.complete"
    sync
  fi
  PLAYBOOK_CMD=$dest/bin/ansible-playbook
  # Amazon Linux 2's Python 3.7 runs no ansible-core newer than 2.11, which says so on every run.
  [ "$tag" != py37 ] || QUIET_DEPRECATIONS=1
  log info "runtime: $(env ${QUIET_DEPRECATIONS:+ANSIBLE_DEPRECATION_WARNINGS=false} "$PLAYBOOK_CMD" --version | sed -n '1s/ *$//p') ready in $(seconds_since "$started")s"
}

# trusted DIR: DIR is a real directory of this user's that no one else can write to, and so is
# every directory above it (one that others may write to must be sticky, as /tmp is).
trusted() {
  local dir=$1
  [ -d "$dir" ] && [ ! -L "$dir" ] && owned_and_private "$dir" || return 1
  while [ "$dir" != / ] && [ -n "$dir" ]; do
    dir=$(dirname -- "$dir")
    [ -d "$dir" ] && [ ! -L "$dir" ] || return 1
    case "$(stat -c %u -- "$dir")" in 0 | "$(id -u)") ;; *) return 1 ;; esac
    [ -z "$(find "$dir" -maxdepth 0 -perm /022 ! -perm -1000)" ] || return 1
  done
}

owned_and_private() {  # owned_and_private PATH: PATH is this user's, not writable by group or others
  [ "$(stat -c %u -- "$1")" = "$(id -u)" ] && [ -z "$(find "$1" -maxdepth 0 -perm /022)" ]
}

# trusted_runtime DEST: an installed runtime that only this user can have written: DEST, its bin,
# ansible-playbook and the Python it runs.
trusted_runtime() {
  [ -d "$1" ] && [ ! -L "$1" ] && owned_and_private "$1" \
    && [ -d "$1/bin" ] && [ ! -L "$1/bin" ] && owned_and_private "$1/bin" \
    && [ ! -L "$1/bin/ansible-playbook" ] && owned_and_private "$1/bin/ansible-playbook" \
    && owned_and_private "$1/.complete"
}

# lock: one provisioning run at a time on a node. A second run waits up to LOCK_WAIT seconds for
# the first to finish, then fails; the lock goes with the process, even if it is killed. The lock
# lives in a directory only root can write to, and a lock file that is not a plain file is refused.
lock() {
  local holder
  private_dir "$(dirname "$LOCK_FILE")" \
    || fail 5 "$(dirname "$LOCK_FILE") is not a directory that only $(id -un) can write to; not taking the lock there"
  if [ -L "$LOCK_FILE" ] || { [ -e "$LOCK_FILE" ] && [ ! -f "$LOCK_FILE" ]; }; then
    fail 5 "$LOCK_FILE is not a regular file; not taking the lock"
  fi
  exec 9>>"$LOCK_FILE"
  if ! flock --nonblock 9; then
    holder=$(cat "$LOCK_FILE.pid" 2>/dev/null || echo unknown)
    log info "another provisioning run (pid $holder) holds $LOCK_FILE; waiting up to ${LOCK_WAIT}s"
    flock --wait "$LOCK_WAIT" 9 \
      || fail 5 "another provisioning run (pid $holder) still holds $LOCK_FILE after ${LOCK_WAIT}s; not running two at once"
  fi
  rm -f -- "$LOCK_FILE.pid"
  echo "$$" >"$LOCK_FILE.pid"
  clean_stages
}

# site_summary DIR: what the site folder holds, for the log.
site_summary() {
  local dir=$1 roles=0 tasks=0 scripts=0 collections=0
  [ -d "$dir/roles" ] && roles=$(find "$dir/roles" -mindepth 1 -maxdepth 1 -type d | wc -l)
  [ -d "$dir/tasks" ] && tasks=$(find "$dir/tasks" -type f \( -name '*.yml' -o -name '*.yaml' \) | wc -l)
  [ -d "$dir/scripts.d" ] && scripts=$(find "$dir/scripts.d" -mindepth 1 -maxdepth 1 -type f -name '*.sh' | wc -l)
  [ -d "$dir/collections/ansible_collections" ] \
    && collections=$(find "$dir/collections/ansible_collections" -mindepth 2 -maxdepth 2 -type d | wc -l)
  printf '%d roles, %d task files, %d scripts, %d vendored collections' "$roles" "$tasks" "$scripts" "$collections"
}

# redacted ARG...: the arguments as the log shows them, with the values given to -e/--extra-vars
# replaced (a file given as -e @FILE is named).
# Also notes the values (REDACT) and a --check run (CHECK_MODE).
redacted() {
  local arg out=() take=
  for arg in "$@"; do
    if [ -n "$take" ]; then
      take=
      out+=("$(redact_value "$arg")")
      continue
    fi
    case "$arg" in
      --ch | --che | --chec | --check) CHECK_MODE=1 ;;
      --*) ;;
      -*C*) [[ $arg == *[!a-zA-Z-]* ]] || CHECK_MODE=1 ;;
    esac
    case "$arg" in
      --e=* | --ex=* | --ext=* | --extr=* | --extra=* | --extra-=* | --extra-v=* | --extra-va=* | --extra-var=* | --extra-vars=*)
        out+=("${arg%%=*}=$(redact_value "${arg#*=}")") ;;
      --e | --ex | --ext | --extr | --extra | --extra- | --extra-v | --extra-va | --extra-var | --extra-vars)
        out+=("$arg")
        take=1 ;;
      --*) out+=("$arg") ;;
      -*e)
        out+=("$arg")
        take=1 ;;
      -*e*)
        # A cluster of short options ending with -e and its value (-e@x, -vvekey=value).
        out+=("${arg%%e*}e$(redact_value "${arg#*e}")") ;;
      *) out+=("$arg") ;;
    esac
  done
  printf '%s' "${out[*]}"
}

redact_value() {
  case "$1" in
    @*) printf '%s' "$1" ;;
    *) printf '<redacted>' ;;
  esac
}

# note_secrets ARG...: REDACT gets every value given to -e/--extra-vars (but a file's name), so that
# no output line of ansible-playbook (its ERROR! lines quote a value it cannot read) logs it.
note_secrets() {
  local arg take=
  for arg in "$@"; do
    if [ -n "$take" ]; then
      take=
      [[ $arg == @* ]] || [ -z "$arg" ] || REDACT+=("$arg")
      continue
    fi
    case "$arg" in
      --e=* | --ex=* | --ext=* | --extr=* | --extra=* | --extra-=* | --extra-v=* | --extra-va=* | --extra-var=* | --extra-vars=*)
        arg=${arg#*=}
        [[ $arg == @* ]] || [ -z "$arg" ] || REDACT+=("$arg") ;;
      --e | --ex | --ext | --extr | --extra | --extra- | --extra-v | --extra-va | --extra-var | --extra-vars) take=1 ;;
      --*) ;;
      -*e) take=1 ;;
      -*e*)
        arg=${arg#*e}
        [[ $arg == @* ]] || [ -z "$arg" ] || REDACT+=("$arg") ;;
    esac
  done
}

main() {
  local rc started error this_run

  trap on_exit EXIT
  note_secrets "$@"
  redacted "$@" >/dev/null
  if ! { mkdir -p "$(dirname "$LOG_FILE")" && touch "$LOG_FILE" && chmod 0640 "$LOG_FILE"; } 2>/dev/null; then
    printf '%s [warning] cannot write %s; logging to standard output only\n' "$(timestamp)" "$LOG_FILE"
  fi
  trap 'on_unexpected_error $? $LINENO' ERR

  log start "$SCRIPT on $(hostname) (pid $$, from $HERE, run $RUN_ID)"

  step verify-bundle
  stage_bundle

  step lock
  lock

  step locate-playbook
  PLAYBOOK=$(find_playbook)
  [ -f "$PLAYBOOK" ] || fail 2 "playbook $PLAYBOOK not found"

  step runtime
  if [ -n "${HYPERPOD_ANSIBLE_PLAYBOOK:-}" ] || [ -z "$BUNDLE" ] || [ ! -d "$BUNDLE/runtime" ]; then
    PLAYBOOK_CMD=${HYPERPOD_ANSIBLE_PLAYBOOK:-ansible-playbook}
  else
    runtime
  fi
  command -v "$PLAYBOOK_CMD" >/dev/null || fail 127 "$PLAYBOOK_CMD not found on PATH ($PATH)"
  if [ -n "$BUNDLE" ]; then
    # The admin's site folder (make bundle SITE=dir): its vendored collections come right after the
    # collection's own (a site cannot replace hyperpod.eks_lifecycle, and nothing from outside the
    # bundle comes before them), its roles are found by name.
    inherited=${ANSIBLE_COLLECTIONS_PATH:-}
    ANSIBLE_COLLECTIONS_PATH="$BUNDLE/collections"
    if [ -d "$BUNDLE/site" ]; then
      ANSIBLE_COLLECTIONS_PATH="$ANSIBLE_COLLECTIONS_PATH:$BUNDLE/site/collections"
      export ANSIBLE_ROLES_PATH="$BUNDLE/site/roles"
      log info "site folder: $(site_summary "$BUNDLE/site")"
    fi
    export ANSIBLE_COLLECTIONS_PATH="$ANSIBLE_COLLECTIONS_PATH${inherited:+:$inherited}"
    # Ansible reads its configuration from this file only: never from an ansible.cfg in the
    # current directory (HyperPod's download folder), whatever that folder holds.
    : >"$STAGE/ansible.cfg"
    export ANSIBLE_CONFIG="$STAGE/ansible.cfg"
  elif [ -d "$HERE/collections" ]; then
    export ANSIBLE_COLLECTIONS_PATH="$HERE/collections${ANSIBLE_COLLECTIONS_PATH:+:$ANSIBLE_COLLECTIONS_PATH}"
  fi

  step ansible-playbook
  log info "running $PLAYBOOK_CMD -c local $PLAYBOOK $(redacted "$@")"
  started=$(now_ms)
  rc=0
  env ANSIBLE_CALLBACKS_ENABLED=hyperpod.eks_lifecycle.provision_log,hyperpod.eks_lifecycle.provision_report \
      HYPERPOD_PROVISION_LOG="$LOG_FILE" \
      HYPERPOD_PROVISION_REPORT="$REPORT_FILE" \
      HYPERPOD_RUN_ID="$RUN_ID" \
      HYPERPOD_HOOK="$HOOK" \
      HYPERPOD_RUN_STARTED="$RUN_STARTED" \
      HYPERPOD_BOOTSTRAP_STEPS="$STEPS" \
      ANSIBLE_DISPLAY_SKIPPED_HOSTS=false \
      ANSIBLE_DISPLAY_OK_HOSTS=false \
      ANSIBLE_LOCALHOST_WARNING=false \
      ANSIBLE_INVENTORY_UNPARSED_WARNING=false \
      ${QUIET_DEPRECATIONS:+ANSIBLE_DEPRECATION_WARNINGS=false} \
      ANSIBLE_NOCOLOR=1 \
      ANSIBLE_RETRY_FILES_ENABLED=false \
      ANSIBLE_PIPELINING=true \
      PYTHONUNBUFFERED=1 \
      stdbuf -oL -eL "$PLAYBOOK_CMD" -c local "$PLAYBOOK" "$@" 2>&1 | stamp ansible-playbook \
    || rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ]; then
    # A play that stops before its first task (a syntax error, a missing role) says why in an
    # "ERROR!" line; a failed task is logged with its reason by the provision_log callback.
    # This run's lines only (from its [start] line on): the log holds earlier runs too.
    this_run=$(sed -n "/ \[start\] .* run $RUN_ID)\$/,\$p" "$LOG_FILE" 2>/dev/null | tail -n 5000)
    error=$(printf '%s\n' "$this_run" | sed -n 's/^[^ ]* \[ansible-playbook\] \(ERROR! .*\)$/\1/p' | tail -n 1)
    # A failed task: the provision_log callback's line for it (host | task | reason), repeated here
    # so that the [error] line alone says what failed.
    [ -n "$error" ] || error=$(printf '%s\n' "$this_run" \
      | sed -n 's/^[^ ]* \[ansible\] failed: \(.*\)$/failed: \1/p' | tail -n 1 | cut -c1-1500)
    [ -n "$error" ] || error="the failed task is logged above"
    fail "$rc" "$PLAYBOOK_CMD exited with $rc after $(seconds_since "$started")s; $error"
  fi
  log info "playbook finished in $(seconds_since "$started")s"
  report_written || log info "the play wrote no report to $REPORT_FILE (provision_report callback disabled?)"

  log stop "$SCRIPT succeeded"
}

main "$@"
