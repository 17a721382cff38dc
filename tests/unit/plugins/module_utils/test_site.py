# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/site: the admin's site folder, its script headers, its steps and their order."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils import site
from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.site import SiteError

TASKS = "- name: Say hello\n  ansible.builtin.debug:\n    msg: hello\n"


def write(base, relative, text, mode=None):
    path = os.path.join(str(base), relative)
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path))
    with open(path, "wb") as handle:
        handle.write(text if isinstance(text, bytes) else text.encode("utf-8"))
    if mode is not None:
        os.chmod(path, mode)
    return path


def role(base, name, **files):
    files.setdefault("tasks/main.yml", TASKS)
    for relative, text in files.items():
        if text is not None:  # None: no such file
            write(base, "roles/%s/%s" % (name, relative), text)


def script(base, name, header="", body="echo hi\n", mode=0o755):
    return write(base, "scripts.d/" + name, "#!/bin/sh\n" + header + body, mode)


def names(steps):
    return [step["name"] for step in steps]


def errors(result):
    return dict((step["name"], step["error"]) for step in result["before"] + result["after"] if step["error"])


# -- parse_script ---------------------------------------------------------------------------------

def test_a_script_without_settings_gets_the_defaults():
    assert site.parse_script(b"#!/bin/bash\necho hi\n", "scripts.d/a.sh") == {
        "interpreter": ["/bin/bash"], "allow_failure": False, "check_safe": False, "timeout": site.DEFAULT_TIMEOUT,
        "creates": "", "instance_groups": [], "instance_types": [], "phase": "",
    }


@pytest.mark.parametrize("first, interpreter", [
    ("#!/bin/bash", ["/bin/bash"]),
    ("#! /bin/sh", ["/bin/sh"]),
    ("#!/usr/bin/env bash", ["/usr/bin/env", "bash"]),
    ("#!/bin/bash -eu -o pipefail", ["/bin/bash", "-eu -o pipefail"]),  # one argument, as the kernel passes it
])
def test_the_interpreter_is_the_shebang_line(first, interpreter):
    assert site.parse_script((first + "\necho\n").encode(), "s")["interpreter"] == interpreter


def test_a_script_saved_with_windows_line_ends_is_refused():
    # bash would read each line's \r as part of the command ($'\r': command not found).
    with pytest.raises(site.SiteError, match=r"^scripts.d/a.sh: has Windows line endings \(CRLF\)"):
        site.parse_script(b"#!/bin/bash\r\nset -e\r\necho hi\r\n", "scripts.d/a.sh")


def test_every_setting_of_the_header():
    header = (b"#!/bin/bash\n"
              b"# Install the site's packages.\n"
              b"\n"
              b"# hyperpod: allow-fail check-safe\n"
              b"#hyperpod: timeout=600   creates=/var/lib/site/packages.done\n"
              b"#   hyperpod: instance-groups=gpu-*,login instance-types=ml.p5.*,g5.xlarge phase=before\n"
              b"set -eu\n"
              b"echo done\n")
    assert site.parse_script(header, "scripts.d/10-packages.sh") == {
        "interpreter": ["/bin/bash"], "allow_failure": True, "check_safe": True, "timeout": 600,
        "creates": "/var/lib/site/packages.done", "instance_groups": ["gpu-*", "login"],
        "instance_types": ["ml.p5.*", "g5.xlarge"], "phase": "before",
    }


@pytest.mark.parametrize("value", ["1", "86400"])
def test_timeout_bounds_are_accepted(value):
    assert site.parse_script(("#!/bin/sh\n# hyperpod: timeout=%s\n" % value).encode(), "s")["timeout"] == int(value)


@pytest.mark.parametrize("line, message", [
    ("# hyperpod: retry", "scripts.d/10-x.sh line 3: unknown setting 'retry' (known: allow-fail, check-safe, and timeout=..."),
    ("# hyperpod: allow-fail=yes", "scripts.d/10-x.sh line 3: unknown setting 'allow-fail=yes'"),
    ("# hyperpod: check-safe=1", "scripts.d/10-x.sh line 3: unknown setting 'check-safe=1'"),
    ("# hyperpod: timeout", "scripts.d/10-x.sh line 3: unknown setting 'timeout'"),
    ("# hyperpod: timeout=", "scripts.d/10-x.sh line 3: unknown setting 'timeout='"),
    ("# hyperpod: Timeout=5", "scripts.d/10-x.sh line 3: unknown setting 'Timeout=5'"),
    ("# hyperpod: timeout=0", "scripts.d/10-x.sh line 3: timeout must be a number of seconds from 1 to 86400, not '0'"),
    ("# hyperpod: timeout=86401", "scripts.d/10-x.sh line 3: timeout must be a number of seconds from 1 to 86400, not '86401'"),
    ("# hyperpod: timeout=10m", "scripts.d/10-x.sh line 3: timeout must be a number of seconds"),
    ("# hyperpod: timeout=-5", "scripts.d/10-x.sh line 3: timeout must be a number of seconds"),
    ("# hyperpod: creates=done.flag", "scripts.d/10-x.sh line 3: creates= must be an absolute path, not 'done.flag'"),
    ("# hyperpod: creates=/var/lib/../etc/x", "scripts.d/10-x.sh line 3: creates= must be an absolute path"),
    ("# hyperpod: creates=/var/lib/x/..", "scripts.d/10-x.sh line 3: creates= must be an absolute path"),
    ("# hyperpod: phase=during", "scripts.d/10-x.sh line 3: phase must be before or after, not 'during'"),
    ("# hyperpod: instance-groups=gpu,,cpu", "scripts.d/10-x.sh line 3: instance-groups has a bad name or pattern ''"),
    ("# hyperpod: instance-groups=a/b", "scripts.d/10-x.sh line 3: instance-groups has a bad name or pattern 'a/b'"),
    ("# hyperpod: instance-types=-p5", "scripts.d/10-x.sh line 3: instance-types has a bad name or pattern '-p5'"),
    ("# hyperpod: allow-fail bogus", "scripts.d/10-x.sh line 3: unknown setting 'bogus'"),
])
def test_a_bad_setting_names_the_file_and_the_line(line, message):
    data = ("#!/bin/sh\n# A comment first.\n%s\necho hi\n" % line).encode()
    with pytest.raises(SiteError) as info:
        site.parse_script(data, "scripts.d/10-x.sh")
    assert str(info.value).startswith(message)


