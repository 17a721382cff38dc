# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/site_run: a site script run for real, its lines in a real log file, its timeout."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import signal
import time

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils import site_run

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) \[([^\]]*)\] (.*)$")
NAME = "scripts.d/10-test.sh"


class Run(object):
    """A script in tmp_path, run with site_run.run into tmp_path/provisioning.log."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.log_path = tmp_path / "provisioning.log"
        self.log_path.write_text(u"")
        self.pids = []

    def script(self, body, shell="/bin/sh"):
        path = self.tmp_path / "10-test.sh"
        path.write_text(u"#!%s\n%s" % (shell, body))
        return str(path)

    def __call__(self, body, shell="/bin/sh", **overrides):
        params = dict(path=self.script(body, shell), name=NAME, interpreter=[shell], chdir=str(self.tmp_path),
                      env={"PATH": "/usr/bin:/bin"}, timeout=2, kill_grace=1, tail=20)
        params.update(overrides)
        log = site_run.Log(str(self.log_path))
        assert log.error == ""
        started = time.time()
        try:
            rc, timed_out, seconds, out, err, notes = site_run.run(params, log)
        finally:
            log.close()
        self.elapsed = time.time() - started
        assert 0 <= seconds <= self.elapsed
        return rc, timed_out, out, err, notes

    def lines(self):
        """[(tag, text)] of the log, every line checked for its form."""
        result = []
        stamps = []
        for line in self.log_path.read_text().split("\n")[:-1]:
            match = LINE.match(line)
            assert match, line
            stamps.append(match.group(1))
            result.append((match.group(2), match.group(3)))
        assert stamps == sorted(stamps)
        assert self.log_path.read_text().endswith("\n") or not result
        return result

    def child(self, name="child.pid"):
        """The pid a script wrote to NAME (to look at it, and to end it if a test leaves it)."""
        path = self.tmp_path / name
        for dummy in range(50):
            if path.exists() and path.read_text().strip():
                break
            time.sleep(0.05)
        pid = int(path.read_text().strip())
        self.pids.append(pid)
        return pid

    def cleanup(self):
        for pid in self.pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def alive(pid):
    """Whether PID runs (a zombie nobody has reaped yet does not)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (IOError, OSError):
        return False
    return state not in ("Z", "X")


def gone(pid, within=2.0):
    end = time.time() + within
    while time.time() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def run(tmp_path):
    runner = Run(tmp_path)
    yield runner
    runner.cleanup()


# -- output in the log --------------------------------------------------------------------------------

def test_stdout_and_stderr_lines_are_tagged_in_the_order_they_come(run):
    rc, timed_out, out, err, notes = run("echo one\nsleep 0.2\necho two >&2\nsleep 0.2\necho three\nexit 3\n")
    assert (rc, timed_out, notes) == (3, False, [])
    assert run.lines() == [(NAME, "one"), (NAME + " stderr", "two"), (NAME, "three")]
    assert (out.count, list(out.tail)) == (2, ["one", "three"])
    assert (err.count, list(err.tail)) == (1, ["two"])


def test_the_log_is_appended_to(run):
    run.log_path.write_text(u"2026-01-01T00:00:00.000Z [bootstrap] earlier line\n")
    assert run("echo later\n")[0] == 0
    assert run.lines() == [("bootstrap", "earlier line"), (NAME, "later")]


def test_a_script_that_writes_only_to_stderr(run):
    rc, timed_out, out, err, notes = run("echo 'warning: something' >&2\necho 'and more' >&2\n")
    assert (rc, timed_out) == (0, False)  # stderr is not a failure: the exit code decides
    assert run.lines() == [(NAME + " stderr", "warning: something"), (NAME + " stderr", "and more")]
    assert (out.count, list(out.tail)) == (0, [])
    assert err.count == 2


def test_a_last_line_without_its_newline_and_empty_lines(run):
    rc, timed_out, out, err, notes = run("printf 'a\\n\\nb'\nprintf 'partial' >&2\n")
    assert rc == 0
    assert sorted(run.lines()) == sorted([(NAME, "a"), (NAME, ""), (NAME, "b"), (NAME + " stderr", "partial")])
    assert list(out.tail) == ["a", "", "b"]


def test_a_line_written_in_pieces_is_one_line(run):
    run("printf 'one '\nsleep 0.2\nprintf 'line'\nsleep 0.2\necho ' whole'\n")
    assert run.lines() == [(NAME, "one line whole")]


