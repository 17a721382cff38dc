#!/usr/bin/env bash
# `make demo`: provision a fresh AL2023 look-alike node end to end through the real bootstrap.
#
# Starts a node from localhost/hyperpod-lookalike:al2023-gpu with no network, /opt/sagemaker
# mounted and containerd running as the AMI has it; gives it an Ansible runtime installed from
# wheels copied in (the node has no internet), and the lifecycle folder (on_create.sh, the
# playbook and the collection); runs `bash on_create.sh` there as HyperPod would; then prints the
# tail of /var/log/provision/provisioning.log and containerd's effective root. Exits with the
# bootstrap's exit code.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
WORK=${WORK:-/var/tmp/hyperpod-eks-lifecycle/demo}
IMAGE=${IMAGE:-localhost/hyperpod-lookalike:al2023-gpu}
NODE=${NODE:-hyperpod-demo-node}
PIP=${PIP:-pip}
ANSIBLE_CORE=${ANSIBLE_CORE:-ansible-core==2.15.13}
# pip evaluates environment markers with the host's Python, so the node's Python 3.9 extras are named.
PY39_EXTRAS=("importlib-resources>=5.0,<5.1")

say() { printf '\n== %s\n' "$*"; }

bash "$REPO/tests/images/build.sh"

say "Ansible runtime wheels for the node's Python 3.9 (downloaded here; the node has no network)"
mkdir -p "$WORK/wheels"
"$PIP" download -q --disable-pip-version-check --only-binary=:all: --python-version 3.9 --implementation cp \
  --abi cp39 --abi abi3 --abi none --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform any -d "$WORK/wheels" "$ANSIBLE_CORE" "${PY39_EXTRAS[@]}" 2>&1 | grep -v "^WARNING: Location" || true
ls "$WORK/wheels"

say "Lifecycle folder: on_create.sh, playbooks/, collections/"
rm -rf "$WORK/lifecycle"
mkdir -p "$WORK/lifecycle/collections/ansible_collections/hyperpod/eks_lifecycle"
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
  | grep -zE '^(galaxy\.yml|meta/|plugins/|roles/|playbooks/|LICENSE|README\.md)' \
  | xargs -0 tar -c) | tar -x -C "$WORK/lifecycle/collections/ansible_collections/hyperpod/eks_lifecycle"
cp -r "$REPO/playbooks" "$WORK/lifecycle/playbooks"
cp "$REPO/bootstrap/on_create.sh" "$WORK/lifecycle/on_create.sh"

say "Fresh node $NODE from $IMAGE (no network, data volume at /opt/sagemaker)"
docker rm -f "$NODE" >/dev/null 2>&1 || true
rm -rf "$WORK/volume"
mkdir -p "$WORK/volume"
docker run -d --name "$NODE" --hostname "$NODE" --network none --cap-add SYS_ADMIN --cgroupns=host \
  -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock \
  -v "$WORK/volume:/opt/sagemaker" "$IMAGE" >/dev/null
trap 'docker rm -f "$NODE" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 30); do
  case $(docker exec "$NODE" systemctl is-system-running 2>/dev/null) in running|degraded) break ;; esac
  sleep 1
done
docker exec "$NODE" sh -c 'for i in $(seq 1 30); do ctr version >/dev/null 2>&1 && exit 0; sleep 1; done; exit 1'
docker exec "$NODE" sh -c '. /etc/os-release; echo "$PRETTY_NAME, $(python3 -V), containerd $(containerd --version | cut -d" " -f3)"'
docker exec "$NODE" ctr plugins ls --detailed type==io.containerd.content.v1 2>/dev/null | grep -E '^\s+root'

say "Ansible runtime on the node (offline, from the copied wheels)"
docker cp "$WORK/wheels" "$NODE:/tmp/wheels"
docker exec "$NODE" sh -ec 'python3 -m venv /opt/hyperpod-ansible
  /opt/hyperpod-ansible/bin/pip install -q --no-index --find-links /tmp/wheels ansible-core
  /opt/hyperpod-ansible/bin/ansible --version | head -1'

say "bash on_create.sh, as HyperPod runs it"
docker cp "$WORK/lifecycle" "$NODE:/root/lifecycle"
rc=0
docker exec -w /root/lifecycle -e PATH=/opt/hyperpod-ansible/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  "$NODE" bash on_create.sh >"$WORK/on_create.out" 2>&1 || rc=$?
echo "on_create.sh exited with $rc"

say "tail /var/log/provision/provisioning.log"
docker exec "$NODE" tail -n 25 /var/log/provision/provisioning.log

say "Result"
docker exec "$NODE" sh -c 'echo "containerd: $(systemctl is-active containerd), started as: $(systemctl show -p ExecStart --value containerd | sed "s/.*argv\[\]=\([^;]*\);.*/\1/")"
  ctr plugins ls --detailed type==io.containerd.content.v1 2>/dev/null | grep -E "^\s+root" | sed "s/^ */content store: /"
  containerd --config /etc/containerd/hyperpod/config.toml config dump 2>/dev/null | grep -E "^root|default_runtime_name"
  ctr -n k8s.io images ls -q 2>/dev/null | grep -v "^sha256" | sed "s/^/image: /"
  cat /opt/sagemaker/containerd/data-root/.hyperpod-eks-lifecycle.json' || true
exit "$rc"
