# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""site_script: a site script run as a step of the play (real scripts, a real log)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import signal

import pytest

from ansible.module_utils.common import warnings

from ansible_collections.hyperpod.eks_lifecycle.plugins.modules import site_script
from ansible_collections.hyperpod.eks_lifecycle.tests.unit.plugins.modules.utils import run_main

NAME = "scripts.d/10-packages.sh"


@pytest.fixture(autouse=True)
def no_warnings(monkeypatch):
    """module.warn() collects into a list that outlives a test: each test gets its own."""
    monkeypatch.setattr(warnings, "_global_warnings", [])


class Site(object):
    def __init__(self, monkeypatch, tmp_path):
        self.monkeypatch = monkeypatch
        self.tmp_path = tmp_path
        self.log = tmp_path / "provisioning.log"
        self.log.write_text(u"")
        self.ran = tmp_path / "ran"

    def script(self, body):
        path = self.tmp_path / "10-packages.sh"
        # Every script notes that it ran, with the HYPERPOD_CHECK it was given.
        path.write_text(u"#!/bin/sh\necho \"check=${HYPERPOD_CHECK-unset}\" >> %s\n%s" % (self.ran, body))
        path.chmod(0o644)  # as S3 leaves it: the interpreter runs it
        return str(path)

    def __call__(self, body, check_mode=False, **args):
        params = dict(path=self.script(body), name=NAME, file=NAME, interpreter=["/bin/sh"], chdir=str(self.tmp_path),
                      env={"PATH": "/usr/bin:/bin"}, timeout=5, kill_grace=1, log=str(self.log))
        params.update(args)
        if check_mode:
            params["_ansible_check_mode"] = True
        self.monkeypatch.setattr(warnings, "_global_warnings", [])  # this call's warnings only
        failed, result = run_main(self.monkeypatch, site_script, params)
        return failed, result, list(warnings.get_warning_messages())

    def runs(self):
        return self.ran.read_text().split() if self.ran.exists() else []

    def log_lines(self):
        return [line.split(" ", 1)[1] for line in self.log.read_text().split("\n")[:-1]]


@pytest.fixture
def run(monkeypatch, tmp_path):
    return Site(monkeypatch, tmp_path)


def test_a_script_that_succeeds(run):
    failed, result, warned = run("echo installing\necho 'a note' >&2\n")
    assert not failed and warned == []
    assert result["changed"] is True
    assert (result["exit_code"], result["timed_out"]) == (0, False)
    assert (result["stdout_lines"], result["stderr_lines"]) == (["installing"], ["a note"])
    assert re.match(r"^exit 0 in \d+\.\ds, 2 lines of output$", result["msg"])
    step = result["hyperpod_site_step"]
    assert step == {"name": NAME, "kind": "script", "file": NAME, "status": "changed", "exit_code": 0,
                    "duration_seconds": result["duration_seconds"], "lines": 2, "summary": result["msg"]}
    assert 0 < result["duration_seconds"] < 5
    assert run.runs() == ["check=unset"]
    assert run.log_lines() == ["[%s] installing" % NAME, "[%s stderr] a note" % NAME]


def test_the_name_defaults_to_the_file_name(run):
    failed, result, warned = run("echo hi\n", name=None, file=None)
    assert not failed
    assert result["hyperpod_site_step"]["name"] == "10-packages.sh"
    assert result["hyperpod_site_step"]["file"] == "10-packages.sh"
    assert run.log_lines() == ["[10-packages.sh] hi"]


def test_creates_guard_skips_the_script(run, tmp_path):
    guard = tmp_path / "packages.done"
    guard.write_text(u"")
    failed, result, warned = run("echo installing\n", creates=str(guard))
    assert not failed
    assert result["changed"] is False
    assert result["msg"] == "skipped: %s exists (creates=)" % guard
    step = result["hyperpod_site_step"]
    assert (step["status"], step["reason"], step["exit_code"], step["summary"]) == ("skipped", "guard", None, result["msg"])
    assert result["exit_code"] is None
    assert run.runs() == [] and run.log_lines() == []


