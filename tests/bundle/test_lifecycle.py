"""The node's life as HyperPod and the AMI really run it, through the bundle's two scripts.

AL2023: OnCreate runs while containerd and kubelet are disabled and stopped (and, on some nodes,
before nodeadm has written /etc/containerd/config.toml); then nodeadm's run phase writes the config,
enables and restarts containerd and starts kubelet; then OnInitComplete; then every reboot runs
nodeadm's config and run phases again. AL2: OnCreate, then the AMI's bootstrap.sh, then
OnInitComplete. A software update replaces the root volume with a newer AMI's and runs the scripts
again on the kept data volume. The look-alikes model each step (tests/images/standins).
"""

import re
import shlex
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(REPO / "molecule" / "shared" / "tests"))

from bundlekit import install_unit, settings_bundle, start  # noqa: E402
from reportcheck import check_report, metrics, value  # noqa: E402

FOLDER = "/root/lifecycle"
LOG = "/var/log/provision/provisioning.log"
REPORT = "/var/log/provision/report.json"
TEXTFILE = "/var/lib/node_exporter/textfile_collector"
VERIFICATION_PROM = TEXTFILE + "/hyperpod_provision_verification.prom"
LAYER_UNIT_DROPIN = "/etc/systemd/system/containerd.service.d/50-hyperpod-eks-lifecycle.conf"


def expected_checks(platform, kubelet=False, data_root=True, binds=()):
    """The verification's checks, in the order the roles add them."""
    return (["containerd_running", "containerd_sandbox_image"] + (["containerd_layer"] if platform == "al2023" else [])
            + ["data_volume"] + (["containerd_data_root"] if data_root else []) + (["kubelet_state"] if kubelet else [])
            + list(binds) + ["nvidia_runtime"])


CHECKS_AL2023 = expected_checks("al2023")
CHECKS_AL2 = expected_checks("al2")


def hook(node, script, *args):
    """bash SCRIPT from inside the downloaded folder, as HyperPod runs it; the log lines of this run."""
    before = int(node.run("wc -l < %s 2>/dev/null || echo 0" % LOG).stdout.strip() or 0)
    command = "bash %s %s" % (script, " ".join(shlex.quote(a) for a in args))
    proc = node.run(command, check=False, workdir=FOLDER,
                    env={"HYPERPOD_FAILURE_WAIT": "1", "HYPERPOD_METRICS_TEXTFILE_DIR": TEXTFILE})
    proc.log = node.run("cat %s" % LOG).stdout.splitlines()[before:]
    return proc


def recap(log):
    return [line for line in log if "[stop] playbook recap:" in line][-1]


def report(node, verification=None):
    return check_report(node.run("cat " + REPORT).stdout, verification=verification)


def unit_state(node, unit):
    active = node.run("systemctl is-active %s" % unit, check=False).stdout.strip()
    enabled = node.run("systemctl is-enabled %s" % unit, check=False).stdout.strip()
    return active, enabled


def content_root(node):
    out = node.run("ctr plugins ls --detailed type==io.containerd.content.v1 2>/dev/null").stdout
    return next(line.split()[1] for line in out.splitlines() if line.split()[:1] == ["root"])


def images(node):
    """{ref: labels} of the k8s.io namespace."""
    out = node.run("ctr --namespace k8s.io images list 2>/dev/null").stdout
    return dict((line.split()[0], line.split()[-1]) for line in out.splitlines()[1:] if line.strip())


def like_oncreate_on_al2023(node, config=True):
    """The state HyperPod's OnCreate finds on an AL2023 node: containerd and kubelet disabled and
    stopped (nodeadm's run phase starts them later), nodeadm's config written, or not yet."""
    node.run("systemctl disable --now containerd kubelet 2>/dev/null; systemctl is-active containerd", check=False)
    if not config:
        node.run("rm -f /etc/containerd/config.toml")
    assert unit_state(node, "containerd") == ("inactive", "disabled")


def nodeadm_boot_units(node):
    """From now on every boot runs nodeadm's config and run phases, as the AMI's units do."""
    node.run("systemctl enable nodeadm-config.service nodeadm-run.service")


