#!/usr/bin/env bash
# `make new-site DIR=path`: write a starting site folder (tools/site-template): settings.yml with
# hyperpod_site_steps, an example role, task file and script, requirements.yml for collections.
# Build a bundle with it: make bundle SITE=path.
set -euo pipefail
dir=${1:-}
[ -n "$dir" ] || { echo "usage: make new-site DIR=path (a new folder)" >&2; exit 2; }
if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
  echo "new-site: $dir exists and is not empty; nothing was written" >&2
  exit 1
fi
mkdir -p "$dir"
cp -R "$(dirname "${BASH_SOURCE[0]}")/site-template/." "$dir/"
chmod 0755 "$dir"/scripts.d/*.sh
echo "new-site: wrote $dir; build with: make bundle SITE=$dir"