def test_non_utf8_bytes_and_escape_sequences_are_cleaned(run):
    body = ("printf '\\033[1;31mred\\033[0m and \\033[2Kplain\\r\\n'\n"
            "printf 'caf\\303\\251 \\377\\376 bytes\\n'\n"
            "printf 'bell\\007 nul\\000 del\\177 esc\\033 end\\n'\n"
            "printf 'a\\tb\\n'\n"
            "printf '\\033]0;title\\007after\\n' >&2\n")
    assert run(body)[0] == 0
    assert run.lines() == [
        (NAME, "red and plain"),
        (NAME, u"caf\u00e9 \ufffd\ufffd bytes"),
        (NAME, "bell nul del esc end"),
        (NAME, "a       b"),  # tabs expanded
        (NAME + " stderr", "]0;titleafter"),
    ]
    for dummy, text in run.lines():
        assert not re.search(u"[\x00-\x08\x0b-\x1f\x7f]", text)


def test_a_line_longer_than_4096_is_cut_into_lines_of_4096(run):
    rc, timed_out, out, err, notes = run("head -c 10000 /dev/zero | tr '\\000' x\necho\necho next\n")
    assert rc == 0
    assert [(tag, len(text)) for tag, text in run.lines()] == [(NAME, 4096), (NAME, 4096), (NAME, 1808), (NAME, 4)]
    assert "".join(text for dummy, text in run.lines()[:3]) == "x" * 10000
    assert out.count == 4


def test_a_very_long_line_never_makes_a_log_line_longer_than_4096(run):
    # 100000 bytes without a newline arrive in many reads: they are cut as they come, nothing lost.
    assert run("head -c 100000 /dev/zero | tr '\\000' y\nprintf 'z\\n'\n")[0] == 0
    lines = run.lines()
    assert all(len(text) <= site_run.MAX_LINE for dummy, text in lines)
    assert "".join(text for dummy, text in lines) == "y" * 100000 + "z"
    for line in run.log_path.read_text().split("\n")[:-1]:
        assert len(line) <= site_run.MAX_LINE + len("2026-01-01T00:00:00.000Z [%s] " % NAME)


def test_tail_keeps_the_last_lines_and_count_all(run):
    rc, timed_out, out, err, notes = run("for i in 1 2 3 4 5 6; do echo $i; done\necho e1 >&2\n", tail=3)
    assert (list(out.tail), out.count) == (["4", "5", "6"], 6)
    assert (list(err.tail), err.count) == (["e1"], 1)
    assert len(run.lines()) == 7  # the log has them all


# -- what the script runs with ------------------------------------------------------------------------

def test_the_environment_is_exactly_what_was_passed(run, monkeypatch):
    monkeypatch.setenv("HP_UNIT_INHERITED", "leaked")
    # The environment the interpreter was started with, as the kernel has it.
    rc, timed_out, out, err, notes = run("tr '\\000' '\\n' < /proc/$$/environ\n",
                                         env={"PATH": "/usr/bin:/bin", "SITE": "prod", "RETRIES": 3, "EMPTY": ""})
    assert rc == 0
    assert sorted(out.tail) == ["EMPTY=", "PATH=/usr/bin:/bin", "RETRIES=3", "SITE=prod"]


def test_an_empty_environment(run, monkeypatch):
    monkeypatch.setenv("HP_UNIT_INHERITED", "leaked")
    # bash's builtins only: there is no PATH.
    rc, timed_out, out, err, notes = run("IFS= read -r -d '' first < /proc/$$/environ\necho \"first=[$first]\"\n",
                                         shell="/bin/bash", env={})
    assert rc == 0
    assert list(out.tail) == ["first=[]"]


def test_stdin_is_dev_null(run):
    rc, timed_out, out, err, notes = run("readlink /proc/$$/fd/0\ncat\necho \"cat: $?\"\nread line\necho \"read: $?\"\n")
    assert rc == 0
    assert list(out.tail) == ["/dev/null", "cat: 0", "read: 1"]  # end of file at once, never a wait on a terminal
    assert run.elapsed < 1.5


def test_it_runs_in_chdir_with_the_interpreters_argument(run, tmp_path):
    (tmp_path / "work").mkdir()
    rc, timed_out, out, err, notes = run("pwd\ncase $- in *u*) echo nounset;; esac\n", shell="/bin/bash",
                                         interpreter=["/bin/bash", "-u"], chdir=str(tmp_path / "work"))
    assert rc == 0
    assert list(out.tail) == [str(tmp_path / "work"), "nounset"]


def test_it_runs_in_its_own_session(run):
    rc, timed_out, out, err, notes = run("read -r pid comm state ppid pgid sid rest < /proc/$$/stat\necho $pid $pgid $sid\n")
    assert rc == 0
    pid, pgid, sid = out.tail[0].split()
    assert pid == pgid == sid  # its own process group: the timeout can stop all of it
    assert int(pgid) != os.getpgrp()


# -- the timeout ----------------------------------------------------------------------------------