def test_a_setting_after_the_header_is_refused():
    data = b"#!/bin/sh\n# hyperpod: timeout=60\n\nset -eu\n# hyperpod: allow-fail\necho hi\n"
    with pytest.raises(SiteError) as info:
        site.parse_script(data, "scripts.d/10-x.sh")
    assert str(info.value) == ("scripts.d/10-x.sh line 5: '# hyperpod:' settings belong in the comment block "
                               "at the top of the script")


def test_blank_lines_and_comments_keep_the_header_open():
    data = b"#!/bin/sh\n\n# About this script.\n\n   # hyperpod: allow-fail\n\necho hi\n# not a setting: hyperpod:x\n"
    result = site.parse_script(data, "s")
    assert result["allow_failure"] is True
    assert result["timeout"] == site.DEFAULT_TIMEOUT


@pytest.mark.parametrize("data", [b"", b"\n", b"echo hi\n", b"# hyperpod: allow-fail\necho\n", b"#!\n", b"#!   \necho\n",
                                  b" #!/bin/sh\n"])
def test_the_first_line_must_be_a_shebang(data):
    with pytest.raises(SiteError) as info:
        site.parse_script(data, "scripts.d/10-x.sh")
    assert str(info.value) == ("scripts.d/10-x.sh: the first line must be a #! line naming the interpreter "
                               "(e.g. #!/bin/bash)")


@pytest.mark.parametrize("first, word", [("#!bash", "bash"), ("#!usr/bin/env bash", "usr/bin/env"), ("#! ./run", "./run")])
def test_the_interpreter_must_be_an_absolute_path(first, word):
    with pytest.raises(SiteError) as info:
        site.parse_script((first + "\necho\n").encode(), "scripts.d/10-x.sh")
    assert str(info.value) == "scripts.d/10-x.sh: the #! line must name the interpreter by its absolute path, not %r" % word


# -- list_scripts and check_script ------------------------------------------------------------------

def test_without_scripts_d_there_are_no_scripts(tmp_path):
    assert site.list_scripts(str(tmp_path)) == ([], [])


def test_list_scripts_in_name_order_and_what_is_not_run(tmp_path):
    for name in ("20-b.sh", "10-a.sh", "3-c.sh", "README.md", "10-a.sh~", "notes.txt", ".10-a.sh.swp", "99-disabled.sh.off"):
        write(tmp_path, "scripts.d/" + name, "#!/bin/sh\n")
    os.makedirs(str(tmp_path / "scripts.d" / "lib.sh"))
    os.makedirs(str(tmp_path / "scripts.d" / "helpers"))
    scripts, ignored = site.list_scripts(str(tmp_path))
    assert scripts == ["10-a.sh", "20-b.sh", "3-c.sh"]  # by name, as `ls` sorts them in the C locale
    assert ignored == [
        {"file": "scripts.d/.10-a.sh.swp", "reason": "not named *.sh"},
        {"file": "scripts.d/10-a.sh~", "reason": "not named *.sh"},
        {"file": "scripts.d/99-disabled.sh.off", "reason": "not named *.sh"},
        {"file": "scripts.d/README.md", "reason": "not named *.sh"},
        {"file": "scripts.d/helpers", "reason": "not named *.sh"},
        {"file": "scripts.d/lib.sh", "reason": "a directory"},
        {"file": "scripts.d/notes.txt", "reason": "not named *.sh"},
    ]


def test_check_script_reads_the_header(tmp_path):
    script(tmp_path, "10-a.sh", header="# hyperpod: timeout=5\n")
    assert site.check_script(str(tmp_path), "10-a.sh")["timeout"] == 5


@pytest.mark.parametrize("name", ["a b.sh", ".hidden.sh", "-x.sh", "x.sh.bak", "caf\u00e9.sh", "a;b.sh"])
def test_check_script_refuses_odd_names(tmp_path, name):
    with pytest.raises(SiteError) as info:
        site.check_script(str(tmp_path), name)
    assert str(info.value) == ("scripts.d/%s: a script's name may hold only letters, digits and _ . + - (and end in .sh)"
                               % name)


def test_check_script_refuses_what_is_not_a_regular_file(tmp_path):
    outside = write(tmp_path, "elsewhere/evil.sh", "#!/bin/sh\n")
    site_dir = tmp_path / "site"
    script(site_dir, "10-real.sh")
    os.symlink(outside, str(site_dir / "scripts.d" / "20-out.sh"))
    os.symlink("10-real.sh", str(site_dir / "scripts.d" / "30-in.sh"))
    os.mkfifo(str(site_dir / "scripts.d" / "40-fifo.sh"))
    with pytest.raises(SiteError) as info:
        site.check_script(str(site_dir), "20-out.sh")
    assert str(info.value) == "scripts.d/20-out.sh: scripts.d/20-out.sh resolves outside the site folder"
    with pytest.raises(SiteError) as info:
        site.check_script(str(site_dir), "30-in.sh")
    assert str(info.value) == "scripts.d/30-in.sh: not a regular file"
    with pytest.raises(SiteError) as info:  # never opened (it would block)
        site.check_script(str(site_dir), "40-fifo.sh")
    assert str(info.value) == "scripts.d/40-fifo.sh: not a regular file"
    with pytest.raises(SiteError) as info:
        site.check_script(str(site_dir), "50-missing.sh")
    assert str(info.value) == "scripts.d/50-missing.sh: No such file or directory"


def test_scripts_d_as_a_link_out_of_the_folder_is_refused(tmp_path):
    script(tmp_path / "elsewhere", "10-a.sh")
    os.makedirs(str(tmp_path / "site"))
    os.symlink(str(tmp_path / "elsewhere" / "scripts.d"), str(tmp_path / "site" / "scripts.d"))
    with pytest.raises(SiteError) as info:
        site.check_script(str(tmp_path / "site"), "10-a.sh")
    assert "resolves outside the site folder" in str(info.value)


def test_check_script_exec_bit_only_when_required(tmp_path):
    script(tmp_path, "10-a.sh", mode=0o644)
    assert site.check_script(str(tmp_path), "10-a.sh")["interpreter"] == ["/bin/sh"]  # on the node: S3 keeps no bits
    with pytest.raises(SiteError) as info:
        site.check_script(str(tmp_path), "10-a.sh", require_exec=True)
    assert str(info.value) == ("scripts.d/10-a.sh: not executable: a script in scripts.d/ must have its exec bit "
                               "(chmod +x scripts.d/10-a.sh)")
    os.chmod(str(tmp_path / "scripts.d" / "10-a.sh"), 0o744)
    assert site.check_script(str(tmp_path), "10-a.sh", require_exec=True)["timeout"] == site.DEFAULT_TIMEOUT


