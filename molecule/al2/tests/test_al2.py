"""AL2: only `root` (and on GPU nodes the runtime keys) change in the file bootstrap.sh installs."""

import os
import sys
import tomllib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "tests"))

from nodecheck import DATA_ROOT, EKS_CONFIG, FIXTURES, NVIDIA, daemon_content_root, dump, flatten, is_gpu


def test_eks_config_changed_only_where_intended(host):
    shipped = host.file(FIXTURES + "/al2-eks-containerd-config.toml").content_string
    edited = host.file(EKS_CONFIG).content_string
    before, after = flatten(tomllib.loads(shipped)), flatten(tomllib.loads(edited))
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    expected = {("root",)}
    if is_gpu(host):
        cri = ("plugins", "io.containerd.grpc.v1.cri", "containerd")
        expected |= {cri + ("default_runtime_name",), cri + ("runtimes", "nvidia", "runtime_type"),
                     cri + ("runtimes", "nvidia", "options", "BinaryName"),
                     cri + ("runtimes", "nvidia", "options", "SystemdCgroup")}
        assert after[cri + ("runtimes", "nvidia", "options", "BinaryName")] == NVIDIA
        assert after[cri + ("default_runtime_name",)] == "nvidia"
    assert changed == expected
    assert after[("root",)] == DATA_ROOT
    # Every other line of the shipped file is still there, in order, as it was (comments, blank
    # lines, the sandbox image placeholder that bootstrap.sh fills in later).
    replaced = ('root = ', 'default_runtime_name = ') if is_gpu(host) else ('root = ',)
    remaining = iter(edited.splitlines())
    for line in shipped.splitlines():
        if line.startswith(replaced):
            continue
        assert any(line == other for other in remaining), "lost or moved: %r" % line
    assert 'sandbox_image = "SANDBOX_IMAGE"' in edited


def test_effective_root_of_the_eks_config(host):
    assert dump(host, EKS_CONFIG)["root"] == DATA_ROOT


def test_containerd_moves_when_bootstrap_sh_runs(host):
    # What the AMI does after the lifecycle script: install the file and restart containerd.
    host.run_test("/etc/eks/bootstrap.sh")
    assert host.service("containerd").is_running
    assert daemon_content_root(host) == DATA_ROOT + "/io.containerd.content.v1.content"
    cri = dump(host, "/etc/containerd/config.toml")["plugins"]["io.containerd.grpc.v1.cri"]
    if is_gpu(host):
        assert cri["containerd"]["default_runtime_name"] == "nvidia"
        assert cri["containerd"]["runtimes"]["nvidia"]["options"]["BinaryName"] == NVIDIA
    else:
        assert cri["containerd"]["default_runtime_name"] == "runc"
        assert "nvidia" not in cri["containerd"]["runtimes"]
    assert cri["sandbox_image"] == "localhost/kubernetes/pause:latest"
