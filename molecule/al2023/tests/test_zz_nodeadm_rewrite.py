"""AL2023: the relocation survives nodeadm rewriting its config and restarting containerd.

These checks change the node, so they run last (file name order).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "tests"))

from nodecheck import DATA_ROOT, LAYER_CONFIG, NODEADM_CONFIG, SANDBOX, cri_runtime, daemon_content_root, dump, is_gpu, k8s_images


def check_still_relocated(host):
    assert host.service("containerd").is_running
    assert dump(host, LAYER_CONFIG)["root"] == DATA_ROOT
    assert daemon_content_root(host) == DATA_ROOT + "/io.containerd.content.v1.content"
    assert SANDBOX in k8s_images(host)
    runtimes = cri_runtime(dump(host, LAYER_CONFIG))["containerd"]["runtimes"]
    assert ("nvidia" in runtimes) == is_gpu(host)


def test_nodeadm_rewrite_and_restart(host):
    host.run_test("nodeadm init")
    check_still_relocated(host)


def test_drop_ins_nodeadm_or_nvidia_ctk_add_stay_in_force(host):
    # nvidia-ctk 1.18+ and the GPU Operator add `imports` and a conf.d drop-in to nodeadm's file.
    host.run_test("mkdir -p /etc/containerd/conf.d")
    host.run_test("printf '[debug]\\nlevel = \"debug\"\\n' > /etc/containerd/conf.d/99-test.toml")
    host.run_test("printf 'imports = [\"/etc/containerd/conf.d/*.toml\"]\\n' | cat - %s > /tmp/c && mv /tmp/c %s",
                  NODEADM_CONFIG, NODEADM_CONFIG)
    host.run_test("systemctl restart containerd")
    assert dump(host, LAYER_CONFIG)["debug"]["level"] == "debug"
    check_still_relocated(host)
    host.run_test("rm -f /etc/containerd/conf.d/99-test.toml && nodeadm init")
    check_still_relocated(host)
