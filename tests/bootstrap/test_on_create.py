"""bootstrap/on_create.sh, driven with a stand-in ansible-playbook on PATH."""

import base64
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from reportcheck import check_report, metrics, value  # noqa: E402  pylint: disable=wrong-import-position

SCRIPT = REPO / "bootstrap" / "on_create.sh"
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[([a-z-]+)\] (.*)$")

# The stand-in records its arguments and environment, prints what $STANDIN_SAY says one line at a
# time, and exits with $STANDIN_RC. With STANDIN_CHECK_BUFFERING it waits, after each line, until
# that line is in the log: if on_create.sh held output back, the stand-in gives up and fails.
STANDIN = r"""#!/usr/bin/env bash
printf '%s\n' "$@" > "$STANDIN_DIR/argv"
env > "$STANDIN_DIR/env"
IFS='|' read -r -a lines <<< "${STANDIN_SAY:-PLAY [Provision a HyperPod EKS node]|PLAY RECAP}"
for line in "${lines[@]}"; do
  echo "$line"
  if [ -n "${STANDIN_CHECK_BUFFERING:-}" ]; then
    for _ in $(seq 1 50); do grep -qF -- "$line" "$HYPERPOD_PROVISION_LOG" && break; sleep 0.1; done
    grep -qF -- "$line" "$HYPERPOD_PROVISION_LOG" || { echo "line held back: $line" >&2; exit 99; }
  fi
done
echo "a warning on stderr" >&2
exit "${STANDIN_RC:-0}"
"""


