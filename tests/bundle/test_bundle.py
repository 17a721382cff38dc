"""The bundle end to end: `make bundle`'s folder runs with `bash on_create.sh` on bare, offline nodes.

Each node is a fresh look-alike with networking off and only its OS's Python (3.7 on AL2, 3.9 on
AL2023); the folder is copied in as HyperPod downloads it, and the script runs from inside it.
"""

import base64
import hashlib
import os
import re
import shlex
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
import testinfra

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(REPO / "molecule" / "shared" / "tests"))

from bundlekit import install_unit, settings_bundle, start  # noqa: E402
from lookalike import Node  # noqa: E402
from reportcheck import check_report, metrics, value  # noqa: E402
from nodecheck import (DATA_ROOT, EKS_CONFIG, LAYER_CONFIG, SANDBOX, daemon_content_root, dump,  # noqa: E402
                       k8s_images)

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[([a-z-]+)\] (.*)$")
LOG = "/var/log/provision/provisioning.log"
REPORT = "/var/log/provision/report.json"
TEXTFILE = "/var/lib/node_exporter/textfile_collector"
PROM = TEXTFILE + "/hyperpod_provision.prom"
CONTAINERD = {"al2-gpu": "1.7.24", "al2": "1.7.24", "al2023-gpu": "2.1.9", "al2023": "2.1.9"}
# The play's roles; containerd_common's tasks count under the role that depends on or includes it.
ROLES = ["hyperpod.eks_lifecycle.logging", "hyperpod.eks_lifecycle.containerd_data_root",
         "hyperpod.eks_lifecycle.nvidia_runtime"]
FOLDER = "/root/lifecycle"
PYTHON = {"al2-gpu": "3.7", "al2023-gpu": "3.9"}


def on_create(node, env=None):
    """bash on_create.sh from inside the downloaded folder, as HyperPod runs it."""
    environment = {"HYPERPOD_FAILURE_WAIT": "1"}
    environment.update(env or {})
    proc = node.run("bash on_create.sh", check=False, env=environment, workdir=FOLDER)
    proc.log = node.run("cat %s" % LOG).stdout.splitlines()
    return proc


def report(node):
    """The node's report.json, its schema checked."""
    return check_report(node.run("cat " + REPORT).stdout)


def recap(log):
    return [line for line in log if "[stop] playbook recap:" in line]


@pytest.mark.parametrize("variant", ["al2-gpu", "al2023-gpu"])
def test_bare_offline_node_provisions_itself_and_reruns_unchanged(bundle, volume, nodes, variant):
    node = start(nodes, variant, volume)
    host = testinfra.get_host("docker://" + node.name)
    # Bare and offline: no Ansible, no route out, only the OS's Python.
    assert node.run("ip -o route show", check=False).stdout.strip() == ""
    assert node.run("command -v ansible-playbook", check=False).returncode != 0
    assert host.check_output("python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'") == PYTHON[variant]

    node.copy_in(bundle, FOLDER)
    first = on_create(node, env={"HYPERPOD_METRICS_TEXTFILE_DIR": TEXTFILE})
    assert first.returncode == 0, first.stdout[-3000:]
    assert LINE.match(first.log[0]).group(1) == "start"
    assert LINE.match(first.log[-1]).groups() == ("stop", "on_create.sh succeeded")
    assert any("bundle verified" in line for line in first.log)
    assert any("runtime: installing ansible-core for Python %s" % PYTHON[variant] in line for line in first.log)
    core = "2.11" if variant.startswith("al2-") else "2.15"
    assert any(re.search(r"runtime: ansible-playbook \[core %s\.\d+\] ready in" % core, line) for line in first.log)
    assert re.search(r"changed=[1-9]", recap(first.log)[-1])

    # The report beside the log: the run, what was detected, what each role changed; the metrics agree.
    done = report(node)
    run_id = re.search(r"\(pid \d+, from .*, run (\S+)\)", first.log[0]).group(1)
    assert done["run_id"] == run_id and done["outcome"] == "succeeded" and done["failure"] is None
    assert [s["name"] for s in done["bootstrap"]["steps"]] == ["verify-bundle", "lock", "locate-playbook", "runtime"]
    assert done["playbook"]["ansible_core"].startswith(core + ".")
    assert done["playbook"]["python"].startswith(PYTHON[variant] + ".")
    host_report = done["hosts"]["localhost"]
    assert host_report["os"]["platform"] == variant.split("-")[0]
    assert host_report["containerd"]["version"] == CONTAINERD[variant]
    assert [r["name"] for r in host_report["roles"]] == ROLES
    changed = {r["name"]: r["changed_tasks"] for r in host_report["roles"]}
    assert changed["hyperpod.eks_lifecycle.containerd_data_root"]
    assert changed["hyperpod.eks_lifecycle.nvidia_runtime"]
    assert host_report["counts"]["changed"] == int(re.search(r"changed=(\d+)", recap(first.log)[-1]).group(1))
    samples = metrics(node.run("cat " + PROM).stdout)
    assert value(samples, "hyperpod_provision_success") == 1
    assert value(samples, "hyperpod_provision_changed_tasks") == host_report["counts"]["changed"]
    assert value(samples, "hyperpod_provision_duration_seconds") == done["duration_seconds"]
    assert node.run("stat -c %a " + PROM).stdout.strip() == "644"

    # The node ends provisioned as the collection defines it.
    marker = host.file(DATA_ROOT + "/.hyperpod-eks-lifecycle.json").content_string
    if variant.startswith("al2023"):
        assert '"platform": "al2023"' in marker
        assert dump(host, LAYER_CONFIG)["root"] == DATA_ROOT
        assert daemon_content_root(host) == DATA_ROOT + "/io.containerd.content.v1.content"
        assert SANDBOX in k8s_images(host)
    else:
        assert '"platform": "al2"' in marker
        assert dump(host, EKS_CONFIG)["root"] == DATA_ROOT
    # Nothing the run wrote is world-writable.
    writable = host.check_output(
        "find /etc/containerd /etc/eks /etc/systemd/system /opt/hyperpod-eks-lifecycle /opt/sagemaker/containerd"
        " /var/log/provision -xdev -perm -0002 ! -type l 2>/dev/null || true")
    assert writable == ""
    runtime = host.check_output("ls /opt/hyperpod-eks-lifecycle/runtime").split()
    assert len(runtime) == 1 and runtime[0].startswith("py%s-" % PYTHON[variant].replace(".", ""))

    # The first run restarted containerd on AL2023 (in a handler); AL2 leaves that to bootstrap.sh.
    restarts = [line for line in first.log if "[ansible] handler: " in line and "Restart containerd" in line]
    assert len(restarts) == (2 if variant.startswith("al2023") else 0), restarts

    # Runs two and three: nothing changes, nothing is wiped or copied again, containerd is not restarted.
    pid = host.check_output("systemctl show --property=MainPID --value containerd")
    data_root_inode = host.check_output("stat -c %%i %s", DATA_ROOT)
    content = host.check_output("find %s | sort | md5sum", DATA_ROOT)
    seen = len(first.log)
    for run in (2, 3):
        again = on_create(node)
        assert again.returncode == 0, again.stdout[-3000:]
        log = again.log[seen:]
        seen = len(again.log)
        assert any("runtime: reusing /opt/hyperpod-eks-lifecycle/runtime/" + runtime[0] in line for line in log)
        assert re.search(r" changed=0 failed=0 ", recap(log)[-1]), recap(log)
        rerun = report(node)
        assert rerun["run_id"] != run_id and rerun["outcome"] == "succeeded"
        assert [(r["name"], r["changed"]) for r in rerun["hosts"]["localhost"]["roles"]] == [(n, 0) for n in ROLES]
        assert not any("[ansible] handler: " in line for line in log)
        assert host.check_output("systemctl show --property=MainPID --value containerd") == pid
        assert host.check_output("stat -c %%i %s", DATA_ROOT) == data_root_inode
        assert host.check_output("find %s | sort | md5sum", DATA_ROOT) == content
        assert host.check_output("ls -A /opt/sagemaker/containerd") == "data-root"
    # The log is one file, appended: all three runs are in it, in order.
    assert [LINE.match(line).group(1) for line in again.log].count("start") == 3


