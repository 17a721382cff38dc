#!/usr/bin/env bash
# Re-creation of the original HyperPod EKS "better lifecycle scripts" bootstrap (on_create.sh),
# written from its documented step-by-step behaviour as of its first version, known bugs
# included: set -e aborts before the final sync and [stop] marker when the main script fails,
# the main script's output reaches only the log file, and no timestamps are written.
# It is kept only as the baseline of the benchmark. Never use it on a node.

set -e

LOG_FILE=/var/log/provision/provisioning.log
mkdir -p /var/log/provision
touch $LOG_FILE

# Shadows /usr/bin/logger: the message goes to stdout and to the log file.
logger() {
  echo "$@" | stdbuf -oL -eL tee -a $LOG_FILE
  sync
}

logger "[start] on_create.sh"

# Relative path: assumes the working directory is the folder of this script.
stdbuf -oL -eL bash ./on_create_main.sh >> $LOG_FILE 2>&1
sync

logger "[stop] on_create.sh"