def test_creates_as_a_dangling_link_is_there(run, tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    failed, result, warned = run("echo installing\n", creates=str(tmp_path / "link"))
    assert result["hyperpod_site_step"]["status"] == "skipped"
    assert run.runs() == []


def test_creates_missing_runs_the_script(run, tmp_path):
    failed, result, warned = run("touch %s\n" % (tmp_path / "packages.done"), creates=str(tmp_path / "packages.done"))
    assert not failed and result["hyperpod_site_step"]["status"] == "changed"
    assert run.runs() == ["check=unset"]
    # The next run skips it.
    failed, result, warned = run("touch %s\n" % (tmp_path / "packages.done"), creates=str(tmp_path / "packages.done"))
    assert result["hyperpod_site_step"]["status"] == "skipped"
    assert run.runs() == ["check=unset"]


def test_check_mode_skips_a_script_that_is_not_check_safe(run):
    failed, result, warned = run("echo installing\n", check_mode=True)
    assert not failed
    assert result["changed"] is False
    assert result["msg"] == "skipped: not run in check mode (the script does not declare '# hyperpod: check-safe')"
    assert (result["hyperpod_site_step"]["status"], result["hyperpod_site_step"]["reason"]) == ("skipped", "check_mode")
    assert run.runs() == [] and run.log_lines() == []


def test_check_mode_runs_a_check_safe_script_with_hyperpod_check(run):
    failed, result, warned = run("echo \"would install (HYPERPOD_CHECK=$HYPERPOD_CHECK)\"\n", check_mode=True, check_safe=True)
    assert not failed
    assert result["changed"] is False  # the script changed nothing itself
    assert result["hyperpod_site_step"]["status"] == "ok"
    assert result["stdout_lines"] == ["would install (HYPERPOD_CHECK=1)"]
    assert run.runs() == ["check=1"]
    # Outside check mode a check-safe script runs without it.
    failed, result, warned = run("echo run\n", check_safe=True)
    assert result["hyperpod_site_step"]["status"] == "changed"
    assert run.runs() == ["check=1", "check=unset"]


def test_a_failing_script_fails_the_task_naming_the_step_and_its_last_line(run):
    failed, result, warned = run("echo 'step 1 of 2'\necho 'E: Unable to locate package foo' >&2\necho '  ' >&2\nexit 100\n")
    assert failed
    assert re.match(r"^scripts\.d/10-packages\.sh exited with 100 after \d+\.\ds \(last line: E: Unable to locate package foo\)$",
                    result["msg"]), result["msg"]
    step = result["hyperpod_site_step"]
    assert (step["status"], step["exit_code"]) == ("failed", 100)
    assert step["summary"] == result["msg"][len(NAME) + 1:]
    assert result["exit_code"] == 100 and result["stderr_lines"] == ["E: Unable to locate package foo", "  "]


def test_the_last_line_is_stdouts_when_stderr_has_none(run):
    failed, result, warned = run("echo first\necho 'apt failed'\nexit 1\n")
    assert failed and result["msg"].endswith("(last line: apt failed)")
    failed, result, warned = run("exit 2\n")
    assert failed and result["msg"].endswith("(last line: no output)")


def test_a_script_past_its_timeout_fails(run):
    failed, result, warned = run("echo waiting\nsleep 30\n", timeout=1, kill_grace=1)
    assert failed
    assert result["msg"] == "%s stopped after its timeout of 1s (last line: waiting)" % NAME
    assert (result["exit_code"], result["timed_out"]) == (None, True)
    step = result["hyperpod_site_step"]
    assert (step["status"], step["exit_code"]) == ("failed", None)
    assert 0.9 <= result["duration_seconds"] < 4
    assert run.log_lines()[-1] == "[%s] stopping it: still running after its timeout of 1s" % NAME


def test_allow_failure_gives_a_warning_and_the_run_goes_on(run):
    failed, result, warned = run("echo 'optional tool missing' >&2\nexit 3\n", allow_failure=True)
    assert not failed
    assert re.match(r"^failed \(allowed\): exited with 3 after \d+\.\ds \(last line: optional tool missing\)$", result["msg"])
    step = result["hyperpod_site_step"]
    assert (step["status"], step["exit_code"], step["summary"]) == ("allowed_failure", 3, result["msg"])
    assert result["exit_code"] == 3
    assert "rc" not in result  # Ansible would take a non-zero rc for a failed task
    assert len(warned) == 1
    assert warned[0].startswith("%s exited with 3 after " % NAME)
    assert warned[0].endswith("(last line: optional tool missing); allowed to fail (# hyperpod: allow-fail), the run goes on")


def test_allow_failure_of_a_timeout(run):
    failed, result, warned = run("sleep 30\n", allow_failure=True, timeout=1, kill_grace=1)
    assert not failed
    assert result["hyperpod_site_step"]["status"] == "allowed_failure"
    assert result["msg"] == "failed (allowed): stopped after its timeout of 1s (last line: no output)"
    assert len(warned) == 1 and "stopped after its timeout of 1s" in warned[0]


def test_a_background_child_holding_the_output_is_a_warning(run, tmp_path):
    failed, result, warned = run("sleep 30 &\necho $! > %s\necho done\n" % (tmp_path / "child.pid"))
    try:
        assert not failed and result["exit_code"] == 0
        assert warned == ["%s: a process the script started still holds its output open; its output is no longer read" % NAME]
    finally:
        os.kill(int((tmp_path / "child.pid").read_text()), signal.SIGKILL)


def test_a_log_that_cannot_be_opened_is_a_warning_not_a_failure(run, tmp_path):
    failed, result, warned = run("echo hi\n", log=str(tmp_path / "missing.log"))
    assert not failed and result["stdout_lines"] == ["hi"]
    assert warned == ["%s: cannot open %s: No such file or directory" % (NAME, tmp_path / "missing.log")]
    failed, result, warned = run("echo hi\n", log="")  # no log at all: nothing to warn about
    assert not failed and warned == []


@pytest.mark.parametrize("args, message", [
    ({"interpreter": ["sh"]}, "%s: interpreter must be an absolute path and at most one argument" % NAME),
    ({"interpreter": []}, "%s: interpreter must be an absolute path and at most one argument" % NAME),
    ({"interpreter": ["/bin/sh", "-e", "-u"]}, "%s: interpreter must be an absolute path and at most one argument" % NAME),
    ({"interpreter": ["/opt/nowhere/bash"]}, "%s: its interpreter /opt/nowhere/bash (from its #! line) is not on this node" % NAME),
    ({"timeout": 0}, "%s: timeout must be at least 1 second" % NAME),
])
def test_refused_arguments(run, args, message):
    failed, result, warned = run("echo hi\n", **args)
    assert failed
    assert result["msg"] == message
    assert result["hyperpod_site_step"]["status"] == "skipped"
    assert run.runs() == []


def test_a_script_that_is_not_there(run, tmp_path):
    failed, result, warned = run("echo hi\n", path=str(tmp_path / "gone.sh"))
    assert failed
    assert result["msg"] == "%s: %s is not a file" % (NAME, tmp_path / "gone.sh")