@pytest.fixture
def bundle(tmp_path):
    """A folder laid out as HyperPod downloads it: on_create.sh with playbooks/ beside it."""
    folder = tmp_path / "lifecycle"
    (folder / "playbooks").mkdir(parents=True)
    shutil.copy(SCRIPT, folder / "on_create.sh")
    (folder / "playbooks" / "on_create.yml").write_text("---\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    standin = bindir / "ansible-playbook"
    standin.write_text(STANDIN)
    standin.chmod(standin.stat().st_mode | stat.S_IXUSR)
    write_sums(folder)
    return folder


def run(bundle, *args, rc=0, wait=0, tmp=None, umask=None, **env):
    tmp = tmp or bundle.parent
    log = tmp / "log" / "provisioning.log"
    environ = {
        "PATH": "%s:%s" % (tmp / "bin", os.environ["PATH"]),
        "HOME": str(tmp),
        "STANDIN_DIR": str(tmp),
        "STANDIN_RC": str(rc),
        "HYPERPOD_PROVISION_LOG": str(log),
        "HYPERPOD_FAILURE_WAIT": str(wait),
        "HYPERPOD_STATE_DIR": str(tmp / "state"),
    }
    environ.update(env)
    started = time.monotonic()
    proc = subprocess.run(["bash", "on_create.sh", *args], cwd=bundle, env=environ,
                          capture_output=True, text=True, timeout=60, check=False,
                          preexec_fn=None if umask is None else lambda: os.umask(umask))
    proc.elapsed = time.monotonic() - started
    proc.log = log.read_text().splitlines() if log.exists() else []
    return proc


def tags(lines):
    return [LINE.match(line).group(1) for line in lines]


def test_success_brackets_the_run_with_start_and_stop(bundle):
    proc = run(bundle)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(LINE.match(line) for line in proc.log), proc.log
    assert tags(proc.log)[0] == "start"
    assert tags(proc.log)[-1] == "stop"
    assert "succeeded" in proc.log[-1]
    assert "error" not in tags(proc.log)
    # stdout carries the same lines as the log.
    assert proc.stdout.splitlines() == proc.log


def test_runs_ansible_playbook_locally_on_the_play(bundle):
    proc = run(bundle, "--check", "--diff")
    assert proc.returncode == 0
    argv = (bundle.parent / "argv").read_text().splitlines()
    # The play runs from the checked copy of the bundle in the run's staging directory.
    assert argv[:2] == ["-c", "local"] and argv[3:] == ["--check", "--diff"]
    assert re.fullmatch(r"%s/bundle/run\.\d+\.\w+/files/playbooks/on_create\.yml" % re.escape(str(bundle.parent / "state")),
                        argv[2]), argv
    env = dict(line.split("=", 1) for line in (bundle.parent / "env").read_text().splitlines() if "=" in line)
    assert env["ANSIBLE_CALLBACKS_ENABLED"] == "hyperpod.eks_lifecycle.provision_log,hyperpod.eks_lifecycle.provision_report"
    assert env["HYPERPOD_PROVISION_LOG"] == str(bundle.parent / "log" / "provisioning.log")
    assert env["HYPERPOD_PROVISION_REPORT"] == str(bundle.parent / "log" / "report.json")
    assert env["ANSIBLE_PIPELINING"] == "true"
    # What the report needs from the bootstrap: its run, its start, its steps so far.
    assert re.fullmatch(r"\d{8}T\d{6}Z-\d+", env["HYPERPOD_RUN_ID"])
    assert "run %s)" % env["HYPERPOD_RUN_ID"] in proc.log[0]
    assert abs(float(env["HYPERPOD_RUN_STARTED"]) - time.time()) < 60
    steps = [step.split("=") for step in env["HYPERPOD_BOOTSTRAP_STEPS"].split()]
    assert [step[0] for step in steps] == ["verify-bundle", "lock", "locate-playbook", "runtime"]
    assert all(float(step[1]) >= 0 for step in steps)


def test_play_output_and_errors_are_logged_with_timestamps(bundle):
    proc = run(bundle, STANDIN_SAY="PLAY [x]|TASK [y]|PLAY RECAP")
    messages = [LINE.match(line).groups() for line in proc.log]
    assert ("ansible-playbook", "TASK [y]") in messages
    assert ("ansible-playbook", "a warning on stderr") in messages


def test_output_reaches_the_log_line_by_line(bundle):
    proc = run(bundle, STANDIN_SAY="first line|second line|third line", STANDIN_CHECK_BUFFERING="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "line held back" not in proc.stdout


def test_failed_play_is_reported_as_failure(bundle):
    proc = run(bundle, rc=2, wait=2)
    assert proc.returncode == 2
    errors = [line for line in proc.log if LINE.match(line).group(1) == "error"]
    assert len(errors) == 1
    assert "step 'ansible-playbook' failed (exit 2)" in errors[0]
    assert "succeeded" not in "\n".join(proc.log)
    assert tags(proc.log)[-1] == "stop" and "failed" in proc.log[-1]
    # It waits for the log upload before exiting.
    assert proc.elapsed >= 2


def test_missing_playbook_fails_clearly(bundle):
    (bundle / "playbooks" / "on_create.yml").unlink()
    proc = run(bundle)
    assert proc.returncode == 3
    assert any("step 'verify-bundle' failed" in line and "playbooks/on_create.yml: missing" in line for line in proc.log)
    (bundle / "SHA256SUMS").unlink()
    proc = run(bundle, HYPERPOD_ALLOW_UNVERIFIED="1")
    assert proc.returncode == 2
    assert any("step 'locate-playbook' failed" in line and "on_create.yml not found" in line for line in proc.log)
    assert not (bundle.parent / "argv").exists()


def test_missing_ansible_playbook_fails_clearly(bundle):
    proc = run(bundle, HYPERPOD_ANSIBLE_PLAYBOOK="no-such-ansible-playbook")
    assert proc.returncode == 127
    assert any("no-such-ansible-playbook not found on PATH" in line for line in proc.log)


def test_log_is_appended_never_truncated(bundle):
    log = bundle.parent / "log" / "provisioning.log"
    log.parent.mkdir()
    log.write_text("2026-01-01T00:00:00.000Z [start] an earlier run\n")
    run(bundle)
    proc = run(bundle)
    assert proc.log[0] == "2026-01-01T00:00:00.000Z [start] an earlier run"
    assert tags(proc.log).count("start") == 3
    assert tags(proc.log).count("stop") == 2
    assert stat.S_IMODE(log.stat().st_mode) == 0o640


def test_repository_layout_finds_the_playbook(tmp_path, bundle):
    # Run from a checkout: bootstrap/on_create.sh with ../playbooks/on_create.yml.
    checkout = tmp_path / "checkout"
    (checkout / "bootstrap").mkdir(parents=True)
    (checkout / "playbooks").mkdir()
    shutil.copy(SCRIPT, checkout / "bootstrap" / "on_create.sh")
    (checkout / "playbooks" / "on_create.yml").write_text("---\n")
    proc = run(checkout / "bootstrap", tmp=bundle.parent, HYPERPOD_ALLOW_UNVERIFIED="1")
    assert proc.returncode == 0, proc.stdout
    argv = (bundle.parent / "argv").read_text().splitlines()
    assert Path(argv[2]).resolve() == (checkout / "playbooks" / "on_create.yml").resolve()


def write_sums(folder):
    """SHA256SUMS for every file of FOLDER, as `make bundle` writes it."""
    names = sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*")
                   if p.is_file() and not p.is_symlink() and p.name != "SHA256SUMS")
    (Path(folder) / "SHA256SUMS").write_text("".join(
        "%s  %s\n" % (hashlib.sha256((Path(folder) / name).read_bytes()).hexdigest(), name) for name in names))


def test_bundle_is_verified_before_anything_runs(bundle):
    proc = run(bundle)
    assert proc.returncode == 0, proc.stdout
    assert any("bundle verified: 2 files match SHA256SUMS" in line for line in proc.log)
    assert not any("[warning]" in line for line in proc.log)


def test_altered_bundle_is_refused_before_anything_runs(bundle):
    (bundle / "playbooks" / "on_create.yml").write_text("---\n# altered\n")
    proc = run(bundle)
    assert proc.returncode == 3
    errors = [line for line in proc.log if LINE.match(line).group(1) == "error"]
    assert len(errors) == 1
    assert "step 'verify-bundle' failed" in errors[0] and "playbooks/on_create.yml: FAILED" in errors[0]
    assert not (bundle.parent / "argv").exists()
    # Refused before the lock: the node keeps nothing of the run but its log and report.
    assert sorted(p.name for p in (bundle.parent / "state").iterdir()) == ["bundle"]
    assert list((bundle.parent / "state" / "bundle").iterdir()) == []


def test_bundle_without_checksums_is_refused(bundle):
    (bundle / "SHA256SUMS").unlink()
    proc = run(bundle)
    assert proc.returncode == 3
    assert any("has no SHA256SUMS" in line and "nothing from it was used" in line for line in proc.log)
    assert not (bundle.parent / "argv").exists()
    # Not even with the development switch, once the folder has a runtime: that is a bundle.
    (bundle / "runtime").mkdir()
    proc = run(bundle, HYPERPOD_ALLOW_UNVERIFIED="1")
    assert proc.returncode == 3
    assert not (bundle.parent / "argv").exists()


@pytest.mark.parametrize("line, why", [
    ("/etc/passwd", "names a path outside the bundle: /etc/passwd"),
    ("../outside.yml", "names a path outside the bundle: ../outside.yml"),
    ("playbooks/../../outside.yml", "names a path outside the bundle"),
    ("playbooks//on_create.yml", "names a path outside the bundle"),
    ("./../outside.yml", "names a path outside the bundle"),
    ("-rf", "whose name starts with '-'"),
    ("playbooks/link.yml", "playbooks/link.yml is a symlink"),
    ("playbooks/fifo", "playbooks/fifo: missing"),
    ("SHA256SUMS", "lists SHA256SUMS itself"),
])
def test_checksum_lines_outside_the_bundle_are_refused(bundle, tmp_path, line, why):
    outside = tmp_path / "outside.yml"
    outside.write_text("---\n")
    (bundle / "playbooks" / "link.yml").symlink_to(outside)
    os.mkfifo(bundle / "playbooks" / "fifo")
    digest = hashlib.sha256(b"---\n").hexdigest()
    with open(bundle / "SHA256SUMS", "a") as sums:
        sums.write("%s  %s\n" % (digest, line))
    proc = run(bundle)
    assert proc.returncode == 3, proc.log
    errors = [entry for entry in proc.log if LINE.match(entry).group(1) == "error"]
    assert len(errors) == 1 and "the bundle is refused" in errors[0] and why in errors[0], errors
    assert not (bundle.parent / "argv").exists()


def test_a_list_of_only_outside_paths_is_refused(bundle, tmp_path):
    # What an attacker's list would look like: nothing inside the folder, all checksums right.
    victim = tmp_path / "victim.yml"
    victim.write_text("---\n")
    digest = hashlib.sha256(b"---\n").hexdigest()
    (bundle / "SHA256SUMS").write_text("%s  %s\n%s  ../victim.yml\n" % (digest, victim, digest))
    proc = run(bundle)
    assert proc.returncode == 3
    assert any("names a path outside the bundle" in line for line in proc.log)
    assert not (bundle.parent / "argv").exists()


@pytest.mark.parametrize("text, why", [
    ("", "SHA256SUMS lists no file"),
    ("not a checksum line\n", "line 1 is not '<sha256>  <file>'"),
    ("%s  on_create.sh\r\n" % ("0" * 64), "line 1 ends with a carriage return"),
])
def test_a_garbled_checksum_file_is_refused(bundle, text, why):
    (bundle / "SHA256SUMS").write_text(text)
    proc = run(bundle)
    assert proc.returncode == 3
    assert any(why in line for line in proc.log), proc.log


def test_the_script_and_the_play_must_be_listed(bundle):
    sums = bundle / "SHA256SUMS"
    sums.write_text("".join(line for line in sums.read_text().splitlines(True) if "on_create.yml" not in line))
    proc = run(bundle)
    assert proc.returncode == 3
    assert any("SHA256SUMS does not list playbooks/on_create.yml" in line for line in proc.log)


def test_files_the_list_does_not_name_are_never_used(bundle):
    # What `aws s3 sync` without --delete leaves, or what someone planted beside the listed files.
    planted = {
        "playbooks/group_vars/all.yml": "containerd_data_root_dir: /etc\n",
        "playbooks/host_vars/localhost.yml": "x: 1\n",
        "playbooks/collections/ansible_collections/evil/x/galaxy.yml": "namespace: evil\n",
        "ansible.cfg": "[defaults]\nthis is: not read\n",
        "venv.py": "open('%s', 'w').write('pwned')\n" % (bundle.parent / "pwned"),
    }
    for name, text in planted.items():
        (bundle / name).parent.mkdir(parents=True, exist_ok=True)
        (bundle / name).write_text(text)
    proc = run(bundle, STANDIN_SAY="PLAY RECAP")
    assert proc.returncode == 0, proc.log
    warnings = [line for line in proc.log if LINE.match(line).group(1) == "warning"]
    assert len(warnings) == 1 and "ignored 5 files that SHA256SUMS does not list" in warnings[0]
    assert all(name in warnings[0] for name in planted)
    argv = (bundle.parent / "argv").read_text().splitlines()
    staged = Path(argv[2]).parent
    # The play's folder held only the listed play while it ran (it is removed with the run).
    assert staged.name == "playbooks" and not staged.exists()
    env = dict(line.split("=", 1) for line in (bundle.parent / "env").read_text().splitlines() if "=" in line)
    assert env["ANSIBLE_CONFIG"].startswith(str(bundle.parent / "state" / "bundle"))
    assert env["ANSIBLE_CONFIG"] != str(bundle / "ansible.cfg")
    assert not (bundle.parent / "pwned").exists()
    # Nothing of the run's staging is left behind.
    assert list((bundle.parent / "state" / "bundle").iterdir()) == []


def test_a_rejected_bundle_runs_none_of_its_code(bundle):
    # A bundle whose check fails: its report writer (or anything else of it) must not run; the
    # report comes from on_create.sh alone.
    writer = bundle / "collections" / "ansible_collections" / "hyperpod" / "eks_lifecycle" / "plugins" / "module_utils"
    writer.mkdir(parents=True)
    (writer / "provision_report.py").write_text("open('%s', 'w').write('ran')\n" % (bundle.parent / "ran"))
    write_sums(bundle)
    (writer / "provision_report.py").write_text("open('%s', 'w').write('ran!')\n" % (bundle.parent / "ran"))
    proc = run(bundle, HYPERPOD_METRICS_TEXTFILE_DIR=str(bundle.parent / "textfile"))
    assert proc.returncode == 3
    assert not (bundle.parent / "ran").exists()
    report = check_report((bundle.parent / "log" / "report.json").read_text())
    assert report["failure"]["step"] == "verify-bundle" and report["failure"]["exit_code"] == 3
    assert "provision_report.py: FAILED" in report["failure"]["message"]
    samples = metrics((bundle.parent / "textfile" / "hyperpod_provision.prom").read_text())
    assert value(samples, "hyperpod_provision_success") == 0


def test_a_refused_bundle_never_chooses_where_metrics_go(bundle, tmp_path):
    settings = bundle / "playbooks" / "vars" / "on_create.yml"
    settings.parent.mkdir()
    settings.write_text("hyperpod_metrics_textfile_dir: %s\n" % (tmp_path / "chosen"))
    write_sums(bundle)
    settings.write_text("hyperpod_metrics_textfile_dir: %s\n" % (tmp_path / "planted"))
    proc = run(bundle)
    assert proc.returncode == 3
    assert not (tmp_path / "planted").exists() and not (tmp_path / "chosen").exists()


def test_the_failure_report_is_valid_whatever_the_message(bundle):
    name = 'odd "name" with é, a \'quote\' and a $(dollar)'
    (bundle / "playbooks" / name).write_text("x\n")
    write_sums(bundle)
    (bundle / "playbooks" / name).write_text("y\n")
    textfile = bundle.parent / "textfile"
    proc = run(bundle, HYPERPOD_METRICS_TEXTFILE_DIR=str(textfile))
    assert proc.returncode == 3
    report = check_report((bundle.parent / "log" / "report.json").read_text())
    assert report["outcome"] == "failed" and report["hosts"] == {} and report["playbook"] is None
    assert report["failure"] == {"stage": "bootstrap", "step": "verify-bundle", "host": None, "role": None,
                                 "task": None, "message": report["failure"]["message"], "exit_code": 3}
    assert 'odd "name" with ??, a \'quote\' and a $(dollar): FAILED' in report["failure"]["message"]
    assert [s["name"] for s in report["bootstrap"]["steps"]] == ["verify-bundle"]
    assert report["run_id"] in proc.log[0]
    samples = metrics((textfile / "hyperpod_provision.prom").read_text())
    assert value(samples, "hyperpod_provision_success") == 0
    assert value(samples, "hyperpod_provision_info", outcome="failed", failed_step="verify-bundle", platform="",
                 os_version="", containerd_version="") == 1
    assert stat.S_IMODE((textfile / "hyperpod_provision.prom").stat().st_mode) == 0o644
    assert stat.S_IMODE((bundle.parent / "log" / "report.json").stat().st_mode) == 0o640


def runtime_bundle(bundle, tag=None, standin=STANDIN):
    """The bundle with a runtime for this Python: one wheel whose ansible-playbook is the stand-in."""
    tag = tag or "py%d%d" % sys.version_info[:2]
    wheels = bundle / "runtime" / tag
    wheels.mkdir(parents=True)
    shutil.copy(REPO / "bootstrap" / "install_wheels.py", bundle / "runtime" / "install_wheels.py")
    (bundle / "runtime" / ("requirements-%s.txt" % tag)).write_text("standin==1.0\n")
    files = {
        "standin/__init__.py": "import os, sys\nSCRIPT = %r\n"
                               "def main():\n"
                               "    os.execvp('bash', ['bash', '-c', SCRIPT, 'ansible-playbook'] + sys.argv[1:])\n" % standin,
        "standin-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: standin\nVersion: 1.0\n",
        "standin-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        "standin-1.0.dist-info/entry_points.txt": "[console_scripts]\nansible-playbook = standin:main\n",
    }
    record = "".join("%s,sha256=%s,%d\n" % (name, base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest())
                                            .rstrip(b"=").decode(), len(text.encode())) for name, text in files.items())
    with zipfile.ZipFile(wheels / "standin-1.0-py3-none-any.whl", "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr("standin-1.0.dist-info/RECORD", record + "standin-1.0.dist-info/RECORD,,\n")
    write_sums(bundle)
    return bundle


def test_bundle_without_a_runtime_for_this_python_is_refused(bundle, tmp_path):
    runtime_bundle(bundle, tag="py27")
    proc = run(bundle, HYPERPOD_PYTHON=sys.executable, HYPERPOD_RUNTIME_DIR=str(tmp_path / "runtime"))
    assert proc.returncode == 4
    version = "%d.%d" % sys.version_info[:2]
    assert any("step 'runtime' failed" in line and "no Ansible runtime for Python %s (it has: py27 )" % version in line
               for line in proc.log), proc.log
    assert not (tmp_path / "runtime").exists()


def test_the_runtime_is_installed_from_the_listed_wheels_only_and_marked_once_on_disk(bundle, tmp_path):
    runtime_bundle(bundle)
    tag = "py%d%d" % sys.version_info[:2]
    # A stale wheel beside the listed one (an upload without --delete): its code would run as root.
    shutil.copy(bundle / "runtime" / tag / "standin-1.0-py3-none-any.whl", bundle / "runtime" / tag / "stale-0.1-py3-none-any.whl")
    # sync is recorded, with whether the runtime was already marked complete when it ran.
    bindir = bundle.parent / "bin"
    (bindir / "sync").write_text("#!/bin/sh\nls %s/*/.complete >> %s 2>&1; echo sync >> %s\n"
                                 % (tmp_path / "runtime", tmp_path / "syncs", tmp_path / "syncs"))
    (bindir / "sync").chmod(0o755)
    proc = run(bundle, HYPERPOD_PYTHON=sys.executable, HYPERPOD_RUNTIME_DIR=str(tmp_path / "runtime"))
    assert proc.returncode == 0, proc.log
    assert any("ignored 1 files" in line and "stale-0.1-py3-none-any.whl" in line for line in proc.log)
    installed = list((tmp_path / "runtime").iterdir())
    assert len(installed) == 1 and (installed[0] / ".complete").exists()
    site = list(installed[0].glob("lib/python*/site-packages"))[0]
    assert sorted(p.name for p in site.iterdir()) == ["standin", "standin-1.0.dist-info"]
    syncs = (tmp_path / "syncs").read_text().splitlines()
    # The runtime was flushed before it was marked complete, and the mark after.
    marked = [i for i, line in enumerate(syncs) if line.endswith("/.complete")]
    assert marked and syncs[marked[0] - 1] == "sync" and "No such file" in syncs[marked[0] - 2], syncs
    assert not (installed[0] / ".complete.tmp").exists()
    again = run(bundle, HYPERPOD_PYTHON=sys.executable, HYPERPOD_RUNTIME_DIR=str(tmp_path / "runtime"))
    assert again.returncode == 0
    assert any("runtime: reusing %s" % installed[0] in line for line in again.log)


def test_a_runtime_under_a_permissive_umask_is_not_writable_by_others(bundle, tmp_path):
    runtime_bundle(bundle)
    proc = run(bundle, HYPERPOD_PYTHON=sys.executable, HYPERPOD_RUNTIME_DIR=str(tmp_path / "runtime"), umask=0)
    assert proc.returncode == 0, proc.log
    writable = subprocess.run(["find", str(tmp_path / "runtime"), str(bundle.parent / "log"), str(bundle.parent / "state"),
                               "-perm", "/022", "!", "-type", "l"], capture_output=True, text=True, check=True).stdout
    assert writable == ""


@pytest.mark.parametrize("where", ["my runtime", "run$(touch x)time", "a;b"])
def test_a_runtime_dir_the_shell_would_split_is_refused(bundle, tmp_path, where):
    runtime_bundle(bundle)
    proc = run(bundle, HYPERPOD_PYTHON=sys.executable, HYPERPOD_RUNTIME_DIR=str(tmp_path / where))
    assert proc.returncode == 4
    assert any("step 'runtime' failed" in line and "must be an absolute path of letters" in line for line in proc.log)
    assert not (tmp_path / where).exists() and not (bundle / "x").exists()


def test_an_unexpected_failure_inside_a_step_is_reported(bundle, tmp_path):
    # A command failing inside a function still takes the failure path with an [error] line, not
    # a silent exit: here the runtime directory cannot be created (a file is in the way).
    runtime_bundle(bundle)
    (tmp_path / "afile").write_text("")
    proc = run(bundle, HYPERPOD_PYTHON=sys.executable, HYPERPOD_RUNTIME_DIR=str(tmp_path / "afile" / "runtime"))
    assert proc.returncode != 0
    errors = [line for line in proc.log if LINE.match(line).group(1) == "error"]
    assert len(errors) == 1 and "step 'runtime' failed" in errors[0] and "command failed at line" in errors[0], proc.log
    assert tags(proc.log)[-1] == "stop"


def start_run(bundle, tmp, **env):
    """Start on_create.sh in the background (stand-in ansible-playbook in tmp/bin)."""
    environ = {
        "PATH": "%s:%s" % (tmp / "bin", os.environ["PATH"]),
        "HOME": str(tmp),
        "STANDIN_DIR": str(tmp),
        "HYPERPOD_PROVISION_LOG": str(bundle.parent / "log" / "provisioning.log"),
        "HYPERPOD_FAILURE_WAIT": "0",
        "HYPERPOD_STATE_DIR": str(bundle.parent / "state"),
    }
    environ.update(env)
    return subprocess.Popen(["bash", "on_create.sh"], cwd=bundle, env=environ, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def slow_standin(tmp, seconds):
    """A stand-in that prints a line, sleeps, prints another: a run that holds the lock a while."""
    standin = tmp / "bin" / "ansible-playbook"
    standin.write_text("#!/usr/bin/env bash\necho \"play of $RUN begins\"\nsleep %s\necho \"play of $RUN ends\"\n" % seconds)
    standin.chmod(0o755)


def test_a_second_run_waits_for_the_first_and_they_never_interleave(bundle):
    slow_standin(bundle.parent, 2)
    first = start_run(bundle, bundle.parent, RUN="A")
    time.sleep(0.5)
    second = start_run(bundle, bundle.parent, RUN="B", HYPERPOD_LOCK_WAIT="30")
    assert first.wait(timeout=30) == 0
    assert second.wait(timeout=30) == 0
    log = (bundle.parent / "log" / "provisioning.log").read_text().splitlines()
    order = [line.split("] ", 1)[1] for line in log if "play of" in line or "[stop]" in line]
    assert order == ["play of A begins", "play of A ends", "on_create.sh succeeded",
                     "play of B begins", "play of B ends", "on_create.sh succeeded"], order
    assert any("holds" in line and "waiting up to 30s" in line for line in log)


def test_a_second_run_that_cannot_wait_fails_clearly(bundle):
    slow_standin(bundle.parent, 3)
    first = start_run(bundle, bundle.parent, RUN="A")
    time.sleep(0.5)
    second = start_run(bundle, bundle.parent, RUN="B", HYPERPOD_LOCK_WAIT="1")
    assert second.wait(timeout=30) == 5
    assert first.wait(timeout=30) == 0
    log = (bundle.parent / "log" / "provisioning.log").read_text().splitlines()
    errors = [line for line in log if "[error]" in line]
    assert len(errors) == 1 and "step 'lock' failed" in errors[0] and "still holds" in errors[0]
    assert not any("play of B" in line for line in log)


def test_the_lock_is_never_taken_through_a_symlink_or_in_a_shared_directory(bundle, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    state = bundle.parent / "state"
    state.mkdir(mode=0o700)
    (state / "lock.pid").symlink_to(victim)
    proc = run(bundle)
    assert proc.returncode == 0, proc.log
    assert victim.read_text() == "precious\n"
    assert not (state / "lock.pid").is_symlink()

    (state / "lock").unlink()
    (state / "lock").symlink_to(victim)
    proc = run(bundle)
    assert proc.returncode == 5
    assert any("step 'lock' failed" in line and "is not a regular file" in line for line in proc.log)
    assert victim.read_text() == "precious\n"

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    proc = run(bundle, HYPERPOD_LOCK_FILE=str(shared / "lock"))
    assert proc.returncode == 5
    assert any("is not a directory that only" in line for line in proc.log)
    assert not (shared / "lock").exists()


def test_a_stage_left_by_a_killed_run_is_removed(bundle):
    stale = bundle.parent / "state" / "bundle" / "run.999999.abcdef"
    stale.mkdir(parents=True)
    (bundle.parent / "state").chmod(0o700)
    (bundle.parent / "state" / "bundle").chmod(0o700)
    proc = run(bundle)
    assert proc.returncode == 0, proc.log
    assert not stale.exists()


def test_a_play_that_stops_before_its_first_task_is_reported_with_its_error(bundle):
    proc = run(bundle, rc=4, STANDIN_SAY="ERROR! the role 'nope' was not found in roles/")
    assert proc.returncode == 4
    errors = [line for line in proc.log if LINE.match(line).group(1) == "error"]
    assert len(errors) == 1 and errors[0].endswith("exited with 4 after %s; ERROR! the role 'nope' was not found in roles/"
                                                   % re.search(r"after (\S+);", errors[0]).group(1))
    # The play wrote no report: the bootstrap did, naming the step.
    report = check_report((bundle.parent / "log" / "report.json").read_text())
    assert report["outcome"] == "failed" and report["playbook"] is None
    assert report["failure"]["stage"] == "bootstrap" and report["failure"]["step"] == "ansible-playbook"
    assert report["failure"]["exit_code"] == 4
    assert "ERROR! the role 'nope' was not found" in report["failure"]["message"]
    assert [s["name"] for s in report["bootstrap"]["steps"]][-1] == "ansible-playbook"
    assert report["run_id"] in proc.log[0]


def test_a_run_that_fails_before_the_play_leaves_a_report(bundle):
    proc = run(bundle, HYPERPOD_PLAYBOOK=str(bundle / "no-such-play.yml"))
    assert proc.returncode == 2
    report = check_report((bundle.parent / "log" / "report.json").read_text())
    assert report["failure"]["step"] == "locate-playbook" and report["failure"]["exit_code"] == 2
    assert "not found" in report["failure"]["message"]
    assert any("[info] report: %s" % (bundle.parent / "log" / "report.json") in line for line in proc.log)


def test_a_play_that_writes_no_report_is_noted(bundle):
    proc = run(bundle)
    assert proc.returncode == 0
    assert any("the play wrote no report" in line for line in proc.log)
    assert not (bundle.parent / "log" / "report.json").exists()


# -- losing the output, secrets in the arguments ------------------------------------------------

LONG_PLAY = "|".join("line %d of the play" % n for n in range(400)) + "|PLAY RECAP"


@pytest.mark.parametrize("shell", [
    "bash on_create.sh | head -n 1",          # the reader goes away after one line
    "bash on_create.sh >&- 2>&-",             # no output at all
    "bash on_create.sh >/dev/full 2>&1",      # every write fails
])
def test_losing_the_output_never_stops_the_run(bundle, shell):
    log = bundle.parent / "log" / "provisioning.log"
    environ = dict(os.environ, PATH="%s:%s" % (bundle.parent / "bin", os.environ["PATH"]), STANDIN_DIR=str(bundle.parent),
                   STANDIN_SAY=LONG_PLAY, HYPERPOD_PROVISION_LOG=str(log), HYPERPOD_FAILURE_WAIT="0",
                   HYPERPOD_STATE_DIR=str(bundle.parent / "state"))
    rcfile = bundle.parent / "rc"
    proc = subprocess.run(["bash", "-c", "%s; echo \"${PIPESTATUS[0]}\" > %s" % (shell, rcfile)], cwd=bundle,
                          env=environ, capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
    assert rcfile.read_text().strip() == "0", (proc.stdout, proc.stderr)
    lines = log.read_text().splitlines()
    assert tags(lines)[-1] == "stop" and lines[-1].endswith("on_create.sh succeeded")
    assert sum("line 399 of the play" in line for line in lines) == 1
    assert (bundle.parent / "argv").exists()


def test_values_given_with_extra_vars_are_not_logged(bundle, tmp_path):
    secrets = ["hunter2-a", "hunter2-b", "hunter2-c", "hunter2-d", "hunter2-e", "hunter2-f"]
    args = ["-e", "token=%s" % secrets[0], "--extra-vars={\"key\": \"%s\"}" % secrets[1], "-vve", "x=%s" % secrets[2],
            "-etoken=%s" % secrets[3], "--extra", "y=%s" % secrets[4], "--extra-vars", "z=%s a=%s" % (secrets[5], secrets[5]),
            "-e", "@my-vars.yml", "--check"]
    proc = run(bundle, *args)
    assert proc.returncode == 0, proc.log
    text = "\n".join(proc.log)
    assert not any(secret in text for secret in secrets), text
    assert "-e @my-vars.yml --check" in text and "--extra-vars=<redacted>" in text and "-e <redacted>" in text
    # ansible-playbook still gets them as they were given.
    assert (bundle.parent / "argv").read_text().splitlines()[3:] == args


def test_a_value_ansible_playbook_quotes_back_is_not_logged_either(bundle):
    # ansible-playbook's own ERROR! line quotes an -e value it cannot read.
    proc = run(bundle, "-e", "[hunter2-list]", rc=1,
               STANDIN_SAY="ERROR! Invalid extra vars data supplied. '[hunter2-list]' could not be made into a dictionary")
    assert proc.returncode == 1
    assert "hunter2" not in "\n".join(proc.log)
    assert "'<redacted>' could not be made into a dictionary" in "\n".join(proc.log)
    report = check_report((bundle.parent / "log" / "report.json").read_text())
    assert "hunter2" not in report["failure"]["message"]


def test_a_preview_that_fails_never_replaces_the_last_report_or_the_metrics(bundle):
    log = bundle.parent / "log"
    log.mkdir()
    (log / "report.json").write_text('{"outcome": "succeeded"}\n')
    textfile = bundle.parent / "textfile"
    for args in (["--check", "--diff"], ["-CD"], ["--chec"]):
        proc = run(bundle, *args, HYPERPOD_PLAYBOOK=str(bundle / "gone.yml"), HYPERPOD_METRICS_TEXTFILE_DIR=str(textfile))
        assert proc.returncode == 2
        assert (log / "report.json").read_text() == '{"outcome": "succeeded"}\n'
        preview = check_report((log / "report.check.json").read_text())
        assert preview["check_mode"] is True and preview["failure"]["step"] == "locate-playbook"
        assert not textfile.exists()


def test_a_listed_file_reached_through_a_symlinked_directory_is_refused(bundle, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("x\n")
    (bundle / "sub").symlink_to(outside)
    with open(bundle / "SHA256SUMS", "a") as sums:
        sums.write("%s  sub/secret.txt\n" % hashlib.sha256(b"x\n").hexdigest())
    proc = run(bundle)
    assert proc.returncode == 3
    assert any("the bundle is refused" in line and "sub is a symlink" in line for line in proc.log), proc.log


def test_a_runtime_someone_else_could_write_is_never_run(bundle, tmp_path):
    runtime_bundle(bundle)
    runtime = tmp_path / "runtime"
    first = run(bundle, HYPERPOD_PYTHON=sys.executable, HYPERPOD_RUNTIME_DIR=str(runtime))
    assert first.returncode == 0, first.log
    installed = next(runtime.iterdir())
    # Someone made the installed runtime writable by others (or planted it): it is installed again.
    (installed / "bin" / "ansible-playbook").chmod(0o777)
    again = run(bundle, HYPERPOD_PYTHON=sys.executable, HYPERPOD_RUNTIME_DIR=str(runtime))
    assert again.returncode == 0
    assert any("runtime: installing ansible-core" in line for line in again.log[len(first.log):])
    assert stat.S_IMODE((installed / "bin" / "ansible-playbook").stat().st_mode) == 0o755
    # A runtime directory others can write to is refused, reused or not.
    runtime.chmod(0o777)
    refused = run(bundle, HYPERPOD_PYTHON=sys.executable, HYPERPOD_RUNTIME_DIR=str(runtime))
    assert refused.returncode == 4
    assert any("or writable by others; not running a runtime from there" in line for line in refused.log)
    # A symlinked runtime directory is refused without touching what it points at.
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(target)
    refused = run(bundle, HYPERPOD_PYTHON=sys.executable, HYPERPOD_RUNTIME_DIR=str(tmp_path / "link"))
    assert refused.returncode == 4
    assert stat.S_IMODE(target.stat().st_mode) == 0o700 and list(target.iterdir()) == []


def test_a_folder_whose_name_ends_with_a_newline_is_itself(tmp_path, bundle):
    odd = tmp_path / "lifecycle\n"
    shutil.copytree(bundle, odd)
    # A sibling without the newline, which a careless path computation would read instead.
    (bundle / "SHA256SUMS").unlink()
    proc = run(odd, tmp=bundle.parent)
    assert proc.returncode == 0, proc.log
    assert any("bundle verified: 2 files" in line for line in proc.log)


@pytest.mark.parametrize("line", ['"{dir}"', "'{dir}'", '"{dir}"  # a comment'])
def test_the_metrics_directory_of_a_checked_bundle_may_have_spaces(bundle, tmp_path, line):
    textfile = tmp_path / "node exporter"
    settings = bundle / "playbooks" / "vars" / "on_create.yml"
    settings.parent.mkdir()
    settings.write_text("hyperpod_metrics_textfile_dir: %s\n" % line.format(dir=textfile))
    write_sums(bundle)
    proc = run(bundle, HYPERPOD_PLAYBOOK=str(bundle / "gone.yml"))
    assert proc.returncode == 2
    assert (textfile / "hyperpod_provision.prom").exists()
    assert not (tmp_path / "node").exists()


def test_the_log_has_one_line_per_step_and_keeps_warnings_errors_and_diffs(bundle):
    # What ansible-playbook prints besides the provision_log callback's lines: its banners, the
    # results and recap the callback writes already (standard output only), and what a person
    # must read (in the log too).
    said = ["", "PLAY [Provision a HyperPod EKS node] " + "*" * 40, "TASK [role : A step] " + "*" * 50,
            "RUNNING HANDLER [role : Restart containerd] " + "*" * 20, "included: /x/al2023.yml for localhost",
            "changed: [localhost]", "ok: [localhost] => (item=/etc/x)", "PLAY RECAP " + "*" * 60,
            "localhost                  : ok=3    changed=1    unreachable=0    failed=0    skipped=0   ",
            "[WARNING]: a warning", "fatal: [localhost]: FAILED! => {\"msg\": \"why\"}", "--- before: /etc/x",
            "+root = \"/data\""]
    proc = run(bundle, STANDIN_SAY="|".join(said))
    assert proc.returncode == 0
    logged = [LINE.match(line).group(2) for line in proc.log if LINE.match(line).group(1) == "ansible-playbook"]
    assert logged == ["[WARNING]: a warning", "fatal: [localhost]: FAILED! => {\"msg\": \"why\"}", "--- before: /etc/x",
                      "+root = \"/data\"", "a warning on stderr"], logged
    printed = [LINE.match(line).group(2) for line in proc.stdout.splitlines() if LINE.match(line).group(1) == "ansible-playbook"]
    assert len(printed) == len(said) + 1
