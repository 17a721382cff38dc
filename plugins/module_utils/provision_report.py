# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The provisioning report (report.json) and its Prometheus metrics.

Used by the provision_report callback, which writes the report at the end of a play. (A run that
fails before the play gets the same schema from bootstrap/on_create.sh itself, which runs no code
of a bundle that may have failed its check.) Standard library only, Python 3.7+.

The report's schema is described in the callback's documentation and in the collection's README.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time
from datetime import datetime, timezone

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils import atomic
from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.text import one_line  # noqa: F401 (the callbacks' too)

SCHEMA_VERSION = 1
METRICS_FILE = "hyperpod_provision.prom"
VERIFICATION_METRICS_FILE = "hyperpod_provision_verification.prom"
OUTCOMES = ("succeeded", "failed", "skipped")


def iso(epoch):
    """RFC 3339 UTC with milliseconds, as the provisioning log writes its timestamps."""
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000)


def failure_reason(msg, stderr):
    """Why a task failed, as the log and the report give it: its message, then its stderr unless
    the message already holds it, on one line."""
    if stderr and stderr not in msg:
        msg = "%s: %s" % (msg, stderr) if msg else stderr
    return one_line(msg)


def result_reason(res):
    """Why the task whose result is RES failed: for a loop, its failed items' reasons (the loop's
    own message says only "One or more items failed"), items hidden by no_log left out."""
    failed_items = [item for item in res.get("results") or ()
                    if isinstance(item, dict) and item.get("failed") and not item.get("_ansible_no_log")]
    if failed_items:
        return "; ".join(failure_reason(text_of(item.get("msg") or item.get("message")), text_of(item.get("stderr")))
                         for item in failed_items[:3])
    # include_vars says why in "message".
    return failure_reason(text_of(res.get("msg") or res.get("reason") or res.get("message")), text_of(res.get("stderr")))


def text_of(value):
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)


def seconds(value):
    return round(max(float(value), 0.0), 3)


def parse_steps(text):
    """'lock=0.01 verify-bundle=0.20' -> [{'name': 'lock', 'duration_seconds': 0.01}, ...]."""
    steps = []
    for item in (text or "").split():
        name, sep, value = item.partition("=")
        if not sep or not name:
            continue
        try:
            steps.append({"name": name, "duration_seconds": seconds(value)})
        except ValueError:
            continue
    return steps


def new_report(run_id, started, bootstrap_steps=None, bootstrap=False):
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "started": iso(started),
        "finished": None,
        "duration_seconds": None,
        "outcome": None,
        "failure": None,
        "check_mode": False,
        "bootstrap": {"steps": parse_steps(bootstrap_steps)} if bootstrap else None,
        "playbook": None,
        "hosts": {},
        "_started_epoch": started,
    }


def finish(report, finished, outcome, failure=None):
    if outcome not in OUTCOMES:
        raise ValueError("unknown outcome %r" % outcome)
    started = report.pop("_started_epoch", finished)
    report["finished"] = iso(finished)
    report["duration_seconds"] = seconds(finished - started)
    report["outcome"] = outcome
    report["failure"] = failure
    report["_finished_epoch"] = finished
    return report


# -- Prometheus text format ------------------------------------------------------------------

def _label_value(value):
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels):
    if not labels:
        return ""
    return "{%s}" % ",".join('%s="%s"' % (key, _label_value(value)) for key, value in labels)


