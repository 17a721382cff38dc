#!/usr/bin/env bash
# Benchmark (`make bench-fleet`): how a rollout of playbooks/fleet_apply.yml grows from 1 to N fresh
# look-alike nodes, from this machine over the docker connection, at a given forks.
#
#   bash bench/fleet.sh [FORKS] [COUNTS...]      (defaults: forks 8; 1 2 4 8 nodes)
#
# Each count starts that many fresh AL2023 GPU look-alikes (containerd 2.1, a data volume each), runs
# fleet_apply.yml once with every node in one batch (serial = the count) and a stand-in kubectl, and
# prints its wall time and the controller's CPU seconds per node (to size a controller for a large
# fleet); the nodes are removed before the next count.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FORKS=${1:-8}
shift || true
COUNTS=("$@")
[ "${#COUNTS[@]}" -gt 0 ] || COUNTS=(1 2 4 8)
WORK=${WORK:-/var/tmp/hyperpod-eks-lifecycle/bench-fleet}
IMAGE=${IMAGE:-localhost/hyperpod-lookalike:al2023-gpu}

# shellcheck source=tests/tools/lookalike.sh
. "$REPO/tests/tools/lookalike.sh"

bash "$REPO/tests/images/build.sh" >/dev/null
rm -rf "$WORK"
mkdir -p "$WORK/collections/ansible_collections/hyperpod" "$WORK/bin"
ln -s "$REPO" "$WORK/collections/ansible_collections/hyperpod/eks_lifecycle"
cat >"$WORK/bin/kubectl" <<'EOF'
#!/bin/sh
# A stand-in for kubectl: cordon and uncordon succeed, a drain takes 0.3 s.
[ "$1" = drain ] && sleep 0.3
exit 0
EOF
chmod 0755 "$WORK/bin/kubectl"

NODES=()
cleanup() {
  local node
  for node in "${NODES[@]}"; do
    docker rm -f "$node" >/dev/null 2>&1 || true
  done
  NODES=()
}
trap cleanup EXIT

start_nodes() {  # start_nodes COUNT: fresh nodes, waited for, and an inventory of them
  local count=$1 index node
  {
    printf 'all:\n  children:\n    hyperpod:\n      hosts:\n'
    for index in $(seq 1 "$count"); do
      node=hp-bench-fleet-$$-$index
      mkdir -p "$WORK/volume-$index"
      lookalike_run "$node" "$IMAGE" "$WORK/volume-$index"
      NODES+=("$node")
      printf '        node%d:\n          ansible_connection: community.docker.docker\n' "$index"
      printf '          ansible_host: %s\n          ansible_python_interpreter: /usr/bin/python3\n' "$node"
      printf '          hyperpod_k8s_node_name: hyperpod-i-%017d\n' "$index"
      printf '          ansible_become: false\n'
    done
  } >"$WORK/inventory.yml"
  for node in "${NODES[@]}"; do
    lookalike_wait "$node"
  done
}

: >"$WORK/results.txt"
for count in "${COUNTS[@]}"; do
  rm -rf "$WORK"/volume-*
  start_nodes "$count"
  t0=$(date +%s%N)
  # The controller's CPU time: ansible-playbook and every process it started here (the docker CLI
  # that reaches the nodes, kubectl), not the modules, which run on the nodes.
  if ! ANSIBLE_COLLECTIONS_PATH="$WORK/collections" PATH="$WORK/bin:$PATH" ANSIBLE_FORKS="$FORKS" \
      ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=false \
      python3 -c 'import resource, subprocess, sys
rc = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], "w"), stderr=subprocess.STDOUT).returncode
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.write("%.2f\n" % (usage.ru_utime + usage.ru_stime))
sys.exit(rc)' "$WORK/run-$count.out" ansible-playbook -i "$WORK/inventory.yml" hyperpod.eks_lifecycle.fleet_apply \
      -e "hyperpod_fleet_serial=$count" 2>"$WORK/cpu-$count.txt"; then
    tail -n 30 "$WORK/run-$count.out" >&2
    exit 1
  fi
  t1=$(date +%s%N)
  printf '%s %s %s\n' "$count" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')" \
    "$(tail -n 1 "$WORK/cpu-$count.txt")" >>"$WORK/results.txt"
  cleanup
done

printf '\nfleet_apply.yml over the docker connection, fresh AL2023 look-alikes, one batch, forks %s\n' "$FORKS"
printf '%s, %s cores\n' "$(date -u +%Y-%m-%d)" "$(nproc)"
printf '%8s %12s %14s %16s %22s\n' nodes "wall (s)" "per node (s)" "vs one node" "controller CPU/node (s)"
awk '
  NR == 1 { base = $2 }
  { printf "%8d %12.2f %14.2f %15.2fx %22.2f\n", $1, $2, $2 / $1, $2 / base, $3 / $1 }
' "$WORK/results.txt"
printf '\nA controller core gives about 3600 CPU seconds an hour: divide by the last column for the nodes an\n'
printf 'hour one core can roll out to (the nodes do their own work on their own CPUs).\n'
