# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: provision_log
type: notification
short_description: Write timestamped task lines to the HyperPod provisioning log
version_added: 1.0.0
description:
  - Appends one line for each step, when a task ends on a host, with its result (C(ok), C(changed),
    C(failed), C(unreachable)) and its duration, to the provisioning log that HyperPod uploads to
    CloudWatch (by default C(/var/log/provision/provisioning.log)). A task that takes longer than
    O(progress_after) seconds also gets a line while it runs, and one more every time as long again,
    so that a step that hangs is seen.
  - Skipped tasks and the argument checks Ansible adds to roles (unless they fail) are not logged;
    the C(provision_report) callback's report lists every task.
  - Every line starts with a UTC timestamp and is flushed and synced to disk as it is written,
    so that the log survives a node that dies mid-run.
  - The file is opened for appending and never truncated.
  - Results of tasks with C(no_log) are never written, only their status.
  - Failed tasks add their error message; C(ansible.builtin.debug) tasks add their C(msg), so that
    roles can write a line to the log on purpose.
requirements:
  - Enable it with C(callbacks_enabled = hyperpod.eks_lifecycle.provision_log) or
    C(ANSIBLE_CALLBACKS_ENABLED).
options:
  log_path:
    description: The file to append to. Its directory is created (mode 0755) when missing.
    type: path
    default: /var/log/provision/provisioning.log
    env:
      - name: HYPERPOD_PROVISION_LOG
    ini:
      - section: callback_provision_log
        key: log_path
  progress_after:
    description: Seconds after which a task still running gets a line (0 - never).
    type: float
    default: 10
    version_added: 1.1.0
    env:
      - name: HYPERPOD_PROVISION_LOG_PROGRESS
    ini:
      - section: callback_provision_log
        key: progress_after
  tag:
    description: The word written in brackets after the timestamp of every line.
    type: str
    default: ansible
    env:
      - name: HYPERPOD_PROVISION_LOG_TAG
    ini:
      - section: callback_provision_log
        key: tag
"""

import os
import threading
import time

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.callback import CallbackBase

# The timestamp (RFC 3339 UTC with milliseconds, as the bootstrap script writes it) and the one-line
# failure reasons are the report's too.
from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.provision_report import (
    iso, one_line, result_reason)


def _text(value):
    return to_text(value, errors="surrogate_or_replace")


class CallbackModule(CallbackBase):
    """Timestamped, synced task lines in the provisioning log."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "hyperpod.eks_lifecycle.provision_log"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._fd = None
        self._path = None
        self._tag = "ansible"
        self._started = {}
        self._play_started = None
        self._progress_after = 10.0
        self._timers = {}
        self._lock = threading.RLock()

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super(CallbackModule, self).set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self._path = self.get_option("log_path")
        self._tag = self.get_option("tag")
        self._progress_after = float(self.get_option("progress_after") or 0)

    # -- output -------------------------------------------------------------------------------
    def _open(self):
        if self._fd is None:
            directory = os.path.dirname(self._path)
            if directory and not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            # O_APPEND: lines from the bootstrap script and from here interleave whole.
            self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        return self._fd

    def _write(self, message):
        line = "%s [%s] %s\n" % (iso(time.time()), self._tag, message)
        with self._lock:
            try:
                fd = self._open()
                os.write(fd, line.encode("utf-8", "surrogateescape"))
                os.fsync(fd)
            except (IOError, OSError) as exc:
                self._display.warning("provision_log: cannot write to %s: %s" % (self._path, to_text(exc)))

    # -- a line for a task that runs long ------------------------------------------------------
    def _watch(self, key, label, started):
        if self._progress_after <= 0:
            return
        with self._lock:
            self._arm(key, label, started)

    def _arm(self, key, label, started):
        timer = threading.Timer(self._progress_after, self._still_running, (key, label, started))
        timer.daemon = True
        self._timers[key] = timer
        timer.start()

    def _still_running(self, key, label, started):
        with self._lock:  # the task's end waits for this line, and cancels the next one
            if key not in self._timers:
                return
            self._write("running: %s (%.0fs so far)" % (label, time.time() - started))
            self._arm(key, label, started)

    def _unwatch(self, key):
        with self._lock:
            timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _task_label(task):
        name = task.get_name().strip()
        return name or task.action

    @staticmethod
    def _is_argument_check(task):
        """The task Ansible adds to a role that has argument specs."""
        return task.action in ("validate_argument_spec", "ansible.builtin.validate_argument_spec") and \
            task.get_name().strip().startswith("Validating arguments against arg spec")

    def _finish(self, result, status):
        host = result._host.get_name()
        task = result._task
        key = (host, task._uuid)
        self._unwatch(key)
        started = self._started.pop(key, None)
        if status in ("skipped", "ok") and self._is_argument_check(task):
            return
        duration = "" if started is None else " (%.2fs)" % (time.time() - started)
        message = "%s: %s | %s%s" % (status, host, self._task_label(task), duration)
        detail = self._detail(result, status)
        if detail:
            message += " | " + detail
        self._write(message)

    @staticmethod
    def _detail(result, status):
        res = result._result
        if res.get("_ansible_no_log") or result._task.no_log:
            return ""
        if status.startswith("failed") or status == "unreachable":
            return result_reason(res)
        step = res.get("hyperpod_site_step")
        if isinstance(step, dict) and step.get("summary"):
            return one_line(_text(step["summary"]))
        event = (res.get("ansible_facts") or {}).get("hyperpod_site_step_event")
        if isinstance(event, dict) and event.get("summary"):
            return one_line(_text(event["summary"]))
        if result._task.action in ("debug", "ansible.builtin.debug", "ansible.legacy.debug") and "msg" in res:
            return one_line(_text(res["msg"]))
        return ""

    # -- playbook events ----------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        self._write("[start] playbook %s" % os.path.basename(to_text(playbook._file_name)))

    def v2_playbook_on_play_start(self, play):
        self._play_started = time.time()
        self._write("play: %s" % (play.get_name().strip() or "(unnamed)"))

    def v2_runner_on_start(self, host, task):
        key = (host.get_name(), task._uuid)
        self._started[key] = time.time()
        self._watch(key, "%s | %s" % (host.get_name(), self._task_label(task)), self._started[key])

    def v2_runner_on_ok(self, result):
        self._finish(result, "changed" if result._result.get("changed", False) else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._finish(result, "failed (ignored)" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        key = (result._host.get_name(), result._task._uuid)
        self._unwatch(key)
        self._started.pop(key, None)

    def v2_runner_on_unreachable(self, result):
        self._finish(result, "unreachable")

    def v2_playbook_on_handler_task_start(self, task):
        self._write("handler: %s" % self._task_label(task))

    def v2_playbook_on_stats(self, stats):
        for host in sorted(stats.processed.keys()):
            summary = stats.summarize(host)
            self._write(
                "[stop] playbook recap: %s ok=%d changed=%d failed=%d unreachable=%d skipped=%d rescued=%d ignored=%d"
                % (host, summary["ok"], summary["changed"], summary["failures"],
                   summary["unreachable"], summary["skipped"], summary["rescued"], summary["ignored"])
            )
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