def test_the_timeout_stops_the_whole_process_group(run):
    rc, timed_out, out, err, notes = run("sleep 30 &\necho $! > child.pid\necho started\nwait\necho never\n", timeout=1)
    child = run.child()
    assert timed_out is True
    assert rc == -signal.SIGTERM
    assert 0.9 <= run.elapsed < 4
    assert gone(child), "the script's child sleep still runs"
    lines = run.lines()
    assert lines == [(NAME, "started"), (NAME, "stopping it: still running after its timeout of 1s")]


def test_a_script_that_ignores_sigterm_is_killed_after_the_grace(run):
    rc, timed_out, out, err, notes = run(
        "trap 'echo got TERM' TERM\nsleep 30 &\necho $! > child.pid\nwhile :; do sleep 0.1; done\n", timeout=1, kill_grace=1)
    child = run.child()
    assert timed_out is True
    assert rc == -signal.SIGKILL
    assert 1.9 <= run.elapsed < 3
    assert gone(child)
    assert (NAME, "got TERM") in run.lines()


def test_a_child_that_ignores_sigterm_is_killed_too(run):
    # The script dies of SIGTERM; its child ignores it and holds the output open: it is killed at the end.
    rc, timed_out, out, err, notes = run("(trap '' TERM; exec sleep 30) &\necho $! > child.pid\nwait\n", timeout=1)
    child = run.child()
    assert timed_out is True
    assert rc == -signal.SIGTERM
    assert 2.9 <= run.elapsed < 3.8  # its timeout, then two seconds for the output the child holds
    assert notes == ["a process the script started still holds its output open; its output is no longer read"]
    assert gone(child)


def test_a_script_that_closed_its_output_is_still_stopped_at_its_timeout(run):
    rc, timed_out, out, err, notes = run("echo before\nexec >/dev/null 2>&1\nsleep 30\n", timeout=1)
    assert timed_out is True
    assert rc == -signal.SIGTERM
    assert run.elapsed < 3
    assert run.lines() == [(NAME, "before"), (NAME, "stopping it: still running after its timeout of 1s")]


def test_a_script_that_closed_its_output_is_waited_for(run):
    rc, timed_out, out, err, notes = run("echo before\nexec >/dev/null 2>&1\nsleep 0.5\nexit 4\n", timeout=5)
    assert (rc, timed_out, notes) == (4, False, [])
    assert 0.5 <= run.elapsed < 2.5


def test_a_script_within_its_timeout_is_left_alone(run):
    rc, timed_out, out, err, notes = run("sleep 0.5\necho done\n", timeout=2)
    assert (rc, timed_out) == (0, False)
    assert run.lines() == [(NAME, "done")]


def test_a_background_child_holding_the_output_does_not_hold_the_run(run):
    rc, timed_out, out, err, notes = run("sleep 30 &\necho $! > child.pid\necho done\n", timeout=20)
    child = run.child()
    assert (rc, timed_out) == (0, False)
    assert 1.9 <= run.elapsed < 3.5  # two seconds after the script exits, not the child's 30
    assert notes == ["a process the script started still holds its output open; its output is no longer read"]
    assert run.lines() == [(NAME, "done")]
    assert alive(child)  # left as it is (the run was no failure); the fixture ends it


def test_a_silent_script_leaving_a_child_is_let_go_two_seconds_after_its_exit(run):
    # Nothing is written to wake the reader up: the exit is still noticed at once.
    rc, timed_out, out, err, notes = run("sleep 30 &\necho $! > child.pid\nsleep 0.3\n", timeout=20)
    run.child()
    assert (rc, timed_out) == (0, False)
    assert 2.3 <= run.elapsed < 2.85
    assert len(notes) == 1


def test_the_output_of_a_background_child_is_read_for_two_seconds(run):
    rc, timed_out, out, err, notes = run("(sleep 0.5; echo from the child) &\necho done\n", timeout=20)
    assert rc == 0
    assert run.lines() == [(NAME, "done"), (NAME, "from the child")]
    assert notes == []
    assert run.elapsed < 1.9  # the child closed the output when it exited: no waiting for the two seconds


def test_a_background_child_that_lets_go_of_the_output_is_not_waited_for(run):
    rc, timed_out, out, err, notes = run("sleep 30 >/dev/null 2>&1 &\necho $! > child.pid\necho done\n", timeout=20)
    run.child()
    assert (rc, timed_out, notes) == (0, False, [])
    assert run.elapsed < 1.5


# -- clean, Stream, Log ---------------------------------------------------------------------------