def _number(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


METRICS = (
    ("hyperpod_provision_last_run_timestamp_seconds", "gauge",
     "When the last provisioning run finished, in seconds since the epoch."),
    ("hyperpod_provision_success", "gauge",
     "1 if the last provisioning run succeeded or skipped an unsupported OS by policy, 0 if it failed."),
    ("hyperpod_provision_duration_seconds", "gauge",
     "Wall time of the last provisioning run."),
    ("hyperpod_provision_changed_tasks", "gauge",
     "Tasks that reported a change in the last provisioning run."),
    ("hyperpod_provision_failed_tasks", "gauge",
     "Tasks that failed in the last provisioning run (rescued failures included)."),
    ("hyperpod_provision_step_duration_seconds", "gauge",
     "Wall time of each bootstrap step in the last provisioning run."),
    ("hyperpod_provision_role_duration_seconds", "gauge",
     "Time spent in each role's tasks and handlers in the last provisioning run."),
    ("hyperpod_provision_role_changed_tasks", "gauge",
     "Tasks of each role that reported a change in the last provisioning run."),
    ("hyperpod_provision_site_step_duration_seconds", "gauge",
     "Wall time of each of the site's own steps in the last provisioning run."),
    ("hyperpod_provision_site_step_exit_code", "gauge",
     "Exit code of each site script that ran to its end in the last provisioning run."),
    ("hyperpod_provision_site_step_failed", "gauge",
     "1 if the site step failed (allowed to or not), 0 if it ran or was skipped."),
    ("hyperpod_provision_info", "gauge",
     "Always 1; the labels describe the last provisioning run."),
)


def metric_samples(report):
    """{metric name: [(labels, value)]} for a finished report (all hosts summed)."""
    hosts = report.get("hosts") or {}
    failure = report.get("failure") or {}
    samples = dict((name, []) for name, _type, _help in METRICS)
    samples["hyperpod_provision_last_run_timestamp_seconds"].append(
        ((), round(report.get("_finished_epoch", time.time()), 3)))
    samples["hyperpod_provision_success"].append(((), report.get("outcome") != "failed"))
    samples["hyperpod_provision_duration_seconds"].append(((), report.get("duration_seconds") or 0.0))
    changed = sum((h.get("counts") or {}).get("changed", 0) for h in hosts.values())
    failed = sum(len(h.get("failed_tasks") or ()) for h in hosts.values())
    samples["hyperpod_provision_changed_tasks"].append(((), changed))
    samples["hyperpod_provision_failed_tasks"].append(((), failed))
    for step in (report.get("bootstrap") or {}).get("steps") or ():
        samples["hyperpod_provision_step_duration_seconds"].append(
            ((("step", step["name"]),), step["duration_seconds"]))
    roles = {}
    for host in hosts.values():
        for role in host.get("roles") or ():
            entry = roles.setdefault(role["name"], [0.0, 0])
            entry[0] += role.get("duration_seconds") or 0.0
            entry[1] += role.get("changed") or 0
    for name in sorted(roles):
        samples["hyperpod_provision_role_duration_seconds"].append(((("role", name),), round(roles[name][0], 3)))
        samples["hyperpod_provision_role_changed_tasks"].append(((("role", name),), roles[name][1]))
    for host in hosts.values():
        for step in host.get("site_steps") or ():
            labels = (("step", step.get("name")), ("kind", step.get("kind")), ("status", step.get("status") or ""))
            samples["hyperpod_provision_site_step_duration_seconds"].append((labels, step.get("duration_seconds") or 0.0))
            samples["hyperpod_provision_site_step_failed"].append(
                (labels, step.get("status") in ("failed", "allowed_failure")))
            if isinstance(step.get("exit_code"), int) and not isinstance(step.get("exit_code"), bool):
                samples["hyperpod_provision_site_step_exit_code"].append(((("step", step.get("name")),), step["exit_code"]))
    first = next(iter(hosts.values()), {}) if hosts else {}
    os_info = first.get("os") or {}
    containerd = first.get("containerd") or {}
    info = (
        ("outcome", report.get("outcome")),
        ("failed_step", failure.get("step") or ""),
        ("platform", os_info.get("platform") or ""),
        ("os_version", os_info.get("version_id") or ""),
        ("containerd_version", containerd.get("version") or ""),
    )
    samples["hyperpod_provision_info"].append((info, 1))
    return samples


def render(families, samples):
    """The Prometheus text of SAMPLES ({name: [(labels, value)]}) for FAMILIES ((name, type, help)),
    in that order; a family without samples is left out."""
    lines = []
    for name, kind, text in families:
        if not samples.get(name):
            continue
        lines.append("# HELP %s %s" % (name, text))
        lines.append("# TYPE %s %s" % (name, kind))
        for labels, value in samples[name]:
            lines.append("%s%s %s" % (name, _labels(labels), _number(value)))
    return "\n".join(lines) + "\n"


def to_prometheus(report):
    return render(METRICS, metric_samples(report))


# -- files -------------------------------------------------------------------------------------

def write_atomic(path, text, mode):
    """Replace PATH with TEXT: a synced temporary file in the same directory, renamed over it."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    atomic.write_atomic(path, text.encode("utf-8"), mode)


def public(report):
    return dict((key, value) for key, value in report.items() if not key.startswith("_"))


def write_outputs(report, report_path, metrics_dir=None):
    """Write report.json and, when METRICS_DIR is set, the textfile collector's file.

    Returns a list of error messages (empty when both were written)."""
    errors = []
    if report_path:
        try:
            write_atomic(report_path, json.dumps(public(report), indent=2, sort_keys=True) + "\n", 0o640)
        except (IOError, OSError) as exc:
            errors.append("cannot write %s: %s" % (report_path, exc))
    if metrics_dir:
        path = os.path.join(metrics_dir, METRICS_FILE)
        try:
            write_atomic(path, to_prometheus(report), 0o644)
            # A new provisioning run's report has no verification yet: nor do its metrics.
            stale = os.path.join(metrics_dir, VERIFICATION_METRICS_FILE)
            if os.path.lexists(stale):
                os.unlink(stale)
        except (IOError, OSError) as exc:
            errors.append("cannot write %s: %s" % (path, exc))
    return errors


# -- the verification (on_init_complete.sh) -----------------------------------------------------

VERIFICATION_METRICS = (
    ("hyperpod_provision_verification_timestamp_seconds", "gauge",
     "When the last check after the AMI's start-up (OnInitComplete) finished, in seconds since the epoch."),
    ("hyperpod_provision_verification_success", "gauge",
     "1 if the last check after the AMI's start-up found provisioning in effect (or skipped an unsupported OS), 0 if not."),
    ("hyperpod_provision_verification_check", "gauge",
     "1 if this check of the last verification passed, 0 if it failed."),
)


def verification_checks(report):
    """[(name, ok)] of every host's checks."""
    checks = []
    for host in (report.get("hosts") or {}).values():
        for check in host.get("checks") or ():
            checks.append((check.get("name"), bool(check.get("ok"))))
    return checks


def verification_prometheus(report):
    samples = {
        "hyperpod_provision_verification_timestamp_seconds": [((), round(report.get("_finished_epoch", time.time()), 3))],
        "hyperpod_provision_verification_success": [((), report.get("outcome") != "failed")],
        "hyperpod_provision_verification_check": [((("check", name),), ok) for name, ok in verification_checks(report)],
    }
    return render(VERIFICATION_METRICS, samples)


def with_verification(existing_text, verification):
    """The text of report.json with VERIFICATION as its "verification" section.

    The rest of the report (the OnCreate run's) is kept as it is; a report that is missing or
    cannot be read is replaced by one that holds the verification only, and says so."""
    report = None
    if existing_text:
        try:
            report = json.loads(existing_text)
        except ValueError:
            report = None
    if not isinstance(report, dict):
        report = {"schema_version": SCHEMA_VERSION, "run_id": None, "outcome": None,
                  "note": "no readable report of the OnCreate run was found; this file holds the verification only"}
    report["verification"] = public(verification)
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


def write_verification(verification, report_path, metrics_dir=None):
    """Add VERIFICATION to report.json (written whole, atomically) and write its metrics file."""
    errors = []
    if report_path:
        try:
            existing = None
            if os.path.isfile(report_path):
                with open(report_path, 'rb') as handle:
                    existing = handle.read().decode('utf-8', 'replace')
            write_atomic(report_path, with_verification(existing, verification), 0o640)
        except (IOError, OSError) as exc:
            errors.append("cannot write %s: %s" % (report_path, exc))
    if metrics_dir:
        path = os.path.join(metrics_dir, VERIFICATION_METRICS_FILE)
        try:
            write_atomic(path, verification_prometheus(verification), 0o644)
        except (IOError, OSError) as exc:
            errors.append("cannot write %s: %s" % (path, exc))
    return errors
