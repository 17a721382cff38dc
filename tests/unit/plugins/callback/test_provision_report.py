# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The provision_report callback, driven by real ansible-playbook runs."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
from pathlib import Path

import pytest

from ansible_collections.hyperpod.eks_lifecycle.tests.reportcheck import check_report, metrics, value

REPO = Path(__file__).resolve().parents[4]  # the collection's root


ROLE_TASKS = """
- name: A change the role makes
  ansible.builtin.command: "true"
  changed_when: true
  notify: A handler of the role

- name: Nothing to change here
  ansible.builtin.command: "true"
  changed_when: false

- name: A secret that fails
  ansible.builtin.command: sh -c 'echo s3cr3t-t0ken >&2; exit 4'
  changed_when: false
  no_log: true
  when: secret_fails | default(false) | bool

- name: Break the role
  ansible.builtin.command: sh -c 'echo the disk is on fire >&2; exit 3'
  changed_when: false
  when: break_role | default(false) | bool

- name: Skipped on purpose
  ansible.builtin.command: "false"
  changed_when: false
  when: false

- name: Include the inner role
  ansible.builtin.include_role:
    name: inner_role
"""

INNER_TASKS = """
- name: A change the inner role makes
  ansible.builtin.command: "true"
  changed_when: true
"""

ROLE_HANDLERS = """
- name: A handler of the role
  ansible.builtin.command: "true"
  changed_when: true
"""

PLAY = """
- name: Report test play
  hosts: localhost
  gather_facts: false
  vars:
    hyperpod_metrics_textfile_dir: "{metrics_dir}"
  tasks:
    - name: Read the os-release
      hyperpod.eks_lifecycle.os_release_facts:
        path: "{os_release}"

    - name: Record containerd facts
      ansible.builtin.set_fact:
        containerd_common_facts:
          version: "2.1.9"
          schema: 3
          base_config_path: /etc/containerd/config.toml

    - name: An ignored failure
      ansible.builtin.command: "false"
      changed_when: false
      ignore_errors: true

    - name: Run the role
      ansible.builtin.include_role:
        name: demo_role
"""

AL2023 = 'NAME="Amazon Linux"\nVERSION="2023"\nID="amzn"\nVERSION_ID="2023"\nPRETTY_NAME="Amazon Linux 2023.6"\n'