def test_altered_bundle_is_refused_and_the_node_left_as_it_was(bundle, volume, nodes, tmp_path):
    altered = tmp_path / "lifecycle"
    shutil.copytree(bundle, altered)
    victim = altered / "collections/ansible_collections/hyperpod/eks_lifecycle/roles/containerd_data_root/tasks/al2023.yml"
    data = bytearray(victim.read_bytes())
    data[100] ^= 0x01
    victim.write_bytes(bytes(data))

    node = start(nodes, "al2023-gpu", volume)
    before = node.run("cat /etc/containerd/config.toml; systemctl show -p ExecStart containerd; ls -A /opt/sagemaker").stdout
    node.copy_in(altered, FOLDER)
    proc = on_create(node)
    assert proc.returncode == 3
    errors = [line for line in proc.log if LINE.match(line).group(1) == "error"]
    assert len(errors) == 1 and "step 'verify-bundle' failed" in errors[0] and "corrupt" in errors[0]
    assert "containerd_data_root/tasks/al2023.yml: FAILED" in errors[0]
    failed = report(node)
    assert failed["outcome"] == "failed" and failed["hosts"] == {} and failed["playbook"] is None
    assert failed["failure"]["stage"] == "bootstrap" and failed["failure"]["step"] == "verify-bundle"
    assert failed["failure"]["exit_code"] == 3
    assert "containerd_data_root/tasks/al2023.yml: FAILED" in failed["failure"]["message"]
    assert node.run("cat /etc/containerd/config.toml; systemctl show -p ExecStart containerd; ls -A /opt/sagemaker").stdout == before
    assert node.run("test -e /opt/hyperpod-eks-lifecycle || test -e /etc/containerd/hyperpod", check=False).returncode != 0
    host = testinfra.get_host("docker://" + node.name)
    assert daemon_content_root(host) == "/var/lib/containerd/io.containerd.content.v1.content"


def test_incomplete_bundle_is_refused(bundle, volume, nodes, tmp_path):
    # Metrics on, from the environment: a settings file in a bundle that fails its check is not read.
    partial = settings_bundle(bundle, tmp_path, hyperpod_metrics_textfile_dir="/var/lib/planted")
    next(partial.glob("runtime/py39/ansible_core-*.whl")).unlink()
    node = start(nodes, "al2023-gpu", volume)
    node.copy_in(partial, FOLDER)
    proc = on_create(node, env={"HYPERPOD_METRICS_TEXTFILE_DIR": TEXTFILE})
    assert node.run("test -e /var/lib/planted", check=False).returncode != 0
    assert proc.returncode == 3
    assert any("step 'verify-bundle' failed" in line and "ansible_core" in line for line in proc.log)
    assert report(node)["failure"]["step"] == "verify-bundle"
    samples = metrics(node.run("cat " + PROM).stdout)
    assert value(samples, "hyperpod_provision_success") == 0
    assert value(samples, "hyperpod_provision_info", outcome="failed", failed_step="verify-bundle", platform="",
                 os_version="", containerd_version="") == 1
    assert node.run("test -e /opt/hyperpod-eks-lifecycle", check=False).returncode != 0


