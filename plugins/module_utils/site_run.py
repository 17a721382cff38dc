# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a site script: its output, line by line, into the provisioning log; its timeout.

Standard library only, Python 3.7+ (the site_script module's engine)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import errno
import os
import re
import selectors
import signal
import stat
import subprocess
import time

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.provision_report import iso

MAX_LINE = 4096
# What one script may add to the provisioning log; beyond it its output is still read (the script
# must not block on a full pipe) and kept for the result's tail, but not logged.
MAX_LOG_BYTES = 16 * 1024 * 1024
DRAIN_AFTER_EXIT = 2.0
POLL = 0.2
# Seconds after SIGKILL before a script that still has not ended is left behind (and the step failed).
UNKILLABLE_AFTER = 30
# Terminal escape sequences (colours, cursor moves), then any other control character (C0, DEL, C1)
# but tab, and the Unicode line and paragraph separators (a line must stay one line).
CONTROL = re.compile(u"\x1b\\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def clean(raw):
    """A line of output as text fit for one log line."""
    return CONTROL.sub("", raw.decode("utf-8", "replace")).expandtabs(8)


class Log(object):
    """The provisioning log, appended to line by line; never followed through a link, never fatal."""

    def __init__(self, path, limit=MAX_LOG_BYTES):
        self.fd = None
        self.error = ""
        self.written = 0
        self.limit = limit
        self.capped = False
        if not path:
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                self.error = "%s is not a regular file" % path
                return
            self.fd = fd
        except OSError as exc:
            self.error = "cannot open %s: %s" % (path, exc.strerror)

    def write(self, lines, tag, notice=False):
        """Append LINES (a stream's, tagged TAG); NOTICE: the module's own line about the script,
        written whatever the cap."""
        if self.fd is None or not lines or (self.capped and not notice):
            return
        data = "".join(lines).encode("utf-8", "replace")
        if self.written + len(data) > self.limit and not notice:
            self.capped = True
            data = ("%s [%s] ... its output beyond %d MiB is not logged (the result keeps its last lines)\n"
                    % (iso(time.time()), tag, self.limit // 1048576)).encode()
        self.written += len(data)
        try:
            os.write(self.fd, data)
            os.fsync(self.fd)
        except OSError as exc:
            self.error = "cannot write the log: %s" % exc.strerror
            self.close()

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Stream(object):
    def __init__(self, tag, tail):
        self.tag = tag
        self.partial = b""
        self.tail = collections.deque(maxlen=tail)
        self.count = 0

    def feed(self, data, final=False):
        """Lines for the log from DATA (and the last partial line when FINAL)."""
        self.partial += data
        pieces = self.partial.split(b"\n")
        self.partial = pieces.pop()
        if final and self.partial:
            pieces.append(self.partial)
            self.partial = b""
        while len(self.partial) > MAX_LINE * 4:  # a very long line: cut it into pieces
            pieces.append(self.partial[:MAX_LINE])
            self.partial = self.partial[MAX_LINE:]
        out = []
        now = iso(time.time())
        for raw in pieces:
            text = clean(raw)
            while True:
                part, text = text[:MAX_LINE], text[MAX_LINE:]
                self.tail.append(part)
                self.count += 1
                out.append("%s [%s] %s\n" % (now, self.tag, part))
                if not text:
                    break
        return out


def kill_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            raise


def run(params, log):
    """(rc or None, timed_out, seconds, stdout Stream, stderr Stream, [notes])."""
    label = params["name"]
    env = dict((str(k), str(v)) for k, v in params["env"].items())
    # Deadlines and durations on the monotonic clock: the wall clock may be stepped at first boot.
    started = time.monotonic()
    proc = subprocess.Popen(params["interpreter"] + [params["path"]], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=params["chdir"] or None, start_new_session=True, close_fds=True)
    streams = {proc.stdout: Stream(label, params["tail"]), proc.stderr: Stream(label + " stderr", params["tail"])}
    selector = selectors.DefaultSelector()
    for pipe in streams:
        os.set_blocking(pipe.fileno(), False)
        selector.register(pipe, selectors.EVENT_READ)
    deadline = started + params["timeout"]
    timed_out = False
    killed_at = None
    killed_hard = None
    unkillable = False
    exited_at = None
    notes = []
    # Until the script has exited and its output is read: a script that closed (or redirected) its
    # standard output and error is still waited for, and still stopped at its timeout.
    while selector.get_map() or exited_at is None:
        now = time.monotonic()
        if exited_at is None and proc.poll() is not None:
            exited_at = now
            if not selector.get_map():
                break
        if exited_at is not None and now - exited_at > DRAIN_AFTER_EXIT:
            notes.append("a process the script started still holds its output open; its output is no longer read")
            break
        if exited_at is None and not timed_out and now >= deadline:
            timed_out = True
            killed_at = now
            log.write(["%s [%s] stopping it: still running after its timeout of %ds\n"
                       % (iso(time.time()), label, params["timeout"])], label, notice=True)
            kill_group(proc, signal.SIGTERM)
        if killed_at is not None and exited_at is None and now - killed_at >= params["kill_grace"]:
            kill_group(proc, signal.SIGKILL)
            killed_at = None
            killed_hard = now
        if killed_hard is not None and exited_at is None and now - killed_hard >= UNKILLABLE_AFTER:
            # SIGKILL does not end a process in uninterruptible sleep (a hung NFS or FSx mount).
            notes.append("the script did not end %ds after SIGKILL (in uninterruptible sleep, e.g. a hung mount?); "
                         "it is left behind" % UNKILLABLE_AFTER)
            unkillable = True
            break
        # A short wait: the script's exit (and the end of its kill grace) is noticed within POLL, not
        # only when it writes.
        wait = POLL if exited_at is not None or timed_out else min(POLL, max(0.05, deadline - now))
        if not selector.get_map():
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
            continue
        for key, dummy in selector.select(timeout=wait):
            pipe = key.fileobj
            try:
                data = os.read(pipe.fileno(), 65536)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EINTR):
                    continue
                data = b""
            stream = streams[pipe]
            if not data:
                selector.unregister(pipe)
                log.write(stream.feed(b"", final=True), stream.tag)
            else:
                log.write(stream.feed(data), stream.tag)
    for pipe, stream in streams.items():
        log.write(stream.feed(b"", final=True), stream.tag)
        pipe.close()
    if timed_out:
        # Its whole process group goes, not only the script.
        kill_group(proc, signal.SIGKILL)
    rc = None if unkillable else proc.wait()
    return rc, timed_out, time.monotonic() - started, streams[proc.stdout], streams[proc.stderr], notes