# -- normalize_step and load_steps ------------------------------------------------------------------

def test_normalize_step_defaults():
    assert site.normalize_step({"role": "site_motd"}, 0) == {
        "name": "role site_motd", "kind": "role", "ref": "site_motd", "phase": "after", "phase_given": False,
        "instance_groups": [], "instance_types": [], "allow_failure": False,
    }
    assert site.normalize_step({"tasks": "tasks/setup.yml"}, 1)["name"] == "tasks/setup.yml"
    step = site.normalize_step({"script": "scripts.d/10-a.sh", "phase": "before"}, 2)
    assert (step["name"], step["ref"], step["phase"], step["phase_given"]) == ("scripts.d/10-a.sh", "10-a.sh", "before", True)
    assert site.normalize_step({"script": "10-a.sh"}, 3)["name"] == "scripts.d/10-a.sh"
    assert site.normalize_step({"role": "acme.tools.setup"}, 4)["name"] == "role acme.tools.setup"


def test_normalize_step_values():
    step = site.normalize_step({"name": "GPU tuning: step 2", "tasks": "tasks/gpu.yml", "instance_groups": "gpu-*",
                                "instance_types": ["ml.p5.*", "g5.xlarge"], "allow_failure": "yes", "phase": "after"}, 0)
    assert step["name"] == "GPU tuning: step 2"
    assert step["instance_groups"] == ["gpu-*"]
    assert step["instance_types"] == ["ml.p5.*", "g5.xlarge"]
    assert step["allow_failure"] is True
    for value, expected in ((True, True), ("false", False), ("Off", False), ("1", True), (False, False)):
        assert site.normalize_step({"role": "r", "allow_failure": value}, 0)["allow_failure"] is expected
    assert site.normalize_step({"role": "r", "instance_groups": None, "instance_types": ""}, 0)["instance_groups"] == []


@pytest.mark.parametrize("entry, message", [
    ("tasks/a.yml", "hyperpod_site_steps[4]: a step is a mapping with one of role, tasks or script"),
    (["role", "x"], "hyperpod_site_steps[4]: a step is a mapping with one of role, tasks or script"),
    ({"role": "r", "when": "x", "become": True},
     "hyperpod_site_steps[4]: unknown key become, when (known: name, role, tasks, script, phase, "),
    ({}, "hyperpod_site_steps[4]: a step names exactly one of role, tasks or script"),
    ({"name": "only a name"}, "hyperpod_site_steps[4]: a step names exactly one of role, tasks or script"),
    ({"role": "r", "tasks": "tasks/a.yml"}, "hyperpod_site_steps[4]: a step names exactly one of role, tasks or script"),
    ({"role": "", "tasks": None}, "hyperpod_site_steps[4]: a step names exactly one of role, tasks or script"),
    ({"role": ["a"]}, "hyperpod_site_steps[4]: role must be a string"),
    ({"tasks": 3}, "hyperpod_site_steps[4]: tasks must be a string"),
    ({"role": "roles/x"}, "hyperpod_site_steps[4]: 'roles/x' is not a role name (a name in roles/, or namespace.collection.role)"),
    ({"role": "acme.x"}, "hyperpod_site_steps[4]: 'acme.x' is not a role name"),
    ({"role": "../x"}, "hyperpod_site_steps[4]: '../x' is not a role name"),
    ({"script": "../10-a.sh"}, "hyperpod_site_steps[4]: '../10-a.sh' is not the name of a script in scripts.d/"),
    ({"script": "scripts.d/../../x.sh"}, "hyperpod_site_steps[4]: '../../x.sh' is not the name of a script in scripts.d/"),
    ({"script": "10-a.py"}, "hyperpod_site_steps[4]: '10-a.py' is not the name of a script in scripts.d/"),
    ({"script": "10-a.sh", "instance_groups": ["gpu"]},
     "hyperpod_site_steps[4]: a script's instance_groups is set in its header (# hyperpod: ...), not here"),
    ({"script": "10-a.sh", "instance_types": ["p5.48xlarge"]},
     "hyperpod_site_steps[4]: a script's instance_types is set in its header"),
    ({"script": "10-a.sh", "allow_failure": True}, "hyperpod_site_steps[4]: a script's allow_failure is set in its header"),
    ({"role": "r", "phase": "middle"}, "hyperpod_site_steps[4]: phase must be before or after, not 'middle'"),
    ({"role": "r", "name": "two\nlines"}, "hyperpod_site_steps[4]: name 'two\\nlines' may hold letters, digits, spaces"),
    ({"role": "r", "name": "x" * 121}, "hyperpod_site_steps[4]: name 'xxx"),
    ({"role": "r", "name": ["a"]}, "hyperpod_site_steps[4]: name ['a'] may hold letters"),
    ({"role": "r", "instance_groups": [1]}, "hyperpod_site_steps[4]: instance_groups must be a list of names or patterns"),
    ({"role": "r", "instance_groups": ["gpu/x"]}, "hyperpod_site_steps[4]: instance_groups must be a list of names or patterns"),
    ({"role": "r", "instance_types": {"a": 1}}, "hyperpod_site_steps[4]: instance_types must be a list of names or patterns"),
    ({"role": "r", "allow_failure": "maybe"}, "hyperpod_site_steps[4]: allow_failure must be true or false, not 'maybe'"),
    ({"role": "r", "allow_failure": 1}, "hyperpod_site_steps[4]: allow_failure must be true or false, not 1"),
    # A task file's path that climbs out is said to be one, not blamed on the (default) name.
    ({"tasks": "../outside.yml"}, "hyperpod_site_steps[4]: tasks '../outside.yml' must be a relative path inside the site folder"),
    ({"tasks": "/etc/ansible/tasks.yml"}, "hyperpod_site_steps[4]: tasks '/etc/ansible/tasks.yml' must be a relative path"),
    ({"tasks": "tasks//a.yml"}, "hyperpod_site_steps[4]: tasks 'tasks//a.yml' must be a relative path"),
])
def test_normalize_step_refuses(entry, message):
    with pytest.raises(SiteError) as info:
        site.normalize_step(entry, 4)
    assert str(info.value).startswith(message)