def assert_verified(node, result, checks):
    assert result.returncode == 0, "\n".join(result.log[-40:]) + result.stdout[-3000:]
    assert result.log[-1].endswith("[stop] on_init_complete.sh succeeded"), result.log[-3:]
    done = report(node, verification=True)
    section = done["verification"]
    assert section["outcome"] == "succeeded" and section["playbook"]["name"] == "on_init_complete.yml"
    found = section["hosts"]["localhost"]["checks"]
    assert [c["name"] for c in found] == checks, found
    samples = metrics(node.run("cat " + VERIFICATION_PROM).stdout)
    assert value(samples, "hyperpod_provision_verification_success") == 1
    for name in checks:
        assert value(samples, "hyperpod_provision_verification_check", check=name) == 1
    return done


def assert_on_volume(node, volume_path="/opt/sagemaker"):
    assert unit_state(node, "containerd") == ("active", "enabled")
    assert content_root(node) == volume_path + "/containerd/data-root/io.containerd.content.v1.content"


@pytest.mark.parametrize("case", ["stopped", "stopped-no-config", "running", "running-cpu"])
def test_al2023_oncreate_nodeadm_oninitcomplete_reboot(bundle, nodes, volume, tmp_path, case):
    node = start(nodes, "al2023" if case.endswith("-cpu") else "al2023-gpu", volume, wait_containerd=case.startswith("running"))
    folder = settings_bundle(bundle, tmp_path, containerd_data_root_kubelet="true")
    node.copy_in(folder, FOLDER)
    if not case.startswith("running"):
        like_oncreate_on_al2023(node, config=case == "stopped")
        # A preview on the fresh node works, and changes nothing.
        preview = hook(node, "on_create.sh", "--check")
        assert preview.returncode == 0, "\n".join(preview.log[-30:])
        assert node.run("test -e /etc/containerd/hyperpod", check=False).returncode != 0
        assert node.run("test -e /etc/containerd/config.toml", check=False).returncode == (0 if case == "stopped" else 1)
        assert unit_state(node, "containerd") == ("inactive", "disabled")

    first = hook(node, "on_create.sh")
    assert first.returncode == 0, "\n".join(first.log[-30:])
    created = report(node, verification=False)
    assert created["outcome"] == "succeeded"
    if case.startswith("running"):
        assert_on_volume(node)
    else:
        # Left as nodeadm expects it: stopped and disabled, the collection's layer in place.
        assert unit_state(node, "containerd") == ("inactive", "disabled")
        assert unit_state(node, "kubelet") == ("inactive", "disabled")
        assert node.run("test -f /etc/containerd/hyperpod/conf.d/10-data-root.toml && test -f " + LAYER_UNIT_DROPIN,
                        check=False).returncode == 0
        if case == "stopped-no-config":
            head = node.run("head -n 1 /etc/containerd/config.toml").stdout
            assert head.startswith("# hyperpod.eks_lifecycle placeholder"), head
        # A re-run before nodeadm's run phase changes nothing and leaves containerd stopped.
        again = hook(node, "on_create.sh")
        assert again.returncode == 0, "\n".join(again.log[-30:])
        assert re.search(r"changed=0\b", recap(again.log)), recap(again.log)
        assert unit_state(node, "containerd") == ("inactive", "disabled")

    created = report(node, verification=False)
    # nodeadm's run phase (and, on the node without a config, its config phase first).
    node.run("nodeadm run" if case != "stopped-no-config" else "nodeadm config && nodeadm run")
    if case.endswith("-cpu"):
        assert "nvidia" not in node.run("containerd --config /etc/containerd/hyperpod/config.toml config dump 2>/dev/null"
                                        " | grep default_runtime_name").stdout
    assert_on_volume(node)
    if case == "stopped-no-config":
        assert not node.run("head -n 1 /etc/containerd/config.toml").stdout.startswith("# hyperpod")
    assert unit_state(node, "kubelet")[0] == "active"
    checked = hook(node, "on_init_complete.sh")
    done = assert_verified(node, checked, expected_checks("al2023", kubelet=True))
    # The OnCreate run's report is kept beside the verification.
    assert done["run_id"] == created["run_id"] and done["outcome"] == "succeeded"
    assert any("[start] on_init_complete.sh on" in line for line in checked.log)

    # A reboot: nodeadm rewrites its config and restarts containerd; everything is still in effect.
    nodeadm_boot_units(node)
    node.run("echo '# rewritten at boot' >> /etc/containerd/config.toml")
    node.restart()
    assert "rewritten at boot" not in node.run("cat /etc/containerd/config.toml").stdout
    assert_on_volume(node)
    assert node.run("findmnt --noheadings --output SOURCE --mountpoint /var/lib/kubelet").stdout.strip().endswith("/kubelet]")
    assert "localhost/kubernetes/pause:latest" in images(node)
    again = hook(node, "on_init_complete.sh")
    assert_verified(node, again, expected_checks("al2023", kubelet=True))


