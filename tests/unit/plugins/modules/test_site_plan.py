# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""site_plan: the site's steps for this node, planned from a real site folder."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.hyperpod.eks_lifecycle.plugins.modules import site_plan
from ansible_collections.hyperpod.eks_lifecycle.tests.unit.plugins.modules.utils import run_main

TASKS = "- name: Say hello\n  ansible.builtin.debug:\n    msg: hello\n"


def write(base, relative, text):
    path = os.path.join(str(base), relative)
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path))
    with open(path, "w") as handle:
        handle.write(text)
    return path


def a_site(base):
    write(base, "roles/site_motd/tasks/main.yml", TASKS)
    write(base, "tasks/gpu.yml", TASKS)
    write(base, "tasks/broken.yml", "- name: x\n  debug:\n    msg: a: b\n")
    write(base, "scripts.d/10-early.sh", "#!/bin/bash\n# hyperpod: phase=before timeout=60\necho early\n")
    write(base, "scripts.d/20-p5.sh", "#!/bin/sh\n# hyperpod: instance-types=p5.*\necho p5\n")
    write(base, "scripts.d/README", "how to write a script\n")
    return str(base)


STEPS = [{"role": "site_motd"}, {"tasks": "tasks/gpu.yml", "instance_groups": ["gpu-*"]}, {"tasks": "tasks/broken.yml"}]


def test_plan_for_a_node(monkeypatch, tmp_path):
    failed, result = run_main(monkeypatch, site_plan, {
        "site_dir": a_site(tmp_path), "steps": STEPS, "instance_group": "cpu-workers", "instance_type": "ml.p5.48xlarge",
        "script_env": {"SITE": "prod", "DEBUG": True}})
    assert not failed
    assert result["changed"] is False
    assert [s["name"] for s in result["before"]] == ["scripts.d/10-early.sh"]
    assert [(s["name"], s["skip"], s["error"]) for s in result["after"]] == [
        ("role site_motd", "", ""),
        ("tasks/gpu.yml", "instance group cpu-workers is not one of gpu-*", ""),
        ("tasks/broken.yml", "", "tasks/broken.yml: line 3 column 11 is not valid YAML: mapping values are not allowed here"),
        ("scripts.d/20-p5.sh", "", ""),
    ]
    early = result["before"][0]
    assert (early["interpreter"], early["timeout"], early["path"]) == (
        ["/bin/bash"], 60, os.path.join(str(tmp_path), "scripts.d", "10-early.sh"))
    assert result["ignored"] == [{"file": "scripts.d/README", "reason": "not named *.sh"}]
    assert result["errors"] == []
    assert result["script_env"] == {"SITE": "prod", "DEBUG": "true"}
    assert result["summary"] == ("site: 1 steps before the built-in roles, 4 after (3 to run, 1 not for this node, "
                                 "1 that cannot run); not run: scripts.d/README (not named *.sh)")


def test_plan_on_a_node_that_does_not_know_its_group(monkeypatch, tmp_path):
    failed, result = run_main(monkeypatch, site_plan, {
        "site_dir": a_site(tmp_path), "steps": STEPS[:2], "instance_group": "",
        "instance_group_reason": "no /opt/ml/config/resource_config.json", "instance_type": "ml.g5.xlarge"})
    assert not failed
    gpu = result["after"][1]
    assert gpu["error"] == ("tasks/gpu.yml is limited to instance groups gpu-*, and this node's instance group is unknown "
                            "(no /opt/ml/config/resource_config.json)")
    assert result["after"][2]["skip"] == "instance type ml.g5.xlarge is not one of p5.*"
    assert result["summary"].startswith("site: 1 steps before the built-in roles, 3 after (2 to run, 1 not for this node, "
                                        "1 that cannot run)")


def test_bad_steps_and_script_env_are_the_plans_errors(monkeypatch, tmp_path):
    failed, result = run_main(monkeypatch, site_plan, {
        "site_dir": a_site(tmp_path), "steps": [{"role": "site_motd", "when": "x"}, "tasks/gpu.yml"],
        "instance_type": "ml.p5.48xlarge", "script_env": {"HYPERPOD_STEP": "x", "OK": 1, "LIST": [1]}})
    assert not failed  # the play fails on them, with its own message
    assert result["errors"] == [
        "hyperpod_site_steps[0]: unknown key when (known: name, role, tasks, script, phase, instance_groups, instance_types, "
        "allow_failure)",
        "hyperpod_site_steps[1]: a step is a mapping with one of role, tasks or script",
        "hyperpod_site_script_env: 'HYPERPOD_STEP' is not a name a site may set (letters, digits, _; HYPERPOD_* are the "
        "collection's)",
        "hyperpod_site_script_env: LIST must be a string, a number or a boolean",
    ]
    assert result["script_env"] == {"OK": "1"}
    assert [s["name"] for s in result["before"] + result["after"]] == ["scripts.d/10-early.sh", "scripts.d/20-p5.sh"]


def test_collection_roles_are_looked_for_in_collections_paths(monkeypatch, tmp_path):
    site_dir = a_site(tmp_path / "site")
    write(tmp_path / "collections", "ansible_collections/acme/tools/roles/tune/tasks/main.yml", TASKS)
    args = {"site_dir": site_dir, "steps": [{"role": "acme.tools.tune"}], "instance_type": "ml.p5.48xlarge"}
    failed, result = run_main(monkeypatch, site_plan, dict(args, collections_paths=[str(tmp_path / "none"), str(tmp_path / "collections")]))
    assert result["after"][0]["error"] == ""
    assert result["after"][0]["path"] == str(tmp_path / "collections/ansible_collections/acme/tools/roles/tune")
    failed, result = run_main(monkeypatch, site_plan, args)
    assert result["after"][0]["error"] == ("role acme.tools.tune: not found in the site's collections "
                                           "(is its collection in requirements.yml?)")


def test_an_empty_site_folder(monkeypatch, tmp_path):
    failed, result = run_main(monkeypatch, site_plan, {"site_dir": str(tmp_path)})
    assert not failed
    assert (result["before"], result["after"], result["ignored"], result["errors"], result["script_env"]) == ([], [], [], [], {})
    assert result["summary"] == ("site: 0 steps before the built-in roles, 0 after (0 to run, 0 not for this node, "
                                 "0 that cannot run)")


def test_a_site_folder_that_is_not_there(monkeypatch, tmp_path):
    failed, result = run_main(monkeypatch, site_plan, {"site_dir": str(tmp_path / "site")})
    assert failed
    assert result["msg"] == "the site folder %s is not a directory" % (tmp_path / "site")
    write(tmp_path, "file", "")
    failed, result = run_main(monkeypatch, site_plan, {"site_dir": str(tmp_path / "file")})
    assert failed and "is not a directory" in result["msg"]
