# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: provision_report
type: notification
short_description: Write a machine-readable report (and Prometheus metrics) of a provisioning run
version_added: 1.1.0
description:
  - At the end of the playbook, replaces the report file (by default
    C(/var/log/provision/report.json), beside the provisioning log) with a JSON document about the
    run, written to a temporary file, synced and renamed over the old one.
  - "The report (C(schema_version) 1) has: C(run_id); C(started), C(finished) (RFC 3339 UTC) and
    C(duration_seconds); C(outcome) (C(succeeded), C(failed), or C(skipped) when every host was
    skipped as an unsupported OS); C(failure) (C(null), or the C(stage), C(step), C(host), C(role),
    C(task) and C(message) of the task that ended the run); C(check_mode); C(bootstrap) (the
    bootstrap script's steps and their durations, when it ran the play); C(playbook) (name,
    ansible-core and Python versions, duration, time in tasks and the rest, Ansible's own
    overhead); and C(hosts), one entry per host with its C(outcome), the C(os) and C(containerd)
    versions detected, task C(counts), the C(roles) that ran (tasks, changed and failed counts,
    time, the names of the tasks that changed), every task (role, name, action, status, start,
    duration) and the C(failed_tasks) with their messages. A role that another role includes or
    depends on (C(containerd_common)) is counted in the outer role's C(roles) entry; each task
    names both (C(role), C(play_role))."
  - When a metrics directory is set (the node runs node-exporter's textfile collector), writes the
    same figures to C(hyperpod_provision.prom) in that directory, atomically, in the Prometheus
    text format.
  - A C(--check) run writes its report to C(report.check.json) (the report path with C(.check)
    before the extension) and no metrics, so that a preview never replaces the last real run's.
  - The OS and containerd versions come from the facts that C(hyperpod.eks_lifecycle.os_release_facts)
    and the containerd roles set. Results of tasks with C(no_log) add only their status.
requirements:
  - Enable it with C(callbacks_enabled = hyperpod.eks_lifecycle.provision_report) or
    C(ANSIBLE_CALLBACKS_ENABLED). The bootstrap script C(on_create.sh) enables it.
options:
  report_path:
    description: The report file. An empty value writes no report.
    type: str
    default: /var/log/provision/report.json
    env:
      - name: HYPERPOD_PROVISION_REPORT
    ini:
      - section: callback_provision_report
        key: report_path
  metrics_dir:
    description:
      - The directory of node-exporter's textfile collector. Empty (the default) writes no metrics.
      - When empty, the play variable C(hyperpod_metrics_textfile_dir) (set in the bundle's
        C(playbooks/vars/on_create.yml)) is used instead.
    type: str
    default: ""
    env:
      - name: HYPERPOD_METRICS_TEXTFILE_DIR
    ini:
      - section: callback_provision_report
        key: metrics_dir
notes:
  - The bootstrap script passes its run id, start time and step durations in the environment
    variables C(HYPERPOD_RUN_ID), C(HYPERPOD_RUN_STARTED) (seconds since the epoch) and
    C(HYPERPOD_BOOTSTRAP_STEPS) (C(name=seconds) pairs), so that the report covers the whole run.
"""

import os
import sys
import time

from ansible import context
from ansible.module_utils.common.text.converters import to_text
from ansible.playbook.handler import Handler
from ansible.plugins.callback import CallbackBase
from ansible.release import __version__ as ansible_version

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils import provision_report as report_lib

METRICS_VAR = "hyperpod_metrics_textfile_dir"


def _message(result):
    res = result._result
    if res.get("_ansible_no_log") or result._task.no_log:
        return "(output hidden by no_log)"
    return report_lib.result_reason(res)


def check_mode_path(path):
    """report.json -> report.check.json: where a --check run's report goes."""
    if not path:
        return path
    stem, ext = os.path.splitext(path)
    return "%s.check%s" % (stem, ext or ".json")


class CallbackModule(CallbackBase):
    """A JSON report of the run, and optionally Prometheus metrics."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "hyperpod.eks_lifecycle.provision_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        env = os.environ
        self._bootstrap = "HYPERPOD_RUN_ID" in env
        # on_init_complete.sh: the run is the check after the AMI's start-up, added to the report.
        self._verification = env.get("HYPERPOD_HOOK") == "on_init_complete"
        run_started = time.time()
        if self._bootstrap:
            try:
                run_started = float(env.get("HYPERPOD_RUN_STARTED", run_started))
            except ValueError:
                pass
        run_id = env.get("HYPERPOD_RUN_ID") or "%s-%d" % (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), os.getpid())
        self._report = report_lib.new_report(run_id, run_started, env.get("HYPERPOD_BOOTSTRAP_STEPS"),
                                             bootstrap=self._bootstrap)
        self._playbook_started = None
        self._playbook_name = None
        self._started = {}
        self._hosts = {}
        self._play_metrics_dir = ""
        self._site_open = {}
        self._site_planned = {}

    # -- per host ---------------------------------------------------------------------------------
    def _host(self, name):
        if name not in self._hosts:
            self._hosts[name] = {
                "outcome": None,
                "skip_reason": None,
                "os": None,
                "containerd": None,
                "counts": {},
                "roles": [],
                "tasks": [],
                "failed_tasks": [],
                "site_steps": [],
            }
            if self._verification:
                self._hosts[name]["checks"] = []
        return self._hosts[name]

    @staticmethod
    def _role_names(task):
        """(the task's own role, the role of the play it runs under), or (None, None) outside roles.

        A role that another one includes or depends on counts under the outer one in the report's
        roles: containerd_common's tasks run for containerd_data_root and nvidia_runtime."""
        role = getattr(task, "_role", None)
        if role is None:
            return None, None
        chain = None
        parent = getattr(task, "_parent", None)
        if parent is not None and hasattr(parent, "get_dep_chain"):
            chain = parent.get_dep_chain()
        outer = chain[0] if chain else role
        return role.get_name(), outer.get_name()

    def _facts(self, host, result):
        facts = result._result.get("ansible_facts") or {}
        if not facts or result._task.no_log:
            return
        if "hyperpod_platform" in facts:
            os_release = facts.get("os_release") or {}
            host["os"] = {
                "id": os_release.get("id"),
                "version_id": os_release.get("version_id"),
                "pretty_name": os_release.get("pretty_name"),
                "platform": facts.get("hyperpod_platform"),
                "platform_reason": facts.get("hyperpod_platform_reason"),
            }
        choice = facts.get("containerd_data_root_volume_choice")
        if isinstance(choice, dict):
            host["volume"] = dict((key, choice.get(key)) for key in ("setting", "path", "kind", "reason"))
        checks = facts.get("hyperpod_verification_checks")
        if self._verification and isinstance(checks, list):
            host["checks"] = [dict(name=to_text(c.get("name")), ok=bool(c.get("ok")), detail=to_text(c.get("detail", "")))
                              for c in checks if isinstance(c, dict)]
        containerd = facts.get("containerd_common_facts")
        if isinstance(containerd, dict):
            host["containerd"] = {
                "version": containerd.get("version"),
                "schema": containerd.get("schema"),
                "base_config": containerd.get("base_config_path"),
            }

    def _record(self, result, status):
        name = result._host.get_name()
        task = result._task
        host = self._host(name)
        started = self._started.pop((name, task._uuid), None)
        now = time.time()
        role, play_role = self._role_names(task)
        entry = {
            "name": to_text(task.name or task.action),
            "role": role,
            "play_role": play_role,
            "action": task.action,
            "status": status,
            "handler": isinstance(task, Handler),
            "started": report_lib.iso(started) if started else None,
            "duration_seconds": report_lib.seconds(now - started) if started else 0.0,
        }
        host["tasks"].append(entry)
        self._site(name, host, result, status, now)
        if status in ("failed", "unreachable"):
            host["failed_tasks"].append(dict(entry, message=_message(result)))
        if status == "ok" or status == "changed":
            self._facts(host, result)
            # The site's settings (include_vars) may set the metrics directory after the play began.
            value = (result._result.get("ansible_facts") or {}).get(METRICS_VAR)
            if task.action in ("include_vars", "ansible.builtin.include_vars", "ansible.legacy.include_vars") \
                    and isinstance(value, str) and "{{" not in value and not self.get_option("metrics_dir"):
                self._play_metrics_dir = value

    # -- site steps ---------------------------------------------------------------------------------
    @staticmethod
    def _site_entry(host, info):
        name = to_text(info.get("name"))
        for entry in host["site_steps"]:
            if entry["name"] == name:
                return entry
        entry = {"name": name, "kind": to_text(info.get("kind", "")), "file": to_text(info.get("file", "")),
                 "status": None, "duration_seconds": 0.0, "exit_code": None, "summary": ""}
        host["site_steps"].append(entry)
        return entry

    def _site(self, name, host, result, status, now):
        """A site step's entry from its script's result or its start/end/failed/skipped marks; the
        tasks that run between the marks of a role or task file count for it."""
        res = result._result
        if result._task.action in ("site_plan", "hyperpod.eks_lifecycle.site_plan") and status == "ok":
            # The plan: a step it has that never reports is listed as not run, at the end.
            self._site_planned[name] = [step for phase in ("before", "after") for step in res.get(phase) or ()
                                        if isinstance(step, dict) and step.get("name")]
            return
        script = res.get("hyperpod_site_step")
        facts = res.get("ansible_facts") if status in ("ok", "changed") else None
        event = (facts or {}).get("hyperpod_site_step_event")
        opened = self._site_open.get(name)
        if isinstance(script, dict) and script.get("name"):
            entry = self._site_entry(host, script)
            entry.update(status=to_text(script.get("status") or status), exit_code=script.get("exit_code"),
                         duration_seconds=report_lib.seconds(script.get("duration_seconds") or 0.0),
                         summary=to_text(script.get("summary", "")))
            if script.get("reason"):
                entry["reason"] = to_text(script["reason"])
        elif isinstance(event, dict) and event.get("name"):
            entry = self._site_entry(host, event)
            kind = event.get("event")
            if kind == "start":
                entry.update(status="running", tasks=0, changed=0)
                self._site_open[name] = (entry, now)
            elif kind == "skipped":
                entry.update(status="skipped", reason=to_text(event.get("reason", "")),
                             summary=to_text(event.get("summary", "")))
            elif kind in ("end", "failed"):
                if opened is not None and opened[0] is entry:
                    entry["duration_seconds"] = report_lib.seconds(now - opened[1])
                    self._site_open.pop(name, None)
                if kind == "end":
                    entry["status"] = "changed" if entry.get("changed") else "ok"
                    entry["summary"] = "%d tasks, %d changed, in %.1fs" % (
                        entry.get("tasks", 0), entry.get("changed", 0), entry["duration_seconds"])
                else:
                    entry["status"] = "allowed_failure" if event.get("allowed") else "failed"
                    entry["summary"] = to_text(event.get("summary", ""))
        elif opened is not None and status != "skipped" and not self._site_machinery(result._task):
            opened[0]["tasks"] += 1
            if status == "changed":
                opened[0]["changed"] += 1

    @staticmethod
    def _site_machinery(task):
        """The play's own tasks around a site step (playbooks/tasks/site_step.yml), not the step's."""
        path = to_text(task.get_path() or "")
        return getattr(task, "_role", None) is None and path.rsplit(":", 1)[0].endswith("/site_step.yml")

    # -- events -----------------------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        self._playbook_started = time.time()
        self._playbook_name = os.path.basename(to_text(playbook._file_name))
        if "HYPERPOD_HOOK" not in os.environ:  # run without the bootstrap: the play says which
            self._verification = self._playbook_name == "on_init_complete.yml"

    def v2_playbook_on_play_start(self, play):
        if self.get_option("metrics_dir"):
            return
        manager = play.get_variable_manager()
        if manager is None:
            return
        try:
            value = manager.get_vars(play=play).get(METRICS_VAR)
        except Exception as exc:  # pylint: disable=broad-except
            self._display.warning("provision_report: cannot read %s: %s" % (METRICS_VAR, to_text(exc)))
            return
        if value and "{{" not in to_text(value):
            self._play_metrics_dir = to_text(value)

    def v2_runner_on_start(self, host, task):
        self._started[(host.get_name(), task._uuid)] = time.time()

    def v2_runner_on_ok(self, result):
        self._record(result, "changed" if result._result.get("changed", False) else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    # -- the end ------------------------------------------------------------------------------------
    @staticmethod
    def _roles(tasks):
        roles = []
        index = {}
        for task in tasks:
            name = task["play_role"]
            if not name:
                continue
            if name not in index:
                index[name] = len(roles)
                roles.append({"name": name, "tasks": 0, "changed": 0, "failed": 0,
                              "duration_seconds": 0.0, "changed_tasks": []})
            role = roles[index[name]]
            role["tasks"] += 1
            role["duration_seconds"] = round(role["duration_seconds"] + task["duration_seconds"], 3)
            if task["status"] == "changed":
                role["changed"] += 1
                role["changed_tasks"].append(task["name"])
            elif task["status"] == "failed":
                role["failed"] += 1
        return roles

    def v2_playbook_on_stats(self, stats):
        finished = time.time()
        # A site step still open at the end did not finish (the play ended inside it).
        for name, (entry, started) in list(self._site_open.items()):
            entry.update(status="failed", duration_seconds=report_lib.seconds(finished - started),
                         summary="did not finish: the play ended inside it")
        self._site_open.clear()
        for name, planned in self._site_planned.items():
            host = self._host(name)
            seen = set(entry["name"] for entry in host["site_steps"])
            for step in planned:
                if to_text(step["name"]) not in seen:
                    entry = self._site_entry(host, step)
                    entry.update(status="not_run", summary="did not run: the run stopped before it (an earlier failure), "
                                                           "or --tags/--skip-tags left it out")
        failure = None
        outcomes = []
        task_seconds = 0.0
        for name in sorted(set(stats.processed.keys()) | set(self._hosts.keys())):
            host = self._host(name)
            summary = stats.summarize(name)
            host["counts"] = {
                "ok": summary["ok"], "changed": summary["changed"], "failed": summary["failures"],
                "unreachable": summary["unreachable"], "skipped": summary["skipped"],
                "rescued": summary["rescued"], "ignored": summary["ignored"],
            }
            host["roles"] = self._roles(host["tasks"])
            task_seconds = max(task_seconds, sum(t["duration_seconds"] for t in host["tasks"]))
            if summary["failures"] or summary["unreachable"]:
                host["outcome"] = "failed"
                last = host["failed_tasks"][-1] if host["failed_tasks"] else {}
                if failure is None:
                    failure = {
                        "stage": "play",
                        "step": " : ".join(x for x in (last.get("role"), last.get("name")) if x) or "unknown",
                        "host": name,
                        "role": last.get("role"),
                        "task": last.get("name"),
                        "message": last.get("message", ""),
                        "exit_code": None,
                    }
            elif (host["os"] or {}).get("platform") == "unsupported":
                host["outcome"] = "skipped"
                host["skip_reason"] = host["os"].get("platform_reason")
            else:
                host["outcome"] = "succeeded"
            outcomes.append(host["outcome"])
        if "failed" in outcomes:
            outcome = "failed"
        elif outcomes and all(o == "skipped" for o in outcomes):
            outcome = "skipped"
        else:
            outcome = "succeeded"
        started = self._playbook_started or finished
        self._report["playbook"] = {
            "name": self._playbook_name,
            "ansible_core": ansible_version,
            "python": "%d.%d.%d" % sys.version_info[:3],
            "started": report_lib.iso(started),
            "duration_seconds": report_lib.seconds(finished - started),
            "tasks_seconds": report_lib.seconds(task_seconds),
            "overhead_seconds": report_lib.seconds(finished - started - task_seconds),
        }
        self._report["check_mode"] = bool(context.CLIARGS.get("check", False))
        self._report["hosts"] = self._hosts
        report_lib.finish(self._report, finished, outcome, failure)
        report_path = self.get_option("report_path")
        metrics_dir = self.get_option("metrics_dir") or self._play_metrics_dir
        if self._report["check_mode"]:
            # A preview changes nothing: it must not replace the last real run's report or metrics.
            report_path = check_mode_path(report_path)
            metrics_dir = ""
        write = report_lib.write_verification if self._verification else report_lib.write_outputs
        for error in write(self._report, report_path, metrics_dir):
            self._display.warning("provision_report: %s" % error)
