"""The admin's site folder end to end: `make bundle SITE=...` and `bash on_create.sh` on bare,
offline look-alike nodes. The site (tests/bundle/sites/e2e) holds a role that uses a vendored
collection, task files (one before the built-in roles, one limited to gpu-* instance groups),
instance group settings and scripts: one that succeeds and writes a file, one allowed to fail, one
guarded by creates=, one safe to preview."""

import json
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(REPO / "molecule" / "shared" / "tests"))

from bundlekit import FOLDER, copy_site, identify, on_create, resum, site_bundle, start  # noqa: E402
from reportcheck import check_report, metrics, value  # noqa: E402
from nodecheck import DATA_ROOT  # noqa: E402

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) \[([^\]]+)\] (.*)$")
REPORT = "/var/log/provision/report.json"
PROM = "/var/lib/node_exporter/textfile_collector/hyperpod_provision.prom"


def this_run(log):
    """The lines of the log's last run, each (timestamp, tag, text)."""
    starts = [i for i, line in enumerate(log) if re.search(r" \[start\] on_create\.sh ", line)]
    lines = []
    for line in log[starts[-1]:]:
        match = LINE.match(line)
        assert match, line
        lines.append(match.groups())
    return lines


def index(lines, tag, pattern):
    for number, (dummy, line_tag, text) in enumerate(lines):
        if line_tag == tag and re.search(pattern, text):
            return number
    raise AssertionError("no [%s] line matching %r in:\n%s" % (tag, pattern, "\n".join(" ".join(x) for x in lines)))


def steps(node, path=REPORT):
    report = check_report(node.run("cat " + path).stdout)
    return report, dict((s["name"], s) for s in report["hosts"]["localhost"]["site_steps"])


def content_root(node):
    """Where the running containerd really keeps its content store."""
    out = node.run("ctr plugins ls --detailed type==io.containerd.content.v1 2>/dev/null").stdout
    roots = [line.split()[1] for line in out.splitlines() if len(line.split()) == 2 and line.split()[0] == "root"]
    assert len(roots) == 1, out
    return roots[0]


def env_of(node):
    return dict(line.split("=", 1) for line in node.run("cat /var/lib/site-e2e/env.txt").stdout.splitlines())


@pytest.fixture(scope="module")
def e2e_bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("site")
    proc, folder = site_bundle(tmp, copy_site(tmp))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The build names the order and what does not run.
    assert "[bundle] site steps before the built-in roles: limits" in proc.stdout
    assert ("[bundle] site steps after the built-in roles: role site_users, gpu tuning [gpu-*], scripts.d/05-preview.sh, "
            "scripts.d/10-facts.sh, scripts.d/20-optional.sh, scripts.d/30-once.sh") in proc.stdout
    assert "scripts.d/README.md is not run" in proc.stdout
    # Every file of the site, the vendored collection's too, is in SHA256SUMS.
    sums = (folder / "SHA256SUMS").read_text()
    for relative in ("site/settings.yml", "site/scripts.d/10-facts.sh", "site/roles/site_users/tasks/main.yml",
                     "site/collections/ansible_collections/acme/nodeutil/roles/stamp/tasks/main.yml",
                     "site/collections/ansible_collections/acme/nodeutil/plugins/filter/shout.py"):
        assert "  %s\n" % relative in sums, relative
    return folder


