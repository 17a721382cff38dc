"""Checks of the provisioning report (report.json) and its metrics, shared by the tests.

check_report() asserts the schema (schema_version 1, as the provision_report callback documents it)
and returns the report; metrics() parses the textfile with Prometheus' own text-format parser.
"""

import json
import re
from datetime import datetime

from prometheus_client.parser import text_string_to_metric_families

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
OUTCOMES = {"succeeded", "failed", "skipped"}
TASK_STATUSES = {"ok", "changed", "failed", "ignored", "skipped", "unreachable"}
NUMBER = (int, float)


def _time(value):
    assert isinstance(value, str) and ISO.match(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")


def _task(task):
    assert set(task) >= {"name", "role", "play_role", "action", "status", "handler", "started", "duration_seconds"}, task
    assert isinstance(task["name"], str) and task["name"]
    assert task["role"] is None or isinstance(task["role"], str)
    assert (task["role"] is None) == (task["play_role"] is None)
    assert task["status"] in TASK_STATUSES, task
    assert isinstance(task["handler"], bool)
    assert isinstance(task["duration_seconds"], NUMBER) and task["duration_seconds"] >= 0
    if task["started"] is not None:
        _time(task["started"])


HOST_KEYS = {"outcome", "skip_reason", "os", "containerd", "counts", "roles", "tasks", "failed_tasks", "site_steps"}
SITE_STATUS = {"ok", "changed", "failed", "allowed_failure", "skipped", "not_run"}


def _host(host, verification=False):
    # "volume" when containerd_data_root_volume is auto; "checks" in a verification (on_init_complete.sh).
    assert HOST_KEYS <= set(host) <= HOST_KEYS | {"volume", "checks"}, host
    assert ("checks" in host) == verification, host
    if "volume" in host:
        assert set(host["volume"]) == {"setting", "path", "kind", "reason"}, host["volume"]
        assert host["volume"]["kind"] in {"instance_store", "ebs", "none"}
        assert (host["volume"]["path"] is None) == (host["volume"]["kind"] == "none")
        assert host["volume"]["reason"]
    names = [step["name"] for step in host["site_steps"]]
    assert len(names) == len(set(names)), names
    for step in host["site_steps"]:
        assert {"name", "kind", "file", "status", "duration_seconds", "exit_code", "summary"} <= set(step), step
        assert step["kind"] in {"role", "tasks", "script"} and step["file"], step
        # A step still "running" at the end would be one whose end the report missed.
        assert step["status"] in SITE_STATUS, step
        assert step["duration_seconds"] >= 0
        if step["kind"] == "script" and step["status"] in ("changed", "ok"):
            assert step["exit_code"] == 0, step
        if step["status"] == "skipped":
            assert step.get("reason") in {"scope", "guard", "check_mode"} and step["summary"].startswith("skipped: "), step
    for check in host.get("checks") or ():
        assert set(check) == {"name", "ok", "detail"} and isinstance(check["ok"], bool) and check["detail"], check
    if verification and host["outcome"] == "succeeded":
        assert host["checks"] and all(c["ok"] for c in host["checks"]), host["checks"]
    assert host["outcome"] in OUTCOMES
    assert set(host["counts"]) == {"ok", "changed", "failed", "unreachable", "skipped", "rescued", "ignored"}
    assert all(isinstance(v, int) for v in host["counts"].values())
    if host["os"] is not None:
        assert set(host["os"]) == {"id", "version_id", "pretty_name", "platform", "platform_reason"}
        assert host["os"]["platform"] in {"al2", "al2023", "unsupported"}
    if host["containerd"] is not None:
        assert set(host["containerd"]) == {"version", "schema", "base_config"}
        assert re.match(r"^\d+\.\d+", host["containerd"]["version"])
    for task in host["tasks"]:
        _task(task)
    for task in host["failed_tasks"]:
        _task(task)
        assert task["status"] in {"failed", "unreachable"} and isinstance(task["message"], str)
    role_names = [t["play_role"] for t in host["tasks"] if t["play_role"]]
    assert [r["name"] for r in host["roles"]] == list(dict.fromkeys(role_names))
    for role in host["roles"]:
        tasks = [t for t in host["tasks"] if t["play_role"] == role["name"]]
        assert role["tasks"] == len(tasks)
        assert role["changed"] == len(role["changed_tasks"]) == sum(t["status"] == "changed" for t in tasks)
        assert role["failed"] == sum(t["status"] == "failed" for t in tasks)
        assert abs(role["duration_seconds"] - sum(t["duration_seconds"] for t in tasks)) < 0.01
    assert host["counts"]["changed"] == sum(t["status"] == "changed" for t in host["tasks"])


REPORT_KEYS = {"schema_version", "run_id", "started", "finished", "duration_seconds", "outcome",
               "failure", "check_mode", "bootstrap", "playbook", "hosts"}


def check_report(text, verification=None):
    """Parse report.json's TEXT, assert its schema and its internal consistency, return it.

    VERIFICATION True: the report must have a "verification" section (on_init_complete.sh's run,
    checked the same way); False: it must not; None: either."""
    report = json.loads(text)
    if verification is not None:
        assert ("verification" in report) == verification, sorted(report)
    if "verification" in report:
        _check(report["verification"], verification=True)
        report = dict(report)
        section = report.pop("verification")
        _check(report)
        report["verification"] = section
        return report
    return _check(report)


def _check(report, verification=False):
    assert set(report) == REPORT_KEYS, sorted(report)
    assert report["schema_version"] == 1
    assert isinstance(report["run_id"], str) and report["run_id"]
    started, finished = _time(report["started"]), _time(report["finished"])
    assert started <= finished
    assert abs((finished - started).total_seconds() - report["duration_seconds"]) < 0.01
    assert report["outcome"] in OUTCOMES
    assert isinstance(report["check_mode"], bool)
    if report["bootstrap"] is not None:
        for step in report["bootstrap"]["steps"]:
            assert set(step) == {"name", "duration_seconds"} and step["duration_seconds"] >= 0
    if report["playbook"] is not None:
        playbook = report["playbook"]
        assert set(playbook) == {"name", "ansible_core", "python", "started", "duration_seconds", "tasks_seconds",
                                 "overhead_seconds"}
        assert _time(playbook["started"]) >= started
        assert playbook["duration_seconds"] <= report["duration_seconds"]
        assert abs(playbook["tasks_seconds"] + playbook["overhead_seconds"] - playbook["duration_seconds"]) < 0.01
    for host in report["hosts"].values():
        _host(host, verification)
    if report["outcome"] == "failed":
        failure = report["failure"]
        assert set(failure) == {"stage", "step", "host", "role", "task", "message", "exit_code"}
        assert failure["stage"] in {"bootstrap", "play"} and failure["step"] and failure["message"]
        if failure["stage"] == "play":
            assert report["hosts"][failure["host"]]["outcome"] == "failed"
    else:
        assert report["failure"] is None
        assert all(h["outcome"] != "failed" for h in report["hosts"].values())
    return report


def metrics(text):
    """{(name, frozenset(labels.items())): value} of a textfile, parsed as Prometheus parses it."""
    assert text.endswith("\n")
    samples = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family
        assert family.documentation, family.name
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]