def test_provisioning_failure_reaches_hyperpod_as_failure(bundle, nodes, tmp_path):
    # Settings edited in the folder (checksums renewed as its README.txt says): no volume -> fail.
    folder = settings_bundle(bundle, tmp_path, containerd_data_root_missing_volume_policy="fail",
                             containerd_data_root_wait_timeout=2, hyperpod_metrics_textfile_dir=TEXTFILE)
    node = start(nodes, "al2023-gpu", None)
    node.copy_in(folder, FOLDER)
    proc = on_create(node, env={"HYPERPOD_FAILURE_WAIT": "3"})
    assert proc.returncode == 2
    errors = [line for line in proc.log if LINE.match(line).group(1) == "error"]
    assert len(errors) == 1 and "step 'ansible-playbook' failed (exit 2)" in errors[0]
    assert any("is not a mount point after 2s; failing as containerd_data_root_missing_volume_policy=fail" in line
               for line in proc.log)
    assert LINE.match(proc.log[-1]).group(1) == "stop" and "failed; waiting 3s" in proc.log[-1]
    assert not any("succeeded" in line for line in proc.log)
    failed = report(node)
    assert failed["outcome"] == "failed"
    assert failed["failure"]["stage"] == "play" and failed["failure"]["role"] == "hyperpod.eks_lifecycle.containerd_data_root"
    assert "is not a mount point after 2s" in failed["failure"]["message"]
    assert failed["hosts"]["localhost"]["os"]["platform"] == "al2023"
    samples = metrics(node.run("cat " + PROM).stdout)
    assert value(samples, "hyperpod_provision_success") == 0
    assert value(samples, "hyperpod_provision_failed_tasks") >= 1


def test_missing_volume_is_skipped_by_default_with_a_log_line(bundle, nodes, tmp_path):
    folder = settings_bundle(bundle, tmp_path, containerd_data_root_wait_timeout=2)
    node = start(nodes, "al2023", None)
    node.copy_in(folder, FOLDER)
    proc = on_create(node)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert any("/opt/sagemaker is not a mount point after 2s; containerd keeps its root on the root volume" in line
               for line in proc.log)
    host = testinfra.get_host("docker://" + node.name)
    assert daemon_content_root(host) == "/var/lib/containerd/io.containerd.content.v1.content"
    assert not host.file("/etc/containerd/hyperpod").exists


def test_volume_kept_from_an_al2_node_is_set_aside_on_al2023(bundle, volume, nodes):
    # The same volume, provisioned on AL2 first, then attached to an AL2023 node (issue #884's case).
    al2 = start(nodes, "al2", volume)
    al2.copy_in(bundle, FOLDER)
    assert on_create(al2).returncode == 0
    al2.run("/etc/eks/bootstrap.sh")  # AL2 containerd now writes its data on the volume
    al2.remove()
    al2_files = sorted(p.name for p in (volume / "containerd" / "data-root").iterdir())
    assert "io.containerd.metadata.v1.bolt" in al2_files

    node = start(nodes, "al2023", volume)
    node.copy_in(bundle, FOLDER)
    proc = on_create(node)
    assert proc.returncode == 0, proc.stdout[-3000:]
    aside = [p for p in (volume / "containerd").iterdir() if p.name.startswith("data-root.al2-")]
    assert len(aside) == 1
    assert sorted(p.name for p in aside[0].iterdir()) == al2_files  # set aside whole, nothing deleted
    assert any("was written on al2 and this node runs al2023: moved to %s" % ("/opt/sagemaker/containerd/" + aside[0].name)
               in line for line in proc.log), [line for line in proc.log if "containerd_data_root:" in line]
    host = testinfra.get_host("docker://" + node.name)
    assert '"platform": "al2023"' in host.file(DATA_ROOT + "/.hyperpod-eks-lifecycle.json").content_string
    assert SANDBOX in k8s_images(host)

    # Running again on the same OS never touches the live root.
    again = on_create(node)
    assert again.returncode == 0
    assert len([p for p in (volume / "containerd").iterdir() if p.name.startswith("data-root.")]) == 1
    assert re.search(r" changed=0 failed=0 ", recap(again.log)[-1])


OS_RELEASES = {
    "ubuntu": 'NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n',
    "rocky": 'NAME="Rocky Linux"\nVERSION_ID="9.3"\nID="rocky"\nID_LIKE="rhel centos fedora"\n',
    "future-amazon": 'NAME="Amazon Linux"\nVERSION="2025"\nID="amzn"\nVERSION_ID="2025"\n',
    "empty": "",
    "garbled": "\x00\x01 not = an\n os-release ===\n\"\n",
}