@pytest.mark.parametrize("variant,group", [("al2", "cpu-workers"), ("al2023-gpu", "gpu-workers")])
def test_site_steps_preview_run_and_rerun(e2e_bundle, volume, nodes, variant, group):
    node = start(nodes, variant, volume, prefix="hp-site")
    identify(node, group)
    node.copy_in(e2e_bundle, FOLDER)
    gpu = variant.endswith("-gpu")
    platform = variant.split("-")[0]

    # --check on the fresh node: scripts are skipped and say so, but the one safe to preview.
    preview = on_create(node, "--check")
    assert preview.returncode == 0, "\n".join(preview.log[-40:])
    lines = this_run(preview.log)
    assert "check=1 platform=%s gpu=%s color=blue" % (platform, str(gpu).lower()) in \
        lines[index(lines, "scripts.d/05-preview.sh", "preview")][2]
    assert "skipped: not run in check mode" in lines[index(lines, "ansible", r"Run the site script: scripts.d/10-facts.sh")][2]
    assert node.run("test -e /var/lib/site-e2e/env.txt", check=False).returncode != 0
    report, entries = steps(node, "/var/log/provision/report.check.json")
    assert report["check_mode"] is True
    assert entries["scripts.d/10-facts.sh"]["status"] == "skipped"
    assert entries["scripts.d/10-facts.sh"]["reason"] == "check_mode"
    assert entries["scripts.d/05-preview.sh"]["status"] == "ok" and entries["scripts.d/05-preview.sh"]["exit_code"] == 0

    first = on_create(node)
    assert first.returncode == 0, "\n".join(first.log[-60:])
    lines = this_run(first.log)
    # The order: the "before" task file, the built-in roles, then the site's steps in their order.
    before = index(lines, "ansible", r"\| Raise the open files limit")
    builtin = index(lines, "ansible", r"\| Move containerd's data root to the data volume")
    role = index(lines, "ansible", r"site_users : Add the operators' user")
    order = [index(lines, "ansible", r"Run the site script: scripts.d/%s" % name)
             for name in ("05-preview.sh", "10-facts.sh", "20-optional.sh", "30-once.sh")]
    assert before < builtin < role < order[0] < order[1] < order[2] < order[3]
    assert "not run: scripts.d/README.md (not named *.sh)" in lines[index(lines, "ansible", r"Log the site plan")][2]
    group_line = lines[index(lines, "ansible", r"Log the node's instance group and type")][2]
    assert "instance group %s (/opt/ml/config/resource_config.json), instance type ml.m5.2xlarge" % group in group_line
    # Each line a script writes, with its timestamp and the script's name (stderr marked).
    out = index(lines, "scripts.d/10-facts.sh", r"^wrote /var/lib/site-e2e/env.txt$")
    err = index(lines, "scripts.d/10-facts.sh stderr", r"^a note on standard error$")
    assert order[0] < out < order[1] and out < err < order[1]
    assert index(lines, "scripts.d/20-optional.sh stderr", r"^optional-tool is not installed$")
    warning = " ".join(text for dummy, tag, text in lines if tag == "ansible-playbook")
    assert "scripts.d/20-optional.sh exited with 3" in warning and "allowed to fail" in warning

    # What the steps did: the role (with the vendored collection's role and filter), the settings
    # of the node's instance group, the group-limited step, the file the script wrote.
    facts = node.run("cat /etc/site-e2e-facts").stdout
    greeting = "from-group" if group == "cpu-workers" else "from-settings"
    assert facts == "platform=%s\ngpu=%s\ngroup=%s\ntype=ml.m5.2xlarge\ngreeting=%s\n" % (platform, gpu, group, greeting)
    assert node.run("cat /etc/acme-stamp").stdout == greeting.upper() + "!\n"
    assert node.run("id -u mlops", check=False).returncode == 0
    assert node.run("cat /etc/security/limits.d/90-site.conf").stdout.count("1048576") == 2
    assert (node.run("test -e /etc/site-e2e-gpu", check=False).returncode == 0) == (group == "gpu-workers")
    env = env_of(node)
    assert env["HYPERPOD_PLATFORM"] == platform and env["HYPERPOD_GPU"] == str(gpu).lower()
    assert env["HYPERPOD_DATA_VOLUME"] == "/opt/sagemaker"
    assert env["HYPERPOD_CONTAINERD_DATA_ROOT"] == DATA_ROOT
    assert env["HYPERPOD_INSTANCE_GROUP"] == group and env["HYPERPOD_INSTANCE_ID"] == "i-0abc12345678def00"
    assert env["HYPERPOD_STEP"] == "scripts.d/10-facts.sh" and env["HYPERPOD_CHECK"] == "0"
    assert env["SITE_TYPE_FILE"] == "ml.m5.2xlarge"
    assert env["SITE_COLOR"] == "blue" and env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert env["PWD"] == env["HYPERPOD_SITE_DIR"] and env["HYPERPOD_SITE_DIR"].endswith("/site")
    # Nothing of the caller's environment leaks in.
    assert "HYPERPOD_FAILURE_WAIT" not in env and "ANSIBLE_CONFIG" not in env

    report, entries = steps(node)
    assert report["outcome"] == "succeeded"
    assert list(entries) == ["limits", "role site_users", "gpu tuning", "scripts.d/05-preview.sh",
                             "scripts.d/10-facts.sh", "scripts.d/20-optional.sh", "scripts.d/30-once.sh"]
    assert entries["limits"]["status"] == "changed" and entries["limits"]["kind"] == "tasks"
    assert entries["role site_users"]["status"] == "changed" and entries["role site_users"]["changed"] >= 3
    assert entries["gpu tuning"]["status"] == ("changed" if group == "gpu-workers" else "skipped")
    assert entries["scripts.d/10-facts.sh"]["exit_code"] == 0 and entries["scripts.d/10-facts.sh"]["status"] == "changed"
    assert entries["scripts.d/20-optional.sh"]["exit_code"] == 3
    assert entries["scripts.d/20-optional.sh"]["status"] == "allowed_failure"
    assert entries["scripts.d/30-once.sh"]["status"] == "changed"
    samples = metrics(node.run("cat " + PROM).stdout)
    assert value(samples, "hyperpod_provision_success") == 1
    assert value(samples, "hyperpod_provision_site_step_exit_code", step="scripts.d/20-optional.sh") == 3
    assert value(samples, "hyperpod_provision_site_step_failed", step="scripts.d/20-optional.sh", kind="script",
                 status="allowed_failure") == 1
    assert value(samples, "hyperpod_provision_site_step_duration_seconds", step="role site_users", kind="role",
                 status="changed") > 0

    # A re-run: the built-in roles and the Ansible steps change nothing; scripts run again unless
    # guarded (creates=), and the report says which.
    second = on_create(node)
    assert second.returncode == 0, "\n".join(second.log[-60:])
    report, entries = steps(node)
    roles = dict((r["name"], r) for r in report["hosts"]["localhost"]["roles"])
    assert all(roles[name]["changed"] == 0 for name in roles if name.startswith("hyperpod.eks_lifecycle.")), roles
    assert entries["limits"]["status"] == "ok" and entries["role site_users"]["status"] == "ok"
    assert entries["scripts.d/10-facts.sh"]["status"] == "changed"
    assert entries["scripts.d/30-once.sh"]["status"] == "skipped" and entries["scripts.d/30-once.sh"]["reason"] == "guard"
    assert node.run("wc -l </var/lib/site-e2e/facts-runs").stdout.strip() == "2"
    assert node.run("wc -l </var/lib/site-e2e/once-runs").stdout.strip() == "1"
    # The recap's changes are the scripts that ran, nothing else.
    recap = [line for line in second.log if "[stop] playbook recap:" in line][-1]
    assert " changed=3 " in recap, recap

    # --tags site runs the site's steps alone; a type named without ml. (as IMDS names it) still
    # finds instance_types/ml.<type>.yml.
    tagged = on_create(node, "--tags", "site", HYPERPOD_INSTANCE_TYPE="m5.2xlarge")
    assert tagged.returncode == 0, "\n".join(tagged.log[-30:])
    lines = this_run(tagged.log)
    assert index(lines, "ansible", r"Run the site script: scripts.d/10-facts.sh")
    assert not [text for dummy, tag, text in lines if "containerd_data_root :" in text]
    env = env_of(node)
    assert env["HYPERPOD_INSTANCE_TYPE"] == "m5.2xlarge" and env["SITE_TYPE_FILE"] == "ml.m5.2xlarge"

    # After the AMI's start-up, on_init_complete.sh checks what OnCreate did with the site's
    # settings: the gpu-workers group's moves kubelet's state to the volume too.
    node.run("nodeadm run" if platform == "al2023" else "/etc/eks/bootstrap.sh")
    checked = node.run("bash on_init_complete.sh", check=False, env={"HYPERPOD_FAILURE_WAIT": "0"}, workdir=FOLDER)
    assert checked.returncode == 0, checked.stdout[-3000:]
    done = check_report(node.run("cat " + REPORT).stdout, verification=True)
    checks = dict((c["name"], c["ok"]) for c in done["verification"]["hosts"]["localhost"]["checks"])
    assert all(checks.values()) and ("kubelet_state" in checks) == (group == "gpu-workers"), checks
    # It runs no site step.
    assert done["verification"]["hosts"]["localhost"]["site_steps"] == []


