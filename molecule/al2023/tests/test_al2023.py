"""AL2023: containerd runs on the data volume with everything nodeadm configured still in force."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "tests"))

from nodecheck import (DATA_ROOT, FIXTURES, LAYER_CONFIG, NODEADM_CONFIG, NVIDIA, SANDBOX, cri_runtime,  # noqa: E402
                       daemon_content_root, dump, flatten, is_gpu, k8s_images, sandbox_image)


def test_nodeadm_config_is_untouched(host):
    fixture = "al2023-nodeadm-v2-rendered.toml"
    if host.check_output("containerd --version").split()[2].startswith("2."):
        fixture = "al2023-nodeadm-v3-rendered-%s.toml" % ("nvidia" if is_gpu(host) else "runc")
    assert host.file(NODEADM_CONFIG).content_string == host.file(FIXTURES + "/" + fixture).content_string


def test_containerd_started_with_the_layer(host):
    pid = host.check_output("systemctl show --property=MainPID --value containerd")
    cmdline = host.file("/proc/%s/cmdline" % pid).content.split(b"\0")
    assert cmdline[:3] == [b"/usr/bin/containerd", b"--config", LAYER_CONFIG.encode()]


def test_effective_root_is_the_data_root(host):
    assert dump(host, LAYER_CONFIG)["root"] == DATA_ROOT


def test_running_daemon_uses_the_data_root(host):
    assert daemon_content_root(host) == DATA_ROOT + "/io.containerd.content.v1.content"
    pid = host.check_output("systemctl show --property=MainPID --value containerd")
    open_files = host.check_output("ls -l /proc/%s/fd", pid)
    assert DATA_ROOT + "/io.containerd.metadata.v1.bolt/meta.db" in open_files


def test_pinned_sandbox_image_moved_with_the_data(host):
    images = k8s_images(host)
    assert SANDBOX in images
    assert "io.cri-containerd.pinned=pinned" in images[SANDBOX]
    # Its content is on the volume, not only in the old root.
    blobs = host.check_output("ls %s", DATA_ROOT + "/io.containerd.content.v1.content/blobs/sha256").split()
    assert len(blobs) >= 3


def test_everything_nodeadm_configured_is_still_in_force(host):
    nodeadm = flatten(dump(host, NODEADM_CONFIG))
    effective = flatten(dump(host, LAYER_CONFIG))
    ours = {("root",), ("imports",)}
    runtimes = [k for k in effective if k[-2:] == ("containerd", "default_runtime_name")]
    if is_gpu(host):
        ours.update(runtimes)
        ours.update(k for k in effective if "nvidia" in k)
    changed = {k for k in set(nodeadm) | set(effective) if nodeadm.get(k) != effective.get(k)}
    assert changed - ours == set()
    cfg = dump(host, LAYER_CONFIG)
    assert sandbox_image(cfg) == "localhost/kubernetes/pause"
    assert "/etc/containerd/certs.d" in str(cfg)
    assert "runc" in cri_runtime(cfg)["containerd"]["runtimes"]


def test_nvidia_runtime_only_on_gpu_nodes(host):
    cri = cri_runtime(dump(host, LAYER_CONFIG))
    runtimes = cri["containerd"]["runtimes"]
    dropin = host.file("/etc/containerd/hyperpod/conf.d/20-nvidia-runtime.toml")
    if is_gpu(host):
        assert cri["containerd"]["default_runtime_name"] == "nvidia"
        assert runtimes["nvidia"]["runtime_type"] == "io.containerd.runc.v2"
        assert runtimes["nvidia"]["options"]["BinaryName"] == NVIDIA
        assert runtimes["nvidia"]["options"]["SystemdCgroup"] is True
        assert dropin.exists and dropin.mode == 0o644
    else:
        assert cri["containerd"]["default_runtime_name"] == "runc"
        assert "nvidia" not in runtimes
        assert not dropin.exists


def test_config_files_are_root_owned_and_not_world_writable(host):
    for path in (LAYER_CONFIG, "/etc/containerd/hyperpod/conf.d/10-data-root.toml",
                 "/etc/systemd/system/containerd.service.d/50-hyperpod-eks-lifecycle.conf"):
        config = host.file(path)
        assert config.user == "root" and config.mode == 0o644, path