def test_al2_oncreate_bootstrap_oninitcomplete_reboot(bundle, nodes, volume, tmp_path):
    node = start(nodes, "al2-gpu", volume)
    node.copy_in(bundle, FOLDER)
    first = hook(node, "on_create.sh")
    assert first.returncode == 0, "\n".join(first.log[-30:])
    # Before bootstrap.sh, containerd still runs on its own root: on_init_complete.sh says so.
    early = hook(node, "on_init_complete.sh")
    assert early.returncode != 0
    assert any("[error]" in line and "containerd does not run on /opt/sagemaker/containerd/data-root" in line
               for line in early.log), early.log[-5:]
    node.run("/etc/eks/bootstrap.sh")
    assert_on_volume(node)
    checked = hook(node, "on_init_complete.sh")
    done = assert_verified(node, checked, CHECKS_AL2)
    # bootstrap.sh restarted containerd with the file: nothing to restart here.
    assert "restarted" not in done["verification"]["hosts"]["localhost"]["checks"][0]["detail"]
    node.restart()
    assert_on_volume(node)
    assert_verified(node, hook(node, "on_init_complete.sh"), CHECKS_AL2)


def test_al2_oninitcomplete_applies_a_change_bootstrap_did_not(bundle, nodes, volume, tmp_path):
    """bootstrap.sh restarts containerd only when it installs a changed file: a containerd that was
    started before the file changed is restarted by on_init_complete.sh."""
    node = start(nodes, "al2-gpu", volume)
    node.copy_in(bundle, FOLDER)
    assert hook(node, "on_create.sh").returncode == 0
    # The edited file is installed, but containerd is not restarted (as when bootstrap.sh ran
    # before, or its restart failed).
    node.run("sed -i 's,SANDBOX_IMAGE,localhost/kubernetes/pause:latest,g' /etc/eks/containerd/containerd-config.toml"
             " && cp /etc/eks/containerd/containerd-config.toml /etc/containerd/config.toml")
    assert content_root(node) == "/var/lib/containerd/io.containerd.content.v1.content"
    checked = hook(node, "on_init_complete.sh")
    done = assert_verified(node, checked, CHECKS_AL2)
    running = done["verification"]["hosts"]["localhost"]["checks"][0]
    assert "restarted" in running["detail"], running
    assert_on_volume(node)


def test_oninitcomplete_fails_when_containerd_runs_without_the_collections_config(bundle, nodes, volume, tmp_path):
    node = start(nodes, "al2023-gpu", volume)
    node.copy_in(bundle, FOLDER)
    assert hook(node, "on_create.sh").returncode == 0
    # Something started containerd without the collection's layer (its unit drop-in gone).
    node.run("rm %s && systemctl daemon-reload && systemctl restart containerd" % LAYER_UNIT_DROPIN)
    failed = hook(node, "on_init_complete.sh")
    assert failed.returncode != 0
    errors = [line for line in failed.log if "[error]" in line]
    assert errors and "provisioning is not in effect" in "\n".join(failed.log)
    assert any("containerd was started without the collection's layer" in line for line in failed.log), failed.log[-8:]
    assert failed.log[-1].endswith("[stop] on_init_complete.sh failed; waiting 1s for the log upload")
    done = report(node, verification=True)
    section = done["verification"]
    assert section["outcome"] == "failed" and section["failure"]["stage"] == "play"
    assert done["outcome"] == "succeeded"  # OnCreate's own run, kept
    checks = dict((c["name"], c["ok"]) for c in section["hosts"]["localhost"]["checks"])
    assert checks["containerd_layer"] is False and checks["containerd_data_root"] is False
    samples = metrics(node.run("cat " + VERIFICATION_PROM).stdout)
    assert value(samples, "hyperpod_provision_verification_success") == 0
    assert value(samples, "hyperpod_provision_verification_check", check="containerd_layer") == 0

    # A bundle altered since OnCreate: refused before anything runs, the failure written by the
    # script itself as the verification, the OnCreate report kept.
    node.run("echo '# altered' >> %s/playbooks/on_init_complete.yml" % FOLDER)
    refused = hook(node, "on_init_complete.sh")
    assert refused.returncode == 3
    done = report(node, verification=True)
    assert done["verification"]["outcome"] == "failed" and done["verification"]["failure"]["stage"] == "bootstrap"
    assert done["verification"]["failure"]["step"] == "verify-bundle"
    assert done["outcome"] == "succeeded" and done["run_id"] != done["verification"]["run_id"]
    samples = metrics(node.run("cat " + VERIFICATION_PROM).stdout)
    assert value(samples, "hyperpod_provision_verification_success") == 0