@pytest.mark.parametrize("raw, text", [
    (b"plain", "plain"),
    (b"\x1b[0;32mok\x1b[0m", "ok"),
    (b"\x1b[?25lhidden cursor\x1b[?25h", "hidden cursor"),
    (b"progress\r50%\r100%", "progress50%100%"),
    (b"\xff\xfe", u"\ufffd\ufffd"),
    (b"\xe2\x9c\x93 done", u"\u2713 done"),
    (b"a\tb", "a       b"),
    (b"\x00\x01\x08\x0b\x0c\x1f\x7f", ""),
])
def test_clean(raw, text):
    assert site_run.clean(raw) == text


def test_stream_keeps_a_partial_line_until_its_end():
    stream = site_run.Stream("t", 5)
    assert stream.feed(b"par") == []
    out = stream.feed(b"tial\nnext")
    assert [line.split(" ", 1)[1] for line in out] == ["[t] partial\n"]
    assert [line.split(" ", 1)[1] for line in stream.feed(b"", final=True)] == ["[t] next\n"]
    assert stream.feed(b"", final=True) == []
    assert (list(stream.tail), stream.count) == (["partial", "next"], 2)


def test_log_refuses_a_link_a_directory_and_a_missing_file(tmp_path):
    real = tmp_path / "real.log"
    real.write_text(u"")
    os.symlink(str(real), str(tmp_path / "link.log"))
    log = site_run.Log(str(tmp_path / "link.log"))
    assert log.fd is None and log.error.startswith("cannot open %s: " % (tmp_path / "link.log"))
    log = site_run.Log(str(tmp_path))
    assert log.fd is None and log.error.startswith("cannot open %s: " % tmp_path)
    log = site_run.Log(str(tmp_path / "none.log"))
    assert log.error == "cannot open %s: No such file or directory" % (tmp_path / "none.log")
    assert not (tmp_path / "none.log").exists()  # never made here: the bootstrap makes the log
    log.write(["ignored\n"], NAME)  # writing to a log that did not open is a no-op
    log = site_run.Log("")
    assert (log.fd, log.error) == (None, "")
    assert real.read_text() == ""


def test_run_without_a_log(run, tmp_path):
    log = site_run.Log("")
    params = dict(path=run.script("echo hi\nexit 2\n"), name=NAME, interpreter=["/bin/sh"], chdir=str(tmp_path), env={},
                  timeout=2, kill_grace=1, tail=5)
    rc, timed_out, seconds, out, err, notes = site_run.run(params, log)
    assert (rc, list(out.tail)) == (2, ["hi"])
    assert run.log_path.read_text() == ""


def test_c1_control_characters_are_dropped(run):
    run("printf 'a\\302\\205b\\302\\233c\\n'\n")
    assert run.lines() == [(NAME, "abc")]


def test_a_script_adds_at_most_the_cap_to_the_log_but_is_read_to_its_end(tmp_path):
    script = tmp_path / "flood.sh"
    script.write_text(u"#!/bin/sh\ni=0\nwhile [ $i -lt 3000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done\necho last\n")
    log_path = tmp_path / "provisioning.log"
    log_path.write_text(u"")
    log = site_run.Log(str(log_path), limit=8192)
    params = dict(path=str(script), name=NAME, interpreter=["/bin/sh"], chdir=str(tmp_path), env={"PATH": "/usr/bin:/bin"},
                  timeout=20, kill_grace=1, tail=3)
    try:
        rc, timed_out, seconds, out, err, notes = site_run.run(params, log)
    finally:
        log.close()
    assert rc == 0 and not timed_out
    text = log_path.read_text()
    assert len(text.encode()) < 8192 + 200
    assert text.splitlines()[-1].endswith("[%s] ... its output beyond 0 MiB is not logged (the result keeps its last lines)" % NAME)
    # The script was read to its end: its last line is in the result's tail, and every line counted.
    assert list(out.tail)[-1] == "last" and out.count == 3001


def test_the_modules_own_notices_are_written_past_the_cap(tmp_path):
    log_path = tmp_path / "provisioning.log"
    log_path.write_text(u"")
    log = site_run.Log(str(log_path), limit=64)
    log.write(["2026-12-01T00:00:00.000Z [%s] %s\n" % (NAME, "x" * 100)], NAME)
    log.write(["2026-12-01T00:00:00.000Z [%s] dropped\n" % NAME], NAME)
    log.write(["2026-12-01T00:00:01.000Z [%s] stopping it: still running after its timeout of 3s\n" % NAME], NAME, notice=True)
    log.close()
    lines = log_path.read_text().splitlines()
    assert len(lines) == 2 and "is not logged" in lines[0] and lines[1].endswith("stopping it: still running after its timeout of 3s")


def test_unicode_line_separators_cannot_start_a_log_line(run):
    run(u"printf 'ok\\342\\200\\250%s [error] forged\\n'\n" % "2026-12-01T00:00:00.000Z")
    text = run.log_path.read_text()
    assert text.count("\n") == 1 and u"\u2028" not in text and text.splitlines() == text.split("\n")[:-1]
