#!/usr/bin/env bash
# HyperPod lifecycle script (the cluster's OnCreate): provision this node with the
# hyperpod.eks_lifecycle collection.
#
# HyperPod runs it as root, from the folder it downloaded from the lifecycle S3 URI. It
#   - appends timestamped lines to /var/log/provision/provisioning.log (which HyperPod sends to
#     CloudWatch) and to its own output, between "[start]" and "[stop]" markers, line by line,
#     each synced to disk;
#   - runs `ansible-playbook -c local` on playbooks/on_create.yml, whose tasks the provision_log
#     callback also writes to the log;
#   - on failure writes an "[error]" line naming the step, syncs, waits so that the log reaches
#     CloudWatch, and exits non-zero, so that HyperPod sees a failed node as failed.
#
# Settings (environment):
#   HYPERPOD_PROVISION_LOG    the log file            (/var/log/provision/provisioning.log)
#   HYPERPOD_FAILURE_WAIT     seconds to wait before exiting on failure (60)
#   HYPERPOD_PLAYBOOK         the playbook            (playbooks/on_create.yml beside this script,
#                                                      or ../playbooks/on_create.yml in a checkout)
#   HYPERPOD_ANSIBLE_PLAYBOOK the ansible-playbook command (ansible-playbook on PATH)
# Arguments are passed on to ansible-playbook (e.g. --check --diff, -e @my-vars.yml).
set -euo pipefail

LOG_FILE=${HYPERPOD_PROVISION_LOG:-/var/log/provision/provisioning.log}
FAILURE_WAIT=${HYPERPOD_FAILURE_WAIT:-60}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT=$(basename "${BASH_SOURCE[0]}")
STEP=setup

timestamp() {
  date -u +%Y-%m-%dT%H:%M:%S.%3NZ
}

# log TAG MESSAGE...: one timestamped line to the log and to stdout, synced to disk.
log() {
  local line
  line="$(timestamp) [$1] ${*:2}"
  printf '%s\n' "$line" >>"$LOG_FILE"
  printf '%s\n' "$line"
  sync
}

# stamp TAG: the same for every line read from stdin, as it arrives.
stamp() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    line="$(timestamp) [$1] $line"
    printf '%s\n' "$line" >>"$LOG_FILE"
    printf '%s\n' "$line"
  done
  sync
}

# fail RC MESSAGE...: the failure path: [error] line, sync, wait for the log upload, exit non-zero.
fail() {
  local rc=$1
  shift
  [ "$rc" -ne 0 ] || rc=1
  trap - ERR
  log error "step '$STEP' failed (exit $rc): $*"
  log stop "$SCRIPT failed; waiting ${FAILURE_WAIT}s for the log upload"
  sleep "$FAILURE_WAIT"
  exit "$rc"
}

on_unexpected_error() {
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

main() {
  local playbook ansible_playbook rc

  mkdir -p "$(dirname "$LOG_FILE")"
  touch "$LOG_FILE"
  chmod 0640 "$LOG_FILE"
  trap 'on_unexpected_error $? $LINENO' ERR

  log start "$SCRIPT on $(hostname) (pid $$, from $HERE)"

  STEP=locate-playbook
  playbook=$(find_playbook)
  [ -f "$playbook" ] || fail 2 "playbook $playbook not found"
  ansible_playbook=${HYPERPOD_ANSIBLE_PLAYBOOK:-ansible-playbook}
  command -v "$ansible_playbook" >/dev/null || fail 127 "$ansible_playbook not found on PATH ($PATH)"
  if [ -d "$HERE/collections" ]; then
    export ANSIBLE_COLLECTIONS_PATH="$HERE/collections${ANSIBLE_COLLECTIONS_PATH:+:$ANSIBLE_COLLECTIONS_PATH}"
  fi

  STEP=ansible-playbook
  log info "running $ansible_playbook -c local $playbook $*"
  rc=0
  env ANSIBLE_CALLBACKS_ENABLED=hyperpod.eks_lifecycle.provision_log \
      HYPERPOD_PROVISION_LOG="$LOG_FILE" \
      ANSIBLE_DISPLAY_SKIPPED_HOSTS=false \
      ANSIBLE_DISPLAY_OK_HOSTS=false \
      ANSIBLE_NOCOLOR=1 \
      ANSIBLE_RETRY_FILES_ENABLED=false \
      PYTHONUNBUFFERED=1 \
      stdbuf -oL -eL "$ansible_playbook" -c local "$playbook" "$@" 2>&1 | stamp ansible-playbook \
    || rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || fail "$rc" "$ansible_playbook exited with $rc; the failed task is logged above"

  log stop "$SCRIPT succeeded"
}

main "$@"