def test_containerd_before_21_without_nodeadms_config_is_refused(bundle, nodes, volume, tmp_path):
    """containerd 1.7 replaces a whole plugin section from an import: composed without nodeadm's
    settings, a drop-in would take them away once nodeadm writes them. Refused, nothing changed."""
    node = start(nodes, "al2023-containerd1.7-gpu", volume, wait_containerd=False)
    node.copy_in(bundle, FOLDER)
    like_oncreate_on_al2023(node, config=False)
    result = hook(node, "on_create.sh")
    assert result.returncode == 2
    assert any("[error]" in line and "replaces a whole plugin section" in line for line in result.log), result.log[-5:]
    assert node.run("test -e /etc/containerd/hyperpod || test -e /etc/containerd/config.toml", check=False).returncode != 0
    assert unit_state(node, "containerd") == ("inactive", "disabled")


@pytest.mark.parametrize("archive", [True, False])
def test_oninitcomplete_and_a_missing_sandbox_image(bundle, nodes, volume, tmp_path, archive):
    node = start(nodes, "al2023-gpu", volume)
    node.copy_in(bundle, FOLDER)
    assert hook(node, "on_create.sh").returncode == 0
    node.run("ctr --namespace k8s.io images rm localhost/kubernetes/pause:latest >/dev/null")
    if not archive:
        node.run("rm /etc/eks/pause.tar")
    result = hook(node, "on_init_complete.sh")
    if archive:
        # Imported again from the AMI's archive, pinned.
        assert_verified(node, result, CHECKS_AL2023)
        assert "io.cri-containerd.pinned=pinned" in images(node)["localhost/kubernetes/pause:latest"]
    else:
        assert result.returncode != 0
        assert any("[error]" in line and "localhost/kubernetes/pause:latest is not in containerd" in line
                   and "/etc/eks/pause.tar" in line for line in result.log), result.log[-8:]


@pytest.mark.parametrize("first, second", [("al2023-containerd1.7-gpu", "al2023-next-gpu"), ("al2-gpu", "al2-gpu")])
def test_software_update_keeps_the_volume_and_the_node_working(bundle, nodes, volume, tmp_path, first, second):
    """UpdateClusterSoftware: a new root volume (here a newer AMI: containerd 2.x instead of 1.7, and
    another pinned sandbox image, localhost/kubernetes/pause:3.10), the data volume kept."""
    old = start(nodes, first, volume)
    old.copy_in(bundle, FOLDER)
    assert hook(old, "on_create.sh").returncode == 0
    if first.startswith("al2-"):
        old.run("/etc/eks/bootstrap.sh")
    assert_verified(old, hook(old, "on_init_complete.sh"), CHECKS_AL2 if first.startswith("al2-") else CHECKS_AL2023)
    # An image pulled while the node ran, to be kept through the update.
    old.run("ctr --namespace k8s.io images tag localhost/kubernetes/pause:latest localhost/team/app:1 >/dev/null")
    old.remove()

    new = start(nodes, second, volume, wait_containerd=not second.startswith("al2023"))
    new.copy_in(bundle, FOLDER)
    if second.startswith("al2023"):
        like_oncreate_on_al2023(new)
    created = hook(new, "on_create.sh")
    assert created.returncode == 0, "\n".join(created.log[-30:])
    if second.startswith("al2023"):
        new.run("nodeadm run")
    else:
        new.run("/etc/eks/bootstrap.sh")
    assert_on_volume(new)
    have = images(new)
    pinned = new.run("cat /usr/share/hyperpod-lookalike/sandbox-image").stdout.strip()
    assert "io.cri-containerd.pinned=pinned" in have[pinned], have
    assert "localhost/team/app:1" in have and "localhost/kubernetes/pause:latest" in have, have
    assert_verified(new, hook(new, "on_init_complete.sh"), CHECKS_AL2 if second.startswith("al2-") else CHECKS_AL2023)