def test_a_failing_script_fails_the_run_and_keeps_the_builtin_provisioning(tmp_path, volume, nodes):
    site = copy_site(tmp_path, files={
        "scripts.d/40-broken.sh": "#!/bin/bash\necho 'fstab entry for /scratch is missing' >&2\nexit 7\n",
        "scripts.d/50-after.sh": "#!/bin/bash\ntouch /var/lib/site-e2e/after-ran\n",
    })
    proc, folder = site_bundle(tmp_path, site)
    assert proc.returncode == 0, proc.stderr
    node = start(nodes, "al2023", volume, prefix="hp-site")
    identify(node, "cpu-workers")
    node.copy_in(folder, FOLDER)
    run = on_create(node)
    assert run.returncode == 2, "\n".join(run.log[-30:])
    lines = this_run(run.log)
    error = lines[index(lines, "error", r"failed")][2]
    assert "site step scripts.d/40-broken.sh (scripts.d/40-broken.sh) failed" in error
    assert "exited with 7" in error and "fstab entry for /scratch is missing" in error
    assert "Kept, not rolled back: what the built-in roles did before it (containerd data root %s)." % DATA_ROOT in error
    assert "Later site steps did not run." in error
    assert lines[-1][1:] == ("stop", "on_create.sh failed; waiting 0s for the log upload")
    # The move is in effect, the scripts before ran, the one after did not.
    assert content_root(node).startswith(DATA_ROOT + "/")
    assert node.run("systemctl is-active containerd", check=False).stdout.strip() == "active"
    assert node.run("test -e /var/lib/site-e2e/env.txt", check=False).returncode == 0
    assert node.run("test -e /var/lib/site-e2e/after-ran", check=False).returncode != 0
    report, entries = steps(node)
    assert report["outcome"] == "failed" and "scripts.d/40-broken.sh" in report["failure"]["step"]
    assert entries["scripts.d/40-broken.sh"]["status"] == "failed" and entries["scripts.d/40-broken.sh"]["exit_code"] == 7
    assert entries["scripts.d/50-after.sh"]["status"] == "not_run" and entries["scripts.d/50-after.sh"]["exit_code"] is None
    samples = metrics(node.run("cat " + PROM).stdout)
    assert value(samples, "hyperpod_provision_success") == 0
    assert value(samples, "hyperpod_provision_site_step_exit_code", step="scripts.d/40-broken.sh") == 7


