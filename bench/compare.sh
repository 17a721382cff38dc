#!/usr/bin/env bash
# Benchmark (`make bench`): the seed's lifecycle script against the collection's play, side by side
# in the same run, on fresh AL2023 look-alike nodes (containerd 2.1, GPU), offline.
#
#   bash bench/compare.sh [RUNS]      (default 5; medians are printed)
#
# Each run starts two fresh nodes from the same image with a fresh data volume:
#   - seed:       bench/seed/on_create.sh (a re-creation of the seed's documented behaviour), run
#                 twice (fresh node, then a re-run); then the containerd restart the seed leaves to
#                 nodeadm is timed, so that the comparison also shows the work the seed skips;
#   - collection: the bundle's on_create.sh (make bundle), run twice. Its report.json gives the
#                 play's split: time per role, Ansible's start-up (the ansible-playbook process
#                 until the play starts), fact gathering (os_release_facts), the containerd
#                 restarts and the data copy, and the rest: the play's own overhead.
# Every script runs under bench/peak_rss.py (the node's Python), which records the wall time and
# the peak resident memory of the script's whole process tree. On the collection's node, after its
# runs, the floor F is measured three times: a one-task local play with the runtime on_create.sh
# installed there. The table (bench/table.py) shows medians, the ratio to the seed, and each run's
# time in F (measured in the same run, so that the machine's speed cancels out).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${1:-5}
WORK=${WORK:-/var/tmp/hyperpod-eks-lifecycle/bench-compare}
IMAGE=${IMAGE:-localhost/hyperpod-lookalike:al2023-gpu}
PYTHON=${PYTHON:-python3}

log() { printf '[bench] %s\n' "$*" >&2; }
# shellcheck source=tests/tools/lookalike.sh
. "$REPO/tests/tools/lookalike.sh"

bash "$REPO/tests/images/build.sh" >/dev/null
rm -rf "$WORK"
mkdir -p "$WORK/results"
OUT=$WORK/lifecycle bash "$REPO/tools/build_bundle.sh" >/dev/null

NODES=()
cleanup() {
  local node
  for node in "${NODES[@]}"; do
    docker rm -f "$node" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

# start_node NAME: a fresh node with a fresh volume, waited for until containerd answers.
start_node() {
  local node=$1
  rm -rf "$WORK/volume-$node"
  mkdir -p "$WORK/volume-$node"
  docker rm -f "$node" >/dev/null 2>&1 || true
  NODES+=("$node")
  lookalike_run "$node" "$IMAGE" "$WORK/volume-$node"
  lookalike_wait "$node"
  docker cp "$REPO/bench/peak_rss.py" "$node:/root/peak_rss.py"
}

# measure NODE WORKDIR RESULT: run `bash on_create.sh` in WORKDIR under peak_rss.py; keep its figures.
measure() {
  local node=$1 workdir=$2 result=$3
  if ! docker exec -w "$workdir" -e HYPERPOD_FAILURE_WAIT=0 "$node" \
      python3 /root/peak_rss.py /root/measure.json bash on_create.sh >"$WORK/results/$result.out" 2>&1; then
    tail -n 30 "$WORK/results/$result.out" >&2
    log "$result failed"
    exit 1
  fi
  docker exec "$node" cat /root/measure.json >"$WORK/results/$result.measure.json"
}

for run in $(seq 1 "$RUNS"); do
  log "run $run of $RUNS: seed"
  seed=hp-bench-seed-$$
  start_node "$seed"
  docker cp "$REPO/bench/seed" "$seed:/root/seed"
  measure "$seed" /root/seed "seed-fresh-$run"
  measure "$seed" /root/seed "seed-rerun-$run"
  # What the seed leaves undone: the restart that makes containerd use the new root.
  docker exec "$seed" python3 -c 'import subprocess, time
t = time.monotonic()
subprocess.run(["systemctl", "restart", "containerd"], check=True)
while subprocess.run(["ctr", "version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
    time.sleep(0.05)
print("{\"restart_seconds\": %.3f}" % (time.monotonic() - t))' >"$WORK/results/seed-restart-$run.json"
  docker exec "$seed" sh -c 'ctr plugins ls --detailed type==io.containerd.content.v1' \
    | grep -q '/opt/sagemaker/containerd/data-root' || { log "the seed's node did not move its root"; exit 1; }
  docker rm -f "$seed" >/dev/null

  log "run $run of $RUNS: collection"
  node=hp-bench-coll-$$
  start_node "$node"
  docker cp "$WORK/lifecycle" "$node:/root/lifecycle"
  for phase in fresh rerun; do
    measure "$node" /root/lifecycle "collection-$phase-$run"
    docker exec "$node" cat /var/log/provision/report.json >"$WORK/results/collection-$phase-$run.report.json"
    grep -o 'playbook finished in [0-9.]*s' "$WORK/results/collection-$phase-$run.out" | grep -o '[0-9.]*' \
      >"$WORK/results/collection-$phase-$run.playbook-seconds"
  done
  # The floor F: a one-task local play (one module call) with the runtime on_create.sh installed,
  # on the same node, as on_create.sh runs it. The targets are ratios to it.
  docker exec "$node" sh -c 'printf "%s\n" "- name: The floor" "  hosts: localhost" "  gather_facts: false" \
    "  tasks:" "    - name: One module call" "      ansible.builtin.ping:" >/root/floor.yml'
  for floor in 1 2 3; do
    docker exec -e ANSIBLE_PIPELINING=true -e ANSIBLE_NOCOLOR=1 -e ANSIBLE_LOCALHOST_WARNING=false \
      -e ANSIBLE_INVENTORY_UNPARSED_WARNING=false "$node" sh -c \
      'python3 /root/peak_rss.py /root/floor.json /opt/hyperpod-eks-lifecycle/runtime/py*/bin/ansible-playbook -c local /root/floor.yml' \
      >"$WORK/results/floor-$run-$floor.out" 2>&1 || { tail -n 20 "$WORK/results/floor-$run-$floor.out" >&2; exit 1; }
    docker exec "$node" cat /root/floor.json >"$WORK/results/floor-$run-$floor.measure.json"
  done
  docker rm -f "$node" >/dev/null
done

"$PYTHON" "$REPO/bench/table.py" "$WORK/results" "$RUNS" "$IMAGE"