def test_a_verbatim_sandbox_lookup_gets_the_reference_as_written(bundle, nodes, volume, tmp_path):
    """containerd 2.3 looks `localhost/kubernetes/pause` (nodeadm's untagged reference) up verbatim,
    and does not find `:latest`; Debian has no 2.3, so 2.1 is checked as 2.3 would look it up."""
    node = start(nodes, "al2023-gpu", volume)
    node.copy_in(settings_bundle(bundle, tmp_path, containerd_common_sandbox_lookup="verbatim"), FOLDER)
    assert "localhost/kubernetes/pause\"" in node.run("grep sandbox /etc/containerd/config.toml").stdout
    assert hook(node, "on_create.sh").returncode == 0
    have = images(node)
    assert "io.cri-containerd.pinned=pinned" in have["localhost/kubernetes/pause"], have
    done = assert_verified(node, hook(node, "on_init_complete.sh"), CHECKS_AL2023)
    sandbox = [c for c in done["verification"]["hosts"]["localhost"]["checks"] if c["name"] == "containerd_sandbox_image"]
    assert "localhost/kubernetes/pause present" in sandbox[0]["detail"]


@pytest.mark.parametrize("layout", ["instance-store", "instance-store-late", "ebs-only", "neither"])
def test_auto_volume(bundle, nodes, volume, tmp_path, layout):
    volume = None if layout == "neither" else volume
    store = "2g" if layout == "instance-store" else None
    node = start(nodes, "al2023-gpu", volume, instance_store=store)
    wait = "40" if layout == "instance-store-late" else "5"
    node.copy_in(settings_bundle(bundle, tmp_path, containerd_data_root_volume="auto",
                                 containerd_data_root_wait_timeout=wait, added={"containerd_data_root_wait_interval": "1"}), FOLDER)
    if layout == "instance-store-late":
        # The AMI's unit joins the disks and mounts them, still at work when OnCreate starts.
        install_unit(node, tmp_path, "dlami-nvme.service",
                     "[Unit]\nDescription=instance store (a stand-in)\n[Service]\nType=oneshot\n"
                     "ExecStart=/bin/sh -c 'sleep 15; mkdir -p /opt/dlami/nvme; mount -t tmpfs -o size=2g tmpfs /opt/dlami/nvme'\n")
        node.run("systemctl start --no-block dlami-nvme")
        assert node.run("systemctl show --property=ActiveState dlami-nvme").stdout.strip() == "ActiveState=activating"
    result = hook(node, "on_create.sh")
    assert result.returncode == 0, "\n".join(result.log[-30:])
    choice = report(node)["hosts"]["localhost"]["volume"]
    assert choice["setting"] == "auto"
    if layout.startswith("instance-store"):
        assert choice["path"] == "/opt/dlami/nvme" and choice["kind"] == "instance_store", choice
        assert_on_volume(node, "/opt/dlami/nvme")
        assert ("the AMI has dlami-nvme.service, still setting it up" if layout == "instance-store-late" else "is mounted at") in choice["reason"], choice
    elif layout == "ebs-only":
        assert choice["path"] == "/opt/sagemaker" and choice["kind"] == "ebs", choice
        assert "no instance store" in choice["reason"]
        assert_on_volume(node)
    else:
        assert choice["path"] is None and choice["kind"] == "none", choice
        assert "not a mount point" in choice["reason"]
        assert content_root(node) == "/var/lib/containerd/io.containerd.content.v1.content"
    assert any("(containerd_data_root_volume=auto)" in line for line in result.log), result.log
    checks = expected_checks("al2023", data_root=layout != "neither")
    assert_verified(node, hook(node, "on_init_complete.sh"), checks)


SOCI_UNIT = """[Unit]
Description=soci-snapshotter (a stand-in that keeps a file open in its state directory)
[Service]
ExecStart=/bin/sh -c 'mkdir -p /var/lib/soci-snapshotter-grpc && cd /var/lib/soci-snapshotter-grpc && exec sleep infinity'
[Install]
WantedBy=multi-user.target
"""


def with_soci(node, tmp_path):
    install_unit(node, tmp_path, "soci-snapshotter.service", SOCI_UNIT)
    node.run("systemctl enable --now soci-snapshotter"
             " && mkdir -p /var/lib/soci-snapshotter-grpc/content && echo blob > /var/lib/soci-snapshotter-grpc/content/x"
             " && mkdir -p /var/log/pods")