def test_a_hanging_script_is_stopped_at_its_timeout(tmp_path, volume, nodes):
    site = copy_site(tmp_path, files={
        "scripts.d/40-hangs.sh": ("#!/bin/bash\n# hyperpod: timeout=3\necho waiting for a mount\n"
                                  "sleep 313 &\nsleep 314\n"),
    })
    proc, folder = site_bundle(tmp_path, site)
    assert proc.returncode == 0, proc.stderr
    node = start(nodes, "al2023", volume, prefix="hp-site")
    identify(node, "cpu-workers")
    node.copy_in(folder, FOLDER)
    started = time.time()
    run = on_create(node)
    assert run.returncode == 2
    assert time.time() - started < 240
    lines = this_run(run.log)
    assert index(lines, "scripts.d/40-hangs.sh", r"^stopping it: still running after its timeout of 3s$")
    error = lines[index(lines, "error", r"failed")][2]
    assert "scripts.d/40-hangs.sh stopped after its timeout of 3s (last line: waiting for a mount)" in error
    # Its whole process group is gone, the background child too.
    assert node.run("pgrep -f 'sleep 31[34]'", check=False).returncode == 1
    report, entries = steps(node)
    assert entries["scripts.d/40-hangs.sh"]["status"] == "failed" and entries["scripts.d/40-hangs.sh"]["exit_code"] is None


def test_a_broken_file_in_an_uploaded_site_is_named_and_the_builtin_roles_still_run(
        e2e_bundle, tmp_path, volume, nodes):
    # The admin edits the uploaded folder and renews SHA256SUMS: the role's task file no longer parses.
    folder = tmp_path / "lifecycle"
    shutil.copytree(e2e_bundle, folder)
    tasks = folder / "site/roles/site_users/tasks/main.yml"
    tasks.write_text(tasks.read_text().replace("    shell: /bin/bash\n", "    shell: /bin/bash\n   oops: [\n"))
    resum(folder)
    node = start(nodes, "al2023", volume, prefix="hp-site")
    identify(node, "cpu-workers")
    node.copy_in(folder, FOLDER)
    run = on_create(node)
    assert run.returncode == 2
    lines = this_run(run.log)
    error = lines[index(lines, "error", r"failed")][2]
    assert "roles/site_users/tasks/main.yml: line 6 column 4 is not valid YAML" in error, error
    # The built-in roles ran before the broken step, and the "before" step too.
    assert content_root(node).startswith(DATA_ROOT + "/")
    assert node.run("test -e /etc/security/limits.d/90-site.conf", check=False).returncode == 0
    report, entries = steps(node)
    assert entries["role site_users"]["status"] == "failed"


@pytest.mark.parametrize("case", ["settings", "steps"])
def test_site_settings_that_cannot_be_read_stop_the_run_before_anything_changes(
        e2e_bundle, tmp_path, volume, nodes, case):
    folder = tmp_path / "lifecycle"
    shutil.copytree(e2e_bundle, folder)
    settings = folder / "site/settings.yml"
    if case == "settings":
        settings.write_text(settings.read_text() + "containerd_data_root_volume: [unclosed\n")
    else:
        settings.write_text(settings.read_text().replace("  - role: site_users\n", "  - role: site_users\n    when: x\n"))
    resum(folder)
    node = start(nodes, "al2023", volume, prefix="hp-site")
    node.copy_in(folder, FOLDER)
    run = on_create(node)
    assert run.returncode == 2
    lines = this_run(run.log)
    error = lines[index(lines, "error", r"failed")][2]
    if case == "settings":
        assert "Read the site's settings" in error and "site/settings.yml" in error, error
    else:
        assert "hyperpod_site_steps[1]: unknown key when" in error and "nothing was changed" in error, error
    # Nothing changed: containerd still on its own root, no site step ran.
    assert content_root(node).startswith("/var/lib/containerd/")
    assert node.run("test -e /etc/security/limits.d/90-site.conf", check=False).returncode != 0
    assert json.loads(node.run("cat " + REPORT).stdout)["outcome"] == "failed"
