"""The README's migration guide, run as it is written: its old bash lifecycle script dropped into a
site folder (step 1), then its site steps (step 2), each built with `make bundle SITE=...` and run
with `bash on_create.sh` on an offline AL2023 look-alike node. The files come out of README.md
itself (each fenced block after a `<!-- migration: PATH -->` line), so the guide cannot drift."""

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

from bundlekit import FOLDER, on_create, site_bundle, start  # noqa: E402
from reportcheck import check_report  # noqa: E402

BLOCK = re.compile(r"^<!-- migration: (\S+) -->\n```[a-z]*\n(.*?)^```\n", re.S | re.M)


def guide():
    """{name: text} of the guide's blocks: "legacy" (the old script) and the step 2 files."""
    section = REPO.joinpath("README.md").read_text().split("## Migrating a bash lifecycle script", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = dict(BLOCK.findall(section))
    assert set(blocks) == {"legacy", "settings.yml", "scripts.d/10-packages.sh", "tasks/sysctl.yml", "tasks/scratch.yml",
                           "roles/heartbeat/tasks/main.yml", "roles/heartbeat/handlers/main.yml",
                           "roles/heartbeat/defaults/main.yml"}, sorted(blocks)
    return blocks


def write_site(folder, files):
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if relative.endswith(".sh"):
            path.chmod(0o755)
    return folder


def site_steps(node):
    report = check_report(node.run("cat /var/log/provision/report.json").stdout)
    assert report["outcome"] == "succeeded"
    return dict((s["name"], s) for s in report["hosts"]["localhost"]["site_steps"])


def assert_migrated(node):
    """What the old script did, in effect on the node."""
    assert node.run("rpm -q htop jq nvme-cli", check=False).returncode == 0
    assert node.run("sysctl -n net.core.somaxconn").stdout.strip() == "65535"
    assert node.run("mountpoint -q /scratch", check=False).returncode == 0
    node.run("touch /scratch/probe && test -e /opt/sagemaker/scratch/probe && rm /scratch/probe")
    assert node.run("systemctl is-active node-heartbeat.service", check=False).stdout.strip() == "active"
    assert node.run("systemctl is-enabled node-heartbeat.service", check=False).stdout.strip() == "enabled"


def test_step_1_the_old_script_as_it_is(tmp_path, volume, nodes):
    blocks = guide()
    proc, bundle = site_bundle(tmp_path, write_site(tmp_path / "my-site", {"scripts.d/10-legacy.sh": blocks["legacy"]}))
    assert proc.returncode == 0, proc.stderr
    node = start(nodes, "al2023", volume, prefix="hp-guide", sysctl=True)
    node.copy_in(bundle, FOLDER)
    first = on_create(node)
    assert first.returncode == 0, "\n".join(first.log[-40:])
    assert_migrated(node)
    # Its output, the commands set -x shows too, line by line in the log.
    assert any(re.search(r"Z \[scripts\.d/10-legacy\.sh stderr\] \+ yum install -y htop jq nvme-cli$", line)
               for line in first.log), first.log
    assert any(re.search(r"Z \[scripts\.d/10-legacy\.sh\] Installed: htop-", line) for line in first.log)
    entry = site_steps(node)["scripts.d/10-legacy.sh"]
    assert entry["status"] == "changed" and entry["exit_code"] == 0


def test_step_2_site_steps_preview_run_rerun_and_reboot(tmp_path, volume, nodes):
    blocks = guide()
    files = dict((name, text) for name, text in blocks.items() if name != "legacy")
    proc, bundle = site_bundle(tmp_path, write_site(tmp_path / "my-site", files))
    assert proc.returncode == 0, proc.stderr
    assert ("site steps after the built-in roles: scripts.d/10-packages.sh, tasks/sysctl.yml, tasks/scratch.yml, "
            "role heartbeat") in proc.stdout
    node = start(nodes, "al2023", volume, prefix="hp-guide", sysctl=True)
    node.copy_in(bundle, FOLDER)

    preview = on_create(node, "--check", "--diff")
    assert preview.returncode == 0, "\n".join(preview.log[-40:])
    assert any("Run the site script: scripts.d/10-packages.sh" in line and "skipped: not run in check mode" in line
               for line in preview.log)
    assert node.run("rpm -q htop", check=False).returncode != 0

    first = on_create(node)
    assert first.returncode == 0, "\n".join(first.log[-40:])
    assert_migrated(node)
    steps = site_steps(node)
    assert [steps[name]["status"] for name in ("scripts.d/10-packages.sh", "tasks/sysctl.yml", "tasks/scratch.yml",
                                               "role heartbeat")] == ["changed"] * 4

    second = on_create(node)
    assert second.returncode == 0
    steps = site_steps(node)
    assert [steps[name]["status"] for name in ("tasks/sysctl.yml", "tasks/scratch.yml", "role heartbeat")] == ["ok"] * 3
    assert steps["scripts.d/10-packages.sh"]["status"] == "changed"
    assert any(re.search(r"\[scripts\.d/10-packages\.sh\] Package htop-.* is already installed\.$", line)
               for line in second.log)
    recap = [line for line in second.log if "[stop] playbook recap:" in line][-1]
    assert " changed=1 " in recap, recap

    # The mount and the service come back at the next boot, with nothing run again.
    node.restart()
    assert_migrated(node)