def test_the_rest_of_the_disk_layout_moves_when_asked(bundle, nodes, volume, tmp_path):
    """/var/log/pods and the SOCI snapshotter's state on the volume, as nodeadm's setup-local-disks
    does it, through OnCreate (containerd stopped), nodeadm's run phase, OnInitComplete and a reboot."""
    node = start(nodes, "al2023-gpu", volume, wait_containerd=False)
    with_soci(node, tmp_path)
    like_oncreate_on_al2023(node)
    node.copy_in(settings_bundle(bundle, tmp_path, containerd_data_root_kubelet="true", containerd_data_root_pod_logs="true",
                                 containerd_data_root_soci="true"), FOLDER)
    first = hook(node, "on_create.sh")
    assert first.returncode == 0, "\n".join(first.log[-30:])
    for where, dir_name in (("/var/lib/kubelet", "kubelet"), ("/var/log/pods", "pod-logs"),
                            ("/var/lib/soci-snapshotter-grpc", "soci-snapshotter-grpc")):
        source = node.run("findmnt --noheadings --output SOURCE --mountpoint %s" % where).stdout.strip()
        assert source.endswith("/%s]" % dir_name), (where, source)
    assert (volume / "soci-snapshotter-grpc" / "content" / "x").read_text() == "blob\n"
    assert unit_state(node, "soci-snapshotter") == ("active", "enabled")  # stopped for the copy, started again
    assert unit_state(node, "var-log-pods.mount") == ("active", "enabled")
    assert unit_state(node, "kubelet") == ("inactive", "disabled")  # as it was
    again = hook(node, "on_create.sh")
    assert again.returncode == 0 and re.search(r"changed=0\b", recap(again.log)), recap(again.log)

    node.run("nodeadm run")
    binds = ["pod_logs_on_volume", "soci_on_volume"]
    assert_verified(node, hook(node, "on_init_complete.sh"), expected_checks("al2023", kubelet=True, binds=binds))
    nodeadm_boot_units(node)
    node.restart()
    for where in ("/var/log/pods", "/var/lib/soci-snapshotter-grpc", "/var/lib/kubelet"):
        assert node.run("findmnt --mountpoint %s" % where, check=False).returncode == 0, where
    assert_verified(node, hook(node, "on_init_complete.sh"), expected_checks("al2023", kubelet=True, binds=binds))


def test_pod_logs_where_pods_have_run_are_not_moved(bundle, nodes, volume, tmp_path):
    node = start(nodes, "al2023-gpu", volume)
    node.run("mkdir -p /var/log/pods/default_web-0_1234/web && echo hello > /var/log/pods/default_web-0_1234/web/0.log")
    node.copy_in(settings_bundle(bundle, tmp_path, containerd_data_root_pod_logs="true"), FOLDER)
    result = hook(node, "on_create.sh")
    assert result.returncode != 0
    assert any("[error]" in line and "not moving the pod log directory /var/log/pods" in line and "1 pods have run" in line
               for line in result.log), result.log[-6:]
    # Nothing moved, containerd included.
    assert content_root(node) == "/var/lib/containerd/io.containerd.content.v1.content"
    assert node.run("findmnt --mountpoint /var/log/pods", check=False).returncode != 0
    assert not (volume / "pod-logs").exists() and not (volume / "containerd").exists()


def test_a_failed_move_puts_back_only_what_its_own_pass_did(bundle, nodes, volume, tmp_path):
    """kubelet's state moves; then the SOCI directory, already on the (kept) volume, cannot be moved
    (its service refuses to stop): the rescue of that pass must not take anything of the kubelet
    pass for its own, and never removes data the run did not make."""
    (volume / "soci-snapshotter-grpc").mkdir()
    (volume / "soci-snapshotter-grpc" / "kept").write_text("from an earlier node\n")
    node = start(nodes, "al2023-gpu", volume)
    install_unit(node, tmp_path, "soci-snapshotter.service",
                 SOCI_UNIT.replace("[Service]\n", "[Unit]\nRefuseManualStop=yes\n[Service]\n"))
    node.run("systemctl enable --now soci-snapshotter")
    node.copy_in(settings_bundle(bundle, tmp_path, containerd_data_root_kubelet="true", containerd_data_root_soci="true"), FOLDER)
    result = hook(node, "on_create.sh")
    assert result.returncode == 2
    assert any("moving the SOCI snapshotter's state failed at" in line for line in result.log), result.log[-6:]
    assert (volume / "soci-snapshotter-grpc" / "kept").read_text() == "from an earlier node\n"
    assert (volume / "kubelet").is_dir()  # the earlier pass's move stands
    assert node.run("findmnt --mountpoint /var/lib/kubelet", check=False).returncode == 0
    assert unit_state(node, "soci-snapshotter")[0] == "active"
