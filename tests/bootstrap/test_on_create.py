"""bootstrap/on_create.sh, driven with a stand-in ansible-playbook on PATH."""

import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
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
    return folder


def run(bundle, *args, rc=0, wait=0, tmp=None, **env):
    tmp = tmp or bundle.parent
    log = tmp / "log" / "provisioning.log"
    environ = {
        "PATH": "%s:%s" % (tmp / "bin", os.environ["PATH"]),
        "HOME": str(tmp),
        "STANDIN_DIR": str(tmp),
        "STANDIN_RC": str(rc),
        "HYPERPOD_PROVISION_LOG": str(log),
        "HYPERPOD_FAILURE_WAIT": str(wait),
        "HYPERPOD_LOCK_FILE": str(tmp / "lock" / "on_create.lock"),
    }
    environ.update(env)
    started = time.monotonic()
    proc = subprocess.run(["bash", "on_create.sh", *args], cwd=bundle, env=environ,
                          capture_output=True, text=True, timeout=60, check=False)
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
    assert argv == ["-c", "local", str(bundle / "playbooks" / "on_create.yml"), "--check", "--diff"]
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
    assert [step[0] for step in steps] == ["lock", "verify-bundle", "locate-playbook", "runtime"]
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
    assert proc.returncode != 0
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
    proc = run(checkout / "bootstrap", tmp=bundle.parent)
    assert proc.returncode == 0, proc.stdout
    argv = (bundle.parent / "argv").read_text().splitlines()
    assert Path(argv[2]).resolve() == (checkout / "playbooks" / "on_create.yml").resolve()


def write_sums(folder):
    subprocess.run("sha256sum $(find . -type f ! -name SHA256SUMS | sort) > SHA256SUMS", shell=True,
                   cwd=folder, check=True)


def test_bundle_is_verified_before_anything_runs(bundle):
    write_sums(bundle)
    proc = run(bundle)
    assert proc.returncode == 0, proc.stdout
    assert any("bundle verified: 2 files match SHA256SUMS" in line for line in proc.log)


def test_altered_bundle_is_refused_before_anything_runs(bundle):
    write_sums(bundle)
    (bundle / "playbooks" / "on_create.yml").write_text("---\n# altered\n")
    proc = run(bundle)
    assert proc.returncode == 3
    errors = [line for line in proc.log if LINE.match(line).group(1) == "error"]
    assert len(errors) == 1
    assert "step 'verify-bundle' failed" in errors[0] and "playbooks/on_create.yml: FAILED" in errors[0]
    assert not (bundle.parent / "argv").exists()


def test_bundle_without_checksums_is_refused(bundle):
    (bundle / "runtime").mkdir()
    proc = run(bundle)
    assert proc.returncode == 3
    assert any("has no SHA256SUMS" in line for line in proc.log)
    assert not (bundle.parent / "argv").exists()


def test_bundle_without_a_runtime_for_this_python_is_refused(bundle, tmp_path):
    (bundle / "runtime").mkdir()
    (bundle / "runtime" / "requirements-py37.txt").write_text("ansible_core==2.11.12\n")
    write_sums(bundle)
    proc = run(bundle, HYPERPOD_PYTHON=sys.executable, HYPERPOD_RUNTIME_DIR=str(tmp_path / "runtime"))
    assert proc.returncode == 4
    version = "%d.%d" % sys.version_info[:2]
    assert any("step 'runtime' failed" in line and "no Ansible runtime for Python %s (it has: py37 )" % version in line
               for line in proc.log), proc.log
    assert not (tmp_path / "runtime").exists()