def test_load_steps_keeps_the_good_entries_and_names_the_bad_ones():
    assert site.load_steps(None) == ([], [])
    assert site.load_steps("") == ([], [])
    assert site.load_steps({"role": "r"}) == ([], ["hyperpod_site_steps must be a list of steps"])
    assert site.load_steps("tasks/a.yml") == ([], ["hyperpod_site_steps must be a list of steps"])
    steps, errs = site.load_steps([{"role": "a"}, {"rolee": "b"}, {"tasks": "tasks/c.yml"}, "d"])
    assert names(steps) == ["role a", "tasks/c.yml"]
    assert len(errs) == 2
    assert errs[0].startswith("hyperpod_site_steps[1]: unknown key rolee")
    assert errs[1] == "hyperpod_site_steps[3]: a step is a mapping with one of role, tasks or script"


# -- scope_skip -------------------------------------------------------------------------------------

def scoped(groups=(), types=()):
    return {"name": "tasks/gpu.yml", "instance_groups": list(groups), "instance_types": list(types)}


def test_an_unscoped_step_runs_anywhere():
    assert site.scope_skip(scoped(), None, "no resource_config.json", None) == ""
    assert site.scope_skip(scoped(), "gpu", "", "ml.p5.48xlarge") == ""


@pytest.mark.parametrize("groups, group, skip", [
    (["gpu-workers"], "gpu-workers", ""),
    (["gpu-*"], "gpu-workers", ""),
    (["cpu", "gpu-?"], "gpu-1", ""),
    (["worker-[ab]"], "worker-b", ""),
    (["worker-[ab]"], "worker-c", "instance group worker-c is not one of worker-[ab]"),
    (["gpu-*"], "GPU-workers", "instance group GPU-workers is not one of gpu-*"),  # case matters, as in HyperPod
    (["gpu-*", "login"], "cpu-workers", "instance group cpu-workers is not one of gpu-*, login"),
    (["gpu"], "gpu-workers", "instance group gpu-workers is not one of gpu"),  # a whole name, not a prefix
])
def test_instance_group_scope(groups, group, skip):
    assert site.scope_skip(scoped(groups=groups), group, "", None) == skip


@pytest.mark.parametrize("types, itype, skip", [
    (["ml.p5.48xlarge"], "ml.p5.48xlarge", ""),
    (["p5.48xlarge"], "ml.p5.48xlarge", ""),  # ml. is optional on either side
    (["ml.p5.48xlarge"], "p5.48xlarge", ""),
    (["ml.p5.*"], "p5.48xlarge", ""),
    (["p5.*"], "ml.p5.48xlarge", ""),
    (["ml.*"], "ml.g5.xlarge", ""),
    (["ml.g5.*", "ml.p4d.*"], "ml.p5.48xlarge", "instance type ml.p5.48xlarge is not one of ml.g5.*, ml.p4d.*"),
    (["p5.48xlarge"], "ml.p5e.48xlarge", "instance type ml.p5e.48xlarge is not one of p5.48xlarge"),
    (["ml.p5.48xlarge"], "ml.p5.48xlarge.x", "instance type ml.p5.48xlarge.x is not one of ml.p5.48xlarge"),
])
def test_instance_type_scope(types, itype, skip):
    assert site.scope_skip(scoped(types=types), None, "", itype) == skip


def test_a_step_scoped_to_groups_on_a_node_whose_group_is_unknown_is_an_error():
    with pytest.raises(SiteError) as info:
        site.scope_skip(scoped(groups=["gpu-*", "login"]), "", "no /opt/ml/config/resource_config.json", "ml.p5.48xlarge")
    assert str(info.value) == ("tasks/gpu.yml is limited to instance groups gpu-*, login, and this node's instance group "
                               "is unknown (no /opt/ml/config/resource_config.json)")
    with pytest.raises(SiteError) as info:
        site.scope_skip(scoped(groups=["gpu"]), None, "", None)
    assert str(info.value).endswith("is unknown (no source)")


def test_a_step_scoped_to_types_on_a_node_whose_type_is_unknown_is_an_error():
    with pytest.raises(SiteError) as info:
        site.scope_skip(scoped(types=["ml.p5.*"]), "gpu", "", "")
    assert str(info.value) == ("tasks/gpu.yml is limited to instance types ml.p5.*, and this node's instance type "
                               "is unknown")


def test_group_and_type_both_apply():
    step = scoped(groups=["gpu-*"], types=["p5.*"])
    assert site.scope_skip(step, "gpu-a", "", "ml.p5.48xlarge") == ""
    assert site.scope_skip(step, "gpu-a", "", "ml.g5.xlarge") == "instance type ml.g5.xlarge is not one of p5.*"
    assert site.scope_skip(step, "cpu", "", "ml.p5.48xlarge") == "instance group cpu is not one of gpu-*"
    # The group is looked at first: a node outside the groups is skipped even when its type is unknown.
    assert site.scope_skip(step, "cpu", "", "") == "instance group cpu is not one of gpu-*"


# -- plan: order --------------------------------------------------------------------------------------

def ordered_site(base):
    role(base, "site_motd")
    role(base, "site_users")
    write(base, "tasks/a.yml", TASKS)
    write(base, "tasks/b.yml", TASKS)
    script(base, "10-first.sh", header="# hyperpod: phase=before\n")
    script(base, "20-second.sh")
    script(base, "30-listed.sh")
    script(base, "05-early.sh", header="# hyperpod: timeout=30 creates=/var/lib/x check-safe\n")
    write(base, "scripts.d/README.md", "not a script")


def test_plan_order_listed_steps_first_then_the_other_scripts_by_name(tmp_path):
    ordered_site(tmp_path)
    entries = [{"tasks": "tasks/b.yml"}, {"role": "site_motd", "phase": "before"}, {"script": "30-listed.sh"},
               {"tasks": "tasks/a.yml"}, {"role": "site_users"}]
    result = site.plan(str(tmp_path), entries)
    assert names(result["before"]) == ["role site_motd", "scripts.d/10-first.sh"]
    assert names(result["after"]) == ["tasks/b.yml", "scripts.d/30-listed.sh", "tasks/a.yml", "role site_users",
                                      "scripts.d/05-early.sh", "scripts.d/20-second.sh"]
    assert result["errors"] == []
    assert result["ignored"] == [{"file": "scripts.d/README.md", "reason": "not named *.sh"}]
    assert errors(result) == {}
    assert all(step["skip"] == "" for step in result["before"] + result["after"])
    assert all("phase_given" not in step for step in result["before"] + result["after"])


