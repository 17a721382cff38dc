#!/usr/bin/env bash
# `make demo`: provision a fresh AL2023 look-alike node end to end, the way HyperPod does it.
#
# Builds the bundle (dist/lifecycle, what an admin uploads to S3); starts a fresh node from
# localhost/hyperpod-lookalike:al2023-gpu with no network and /opt/sagemaker mounted; puts it in the
# state HyperPod's OnCreate finds an AL2023 node in (containerd and kubelet disabled and stopped);
# copies the folder in (as HyperPod downloads it) and runs `bash on_create.sh` from inside it; runs
# nodeadm's run phase (containerd and kubelet enabled and started); runs `bash on_init_complete.sh`
# (OnInitComplete); prints the tail of /var/log/provision/provisioning.log, a summary of
# report.json and containerd's effective root. Exits non-zero if either script failed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${WORK:-/var/tmp/hyperpod-eks-lifecycle/demo}
IMAGE=${IMAGE:-localhost/hyperpod-lookalike:al2023-gpu}
NODE=${NODE:-hyperpod-demo-node}

# shellcheck source=tests/tools/lookalike.sh
. "$REPO/tests/tools/lookalike.sh"

say() { printf '\n== %s\n' "$*"; }

bash "$REPO/tests/images/build.sh"

say "make bundle"
bash "$REPO/tools/build_bundle.sh"
BUNDLE=$REPO/dist/lifecycle

say "Fresh node $NODE from $IMAGE (no network, data volume at /opt/sagemaker)"
docker rm -f "$NODE" >/dev/null 2>&1 || true
rm -rf "$WORK/volume"
mkdir -p "$WORK/volume"
lookalike_run "$NODE" "$IMAGE" "$WORK/volume"
trap 'docker rm -f "$NODE" >/dev/null 2>&1 || true' EXIT
lookalike_wait "$NODE"
docker exec "$NODE" sh -c '. /etc/os-release; echo "$PRETTY_NAME, $(python3 -V), containerd $(containerd --version | cut -d" " -f3), ansible-playbook: $(command -v ansible-playbook || echo none), routes: $(ip -o route | wc -l)"'
docker exec "$NODE" ctr plugins ls --detailed type==io.containerd.content.v1 2>/dev/null | grep -E '^\s+root' | sed 's/^ */containerd content store before: /'

say "As at OnCreate on an AL2023 node: containerd and kubelet disabled and stopped (nodeadm starts them later)"
docker exec "$NODE" systemctl disable --now containerd kubelet 2>/dev/null || true
docker exec "$NODE" sh -c 'echo "containerd: $(systemctl is-active containerd), $(systemctl is-enabled containerd)"'

say "bash on_create.sh, from the downloaded folder, as HyperPod runs it (OnCreate)"
docker cp "$BUNDLE" "$NODE:/root/lifecycle"
rc=0
docker exec -w /root/lifecycle "$NODE" bash on_create.sh >"$WORK/on_create.out" 2>&1 || rc=$?
echo "on_create.sh exited with $rc (its output: $WORK/on_create.out)"
docker exec "$NODE" sh -c 'echo "containerd after OnCreate: $(systemctl is-active containerd), $(systemctl is-enabled containerd) (left as nodeadm expects it)"'

say "nodeadm's run phase: containerd and kubelet enabled and started"
docker exec "$NODE" nodeadm run

say "bash on_init_complete.sh (OnInitComplete): is provisioning in effect now that the AMI started everything?"
rc2=0
docker exec -w /root/lifecycle "$NODE" bash on_init_complete.sh >"$WORK/on_init_complete.out" 2>&1 || rc2=$?
echo "on_init_complete.sh exited with $rc2 (its output: $WORK/on_init_complete.out)"
[ "$rc" -ne 0 ] || rc=$rc2

say "tail -n 30 /var/log/provision/provisioning.log"
docker exec "$NODE" tail -n 30 /var/log/provision/provisioning.log
docker exec "$NODE" grep -E '\[(start|stop|error)\]|bundle verified|runtime:|playbook finished' /var/log/provision/provisioning.log

say "/var/log/provision/report.json, in short"
docker exec "$NODE" python3 -c '
import json
r = json.load(open("/var/log/provision/report.json"))
h = r["hosts"].get("localhost", {})
print("run %s: %s in %.1fs%s" % (r["run_id"], r["outcome"], r["duration_seconds"],
      "" if not r["failure"] else ", failed at %s: %s" % (r["failure"]["step"], r["failure"]["message"])))
print("detected: %s, containerd %s" % ((h.get("os") or {}).get("pretty_name"), (h.get("containerd") or {}).get("version")))
for s in (r["bootstrap"] or {}).get("steps", []):
    print("  bootstrap %-16s %6.2fs" % (s["name"], s["duration_seconds"]))
for role in h.get("roles", []):
    print("  role %-36s %6.2fs  changed %d: %s" % (role["name"], role["duration_seconds"], role["changed"],
                                                "; ".join(role["changed_tasks"])[:110]))
v = r.get("verification")
if v:
    print("verification (on_init_complete.sh) %s: %s in %.1fs" % (v["run_id"], v["outcome"], v["duration_seconds"]))
    for c in (v["hosts"].get("localhost") or {}).get("checks", []):
        print("  %-4s %-26s %s" % ("ok" if c["ok"] else "FAIL", c["name"], c["detail"][:100]))
' || true

say "Result"
docker exec "$NODE" sh -c '
  echo "containerd: $(systemctl is-active containerd), started as: $(systemctl show -p ExecStart --value containerd | sed "s/.*argv\[\]=\([^;]*\);.*/\1/")"
  ctr plugins ls --detailed type==io.containerd.content.v1 2>/dev/null | grep -E "^\s+root" | sed "s/^ */containerd content store: /"
  containerd --config /etc/containerd/hyperpod/config.toml config dump 2>/dev/null | grep -E "^root|default_runtime_name" | sed "s/^ */effective: /"
  ctr -n k8s.io images ls -q 2>/dev/null | grep -v "^sha256" | sed "s/^/image in the new root: /"
  echo "generation marker: $(tr -d "\n " </opt/sagemaker/containerd/data-root/.hyperpod-eks-lifecycle.json)"' || true
exit "$rc"