def test_an_unexpected_failure_inside_a_step_is_reported(bundle, tmp_path):
    # A command failing inside a function still takes the failure path with an [error] line, not
    # a silent exit: here SHA256SUMS lists no runtime file, so finding the runtime's digest fails.
    tag = "py%d%d" % sys.version_info[:2]
    (bundle / "runtime").mkdir()
    (bundle / "runtime" / ("requirements-%s.txt" % tag)).write_text("ansible_core==0\n")
    write_sums(bundle)
    sums = bundle / "SHA256SUMS"
    sums.write_text("".join(line for line in sums.read_text().splitlines(True) if "runtime/" not in line))
    proc = run(bundle, HYPERPOD_PYTHON=sys.executable, HYPERPOD_RUNTIME_DIR=str(tmp_path / "runtime"))
    assert proc.returncode != 0
    errors = [line for line in proc.log if LINE.match(line).group(1) == "error"]
    assert len(errors) == 1 and "step 'runtime' failed" in errors[0], proc.log
    assert tags(proc.log)[-1] == "stop"
    assert not (tmp_path / "runtime").exists()


def start_run(bundle, tmp, **env):
    """Start on_create.sh in the background (stand-in ansible-playbook in tmp/bin)."""
    environ = {
        "PATH": "%s:%s" % (tmp / "bin", os.environ["PATH"]),
        "HOME": str(tmp),
        "STANDIN_DIR": str(tmp),
        "HYPERPOD_PROVISION_LOG": str(bundle.parent / "log" / "provisioning.log"),
        "HYPERPOD_FAILURE_WAIT": "0",
        "HYPERPOD_LOCK_FILE": str(bundle.parent / "lock" / "on_create.lock"),
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


def with_collection(bundle):
    """The collection beside on_create.sh, as in a bundle: its provision_report.py writes reports."""
    path = bundle / "collections" / "ansible_collections" / "hyperpod"
    path.mkdir(parents=True)
    (path / "eks_lifecycle").symlink_to(REPO)
    return bundle


def test_a_play_that_stops_before_its_first_task_is_reported_with_its_error(bundle):
    proc = run(with_collection(bundle), rc=4, STANDIN_SAY="ERROR! the role 'nope' was not found in roles/")
    assert proc.returncode == 4
    errors = [line for line in proc.log if LINE.match(line).group(1) == "error"]
    assert len(errors) == 1 and errors[0].endswith("exited with 4 after %s; ERROR! the role 'nope' was not found in roles/"
                                                   % re.search(r"after (\S+);", errors[0]).group(1))
    # The play wrote no report: the bootstrap did, with the node's Python, naming the step.
    sys.path.insert(0, str(REPO / "tests"))
    from reportcheck import check_report  # pylint: disable=import-outside-toplevel
    report = check_report((bundle.parent / "log" / "report.json").read_text())
    assert report["outcome"] == "failed" and report["playbook"] is None
    assert report["failure"]["stage"] == "bootstrap" and report["failure"]["step"] == "ansible-playbook"
    assert report["failure"]["exit_code"] == 4
    assert "ERROR! the role 'nope' was not found" in report["failure"]["message"]
    assert [s["name"] for s in report["bootstrap"]["steps"]][-1] == "ansible-playbook"
    assert report["run_id"] in proc.log[0]


def test_a_run_that_fails_before_the_play_leaves_a_report(bundle):
    (with_collection(bundle) / "playbooks" / "on_create.yml").unlink()
    proc = run(bundle)
    assert proc.returncode == 2
    sys.path.insert(0, str(REPO / "tests"))
    from reportcheck import check_report  # pylint: disable=import-outside-toplevel
    report = check_report((bundle.parent / "log" / "report.json").read_text())
    assert report["failure"]["step"] == "locate-playbook" and report["failure"]["exit_code"] == 2
    assert "not found" in report["failure"]["message"]
    assert any("[info] report: %s" % (bundle.parent / "log" / "report.json") in line for line in proc.log)


def test_a_play_that_writes_no_report_is_noted(bundle):
    proc = run(with_collection(bundle))
    assert proc.returncode == 0
    assert any("the play wrote no report" in line for line in proc.log)
    assert not (bundle.parent / "log" / "report.json").exists()
