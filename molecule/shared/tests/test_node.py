"""What a cluster admin cares about on a node after on_create ran (both Amazon Linux generations)."""

import re

from nodecheck import DATA_ROOT, DATA_VOLUME, daemon_content_root, is_gpu, platform


def test_node_is_the_intended_lookalike(host):
    release = host.file("/etc/os-release").content_string
    expected_python = {"al2": "3.7", "al2023": "3.9"}[platform(host)]
    assert 'ID="amzn"' in release
    assert host.check_output("python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'") == expected_python
    # The OS's Python is the only python3 on the node.
    assert host.run("ls /usr/bin/python3.1*").rc != 0


def test_data_volume_is_a_real_mount(host):
    assert host.mount_point(DATA_VOLUME).exists


def test_data_root_is_marked_with_the_generation(host, marker):
    assert marker["platform"] == platform(host)
    assert marker["written_by"] == "hyperpod.eks_lifecycle"
    data_root = host.file(DATA_ROOT)
    assert data_root.is_directory
    assert data_root.user == "root"
    assert not data_root.mode & 0o002


def test_no_leftover_staging_copy(host):
    assert not host.file(DATA_ROOT + ".partial").exists


def test_nothing_was_set_aside_on_a_fresh_node(host):
    # A fresh volume holds only the data root: re-runs never set it aside or copy it again.
    entries = host.check_output("ls -A %s", DATA_VOLUME + "/containerd").split()
    assert entries == ["data-root"]


def test_provisioning_log_file(host):
    log = host.file("/var/log/provision/provisioning.log")
    assert log.is_file
    assert log.user == "root"
    assert log.group == "root"
    assert log.mode == 0o640
    assert host.file("/var/log/provision").mode == 0o755


def test_callback_logged_each_step_with_timestamp_and_duration(host, provision_log):
    name = host.backend.get_hostname()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[ansible\] "
    mine = [line for line in provision_log if (": %s | " % name) in line]
    assert mine, "no line for %s" % name
    for line in provision_log:
        assert re.match(stamp, line), line
    ends = [line for line in mine if re.match(stamp + r"(ok|changed|failed): ", line)]
    timed = [line for line in ends if re.search(r" \(\d+\.\d\ds\)( \| |$)", line)]
    # One line per step, when it ends, with its duration; only meta tasks (which never start) have
    # none. No start lines, no skipped steps.
    assert timed and not any(re.match(stamp + "(start|skipped): ", line) for line in mine)
    assert all("end_host" in line or "flush_handlers" in line for line in ends if line not in timed)
    # Roles write their decisions to the log on purpose.
    assert any("containerd_data_root: " in line for line in mine)
    assert any(("nvidia_runtime: " in line) for line in mine)
    assert any(line.split("[ansible] ", 1)[1].startswith("[stop] playbook recap: %s " % name) for line in provision_log)


def test_gpu_and_cpu_nodes_differ_only_by_the_runtime_binary(host):
    # The look-alike GPU nodes carry a stand-in runtime that execs runc.
    if is_gpu(host):
        assert host.file("/usr/bin/nvidia-container-runtime").mode & 0o111
        assert host.run("/usr/bin/nvidia-container-runtime --version").rc == 0
    else:
        assert not host.file("/usr/bin/nvidia-container-runtime").exists


def test_containerd_service_running(host):
    containerd = host.service("containerd")
    assert containerd.is_running
    assert containerd.is_enabled
    assert host.socket("unix:///run/containerd/containerd.sock").is_listening


def test_daemon_root_matches_the_generation_design(host):
    root = daemon_content_root(host)
    if platform(host) == "al2023":
        # AL2023: the move is live right after on_create.
        assert root == DATA_ROOT + "/io.containerd.content.v1.content"
    else:
        # AL2: containerd moves when the AMI's bootstrap.sh runs (see test_al2.py).
        assert root in ("/var/lib/containerd/io.containerd.content.v1.content",
                        DATA_ROOT + "/io.containerd.content.v1.content")
