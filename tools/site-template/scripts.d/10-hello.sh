#!/usr/bin/env bash
# An example site script. A script's settings are lines "# hyperpod: SETTING..." in this comment
# block at the top; the settings are:
#   allow-fail               its failure is a warning, not a failed node
#   timeout=600              seconds it may run (default 1800)
#   creates=/var/lib/x       not run again while this file exists
#   check-safe               run under --check too (with HYPERPOD_CHECK=1: it must change nothing)
#   instance-groups=a,b      only on these instance groups (names or patterns)
#   instance-types=ml.p5.*   only on these instance types
#   phase=before             before the built-in roles (default: after them)
# This one only reports, so it is safe to preview:
# hyperpod: check-safe
set -euo pipefail

echo "platform ${HYPERPOD_PLATFORM}, GPU ${HYPERPOD_GPU}, data volume ${HYPERPOD_DATA_VOLUME:-none}"
echo "instance group ${HYPERPOD_INSTANCE_GROUP:-unknown}, type ${HYPERPOD_INSTANCE_TYPE:-unknown}"