def test_plan_fills_in_each_steps_files(tmp_path):
    ordered_site(tmp_path)
    result = site.plan(str(tmp_path), [{"tasks": "tasks/a.yml"}, {"role": "site_motd", "allow_failure": True}])
    steps = dict((step["name"], step) for step in result["before"] + result["after"])
    tasks = steps["tasks/a.yml"]
    assert (tasks["kind"], tasks["file"], tasks["path"]) == ("tasks", "tasks/a.yml", os.path.join(str(tmp_path), "tasks/a.yml"))
    motd = steps["role site_motd"]
    assert (motd["kind"], motd["file"], motd["path"], motd["allow_failure"]) == (
        "role", "roles/site_motd", os.path.join(str(tmp_path), "roles/site_motd"), True)
    early = steps["scripts.d/05-early.sh"]
    assert early["file"] == "scripts.d/05-early.sh"
    assert early["path"] == os.path.join(str(tmp_path), "scripts.d", "05-early.sh")
    assert (early["interpreter"], early["timeout"], early["creates"], early["check_safe"], early["allow_failure"]) == (
        ["/bin/sh"], 30, "/var/lib/x", True, False)
    assert steps["scripts.d/20-second.sh"]["timeout"] == site.DEFAULT_TIMEOUT


def test_plan_a_scripts_phase_from_the_list_wins_over_its_header(tmp_path):
    ordered_site(tmp_path)
    result = site.plan(str(tmp_path), [{"script": "10-first.sh", "phase": "after"}, {"script": "20-second.sh", "phase": "before"}])
    assert names(result["before"]) == ["scripts.d/20-second.sh"]
    assert names(result["after"]) == ["scripts.d/10-first.sh", "scripts.d/05-early.sh", "scripts.d/30-listed.sh"]
    # Listed without a phase: its header's.
    result = site.plan(str(tmp_path), [{"script": "scripts.d/10-first.sh"}])
    assert names(result["before"]) == ["scripts.d/10-first.sh"]


def test_plan_of_an_empty_folder(tmp_path):
    assert site.plan(str(tmp_path), None) == {"before": [], "after": [], "ignored": [], "errors": []}


def test_plan_keeps_the_list_errors_apart_and_plans_the_rest(tmp_path):
    ordered_site(tmp_path)
    result = site.plan(str(tmp_path), [{"role": "site_motd"}, {"script": "10-first.sh", "allow_failure": True}])
    assert result["errors"] == ["hyperpod_site_steps[1]: a script's allow_failure is set in its header (# hyperpod: ...), not here"]
    # The script the bad entry named is planned as an unlisted one (it still runs, by name).
    assert names(result["before"]) == ["scripts.d/10-first.sh"]
    assert names(result["after"])[0] == "role site_motd"
    result = site.plan(str(tmp_path), {"role": "site_motd"})
    assert result["errors"] == ["hyperpod_site_steps must be a list of steps"]
    assert len(result["before"] + result["after"]) == 4  # the scripts


# -- plan: a step that cannot run keeps its place, with an error naming its file ------------------

def test_plan_errors_of_roles(tmp_path):
    role(tmp_path, "good")
    role(tmp_path, "no_main", **{"tasks/main.yml": None})
    write(tmp_path, "roles/no_main/tasks/other.yml", TASKS)
    write(tmp_path, "roles/no_main/defaults/main.yml", "a: 1\n")
    role(tmp_path, "bad_defaults", **{"defaults/main.yml": "a: 1\n  b: 2\n"})
    role(tmp_path, "bad_handlers", **{"handlers/main.yml": "name: not a list\n"})
    role(tmp_path, "bad_tasks", **{"tasks/main.yml": "- name: x\n  debug:\n    msg: a: b\n"})
    role(tmp_path, "yaml_main", **{"tasks/main.yml": None, "tasks/main.yaml": TASKS})
    # YAML under files/ and templates/ is data, not the role's: never parsed.
    role(tmp_path, "with_data", **{"files/broken.yml": "a: [", "templates/x.yml": "{{ not: yaml", "meta/main.yml": "galaxy_info: {}\n"})
    entries = [{"role": name} for name in ("good", "missing", "no_main", "bad_defaults", "bad_handlers", "bad_tasks",
                                           "yaml_main", "with_data")]
    result = site.plan(str(tmp_path), entries)
    assert names(result["after"]) == ["role " + entry["role"] for entry in entries]
    assert errors(result) == {
        "role missing": "roles/missing: no such role",
        "role no_main": "roles/no_main: the role has no tasks/main.yml",
        "role bad_defaults": "roles/bad_defaults/defaults/main.yml: line 2 column 4 is not valid YAML: "
                             "mapping values are not allowed here",
        "role bad_handlers": "roles/bad_handlers/handlers/main.yml: a task file must be a list of tasks, not a dict",
        "role bad_tasks": "roles/bad_tasks/tasks/main.yml: line 3 column 11 is not valid YAML: mapping values are not allowed here",
    }


def test_plan_errors_of_task_files(tmp_path):
    write(tmp_path, "tasks/good.yml", TASKS)
    write(tmp_path, "tasks/empty.yml", "")
    write(tmp_path, "tasks/comments.yml", "---\n# nothing yet\n")
    write(tmp_path, "tasks/tags.yml", "- name: x\n  ansible.builtin.debug:\n    msg: !unsafe '{{ raw }}'\n"
                                      "  vars:\n    secret: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      6162\n")
    write(tmp_path, "tasks/syntax.yml", "- name: one\n  ansible.builtin.debug:\n    msg: a: b\n")
    write(tmp_path, "tasks/unclosed.yml", "- name: two\n  debug: {msg: x\n")
    write(tmp_path, "tasks/mapping.yml", "name: not a list\ndebug: {}\n")
    write(tmp_path, "tasks/scalar.yml", "just words\n")
    write(tmp_path, "tasks/items.yml", "- name: fine\n  debug: {}\n- just a string\n")
    write(tmp_path, "tasks/latin1.yml", b"- name: caf\xe9\n")
    files = ("good", "empty", "comments", "tags", "missing", "syntax", "unclosed", "mapping", "scalar", "items", "latin1")
    entries = [{"tasks": "tasks/%s.yml" % name} for name in files]
    result = site.plan(str(tmp_path), entries)
    assert names(result["after"]) == [entry["tasks"] for entry in entries]
    assert errors(result) == {
        "tasks/missing.yml": "tasks/missing.yml: no such task file in the site folder",
        "tasks/syntax.yml": "tasks/syntax.yml: line 3 column 11 is not valid YAML: mapping values are not allowed here",
        "tasks/unclosed.yml": "tasks/unclosed.yml: line 3 column 1 is not valid YAML: expected ',' or '}', but got '<stream end>'",
        "tasks/mapping.yml": "tasks/mapping.yml: a task file must be a list of tasks, not a dict",
        "tasks/scalar.yml": "tasks/scalar.yml: a task file must be a list of tasks, not a str",
        "tasks/items.yml": "tasks/items.yml: task 2 is not a mapping",
        "tasks/latin1.yml": "tasks/latin1.yml: not UTF-8 text (byte 11)",
    }