def test_bad_os_release_is_skipped_or_failed_by_policy_and_changes_nothing(bundle, volume, nodes, tmp_path):
    node = start(nodes, "al2023-gpu", volume)
    host = testinfra.get_host("docker://" + node.name)
    untouched = "cat /etc/containerd/config.toml; systemctl show -p ExecStart -p MainPID containerd; ls -A /opt/sagemaker"
    before = node.run(untouched).stdout
    node.copy_in(bundle, FOLDER)
    strict = settings_bundle(bundle, tmp_path, hyperpod_unsupported_os_policy="fail")
    node.copy_in(strict, "/root/strict")
    node.run("rm /etc/os-release && cp /usr/lib/os-release /root/os-release.amzn")

    for name, text in OS_RELEASES.items():
        (tmp_path / name).write_text(text)
        node.copy_in(tmp_path / name, "/etc/os-release")
        seen = len(node.run("cat %s 2>/dev/null || true" % LOG).stdout.splitlines())
        skipped = on_create(node)
        log = skipped.log[seen:]
        assert skipped.returncode == 0, (name, log)
        assert report(node)["outcome"] == "skipped", name
        assert any("this node is not Amazon Linux 2 or 2023" in line and "nothing is configured" in line for line in log), name
        failed = node.run("bash on_create.sh", check=False, env={"HYPERPOD_FAILURE_WAIT": "0"}, workdir="/root/strict")
        assert failed.returncode == 2, (name, failed.stdout[-2000:])
        assert "hyperpod_unsupported_os_policy=fail" in failed.stdout
        assert node.run(untouched).stdout == before, name

    # No os-release at all: a clear failure naming the files, whatever the policy.
    node.run("rm -f /etc/os-release /usr/lib/os-release")
    missing = on_create(node)
    assert missing.returncode == 2
    assert "cannot read an os-release file: tried /etc/os-release" in missing.stdout
    assert node.run(untouched).stdout == before
    assert not host.file("/etc/containerd/hyperpod").exists


def test_a_copy_interrupted_by_a_killed_run_is_never_made_live(bundle, volume, nodes):
    # What a run killed during the copy leaves: containerd stopped, a half-filled data-root.partial.
    node = start(nodes, "al2023", volume)
    node.run("systemctl stop containerd")
    # (The copy marks its staging directory as this collection's before it copies into it.)
    node.run("mkdir -p /opt/sagemaker/containerd/data-root.partial/io.containerd.content.v1.content"
             " && echo half > /opt/sagemaker/containerd/data-root.partial/io.containerd.content.v1.content/junk"
             " && echo '{\"platform\": \"al2023\"}' > /opt/sagemaker/containerd/data-root.partial/.hyperpod-eks-lifecycle.json")
    node.copy_in(bundle, FOLDER)
    proc = on_create(node)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert any(re.search(r"\[ansible\] changed: .*Remove an unfinished copy left by an interrupted run", line)
               for line in proc.log)
    host = testinfra.get_host("docker://" + node.name)
    assert host.check_output("ls -A /opt/sagemaker/containerd") == "data-root"
    assert not host.file(DATA_ROOT + "/io.containerd.content.v1.content/junk").exists
    assert host.service("containerd").is_running
    assert daemon_content_root(host) == DATA_ROOT + "/io.containerd.content.v1.content"
    assert SANDBOX in k8s_images(host)


def assert_back_on_the_old_root(node, host, images_before):
    assert host.service("containerd").is_running
    assert host.check_output("systemctl show --property=ExecStart --value containerd").split(" ; ")[1] == \
        "argv[]=/usr/bin/containerd"
    assert not host.file("/etc/systemd/system/containerd.service.d/50-hyperpod-eks-lifecycle.conf").exists
    assert not host.file("/etc/containerd/hyperpod/config.toml").exists
    assert daemon_content_root(host) == "/var/lib/containerd/io.containerd.content.v1.content"
    assert k8s_images(host) == images_before


def test_containerd_that_cannot_use_the_new_root_is_rolled_back(bundle, volume, nodes, tmp_path):
    # A data root on the volume that this OS generation wrote, but whose metadata database is
    # corrupt: the config is valid (config dump passes), containerd on it is not usable.
    bolt = volume / "containerd" / "data-root" / "io.containerd.metadata.v1.bolt"
    bolt.mkdir(parents=True)
    (bolt / "meta.db").write_bytes(os.urandom(65536))
    (volume / "containerd" / "data-root" / ".hyperpod-eks-lifecycle.json").write_text('{"platform": "al2023"}\n')
    node = start(nodes, "al2023-gpu", volume)
    host = testinfra.get_host("docker://" + node.name)
    images_before = k8s_images(host)
    node.copy_in(settings_bundle(bundle, tmp_path, containerd_common_ready_timeout=6), FOLDER)
    proc = on_create(node)
    assert proc.returncode == 2, proc.stdout[-3000:]
    failure = [line for line in proc.log if "[ansible] failed: " in line and "Fail with the cause" in line]
    assert len(failure) == 1, proc.log[-30:]
    assert "containerd did not run as intended" in failure[0]
    assert "The previous containerd configuration was restored" in failure[0]
    assert "invalid database" in failure[0] or "metadata" in failure[0], failure[0]
    errors = [line for line in proc.log if LINE.match(line).group(1) == "error"]
    assert len(errors) == 1 and "step 'ansible-playbook' failed" in errors[0]
    assert_back_on_the_old_root(node, host, images_before)
    assert (bolt / "meta.db").exists()  # nothing on the volume is deleted either


def test_a_volume_containerd_cannot_write_to_is_rolled_back(bundle, nodes, tmp_path):
    volume = tmp_path / "readonly"
    volume.mkdir()
    node = Node("al2023", volume, prefix="hp-bundle", read_only=True)
    nodes.append(node)
    host = testinfra.get_host("docker://" + node.name)
    images_before = k8s_images(host)
    node.copy_in(bundle, FOLDER)
    proc = on_create(node)
    assert proc.returncode == 2, proc.stdout[-3000:]
    failure = [line for line in proc.log if "[ansible] failed: " in line and "Fail with the cause" in line]
    assert len(failure) == 1, proc.log[-30:]
    assert "Read-only file system" in failure[0]
    assert_back_on_the_old_root(node, host, images_before)


