# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The provision_log callback, driven by a real ansible-playbook run on this machine."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]  # the collection's root
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[ansible\] (.*)$")

PLAY = """
- name: Callback test play
  hosts: localhost
  gather_facts: false
  tasks:
    - name: A task that changes nothing
      ansible.builtin.command: "true"
      changed_when: false
    - name: A secret the log must not see
      ansible.builtin.command: echo s3cr3t-t0ken
      changed_when: true
      no_log: true
    - name: A message on purpose
      ansible.builtin.debug:
        msg: "hello from the play"
    - name: A failing task with its reason
      ansible.builtin.command: sh -c 'echo broken >&2; exit 3'
      changed_when: false
      ignore_errors: true
    - name: A loop whose second item fails
      ansible.builtin.assert:
        that: [item != 'b']
        fail_msg: "item {{ item }} is refused"
        quiet: true
      loop: [a, b]
      ignore_errors: true
    - name: A skipped task
      ansible.builtin.command: "true"
      changed_when: false
      when: false
    - name: A task that runs long
      ansible.builtin.command: sleep 2.5
      changed_when: false
"""


def run_play(tmp_path, log):
    collections = tmp_path / "collections" / "ansible_collections" / "hyperpod"
    collections.mkdir(parents=True)
    (collections / "eks_lifecycle").symlink_to(REPO)
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)
    # The play runs with Ansible's defaults, not the settings of what runs the tests (ansible-test
    # units exports ANSIBLE_FORCE_HANDLERS, ANSIBLE_INVENTORY, ANSIBLE_CONFIG and more).
    outside = {key: val for key, val in os.environ.items() if not key.startswith("ANSIBLE_")}
    env = dict(outside, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
               ANSIBLE_CALLBACKS_ENABLED="hyperpod.eks_lifecycle.provision_log",
               HYPERPOD_PROVISION_LOG=str(log), HYPERPOD_PROVISION_LOG_PROGRESS="1", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false")
    return subprocess.run(["ansible-playbook", "-c", "local", str(playbook)], env=env, capture_output=True,
                          text=True, check=False)


def test_one_line_per_step_with_its_duration_and_no_secret(tmp_path):
    log = tmp_path / "log" / "provisioning.log"
    log.parent.mkdir()
    log.write_text("2026-01-01T00:00:00.000Z [start] an earlier run\n")
    proc = run_play(tmp_path, log)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == "2026-01-01T00:00:00.000Z [start] an earlier run"  # appended, not truncated
    messages = [LINE.match(line).group(1) for line in lines[1:]]
    assert messages[0] == "[start] playbook play.yml"
    # One line per step, when it ends; a step still running after progress_after (1 s here) gets a
    # line each time it passes that again; skipped steps are left out (the report has them).
    assert not any(m.startswith("start: ") for m in messages)
    assert not any("A skipped task" in m for m in messages)
    running = [m for m in messages if m.startswith("running: localhost | A task that runs long (")]
    assert len(running) >= 2, messages
    assert messages.index(running[-1]) < next(i for i, m in enumerate(messages) if m.startswith("ok: localhost | A task that runs long"))
    assert not any(m.startswith("running: ") and "A task that runs long" not in m for m in messages)
    assert any(re.fullmatch(r"ok: localhost \| A task that changes nothing \(\d+\.\d\ds\)", m) for m in messages)
    assert any(re.fullmatch(r"changed: localhost \| A secret the log must not see \(\d+\.\d\ds\)", m) for m in messages)
    assert any(re.fullmatch(r"ok: localhost \| A message on purpose \(\d+\.\d\ds\) \| hello from the play", m)
               for m in messages)
    assert any(re.fullmatch(r"failed \(ignored\): localhost \| A failing task with its reason \(\d+\.\d\ds\) \| "
                            r"non-zero return code: broken", m) for m in messages), messages
    # A loop's failure names its failed item's reason, not "One or more items failed".
    assert any(re.fullmatch(r"failed \(ignored\): localhost \| A loop whose second item fails \(\d+\.\d\ds\) \| "
                            r"item b is refused", m) for m in messages), messages
    assert messages[-1].startswith("[stop] playbook recap: localhost ok=")
    assert "s3cr3t-t0ken" not in log.read_text()