def test_plan_refuses_paths_out_of_the_folder(tmp_path):
    site_dir = tmp_path / "site"
    write(tmp_path, "outside.yml", TASKS)
    role(tmp_path / "elsewhere", "stolen")
    write(site_dir, "tasks/good.yml", TASKS)
    os.makedirs(str(site_dir / "roles"))
    os.symlink(str(tmp_path / "outside.yml"), str(site_dir / "tasks" / "link.yml"))
    os.symlink("good.yml", str(site_dir / "tasks" / "inner.yml"))  # a link that stays inside is fine
    os.symlink(str(tmp_path / "elsewhere" / "roles" / "stolen"), str(site_dir / "roles" / "stolen"))
    entries = [{"tasks": "tasks/link.yml"}, {"tasks": "tasks/../../outside.yml"}, {"name": "named", "tasks": "./../outside.yml"},
               {"tasks": "tasks/inner.yml"}, {"role": "stolen"}, {"tasks": "../outside.yml"}, {"tasks": "/etc/x.yml"}]
    result = site.plan(str(site_dir), entries)
    # A link out is found on the file system: that step keeps its place, with its error.
    assert names(result["after"]) == ["tasks/link.yml", "tasks/inner.yml", "role stolen"]
    assert errors(result) == {
        "tasks/link.yml": "tasks/link.yml: tasks/link.yml resolves outside the site folder",
        "role stolen": "role stolen: roles/stolen resolves outside the site folder",
    }
    # A path that climbs out as written is a bad entry of the list, as a role's or a script's is.
    assert result["errors"] == [
        "hyperpod_site_steps[1]: tasks 'tasks/../../outside.yml' must be a relative path inside the site folder",
        "hyperpod_site_steps[2]: tasks './../outside.yml' must be a relative path inside the site folder",
        "hyperpod_site_steps[5]: tasks '../outside.yml' must be a relative path inside the site folder",
        "hyperpod_site_steps[6]: tasks '/etc/x.yml' must be a relative path inside the site folder",
    ]


def test_plan_refuses_two_steps_of_one_name(tmp_path):
    write(tmp_path, "tasks/a.yml", TASKS)
    write(tmp_path, "tasks/b.yml", TASKS)
    script(tmp_path, "10-a.sh")
    entries = [{"name": "setup", "tasks": "tasks/a.yml"}, {"name": "setup", "tasks": "tasks/b.yml"},
               {"script": "10-a.sh"}, {"script": "scripts.d/10-a.sh", "phase": "before"}]
    result = site.plan(str(tmp_path), entries)
    # The broken "before" step waits for the built-in roles: it comes first after them.
    assert result["before"] == []
    assert names(result["after"]) == ["scripts.d/10-a.sh", "setup", "setup", "scripts.d/10-a.sh"]
    assert [step["error"] for step in result["after"]] == [
        "two steps are named 'scripts.d/10-a.sh': give one a name", "", "two steps are named 'setup': give one a name", ""]


def test_plan_roles_of_collections(tmp_path):
    site_dir = tmp_path / "site"
    os.makedirs(str(site_dir))
    first, second = tmp_path / "vendored", tmp_path / "system"
    role(first / "ansible_collections" / "acme" / "tools", "setup")
    role(second / "ansible_collections" / "acme" / "tools", "setup")
    role(second / "ansible_collections" / "acme" / "tools", "tune", **{"defaults/main.yml": "a: [\n"})
    entries = [{"role": "acme.tools.setup"}, {"role": "acme.tools.tune"}, {"role": "acme.tools.missing"}, {"role": "other.coll.setup"}]
    result = site.plan(str(site_dir), entries, collection_paths=[str(first), str(second)])
    steps = dict((step["name"], step) for step in result["after"])
    assert steps["role acme.tools.setup"]["path"] == str(first / "ansible_collections/acme/tools/roles/setup")  # the first path wins
    assert steps["role acme.tools.setup"]["file"] == "acme.tools.setup"
    assert errors(result) == {
        "role acme.tools.tune": "role acme.tools.tune/defaults/main.yml: line 2 column 1 is not valid YAML: "
                                "expected the node content, but found '<stream end>'",
        "role acme.tools.missing": "role acme.tools.missing: not found in the site's collections "
                                   "(is its collection in requirements.yml?)",
        "role other.coll.setup": "role other.coll.setup: not found in the site's collections (is its collection in requirements.yml?)",
    }
    # Without collection paths, none is found (a role of roles/ is never taken for it).
    role(site_dir, "setup")
    assert site.plan(str(site_dir), [{"role": "acme.tools.setup"}])["after"][0]["error"].endswith("in requirements.yml?)")


def test_plan_errors_of_scripts(tmp_path):
    script(tmp_path, "10-good.sh")
    write(tmp_path, "scripts.d/20-no-shebang.sh", "echo hi\n")
    write(tmp_path, "scripts.d/30-relative.sh", "#!bash\necho hi\n")
    script(tmp_path, "40-unknown.sh", header="# hyperpod: retries=3\n")
    script(tmp_path, "50-late.sh", body="echo hi\n# hyperpod: allow-fail\n")
    script(tmp_path, "60 spaced.sh")
    script(tmp_path, ".70-hidden.sh")
    os.symlink("10-good.sh", str(tmp_path / "scripts.d" / "80-link.sh"))
    script(tmp_path, "90-plain.sh", mode=0o644)
    result = site.plan(str(tmp_path), [{"script": "99-missing.sh"}])
    assert names(result["after"]) == ["scripts.d/99-missing.sh", "scripts.d/.70-hidden.sh", "scripts.d/10-good.sh",
                                      "scripts.d/20-no-shebang.sh", "scripts.d/30-relative.sh", "scripts.d/40-unknown.sh",
                                      "scripts.d/50-late.sh", "scripts.d/60 spaced.sh", "scripts.d/80-link.sh",
                                      "scripts.d/90-plain.sh"]
    assert result["errors"] == []  # what is wrong is the files', not the list's
    assert errors(result) == {
        "scripts.d/99-missing.sh": "scripts.d/99-missing.sh: No such file or directory",
        "scripts.d/.70-hidden.sh": "scripts.d/.70-hidden.sh: a script's name may hold only letters, digits and _ . + - (and end in .sh)",
        "scripts.d/20-no-shebang.sh": "scripts.d/20-no-shebang.sh: the first line must be a #! line naming the interpreter "
                                      "(e.g. #!/bin/bash)",
        "scripts.d/30-relative.sh": "scripts.d/30-relative.sh: the #! line must name the interpreter by its absolute path, not 'bash'",
        "scripts.d/40-unknown.sh": "scripts.d/40-unknown.sh line 2: unknown setting 'retries=3' (known: allow-fail, check-safe, "
                                   "and timeout=..., creates=..., instance-groups=..., instance-types=..., phase=...)",
        "scripts.d/50-late.sh": "scripts.d/50-late.sh line 3: '# hyperpod:' settings belong in the comment block at the top "
                                "of the script",
        "scripts.d/60 spaced.sh": "scripts.d/60 spaced.sh: a script's name may hold only letters, digits and _ . + - "
                                  "(and end in .sh)",
        "scripts.d/80-link.sh": "scripts.d/80-link.sh: not a regular file",
    }
    # The build's check wants the exec bit, too.
    result = site.plan(str(tmp_path), [], require_exec=True, scope=False)
    assert errors(result)["scripts.d/90-plain.sh"].startswith("scripts.d/90-plain.sh: not executable")


