#!/usr/bin/env bash
# Benchmark: the bootstrap on a fresh AL2023 look-alike node, split into runtime bring-up and
# playbook, beside `pip install ansible-core` from the package index.
#
#   bash bench/bootstrap.sh [RUNS]      (default 3 runs; make bench-bootstrap)
#
# Each run starts a fresh node with no network, copies the bundle in and runs `bash on_create.sh`;
# the split comes from the bootstrap's own log lines ("runtime: ... ready in Xs", "playbook
# finished in Ys"). The index install is timed on this machine (the node has no network) with the
# same Python version (pyenv's 3.9), into a new venv, with pip's cache off.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${1:-3}
WORK=${WORK:-/var/tmp/hyperpod-eks-lifecycle/bench}
PYENV_ROOT=${PYENV_ROOT:-$HOME/.pyenv}
PY39=${PY39:-$PYENV_ROOT/versions/3.9.18/bin/python3.9}
IMAGE=localhost/hyperpod-lookalike:al2023-gpu
CORE=$(grep -o 'ansible-core==[0-9.]*' "$REPO/tools/build_bundle.sh" | tail -n 1)

# shellcheck source=tests/tools/lookalike.sh
. "$REPO/tests/tools/lookalike.sh"

mkdir -p "$WORK"
bash "$REPO/tests/images/build.sh" >/dev/null
OUT=$WORK/lifecycle bash "$REPO/tools/build_bundle.sh" >/dev/null

median() { LC_ALL=C sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", (b - a) / 1e9 }'; }

: >"$WORK/runtime.txt"
: >"$WORK/playbook.txt"
: >"$WORK/total.txt"
: >"$WORK/pip.txt"
for run in $(seq 1 "$RUNS"); do
  node=hp-bench-$$-$run
  rm -rf "$WORK/volume"
  mkdir -p "$WORK/volume"
  lookalike_run "$node" "$IMAGE" "$WORK/volume"
  lookalike_wait "$node"
  docker cp "$WORK/lifecycle" "$node:/root/lifecycle"
  t0=$(date +%s%N)
  docker exec -w /root/lifecycle "$node" bash on_create.sh >"$WORK/run-$run.out" 2>&1 \
    || { tail -20 "$WORK/run-$run.out"; docker rm -f "$node" >/dev/null; exit 1; }
  t1=$(date +%s%N)
  secs "$t0" "$t1" >>"$WORK/total.txt"
  grep -o 'ready in [0-9.]*s' "$WORK/run-$run.out" | grep -o '[0-9.]*' >>"$WORK/runtime.txt"
  grep -o 'playbook finished in [0-9.]*s' "$WORK/run-$run.out" | grep -o '[0-9.]*' >>"$WORK/playbook.txt"
  docker rm -f "$node" >/dev/null

  rm -rf "$WORK/pip-venv"
  "$PY39" -m venv "$WORK/pip-venv"
  t0=$(date +%s%N)
  "$WORK/pip-venv/bin/pip" install -q --no-cache-dir --disable-pip-version-check "$CORE" 2>&1 \
    | { grep -v '^WARNING: Location' || true; }
  t1=$(date +%s%N)
  secs "$t0" "$t1" >>"$WORK/pip.txt"
done

runtime=$(median <"$WORK/runtime.txt")
playbook=$(median <"$WORK/playbook.txt")
total=$(median <"$WORK/total.txt")
pip=$(median <"$WORK/pip.txt")
printf '\nbootstrap on a fresh AL2023 look-alike (%s, %s runs, medians; %s, %s cores)\n' \
  "$CORE" "$RUNS" "$(date -u +%Y-%m-%d)" "$(nproc)"
printf '%-52s %10s\n' "what" "seconds"
printf '%-52s %10s\n' "bundle: runtime bring-up (offline, from wheels)" "$runtime"
printf '%-52s %10s\n' "bundle: playbook (on_create.yml)" "$playbook"
printf '%-52s %10s\n' "bundle: whole on_create.sh" "$total"
printf '%-52s %10s\n' "pip install $CORE from the index (network)" "$pip"
awk -v r="$runtime" -v p="$pip" 'BEGIN { printf "%-52s %9.1fx\n", "runtime bring-up vs pip install: faster by", p / r }'
