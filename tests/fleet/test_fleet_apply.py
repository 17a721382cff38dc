"""playbooks/fleet_apply.yml from a controller (this machine) to look-alike nodes over the docker connection.

Nothing of the play runs on localhost except kubectl, which is a stand-in that records its calls: the
roles run remotely, in batches, and a failing node stops the rollout.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import testinfra
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(REPO / "molecule" / "shared" / "tests"))

from lookalike import Node  # noqa: E402
from nodecheck import DATA_ROOT, EKS_CONFIG, LAYER_CONFIG, daemon_content_root, dump  # noqa: E402

KUBECTL = """#!/bin/sh
echo "$(date +%s.%N) $*" >> "$KUBECTL_LOG"
[ "$1" = drain ] && sleep 0.3
[ -n "$KUBECTL_FAIL" ] && [ "$1" = "$KUBECTL_FAIL" ] && { echo "error: $1 refused" >&2; exit 1; }
exit 0
"""

VARIANTS = ["al2023-gpu", "al2", "al2023", "al2-gpu", "al2023-gpu"]


@pytest.fixture
def controller(tmp_path):
    """ANSIBLE_COLLECTIONS_PATH with this checkout, and kubectl on PATH that records its calls."""
    collections = tmp_path / "collections" / "ansible_collections" / "hyperpod"
    collections.mkdir(parents=True)
    (collections / "eks_lifecycle").symlink_to(REPO)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "kubectl").write_text(KUBECTL)
    (bindir / "kubectl").chmod(0o755)
    return tmp_path


@pytest.fixture
def nodes():
    started = []
    yield started
    for node in started:
        node.remove()


def start(nodes, tmp_path, count, missing_volume=()):
    for index in range(count):
        volume = None
        if index not in missing_volume:
            volume = tmp_path / ("volume-%d" % index)
            volume.mkdir()
        nodes.append(Node(VARIANTS[index % len(VARIANTS)], volume, prefix="hp-fleet"))
    return nodes


def inventory(tmp_path, nodes, **host_vars):
    hosts = {}
    for index, node in enumerate(nodes):
        hosts["node%d" % index] = dict({
            "ansible_connection": "community.docker.docker",
            "ansible_host": node.name,
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_become": False,  # the docker connection is root already (as an aws_ssm session is)
            "hyperpod_instance_id": "i-%017d" % index,
            "hyperpod_k8s_node_name": "hyperpod-i-%017d" % index,
        }, **host_vars.get("node%d" % index, {}))
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"hyperpod": {"hosts": hosts}}}}))
    return path


def fleet_apply(controller, inventory_path, *args, **env):
    environment = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(controller / "collections"),
                       PATH="%s:%s" % (controller / "bin", os.environ["PATH"]),
                       KUBECTL_LOG=str(controller / "kubectl.log"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORKS="5",
                       ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_RETRY_FILES_ENABLED="false", **env)
    return subprocess.run(["ansible-playbook", "-i", str(inventory_path), "hyperpod.eks_lifecycle.fleet_apply", *args],
                          env=environment, capture_output=True, text=True, check=False, timeout=1800)


def kubectl_calls(controller):
    log = controller / "kubectl.log"
    if not log.exists():
        return []
    return [line.split(" ", 1)[1] for line in log.read_text().splitlines()]


def provisioned(node):
    host = testinfra.get_host("docker://" + node.name)
    if not host.file(DATA_ROOT + "/.hyperpod-eks-lifecycle.json").exists:
        return False
    if "al2023" in node.name:
        return dump(host, LAYER_CONFIG)["root"] == DATA_ROOT and \
            daemon_content_root(host) == DATA_ROOT + "/io.containerd.content.v1.content"
    return dump(host, EKS_CONFIG)["root"] == DATA_ROOT


def test_rolls_out_in_batches_draining_each_node_and_changes_nothing_the_second_time(controller, nodes, tmp_path):
    start(nodes, tmp_path, 5)
    inv = inventory(tmp_path, nodes)

    # A preview changes nothing and drains nothing.
    preview = fleet_apply(controller, inv, "--check", "--diff", "-e", "hyperpod_fleet_serial=5")
    assert preview.returncode == 0, preview.stdout[-3000:]
    assert kubectl_calls(controller) == []
    assert "would be cordoned, drained and uncordoned" in preview.stdout
    assert not any(provisioned(node) for node in nodes)

    proc = fleet_apply(controller, inv, "-e", "hyperpod_fleet_serial=2")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert all(provisioned(node) for node in nodes)
    # Batches of two, in inventory order: a batch starts only when the one before it is uncordoned.
    calls = kubectl_calls(controller)
    batches = [["node0", "node1"], ["node2", "node3"], ["node4"]]
    position = 0
    for batch in batches:
        names = ["hyperpod-i-%017d" % int(host[4:]) for host in batch]
        window = calls[position:position + 3 * len(batch)]
        position += 3 * len(batch)
        for name in names:
            mine = [call.split()[0] for call in window if call.split()[1] == name]
            assert mine == ["cordon", "drain", "uncordon"], (name, window)
        assert all(call.split()[1] in names for call in window), window
    assert position == len(calls)
    drain = [call for call in calls if call.startswith("drain ")][0]
    assert drain.endswith("--timeout=600s --ignore-daemonsets --delete-emptydir-data")
    # The roles ran on the nodes, not on this machine.
    assert not Path("/etc/containerd/hyperpod").exists() and not Path("/opt/sagemaker/containerd").exists()

    # A second rollout finds nothing to change on any node (kubectl still cordons and drains).
    again = fleet_apply(controller, inv, "-e", "hyperpod_fleet_serial=5", "-e", "hyperpod_fleet_drain=false")
    assert again.returncode == 0, again.stdout[-3000:]
    recap = [line for line in again.stdout.splitlines() if line.startswith("node")]
    assert len(recap) == 5 and all(" changed=0 " in line for line in recap), recap
    assert len(kubectl_calls(controller)) == len(calls)


def test_a_failing_node_stops_the_rollout_and_stays_cordoned(controller, nodes, tmp_path):
    # node2 has no data volume and the policy says fail: its batch fails, the next batch never starts.
    start(nodes, tmp_path, 5, missing_volume=(2,))
    inv = inventory(tmp_path, nodes, node2={"containerd_data_root_missing_volume_policy": "fail",
                                            "containerd_data_root_wait_timeout": 1})
    proc = fleet_apply(controller, inv, "-e", "hyperpod_fleet_serial=2")
    assert proc.returncode != 0, proc.stdout[-4000:]
    assert "is not a mount point after 1s" in proc.stdout
    calls = kubectl_calls(controller)
    touched = sorted(set(call.split()[1] for call in calls))
    assert touched == ["hyperpod-i-%017d" % index for index in range(4)], calls  # node4 never cordoned
    assert "uncordon hyperpod-i-00000000000000002" not in calls  # the failed node stays cordoned
    assert "uncordon hyperpod-i-00000000000000003" in calls  # its batch-mate finished
    assert [provisioned(node) for node in nodes] == [True, True, False, True, False]
    # node4's batch failed at the gate, before anything was done to it.
    assert "fleet_apply: not started: 1 of 5 nodes failed in earlier batches (node2; they stay cordoned)" \
        in " ".join(proc.stdout.split())
    recap = dict((line.split()[0], line) for line in proc.stdout.splitlines() if line.startswith("node"))
    assert " ok=0 " in recap["node4"] and " failed=1 " in recap["node4"]
    assert " failed=0 " in recap["node3"] and " failed=1 " in recap["node2"]


def test_a_failed_drain_leaves_the_node_untouched(controller, nodes, tmp_path):
    start(nodes, tmp_path, 1)
    inv = inventory(tmp_path, nodes)
    proc = fleet_apply(controller, inv, KUBECTL_FAIL="drain")
    assert proc.returncode != 0
    assert "error: drain refused" in proc.stdout
    assert [call.split()[0] for call in kubectl_calls(controller)] == ["cordon", "drain"]
    assert not provisioned(nodes[0])
    host = testinfra.get_host("docker://" + nodes[0].name)
    assert not host.file("/etc/containerd/hyperpod").exists


def test_a_node_whose_provisioning_lock_is_held_is_left_alone_and_the_rollout_releases_its_own(
        controller, nodes, tmp_path):
    start(nodes, tmp_path, 2)
    inv = inventory(tmp_path, nodes)
    # A setting that is no number stops the rollout before anything is done (it would hold no lock).
    bad = fleet_apply(controller, inv, "-e", "hyperpod_fleet_lock_hold=4h")
    assert bad.returncode != 0 and "hyperpod_fleet_lock_hold" in bad.stdout, bad.stdout[-2000:]
    assert kubectl_calls(controller) == [] and not any(provisioned(node) for node in nodes)
    # node1: an on_create.sh run holds the node's provisioning lock for the whole rollout.
    nodes[1].run("mkdir -p -m 0700 /run/hyperpod-eks-lifecycle && echo 4242 > /run/hyperpod-eks-lifecycle/lock.pid"
                 " && (flock /run/hyperpod-eks-lifecycle/lock sleep 120 </dev/null >/dev/null 2>&1 &)")
    proc = fleet_apply(controller, inv, "-e", "hyperpod_fleet_serial=2", "-e", "hyperpod_fleet_lock_wait=3")
    assert proc.returncode != 0
    text = " ".join(proc.stdout.split())
    assert "another provisioning run (pid 4242) still holds /run/hyperpod-eks-lifecycle/lock after 3s; not touching" \
        in text, proc.stdout[-3000:]
    assert [provisioned(node) for node in nodes] == [True, False]
    assert sorted(set(call.split()[1] for call in kubectl_calls(controller))) == ["hyperpod-i-%017d" % 0]  # not drained
    # node0's rollout released its lock: it is free, and no holder is left behind.
    assert nodes[0].run("flock --nonblock /run/hyperpod-eks-lifecycle/lock true", check=False).returncode == 0
    assert nodes[0].run("pgrep -f '^sleep 14400$'", check=False).returncode != 0
    assert nodes[0].run("stat -c %a /run/hyperpod-eks-lifecycle").stdout.strip() == "700"