# -- plan: scope ------------------------------------------------------------------------------------

def scoped_site(base):
    write(base, "tasks/gpu.yml", TASKS)
    write(base, "tasks/all.yml", TASKS)
    script(base, "10-p5.sh", header="# hyperpod: instance-types=p5.*\n")
    script(base, "20-login.sh", header="# hyperpod: instance-groups=login,login-*\n")
    return [{"tasks": "tasks/gpu.yml", "instance_groups": ["gpu-*"]}, {"tasks": "tasks/all.yml"}]


def test_plan_scope_on_a_node_that_knows_its_group_and_type(tmp_path):
    result = site.plan(str(tmp_path), scoped_site(tmp_path), group="gpu-workers", instance_type="ml.p5.48xlarge")
    assert [(s["name"], s["skip"], s["error"]) for s in result["after"]] == [
        ("tasks/gpu.yml", "", ""),
        ("tasks/all.yml", "", ""),
        ("scripts.d/10-p5.sh", "", ""),
        ("scripts.d/20-login.sh", "instance group gpu-workers is not one of login, login-*", ""),
    ]
    result = site.plan(str(tmp_path), scoped_site(tmp_path), group="login-2", instance_type="ml.m5.xlarge")
    assert [(s["name"], s["skip"], s["error"]) for s in result["after"]] == [
        ("tasks/gpu.yml", "instance group login-2 is not one of gpu-*", ""),
        ("tasks/all.yml", "", ""),
        ("scripts.d/10-p5.sh", "instance type ml.m5.xlarge is not one of p5.*", ""),
        ("scripts.d/20-login.sh", "", ""),
    ]


def test_plan_scope_on_a_node_that_does_not_know_its_group(tmp_path):
    result = site.plan(str(tmp_path), scoped_site(tmp_path), group="", group_reason="no /opt/ml/config/resource_config.json",
                       instance_type="")
    assert [(s["name"], s["skip"], s["error"]) for s in result["after"]] == [
        ("tasks/gpu.yml", "", "tasks/gpu.yml is limited to instance groups gpu-*, and this node's instance group is unknown "
                              "(no /opt/ml/config/resource_config.json)"),
        ("tasks/all.yml", "", ""),
        ("scripts.d/10-p5.sh", "", "scripts.d/10-p5.sh is limited to instance types p5.*, and this node's instance type is unknown"),
        ("scripts.d/20-login.sh", "", "scripts.d/20-login.sh is limited to instance groups login, login-*, and this node's "
                                      "instance group is unknown (no /opt/ml/config/resource_config.json)"),
    ]
    # The build's check knows no node: no scope at all.
    result = site.plan(str(tmp_path), scoped_site(tmp_path), scope=False)
    assert [(s["skip"], s["error"]) for s in result["after"]] == [("", "")] * 4
    assert result["after"][2]["instance_types"] == ["p5.*"]


# -- check_vars_file, check_script_env ----------------------------------------------------------------

def test_check_vars_file(tmp_path):
    assert site.check_vars_file(write(tmp_path, "a.yml", "a: 1\nb: [x]\n"), "settings.yml") == {"a": 1, "b": ["x"]}
    assert site.check_vars_file(write(tmp_path, "b.yml", "# nothing\n"), "settings.yml") == {}
    with pytest.raises(SiteError) as info:
        site.check_vars_file(write(tmp_path, "c.yml", "- a\n"), "instance_groups/gpu.yml")
    assert str(info.value) == "instance_groups/gpu.yml: a settings file must be a mapping of variables, not a list"
    with pytest.raises(SiteError) as info:
        site.load_yaml(str(tmp_path / "none.yml"), "settings.yml")
    assert str(info.value) == "settings.yml: cannot be read: No such file or directory"


def test_check_script_env_values():
    assert site.check_script_env(None) == ({}, [])
    assert site.check_script_env("") == ({}, [])
    assert site.check_script_env({}) == ({}, [])
    assert site.check_script_env({"SITE_NAME": "prod", "RETRIES": 3, "RATIO": 1.5, "DEBUG": True, "QUIET": False,
                                  "_x": "", "Mixed_Case9": "a b"}) == (
        {"SITE_NAME": "prod", "RETRIES": "3", "RATIO": "1.5", "DEBUG": "true", "QUIET": "false", "_x": "", "Mixed_Case9": "a b"}, [])


@pytest.mark.parametrize("value", [["A=1"], "A=1", 5])
def test_check_script_env_must_be_a_mapping(value):
    assert site.check_script_env(value) == ({}, ["hyperpod_site_script_env must be a mapping of names to values"])


@pytest.mark.parametrize("key", ["HYPERPOD_STEP", "HYPERPOD_CHECK", "hyperpod_gpu", "1ST", "A-B", "A B", "", "A=B", "\u00c9T\u00c9", 7])
def test_check_script_env_refuses_names(key):
    env, errs = site.check_script_env({key: "x", "GOOD": "y"})
    assert env == {"GOOD": "y"}
    assert errs == ["hyperpod_site_script_env: %r is not a name a site may set (letters, digits, _; HYPERPOD_* are the "
                    "collection's)" % (key,)]


@pytest.mark.parametrize("value", [None, ["a"], {"a": 1}, "nul\0byte"])
def test_check_script_env_refuses_values(value):
    env, errs = site.check_script_env({"BAD": value, "GOOD": 1})
    assert env == {"GOOD": "1"}
    assert errs == ["hyperpod_site_script_env: BAD must be a string, a number or a boolean"]