def run(tmp_path, *args, env=None, metrics_dir="", os_release=AL2023, play=PLAY):
    collections = tmp_path / "collections" / "ansible_collections" / "hyperpod"
    if not collections.exists():
        collections.mkdir(parents=True)
        (collections / "eks_lifecycle").symlink_to(REPO)
        role = tmp_path / "roles" / "demo_role"
        (role / "tasks").mkdir(parents=True)
        (role / "handlers").mkdir()
        (role / "tasks" / "main.yml").write_text(ROLE_TASKS)
        (role / "handlers" / "main.yml").write_text(ROLE_HANDLERS)
        (tmp_path / "roles" / "inner_role" / "tasks").mkdir(parents=True)
        (tmp_path / "roles" / "inner_role" / "tasks" / "main.yml").write_text(INNER_TASKS)
    (tmp_path / "os-release").write_text(os_release)
    playbook = tmp_path / "play.yml"
    playbook.write_text(play.format(metrics_dir=metrics_dir, os_release=tmp_path / "os-release"))
    # The play runs with Ansible's defaults, not the settings of what runs the tests (ansible-test
    # units exports ANSIBLE_FORCE_HANDLERS, ANSIBLE_INVENTORY, ANSIBLE_CONFIG and more).
    outside = {key: val for key, val in os.environ.items() if not key.startswith("ANSIBLE_")}
    environment = dict(outside, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
                       ANSIBLE_ROLES_PATH=str(tmp_path / "roles"),
                       ANSIBLE_CALLBACKS_ENABLED="hyperpod.eks_lifecycle.provision_report",
                       HYPERPOD_PROVISION_REPORT=str(tmp_path / "log" / "report.json"),
                       ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false")
    for key in ("HYPERPOD_RUN_ID", "HYPERPOD_RUN_STARTED", "HYPERPOD_BOOTSTRAP_STEPS", "HYPERPOD_METRICS_TEXTFILE_DIR", "HYPERPOD_HOOK"):
        environment.pop(key, None)
    environment.update(env or {})
    return subprocess.run(["ansible-playbook", "-c", "local", str(playbook), *args], env=environment,
                          capture_output=True, text=True, check=False)


def report_of(tmp_path, name="report.json"):
    return check_report((tmp_path / "log" / name).read_text())


def test_a_successful_run_reports_versions_roles_changes_and_durations(tmp_path):
    proc = run(tmp_path, env={"HYPERPOD_RUN_ID": "run-1", "HYPERPOD_RUN_STARTED": "1700000000.5",
                              "HYPERPOD_BOOTSTRAP_STEPS": "lock=0.01 verify-bundle=0.20 runtime=2.5 junk"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = report_of(tmp_path)
    assert report["run_id"] == "run-1"
    assert report["started"] == "2023-11-14T22:13:20.500Z"  # the bootstrap's start, not the play's
    assert report["outcome"] == "succeeded" and report["failure"] is None and report["check_mode"] is False
    assert report["bootstrap"] == {"steps": [{"name": "lock", "duration_seconds": 0.01},
                                             {"name": "verify-bundle", "duration_seconds": 0.2},
                                             {"name": "runtime", "duration_seconds": 2.5}]}
    assert report["playbook"]["name"] == "play.yml"
    assert report["playbook"]["ansible_core"].startswith("2.")
    host = report["hosts"]["localhost"]
    assert host["outcome"] == "succeeded"
    assert host["os"] == {"id": "amzn", "version_id": "2023", "pretty_name": "Amazon Linux 2023.6",
                          "platform": "al2023", "platform_reason": host["os"]["platform_reason"]}
    assert host["containerd"] == {"version": "2.1.9", "schema": 3, "base_config": "/etc/containerd/config.toml"}
    # The inner role's tasks count in the role of the play that included it.
    assert host["roles"] == [{"name": "demo_role", "tasks": 8, "changed": 3, "failed": 0,
                              "duration_seconds": host["roles"][0]["duration_seconds"],
                              "changed_tasks": ["A change the role makes", "A change the inner role makes",
                                                "A handler of the role"]}]
    assert host["roles"][0]["duration_seconds"] > 0
    statuses = [(t["name"], t["status"], t["handler"], t["role"], t["play_role"]) for t in host["tasks"]]
    assert statuses == [
        ("Read the os-release", "ok", False, None, None),
        ("Record containerd facts", "ok", False, None, None),
        ("An ignored failure", "ignored", False, None, None),
        ("Run the role", "ok", False, None, None),
        ("A change the role makes", "changed", False, "demo_role", "demo_role"),
        ("Nothing to change here", "ok", False, "demo_role", "demo_role"),
        ("A secret that fails", "skipped", False, "demo_role", "demo_role"),
        ("Break the role", "skipped", False, "demo_role", "demo_role"),
        ("Skipped on purpose", "skipped", False, "demo_role", "demo_role"),
        ("Include the inner role", "ok", False, "demo_role", "demo_role"),
        ("A change the inner role makes", "changed", False, "inner_role", "demo_role"),
        ("A handler of the role", "changed", True, "demo_role", "demo_role"),
    ]
    assert host["failed_tasks"] == []  # an ignored failure did not fail the run
    assert host["counts"]["ignored"] == 1
    assert (tmp_path / "log" / "report.json").stat().st_mode & 0o777 == 0o640


def test_a_failed_run_names_the_role_task_and_reason(tmp_path):
    proc = run(tmp_path, "-e", "break_role=true")
    assert proc.returncode == 2
    report = report_of(tmp_path)
    assert report["outcome"] == "failed"
    assert report["bootstrap"] is None  # not run by on_create.sh
    assert report["failure"] == {"stage": "play", "step": "demo_role : Break the role", "host": "localhost",
                                 "role": "demo_role", "task": "Break the role",
                                 "message": "non-zero return code: the disk is on fire", "exit_code": None}
    host = report["hosts"]["localhost"]
    assert host["outcome"] == "failed" and host["counts"]["failed"] == 1
    assert [t["name"] for t in host["failed_tasks"]] == ["Break the role"]
    assert "Skipped on purpose" not in [t["name"] for t in host["tasks"]]  # the host stopped there


def test_no_log_failures_keep_their_secret(tmp_path):
    proc = run(tmp_path, "-e", "secret_fails=true")
    assert proc.returncode == 2
    text = (tmp_path / "log" / "report.json").read_text()
    assert "s3cr3t-t0ken" not in text
    report = check_report(text)
    assert report["failure"]["task"] == "A secret that fails"
    assert report["failure"]["message"] == "(output hidden by no_log)"


def test_an_unsupported_os_is_reported_as_skipped(tmp_path):
    proc = run(tmp_path, os_release='ID=ubuntu\nVERSION_ID="22.04"\nNAME="Ubuntu"\n')
    assert proc.returncode == 0, proc.stdout
    report = report_of(tmp_path)
    assert report["outcome"] == "skipped"
    assert report["hosts"]["localhost"]["outcome"] == "skipped"
    assert "ubuntu" in report["hosts"]["localhost"]["skip_reason"]


def test_metrics_follow_the_report_in_prometheus_text_format(tmp_path):
    textfile = tmp_path / "textfile"
    steps = {"HYPERPOD_BOOTSTRAP_STEPS": "runtime=2.5", "HYPERPOD_RUN_ID": "run-2"}
    proc = run(tmp_path, metrics_dir=str(textfile), env=steps)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = report_of(tmp_path)
    prom = textfile / "hyperpod_provision.prom"
    assert prom.stat().st_mode & 0o777 == 0o644  # node-exporter reads it as another user
    assert [p.name for p in textfile.iterdir()] == ["hyperpod_provision.prom"]  # no temporary file left
    samples = metrics(prom.read_text())
    assert value(samples, "hyperpod_provision_success") == 1
    assert value(samples, "hyperpod_provision_duration_seconds") == pytest.approx(report["duration_seconds"])
    assert value(samples, "hyperpod_provision_changed_tasks") == 3
    assert value(samples, "hyperpod_provision_failed_tasks") == 0
    assert value(samples, "hyperpod_provision_step_duration_seconds", step="runtime") == 2.5
    assert value(samples, "hyperpod_provision_role_duration_seconds", role="demo_role") == pytest.approx(
        report["hosts"]["localhost"]["roles"][0]["duration_seconds"])
    assert value(samples, "hyperpod_provision_role_changed_tasks", role="demo_role") == 3
    finished = value(samples, "hyperpod_provision_last_run_timestamp_seconds")
    assert abs(finished - os.stat(prom).st_mtime) < 5
    assert value(samples, "hyperpod_provision_info", outcome="succeeded", failed_step="", platform="al2023",
                 os_version="2023", containerd_version="2.1.9") == 1

    # A failed run replaces the figures; the environment's directory wins over the play's variable.
    other = tmp_path / "other"
    assert run(tmp_path, "-e", "break_role=true", metrics_dir=str(textfile),
               env={"HYPERPOD_METRICS_TEXTFILE_DIR": str(other)}).returncode == 2
    samples = metrics((other / "hyperpod_provision.prom").read_text())
    assert value(samples, "hyperpod_provision_success") == 0
    assert value(samples, "hyperpod_provision_failed_tasks") == 1
    assert value(samples, "hyperpod_provision_info", outcome="failed", failed_step="demo_role : Break the role",
                 platform="al2023", os_version="2023", containerd_version="2.1.9") == 1


def test_check_mode_keeps_the_last_real_report_and_metrics(tmp_path):
    textfile = tmp_path / "textfile"
    assert run(tmp_path, metrics_dir=str(textfile)).returncode == 0
    real = (tmp_path / "log" / "report.json").read_text()
    prom = (textfile / "hyperpod_provision.prom").read_text()
    proc = run(tmp_path, "--check", metrics_dir=str(textfile))
    assert proc.returncode == 0, proc.stdout
    assert (tmp_path / "log" / "report.json").read_text() == real
    assert (textfile / "hyperpod_provision.prom").read_text() == prom
    assert report_of(tmp_path, "report.check.json")["check_mode"] is True


def test_an_unwritable_report_is_a_warning_not_a_failed_run(tmp_path):
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "report.json").mkdir()  # a directory where the file should go
    proc = run(tmp_path)
    assert proc.returncode == 0
    assert "provision_report: cannot write" in proc.stderr + proc.stdout


# -- on_init_complete.sh: the verification, added to the OnCreate run's report -----------------------

VERIFY_PLAY = """
- name: Verification test play
  hosts: localhost
  gather_facts: false
  vars:
    hyperpod_metrics_textfile_dir: "{metrics_dir}"
  tasks:
    - name: Read the os-release
      hyperpod.eks_lifecycle.os_release_facts:
        path: "{os_release}"

    - name: Choose the volume
      ansible.builtin.set_fact:
        containerd_data_root_volume_choice:
          setting: auto
          path: /opt/dlami/nvme
          kind: instance_store
          reason: the instance has an instance store (mounted at /opt/dlami/nvme), mounted at /opt/dlami/nvme
          waited_seconds: 0.0

    - name: Gather the checks
      ansible.builtin.set_fact:
        hyperpod_verification_checks:
          - name: containerd_running
            ok: true
            detail: containerd is active and answers on /run/containerd/containerd.sock
          - name: containerd_sandbox_image
            ok: "{{{{ not (sandbox_missing | default(false) | bool) }}}}"
            detail: sandbox image localhost/kubernetes/pause:latest
          - not a check

    - name: Fail when provisioning is not in effect
      ansible.builtin.assert:
        that:
          - hyperpod_verification_checks | select('mapping') | rejectattr('ok') | list | length == 0
        fail_msg: provisioning is not in effect
        quiet: true
"""

CHECKS = [
    {"name": "containerd_running", "ok": True, "detail": "containerd is active and answers on /run/containerd/containerd.sock"},
    {"name": "containerd_sandbox_image", "ok": True, "detail": "sandbox image localhost/kubernetes/pause:latest"},
]
VOLUME = {"setting": "auto", "path": "/opt/dlami/nvme", "kind": "instance_store",
          "reason": "the instance has an instance store (mounted at /opt/dlami/nvme), mounted at /opt/dlami/nvme"}
VERIFY_ENV = {"HYPERPOD_HOOK": "on_init_complete", "HYPERPOD_RUN_ID": "verify-1"}


def test_the_verification_is_added_to_the_oncreate_report(tmp_path):
    textfile = tmp_path / "textfile"
    proc = run(tmp_path, metrics_dir=str(textfile), env={"HYPERPOD_RUN_ID": "oncreate-1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    on_create = json.loads((tmp_path / "log" / "report.json").read_text())
    on_create_prom = (textfile / "hyperpod_provision.prom").read_text()

    proc = run(tmp_path, metrics_dir=str(textfile), env=VERIFY_ENV, play=VERIFY_PLAY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (tmp_path / "log" / "report.json").read_text()
    report = check_report(text, verification=True)
    data = json.loads(text)
    # The OnCreate run's report is kept as it was; the verification is a section of its own.
    assert dict((k, v) for k, v in data.items() if k != "verification") == on_create
    assert report["run_id"] == "oncreate-1"
    verification = report["verification"]
    assert verification["run_id"] == "verify-1" and verification["outcome"] == "succeeded"
    assert verification["playbook"]["name"] == "play.yml"
    assert not [key for key in verification if key.startswith("_")]
    host = verification["hosts"]["localhost"]
    assert host["checks"] == CHECKS  # the entry that is not a mapping is left out
    assert host["volume"] == VOLUME  # waited_seconds is not the report's
    assert "checks" not in report["hosts"]["localhost"]
    assert (tmp_path / "log" / "report.json").stat().st_mode & 0o777 == 0o640

    # The verification's own metrics; the OnCreate run's are left as they were.
    assert sorted(p.name for p in textfile.iterdir()) == ["hyperpod_provision.prom", "hyperpod_provision_verification.prom"]
    assert (textfile / "hyperpod_provision.prom").read_text() == on_create_prom
    prom = textfile / "hyperpod_provision_verification.prom"
    assert prom.stat().st_mode & 0o777 == 0o644
    samples = metrics(prom.read_text())
    assert value(samples, "hyperpod_provision_verification_success") == 1
    assert value(samples, "hyperpod_provision_verification_check", check="containerd_running") == 1
    assert value(samples, "hyperpod_provision_verification_check", check="containerd_sandbox_image") == 1
    assert abs(value(samples, "hyperpod_provision_verification_timestamp_seconds") - prom.stat().st_mtime) < 5


def test_a_failed_verification(tmp_path):
    textfile = tmp_path / "textfile"
    assert run(tmp_path, env={"HYPERPOD_RUN_ID": "oncreate-1"}).returncode == 0
    proc = run(tmp_path, "-e", "sandbox_missing=true", metrics_dir=str(textfile), env=VERIFY_ENV, play=VERIFY_PLAY)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    report = check_report((tmp_path / "log" / "report.json").read_text(), verification=True)
    assert report["outcome"] == "succeeded"  # the OnCreate run's
    verification = report["verification"]
    assert verification["outcome"] == "failed"
    assert verification["failure"]["task"] == "Fail when provisioning is not in effect"
    assert verification["hosts"]["localhost"]["checks"] == [CHECKS[0], dict(CHECKS[1], ok=False)]
    samples = metrics((textfile / "hyperpod_provision_verification.prom").read_text())
    assert value(samples, "hyperpod_provision_verification_success") == 0
    assert value(samples, "hyperpod_provision_verification_check", check="containerd_running") == 1
    assert value(samples, "hyperpod_provision_verification_check", check="containerd_sandbox_image") == 0


def test_a_verification_without_an_oncreate_report(tmp_path):
    proc = run(tmp_path, env=VERIFY_ENV, play=VERIFY_PLAY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((tmp_path / "log" / "report.json").read_text())
    assert sorted(data) == ["note", "outcome", "run_id", "schema_version", "verification"]
    assert data["run_id"] is None and data["outcome"] is None and data["schema_version"] == 1
    assert data["verification"]["hosts"]["localhost"]["checks"] == CHECKS


def test_a_verification_in_check_mode_keeps_the_reports(tmp_path):
    textfile = tmp_path / "textfile"
    assert run(tmp_path, metrics_dir=str(textfile)).returncode == 0
    real = (tmp_path / "log" / "report.json").read_text()
    proc = run(tmp_path, "--check", metrics_dir=str(textfile), env=VERIFY_ENV, play=VERIFY_PLAY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "log" / "report.json").read_text() == real
    assert sorted(p.name for p in textfile.iterdir()) == ["hyperpod_provision.prom"]
    preview = json.loads((tmp_path / "log" / "report.check.json").read_text())
    assert preview["verification"]["check_mode"] is True


def test_without_the_hook_checks_are_not_reported_but_the_volume_is(tmp_path):
    proc = run(tmp_path, env={"HYPERPOD_RUN_ID": "run-1"}, play=VERIFY_PLAY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = check_report((tmp_path / "log" / "report.json").read_text(), verification=False)
    host = report["hosts"]["localhost"]
    assert "checks" not in host
    assert host["volume"] == VOLUME
    assert report["run_id"] == "run-1"


def test_the_volume_choice_without_a_choice_is_not_reported(tmp_path):
    assert run(tmp_path).returncode == 0
    assert "volume" not in report_of(tmp_path)["hosts"]["localhost"]