@pytest.mark.parametrize("variant", ["al2", "al2023"])
def test_kubelet_state_moves_to_the_volume_when_asked_and_only_once(bundle, volume, nodes, tmp_path, variant):
    node = start(nodes, variant, volume)
    host = testinfra.get_host("docker://" + node.name)
    node.run("mkdir -p /var/lib/kubelet/pki /var/lib/kubelet/.hidden-dir && echo cert > /var/lib/kubelet/pki/kubelet.crt"
             " && echo secret > /var/lib/kubelet/.hidden && echo x > /var/lib/kubelet/.hidden-dir/y")
    listing = "cd /var/lib/kubelet && find . | sort && cat pki/kubelet.crt .hidden .hidden-dir/y"
    before = node.run(listing).stdout
    node.copy_in(settings_bundle(bundle, tmp_path, containerd_data_root_kubelet="true"), FOLDER)
    first = on_create(node)
    assert first.returncode == 0, first.stdout[-3000:]
    assert host.check_output("findmnt --noheadings --output SOURCE --mountpoint /var/lib/kubelet").endswith("/kubelet]")
    assert node.run(listing).stdout == before  # hidden files kept
    assert (volume / "kubelet" / ".hidden").read_text() == "secret\n"
    assert host.service("var-lib-kubelet.mount").is_enabled
    second = on_create(node)
    assert second.returncode == 0
    assert re.search(r" changed=0 failed=0 ", recap(second.log[len(first.log):])[-1])
    assert node.run(listing).stdout == before


def test_check_diff_on_a_live_node_shows_the_change_and_changes_nothing(bundle, volume, nodes, tmp_path):
    node = start(nodes, "al2023-gpu", volume)
    host = testinfra.get_host("docker://" + node.name)
    node.copy_in(bundle, FOLDER)
    assert on_create(node).returncode == 0
    state = ("md5sum /etc/containerd/hyperpod/config.toml /etc/containerd/hyperpod/conf.d/* "
             "/etc/systemd/system/containerd.service.d/*; systemctl show --property=MainPID containerd; ls -A /opt/sagemaker/containerd")
    before = node.run(state).stdout
    node.run("rm -rf %s" % FOLDER)
    node.copy_in(settings_bundle(bundle, tmp_path, nvidia_runtime_set_as_default="false"), FOLDER)
    proc = node.run("bash on_create.sh --check --diff", check=False, env={"HYPERPOD_FAILURE_WAIT": "0"}, workdir=FOLDER)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert re.search(r"\[ansible-playbook\] -default_runtime_name = .nvidia.", proc.stdout), proc.stdout[-3000:]
    assert "changed: [localhost]" in proc.stdout
    assert node.run(state).stdout == before
    assert cri_default(host) == "nvidia"


def cri_default(host):
    cfg = dump(host, LAYER_CONFIG)
    return cfg["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["default_runtime_name"]


# -- hostile input: what a careless admin or someone with write access to the S3 prefix does -------

def evil_wheel(path, marker):
    """A wheel whose .pth file runs code at every start of the Python it is installed into."""
    pth = "import os; open(%r, 'w').write('ran')\n" % marker
    files = {"evil.pth": pth, "evil-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n",
             "evil-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join("%s,sha256=%s,%d\n" % (name, base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest())
                                            .rstrip(b"=").decode(), len(text)) for name, text in files.items())
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr("evil-1.0.dist-info/RECORD", record + "evil-1.0.dist-info/RECORD,,\n")


def test_files_the_checksums_do_not_list_are_never_used(bundle, volume, nodes, tmp_path):
    # An upload without --delete over an older one, or files planted beside the listed ones: a
    # wheel that would run code as root, settings and vars Ansible would pick up, an ansible.cfg,
    # and a venv.py that `python3 -m venv` would import from the current directory.
    folder = tmp_path / "lifecycle"
    shutil.copytree(bundle, folder)
    evil_wheel(folder / "runtime" / "py39" / "evil-1.0-py3-none-any.whl", "/root/pwned-wheel")
    (folder / "playbooks" / "group_vars").mkdir()
    (folder / "playbooks" / "group_vars" / "all.yml").write_text("nvidia_runtime_set_as_default: false\n")
    (folder / "ansible.cfg").write_text("[defaults]\nthis is not = an ansible.cfg\n[[[\n")
    (folder / "venv.py").write_text("open('/root/pwned-venv', 'w').write('ran')\n")
    node = start(nodes, "al2023-gpu", volume)
    host = testinfra.get_host("docker://" + node.name)
    node.copy_in(folder, FOLDER)
    # And nobody reads the output: the run must not notice (the log is the record).
    proc = node.run("bash -c 'bash on_create.sh | head -n 1; echo rc=${PIPESTATUS[0]} >/root/rc'", check=False,
                    env={"HYPERPOD_FAILURE_WAIT": "1"}, workdir=FOLDER)
    assert len(proc.stdout.splitlines()) == 1
    log = node.run("cat " + LOG).stdout.splitlines()
    assert node.run("cat /root/rc").stdout.strip() == "rc=0", log[-20:]
    assert LINE.match(log[-1]).groups() == ("stop", "on_create.sh succeeded")
    warnings = [line for line in log if LINE.match(line).group(1) == "warning"]
    assert len(warnings) == 1 and "ignored 4 files that SHA256SUMS does not list" in warnings[0], warnings
    for name in ("runtime/py39/evil-1.0-py3-none-any.whl", "playbooks/group_vars/all.yml", "ansible.cfg", "venv.py"):
        assert name in warnings[0]
    assert node.run("ls /root/pwned-wheel /root/pwned-venv", check=False).returncode != 0
    assert host.check_output("find /opt/hyperpod-eks-lifecycle -name 'evil*'") == ""
    assert cri_default(host) == "nvidia"  # the planted group_vars were not read
    assert report(node)["outcome"] == "succeeded"


