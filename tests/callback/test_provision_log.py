"""The provision_log callback, driven by a real ansible-playbook run on this machine."""

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
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
"""


def run_play(tmp_path, log):
    collections = tmp_path / "collections" / "ansible_collections" / "hyperpod"
    collections.mkdir(parents=True)
    (collections / "eks_lifecycle").symlink_to(REPO)
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
               ANSIBLE_CALLBACKS_ENABLED="hyperpod.eks_lifecycle.provision_log",
               HYPERPOD_PROVISION_LOG=str(log), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false")
    return subprocess.run(["ansible-playbook", "-c", "local", str(playbook)], env=env, capture_output=True,
                          text=True, check=False)


def test_every_task_start_and_end_with_duration_and_no_secret(tmp_path):
    log = tmp_path / "log" / "provisioning.log"
    log.parent.mkdir()
    log.write_text("2026-01-01T00:00:00.000Z [start] an earlier run\n")
    proc = run_play(tmp_path, log)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == "2026-01-01T00:00:00.000Z [start] an earlier run"  # appended, not truncated
    messages = [LINE.match(line).group(1) for line in lines[1:]]
    assert messages[0] == "[start] playbook play.yml"
    for task in ("A task that changes nothing", "A secret the log must not see", "A message on purpose",
                 "A failing task with its reason"):
        assert "start: localhost | %s" % task in messages
    assert any(re.fullmatch(r"ok: localhost \| A task that changes nothing \(\d+\.\d\ds\)", m) for m in messages)
    assert any(re.fullmatch(r"changed: localhost \| A secret the log must not see \(\d+\.\d\ds\)", m) for m in messages)
    assert any(re.fullmatch(r"ok: localhost \| A message on purpose \(\d+\.\d\ds\) \| hello from the play", m)
               for m in messages)
    assert any(re.fullmatch(r"failed \(ignored\): localhost \| A failing task with its reason \(\d+\.\d\ds\) \| "
                            r"non-zero return code: broken", m) for m in messages), messages
    assert messages[-1].startswith("[stop] playbook recap: localhost ok=")
    assert "s3cr3t-t0ken" not in log.read_text()
