"""`make bundle SITE=dir` and `make new-site`: what the build refuses in a site folder (each refusal
naming the file, before anything is written) and what it ships (everything in SHA256SUMS)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from bundlekit import copy_site, site_bundle  # noqa: E402


def refused(tmp_path, files, source=None):
    proc, out = site_bundle(tmp_path, copy_site(tmp_path, files=files, source=source))
    assert proc.returncode != 0, proc.stdout
    # Nothing was written: no folder that could be uploaded.
    assert not out.exists()
    return proc.stderr


@pytest.mark.parametrize("files,message", [
    ({"tasks/limits.yml": "- name: x\n  ansible.builtin.debug:\n   msg: [\n"},
     "site: tasks/limits.yml: line 4 column 1 is not valid YAML"),
    ({"tasks/limits.yml": "name: not a list\n"}, "site: tasks/limits.yml: a task file must be a list of tasks, not a dict"),
    ({"roles/site_users/tasks/main.yml": None}, "site: roles/site_users: the role has no tasks/main.yml"),
    ({"settings.yml": "hyperpod_site_steps:\n  - role: site_missing\n"}, "site: roles/site_missing: no such role"),
    ({"settings.yml": "hyperpod_site_steps:\n  - tasks: ../outside.yml\n"},
     "'../outside.yml' must be a relative path inside the site folder"),
    ({"settings.yml": "hyperpod_site_steps:\n  - role: acme.nodeutil.absent\n"},
     "role acme.nodeutil.absent: not found in the site's collections"),
    ({"settings.yml": "hyperpod_site_steps: [unclosed\n"}, "site: settings.yml: line 2 column 1 is not valid YAML"),
    ({"settings.yml": "hyperpod_site_steps:\n  - script: 10-facts.sh\n    allow_failure: true\n"},
     "a script's allow_failure is set in its header"),
    ({"scripts.d/60-noshebang.sh": "echo hi\n"}, "site: scripts.d/60-noshebang.sh: the first line must be a #! line"),
    ({"scripts.d/60-typo.sh": "#!/bin/bash\n# hyperpod: alow-fail\necho hi\n"},
     "site: scripts.d/60-typo.sh line 2: unknown setting 'alow-fail'"),
    ({"scripts.d/60-late.sh": "#!/bin/bash\necho hi\n# hyperpod: allow-fail\n"},
     "site: scripts.d/60-late.sh line 3: '# hyperpod:' settings belong in the comment block at the top"),
    ({"scripts.d/60-timeout.sh": "#!/bin/bash\n# hyperpod: timeout=forever\n"},
     "site: scripts.d/60-timeout.sh line 2: timeout must be a number of seconds"),
    ({"tasks/limits.yml": "- name: x\n  acme.nodeutil.no_such_module:\n    a: 1\n"},
     "ansible-playbook --syntax-check of the site's roles and task files"),
    ({"instance_groups/bad name!.yml": "x: 1\n"}, "instance_groups/bad name!.yml"),
    ({"instance_groups/gpu.yml": "hyperpod_site_steps: []\n"}, "hyperpod_site_steps belongs in settings.yml"),
    ({"settings.yml": "hyperpod_site_script_env:\n  HYPERPOD_PLATFORM: x\n"},
     "'HYPERPOD_PLATFORM' is not a name a site may set"),
    ({"requirements.yml": "roles:\n  - name: geerlingguy.docker\n"}, "requirements.yml lists roles"),
])
def test_a_site_folder_with_a_problem_is_refused_naming_the_file(tmp_path, files, message):
    assert message in refused(tmp_path, files)


def test_a_script_without_its_exec_bit_is_refused(tmp_path):
    site = copy_site(tmp_path)
    (site / "scripts.d/10-facts.sh").chmod(0o644)
    proc, out = site_bundle(tmp_path, site)
    assert proc.returncode != 0 and not out.exists()
    assert "site: scripts.d/10-facts.sh: not executable: a script in scripts.d/ must have its exec bit" in proc.stderr


def test_links_and_special_files_are_refused(tmp_path):
    site = copy_site(tmp_path)
    os.symlink("/etc/passwd", site / "tasks" / "passwd.yml")
    proc, out = site_bundle(tmp_path, site)
    assert proc.returncode != 0 and not out.exists()
    assert "site: not a regular file or directory (copy the file itself in): tasks/passwd.yml" in proc.stderr


def test_a_collection_the_runtimes_cannot_run_is_refused(tmp_path):
    copy_site(tmp_path)
    runtime = tmp_path / "acme.nodeutil" / "meta" / "runtime.yml"
    runtime.write_text('---\nrequires_ansible: ">=2.99"\n')
    proc, out = site_bundle(tmp_path, tmp_path / "site")
    assert proc.returncode != 0 and not out.exists()
    assert "collection acme.nodeutil requires ansible-core >=2.99; the bundle runs 2.11.12 (AL2) and" in proc.stderr


def test_a_site_cannot_ship_the_collection_itself(tmp_path):
    site = copy_site(tmp_path)
    fake = site / "collections" / "ansible_collections" / "hyperpod" / "eks_lifecycle" / "roles" / "logging" / "tasks"
    fake.mkdir(parents=True)
    (fake / "main.yml").write_text("- name: x\n  ansible.builtin.command: rm -rf /\n")
    proc, out = site_bundle(tmp_path, site)
    assert proc.returncode != 0 and not out.exists()
    assert "a site cannot ship hyperpod.eks_lifecycle" in proc.stderr


def test_new_site_writes_a_folder_that_builds(tmp_path):
    site = tmp_path / "my-site"
    made = subprocess.run(["make", "-s", "new-site", "DIR=%s" % site], cwd=REPO, capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()) == [
        "README.md", "instance_groups/README.md", "instance_types/README.md", "requirements.yml",
        "roles/site_motd/defaults/main.yml", "roles/site_motd/meta/argument_specs.yml", "roles/site_motd/meta/main.yml",
        "roles/site_motd/tasks/main.yml", "roles/site_motd/templates/motd.j2", "scripts.d/10-hello.sh",
        "settings.yml", "tasks/sysctl.yml"]
    assert os.access(site / "scripts.d" / "10-hello.sh", os.X_OK)
    again = subprocess.run(["make", "-s", "new-site", "DIR=%s" % site], cwd=REPO, capture_output=True, text=True, check=False)
    assert again.returncode != 0 and "exists and is not empty; nothing was written" in again.stderr
    proc, out = site_bundle(tmp_path, site)
    assert proc.returncode == 0, proc.stderr
    assert "site steps after the built-in roles: role site_motd, tasks/sysctl.yml, scripts.d/10-hello.sh" in proc.stdout
    # Every file of the bundle is in SHA256SUMS, and the sums hold.
    listed = sorted(line.split("  ", 1)[1] for line in (out / "SHA256SUMS").read_text().splitlines())
    present = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    assert listed == present and "site/scripts.d/10-hello.sh" in listed
    assert subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=out, check=False).returncode == 0