def test_boolean_settings_given_on_the_command_line_act_as_booleans(bundle, volume, nodes):
    node = start(nodes, "al2-gpu", volume)
    host = testinfra.get_host("docker://" + node.name)
    node.copy_in(bundle, FOLDER)
    proc = node.run("bash on_create.sh -e nvidia_runtime_set_as_default=false -e nvidia_runtime_systemd_cgroup=true"
                    " -e secret_token=hunter2-secret", check=False, env={"HYPERPOD_FAILURE_WAIT": "1"}, workdir=FOLDER)
    assert proc.returncode == 0, proc.stdout[-3000:]
    cfg = dump(host, EKS_CONFIG)
    cri = cfg["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]
    assert cri["default_runtime_name"] == "runc"  # the AMI's, not nvidia: "false" meant false
    assert cri["runtimes"]["nvidia"]["options"]["SystemdCgroup"] is True  # a TOML boolean, not "true"
    assert "SystemdCgroup = true" in host.file(EKS_CONFIG).content_string
    log = node.run("cat " + LOG).stdout
    assert "hunter2-secret" not in log and "-e <redacted>" in log
    # A value that is no boolean at all is refused, naming the setting, and changes nothing.
    before = host.file(EKS_CONFIG).content_string
    bad = node.run("bash on_create.sh -e nvidia_runtime_set_as_default=maybe", check=False,
                   env={"HYPERPOD_FAILURE_WAIT": "0"}, workdir=FOLDER)
    assert bad.returncode == 2
    assert "nvidia_runtime_set_as_default" in bad.stdout and "bool" in bad.stdout
    assert host.file(EKS_CONFIG).content_string == before


def run_with(node, *args, wait="0"):
    proc = node.run("bash on_create.sh %s" % " ".join(shlex.quote(arg) for arg in args), check=False,
                    env={"HYPERPOD_FAILURE_WAIT": wait}, workdir=FOLDER)
    proc.log = node.run("cat %s" % LOG).stdout.splitlines()
    return proc


def test_path_settings_that_point_elsewhere_are_refused_before_anything_moves(bundle, volume, nodes):
    node = start(nodes, "al2023", volume)
    host = testinfra.get_host("docker://" + node.name)
    node.copy_in(bundle, FOLDER)
    node.run("mkdir -p /opt/sagemaker/escape && ln -s /etc /opt/sagemaker/escape/containerd"
             " && mkdir /opt/sagemaker/ckpt.partial && echo 'user checkpoint' > /opt/sagemaker/ckpt.partial/epoch-7.pt")
    untouched = ("stat -c %a /opt/sagemaker; cat /opt/sagemaker/ckpt.partial/epoch-7.pt;"
                 " ls -A /etc | md5sum; ls -A /var | md5sum; ls -A /opt/sagemaker; systemctl show -p MainPID containerd;"
                 " md5sum /etc/containerd/config.toml; ls /etc/containerd")
    before = node.run(untouched).stdout
    cases = [
        (["-e", "containerd_data_root_dir=/opt/sagemaker/../../etc"], "must not contain '..'"),
        (["-e", "containerd_data_root_volume=/", "-e", "containerd_data_root_dir=/var"],
         "containerd_data_root_volume / is an operating system directory"),
        (["-e", "containerd_data_root_dir=/opt/sagemaker/escape/containerd/data-root"],
         "(resolves to /etc/data-root) is not inside containerd_data_root_volume"),
        (["-e", "containerd_data_root_dir=/opt/sagemaker/escape/containerd"], "is an operating system directory"),
        (["-e", "containerd_data_root_source=/var/lib"], "containerd_data_root_source /var/lib is an operating system"),
        (["-e", "containerd_data_root_kubelet=true", "-e", "containerd_data_root_kubelet_source=/etc"],
         "containerd_data_root_kubelet_source /etc is an operating system directory"),
        (["-e", "containerd_data_root_kubelet=true", "-e",
          "containerd_data_root_kubelet_dir=/opt/sagemaker/containerd/data-root/kubelet"],
         "and containerd_data_root_dir /opt/sagemaker/containerd/data-root are inside one another"),
        # A data root named by the admin, beside which a directory of theirs has the staging name.
        (["-e", "containerd_data_root_dir=/opt/sagemaker/ckpt"],
         "/opt/sagemaker/ckpt.partial exists and was not made by this collection"),
        (["-e", "hyperpod_nvidia_runtime=maybe"], "hyperpod_nvidia_runtime"),
        (["-e", "containerd_data_root_pod_logs=true", "-e", "containerd_data_root_pod_logs_dir=/opt/sagemaker/../var/log"],
         "must not contain '..'"),
        # JSON: a key=value pair would split at the newline.
        (["-e", '{"containerd_data_root_soci": true, "containerd_data_root_soci_service": "soci\\nOnFailure=x.service"}'],
         "containerd_data_root_soci_service must be a systemd unit name"),
    ]
    for args, why in cases:
        proc = run_with(node, *args)
        assert proc.returncode == 2, (args, proc.stdout[-2000:])
        assert any(("[ansible] failed: " in line or "[ansible-playbook] fatal: " in line) and why in line
                   for line in proc.log), (args, proc.log[-15:])
        assert node.run(untouched).stdout == before, args
    assert not host.file("/opt/sagemaker/containerd").exists and not host.file("/etc/data-root").exists

    # A volume given as a symlink to the real mount is resolved at once, not waited for.
    node.run("rm -rf /opt/sagemaker/escape && ln -s /opt/sagemaker /opt/volume-link")
    proc = run_with(node, "-e", "containerd_data_root_volume=/opt/volume-link", "-e", "containerd_data_root_wait_timeout=300")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert report(node)["duration_seconds"] < 200
    assert any("(/opt/volume-link is a symlink to /opt/sagemaker)" in line for line in proc.log), proc.log[-30:]
    assert daemon_content_root(host) == DATA_ROOT + "/io.containerd.content.v1.content"
    assert dump(host, LAYER_CONFIG)["root"] == DATA_ROOT
    assert node.run("stat -c %a /opt/sagemaker").stdout == before.split("\n")[0] + "\n"  # the volume's mode is its own


def test_a_copy_that_does_not_fit_is_refused_before_containerd_stops(bundle, nodes, tmp_path):
    node = start(nodes, "al2023", None, volume_size="8m")
    host = testinfra.get_host("docker://" + node.name)
    node.run("head -c 20000000 /dev/urandom > /var/lib/containerd/filler")
    pid = host.check_output("systemctl show --property=MainPID --value containerd")
    node.copy_in(settings_bundle(bundle, tmp_path, containerd_data_root_reserve_mb=0), FOLDER)
    proc = on_create(node)
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert any("not enough free space on /opt/sagemaker to copy /var/lib/containerd" in line and
               "Nothing was changed; containerd keeps running" in line for line in proc.log), proc.log[-10:]
    assert host.check_output("systemctl show --property=MainPID --value containerd") == pid
    assert host.check_output("ls -A /opt/sagemaker") == ""
    assert daemon_content_root(host) == "/var/lib/containerd/io.containerd.content.v1.content"


COPY_THAT_FAILS = """#!/bin/sh
# cp, then a failure as a full or failing disk gives it half-way: what it wrote stays behind.
/usr/bin/cp "$@"
echo "cp: error writing '/opt/sagemaker/containerd/data-root.partial/x': No space left on device" >&2
exit 1
"""
COPY_THAT_HANGS = """#!/bin/sh
/usr/bin/cp "$@"
exec sleep 600
"""


@pytest.mark.parametrize("standin, timeout, why", [
    (COPY_THAT_FAILS, 7200, "No space left on device"),
    (COPY_THAT_HANGS, 3, "did not finish within 3s (containerd_data_root_copy_timeout)"),
])
def test_a_copy_that_fails_half_way_leaves_nothing_behind(bundle, volume, nodes, tmp_path, standin, timeout, why):
    node = start(nodes, "al2023", volume)
    host = testinfra.get_host("docker://" + node.name)
    images_before = k8s_images(host)
    (tmp_path / "cp").write_text(standin)
    node.copy_in(tmp_path / "cp", "/usr/local/bin/cp")
    node.run("chmod 0755 /usr/local/bin/cp")
    node.copy_in(settings_bundle(bundle, tmp_path, containerd_data_root_copy_timeout=timeout), FOLDER)
    proc = on_create(node)
    assert proc.returncode == 2, proc.stdout[-3000:]
    failure = [line for line in proc.log if "[ansible] failed: " in line and "Fail with the cause" in line]
    assert len(failure) == 1 and why in failure[0], proc.log[-20:]
    assert host.check_output("ls -A /opt/sagemaker/containerd") == ""  # no partial copy keeps the volume full
    assert_back_on_the_old_root(node, host, images_before)


KUBELET_UNIT = """[Unit]
Description=kubelet (a stand-in that keeps a file open in its state directory)
[Service]
ExecStart=/bin/sh -c 'mkdir -p /var/lib/kubelet && exec sleep infinity'
[Install]
WantedBy=multi-user.target
"""


def with_kubelet(node, tmp_path):
    install_unit(node, tmp_path, "kubelet.service", KUBELET_UNIT)
    node.run("systemctl enable --now kubelet && mkdir -p /var/lib/kubelet/pki && echo cert > /var/lib/kubelet/pki/kubelet.crt")


def test_kubelet_state_with_pod_volumes_is_not_moved(bundle, volume, nodes, tmp_path):
    node = start(nodes, "al2023", volume)
    host = testinfra.get_host("docker://" + node.name)
    with_kubelet(node, tmp_path)
    secret = "/var/lib/kubelet/pods/0f1e/volumes/kubernetes.io~secret/token"
    node.run("mkdir -p %s && mount -t tmpfs -o size=1m tmpfs %s && echo service-account-token > %s/token"
             % (secret, secret, secret))
    node.copy_in(settings_bundle(bundle, tmp_path, containerd_data_root_kubelet="true"), FOLDER)
    proc = on_create(node)
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert any("not moving kubelet's state /var/lib/kubelet" in line and "1 file systems are mounted inside it (%s)"
               % secret in line and "Nothing was changed" in line for line in proc.log), proc.log[-10:]
    assert host.service("kubelet").is_running
    assert node.run("findmnt --mountpoint /var/lib/kubelet", check=False).returncode != 0
    assert not host.file("/opt/sagemaker/kubelet").exists and not host.file("/opt/sagemaker/kubelet.partial").exists
    assert "service-account-token" not in host.check_output("grep -r service-account-token /opt/sagemaker || true")

    # Pods have run here even with their volumes gone: the device plugins' sockets would be hidden.
    node.run("umount %s" % secret)
    proc = on_create(node)
    assert proc.returncode == 2
    assert any("1 pods have run on this node" in line for line in proc.log)
    assert host.service("kubelet").is_running and not host.file("/opt/sagemaker/kubelet").exists


def test_a_kubelet_move_that_fails_puts_kubelet_back_running_on_its_directory(bundle, volume, nodes, tmp_path):
    node = start(nodes, "al2", volume)
    host = testinfra.get_host("docker://" + node.name)
    with_kubelet(node, tmp_path)
    listing = "cd /var/lib/kubelet && find . | sort && cat pki/kubelet.crt"
    before = node.run(listing).stdout
    # The copy of kubelet's state fails after kubelet was stopped (AL2 copies nothing of containerd's).
    (tmp_path / "cp").write_text(COPY_THAT_FAILS)
    node.copy_in(tmp_path / "cp", "/usr/local/bin/cp")
    node.run("chmod 0755 /usr/local/bin/cp")
    node.copy_in(settings_bundle(bundle, tmp_path, containerd_data_root_kubelet="true"), FOLDER)
    proc = on_create(node)
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert any("moving kubelet's state failed at" in line and "Everything was put back" in line
               and "kubelet runs again" in line for line in proc.log), proc.log[-15:]
    assert host.service("kubelet").is_running
    assert node.run("findmnt --mountpoint /var/lib/kubelet", check=False).returncode != 0
    assert not host.file("/etc/systemd/system/var-lib-kubelet.mount").exists
    assert host.check_output("ls -A /opt/sagemaker") == "containerd"
    assert node.run(listing).stdout == before


def test_kubelet_runs_again_when_a_later_role_fails(bundle, volume, nodes, tmp_path):
    node = start(nodes, "al2023-gpu", volume)
    host = testinfra.get_host("docker://" + node.name)
    with_kubelet(node, tmp_path)
    node.copy_in(settings_bundle(bundle, tmp_path, containerd_data_root_kubelet="true"), FOLDER)
    proc = run_with(node, "-e", "nvidia_runtime_cdi=bogus")  # nvidia_runtime fails at its argument check
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert any("nvidia_runtime_cdi" in line for line in proc.log)
    assert host.service("kubelet").is_running
    assert host.check_output("findmnt --noheadings --output SOURCE --mountpoint /var/lib/kubelet").endswith("/kubelet]")


def test_containerd_and_kubelet_copies_are_measured_together_before_either(bundle, nodes, tmp_path):
    node = start(nodes, "al2023", None, volume_size="60m")
    host = testinfra.get_host("docker://" + node.name)
    node.run("head -c 30000000 /dev/urandom > /var/lib/containerd/filler && mkdir -p /var/lib/kubelet"
             " && head -c 32000000 /dev/urandom > /var/lib/kubelet/filler")
    pid = host.check_output("systemctl show --property=MainPID --value containerd")
    node.copy_in(settings_bundle(bundle, tmp_path, containerd_data_root_kubelet="true", containerd_data_root_reserve_mb=1),
                 FOLDER)
    proc = on_create(node)
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert any("not enough free space on the volume for it and containerd's data" in line for line in proc.log), \
        proc.log[-10:]
    assert host.check_output("systemctl show --property=MainPID --value containerd") == pid
    assert host.check_output("ls -A /opt/sagemaker") == ""


def test_kubelet_state_left_on_the_volume_unmounted_is_mounted_again(bundle, volume, nodes, tmp_path):
    node = start(nodes, "al2", volume)
    host = testinfra.get_host("docker://" + node.name)
    with_kubelet(node, tmp_path)
    node.copy_in(settings_bundle(bundle, tmp_path, containerd_data_root_kubelet="true"), FOLDER)
    assert on_create(node).returncode == 0
    # What a run killed between the copy and the mount leaves (or a kept volume): the state on the
    # volume, no mount, no unit.
    node.run("systemctl disable --now var-lib-kubelet.mount && rm /etc/systemd/system/var-lib-kubelet.mount"
             " && systemctl daemon-reload")
    proc = on_create(node)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert any("is on the volume already" in line for line in proc.log)
    assert host.check_output("findmnt --noheadings --output SOURCE --mountpoint /var/lib/kubelet").endswith("/kubelet]")
    assert host.service("kubelet").is_running


def test_tags_pick_the_roles(bundle, volume, nodes):
    node = start(nodes, "al2023-gpu", volume)
    host = testinfra.get_host("docker://" + node.name)
    node.copy_in(bundle, FOLDER)
    # Only the nvidia runtime: containerd stays on its root, and gets the runtime in the layer.
    proc = run_with(node, "--skip-tags", "containerd_data_root")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert not any("containerd_data_root :" in line for line in proc.log if "[ansible]" in line)
    assert daemon_content_root(host) == "/var/lib/containerd/io.containerd.content.v1.content"
    assert cri_default(host) == "nvidia" and not host.file(DATA_ROOT).exists
    # Then only the data root: the runtime drop-in stays as it is.
    dropin = host.file("/etc/containerd/hyperpod/conf.d/20-nvidia-runtime.toml").content_string
    seen = len(proc.log)
    proc = run_with(node, "--tags", "containerd_data_root")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert not any("nvidia_runtime :" in line for line in proc.log[seen:] if "[ansible]" in line)
    assert daemon_content_root(host) == DATA_ROOT + "/io.containerd.content.v1.content"
    assert host.file("/etc/containerd/hyperpod/conf.d/20-nvidia-runtime.toml").content_string == dropin
    assert cri_default(host) == "nvidia" and SANDBOX in k8s_images(host)