# -- inside, load_yaml ------------------------------------------------------------------------------

@pytest.mark.parametrize("relative", ["", None, 5, "/etc/passwd", "..", "../x", "a/../../x", "a//b", "a/", "a\\b", "a\nb", "."])
def test_inside_refuses(tmp_path, relative):
    with pytest.raises(SiteError) as info:
        site.inside(str(tmp_path), relative, "step x")
    assert str(info.value).startswith("step x: ")
    assert "inside the site folder" in str(info.value) or "resolves outside the site folder" in str(info.value)


def test_inside_follows_links_and_keeps_them_in(tmp_path):
    site_dir = tmp_path / "site"
    os.makedirs(str(site_dir / "tasks"))
    os.symlink(str(tmp_path), str(site_dir / "up"))
    os.symlink("/etc", str(site_dir / "etc"))
    os.symlink("tasks", str(site_dir / "also_tasks"))
    assert site.inside(str(site_dir), "tasks/a.yml", "x") == os.path.join(str(site_dir), "tasks/a.yml")
    assert site.inside(str(site_dir), "./tasks/a.yml", "x") == os.path.join(str(site_dir), "./tasks/a.yml")
    assert site.inside(str(site_dir), "also_tasks/a.yml", "x") == os.path.join(str(site_dir), "also_tasks/a.yml")
    for relative in ("up/site/../x.yml", "etc/passwd", "up"):
        with pytest.raises(SiteError):
            site.inside(str(site_dir), relative, "x")
    # A sibling folder whose name starts with the site's is outside, too.
    os.makedirs(str(tmp_path / "site2"))
    os.symlink(str(tmp_path / "site2"), str(site_dir / "sibling"))
    with pytest.raises(SiteError) as info:
        site.inside(str(site_dir), "sibling/a.yml", "x")
    assert str(info.value) == "x: sibling/a.yml resolves outside the site folder"


def test_inside_a_site_folder_reached_through_a_link(tmp_path):
    os.makedirs(str(tmp_path / "real" / "tasks"))
    os.symlink(str(tmp_path / "real"), str(tmp_path / "site"))
    assert site.inside(str(tmp_path / "site"), "tasks/a.yml", "x") == os.path.join(str(tmp_path / "site"), "tasks/a.yml")


def test_load_yaml_takes_ansible_tags_as_plain_values(tmp_path):
    path = write(tmp_path, "a.yml", "a: !unsafe '{{ x }}'\nb: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\nc: !custom [1, 2]\nd: !m {k: v}\n")
    assert site.load_yaml(path, "a.yml") == {"a": "{{ x }}", "b": "$ANSIBLE_VAULT;1.1;AES256\n", "c": [1, 2], "d": {"k": "v"}}


def test_load_yaml_is_safe(tmp_path):
    path = write(tmp_path, "a.yml", "a: !!python/object/apply:os.system ['touch %s']\n" % (tmp_path / "ran"))
    with pytest.raises(SiteError) as info:
        site.load_yaml(path, "a.yml")
    assert str(info.value).startswith("a.yml: line 1 column 4 is not valid YAML: ")
    assert not (tmp_path / "ran").exists()


# -- what must not cost the node its built-in provisioning ------------------------------------------

def _site(tmp_path, tasks):
    (tmp_path / "tasks").mkdir(exist_ok=True)
    for name, text in tasks.items():
        (tmp_path / "tasks" / name).write_text(text)
    return str(tmp_path)


def test_a_before_step_that_cannot_run_waits_for_the_builtin_roles(tmp_path):
    folder = _site(tmp_path, {"a.yml": "- name: a\n  ansible.builtin.debug:\n", "c.yml": "- name: c\n  ansible.builtin.debug:\n",
                              "d.yml": "- name: d\n  ansible.builtin.debug:\n"})
    result = site.plan(folder, [{"tasks": "tasks/a.yml", "phase": "before"}, {"tasks": "tasks/missing.yml", "phase": "before"},
                                {"tasks": "tasks/c.yml", "phase": "before"}, {"tasks": "tasks/d.yml"}])
    # The before steps up to the broken one run before the built-in roles; the broken one fails
    # right after them, and what followed it never runs before they do.
    assert [s["file"] for s in result["before"]] == ["tasks/a.yml"]
    assert [s["file"] for s in result["after"]] == ["tasks/missing.yml", "tasks/c.yml", "tasks/d.yml"]
    assert [s.get("deferred", False) for s in result["after"]] == [True, True, False]
    assert result["after"][0]["error"] and result["after"][0]["phase"] == "after"


def test_a_before_step_limited_to_groups_on_a_node_that_cannot_tell_waits_too(tmp_path):
    folder = _site(tmp_path, {"a.yml": "- name: a\n  ansible.builtin.debug:\n"})
    result = site.plan(folder, [{"tasks": "tasks/a.yml", "phase": "before", "instance_groups": ["gpu-*"]}],
                       group="", group_reason="no resource_config.json")
    assert result["before"] == [] and result["after"][0]["deferred"]
    assert "instance group is unknown (no resource_config.json)" in result["after"][0]["error"]


@pytest.mark.parametrize("task", [
    "- name: stop\n  ansible.builtin.meta: end_host\n",
    "- name: stop\n  meta: end_play\n",
    "- name: nested\n  block:\n    - name: stop\n      ansible.builtin.meta: end_batch\n",
    "- name: nested\n  block: []\n  rescue:\n    - name: stop\n      meta:\n        free_form: end_host\n",
])
def test_a_task_file_that_ends_the_play_is_refused(tmp_path, task):
    folder = _site(tmp_path, {"stop.yml": task})
    step = site.plan(folder, [{"tasks": "tasks/stop.yml"}])["after"][0]
    assert "would end the whole run as a success" in step["error"] and step["error"].startswith("tasks/stop.yml: task 1 is meta: end_")


def test_meta_flush_handlers_is_fine(tmp_path):
    folder = _site(tmp_path, {"ok.yml": "- name: flush\n  ansible.builtin.meta: flush_handlers\n"})
    assert site.plan(folder, [{"tasks": "tasks/ok.yml"}])["after"][0]["error"] == ""


def test_a_script_with_a_byte_order_mark_is_refused_saying_so():
    with pytest.raises(site.SiteError, match="byte order mark"):
        site.parse_script(b"\xef\xbb\xbf#!/bin/bash\necho hi\n", "scripts.d/a.sh")
