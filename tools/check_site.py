#!/usr/bin/env python
"""`make bundle SITE=dir`: check the site folder copied into the bundle before it is sealed.

Usage: check_site.py SITE_DIR COLLECTIONS_PATH RUNTIME_LOCKS_DIR

Refuses (exit 1, one line per problem, each naming its file): settings files that are not YAML
mappings, a hyperpod_site_steps that cannot be read, a step whose role or task file is missing or
does not parse, a script without its #! line, its exec bit or with an unknown '# hyperpod:'
setting, instance group/type files with bad names, a vendored collection that would replace
hyperpod.eks_lifecycle or ansible.builtin or that neither runtime's ansible-core satisfies; then
runs `ansible-playbook --syntax-check` over every role and task file the steps name (unknown
modules, bad task keywords). Prints the steps in the order they run.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

SITE, COLLECTIONS = sys.argv[1], sys.argv[2]
LOCKS = sys.argv[3]
sys.path.insert(0, COLLECTIONS.split(":")[0])

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils import site as site_lib  # noqa: E402

problems = []


def problem(text):
    problems.append(text)


def settings():
    path = os.path.join(SITE, site_lib.SETTINGS_FILE)
    data = {}
    if os.path.isfile(path):
        try:
            data = site_lib.check_vars_file(path, site_lib.SETTINGS_FILE)
        except site_lib.SiteError as exc:
            problem(str(exc))
    for sub, pattern in ((site_lib.GROUPS_DIR, site_lib.INSTANCE_GROUP), (site_lib.TYPES_DIR, site_lib.INSTANCE_TYPE)):
        directory = os.path.join(SITE, sub)
        if not os.path.isdir(directory):
            continue
        for name in sorted(os.listdir(directory)):
            label = "%s/%s" % (sub, name)
            if name.endswith(".yaml"):
                problem("%s: settings files are read as <name>.yml" % label)
                continue
            if not name.endswith(".yml"):
                continue
            if not pattern.match(name[:-len(".yml")]):
                problem("%s: not the name of an instance %s settings file (<name>.yml)"
                        % (label, "group" if sub == site_lib.GROUPS_DIR else "type"))
                continue
            try:
                extra = site_lib.check_vars_file(os.path.join(directory, name), label)
            except site_lib.SiteError as exc:
                problem(str(exc))
                continue
            if "hyperpod_site_steps" in extra:
                problem("%s: hyperpod_site_steps belongs in settings.yml (limit steps with instance_groups)" % label)
    return data


def runtime_versions():
    versions = {}
    for tag in ("py37", "py39"):
        with open(os.path.join(LOCKS, tag + ".txt")) as handle:
            for line in handle:
                match = re.match(r"^ansible-core==([0-9.]+)", line)
                if match:
                    versions[tag] = match.group(1)
    return versions


def vendored():
    base = os.path.join(SITE, "collections", "ansible_collections")
    if not os.path.isdir(base):
        return
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
    except ImportError:  # pragma: no cover - the tool venv has it
        SpecifierSet = None
    versions = runtime_versions()
    for namespace in sorted(os.listdir(base)):
        for name in sorted(os.listdir(os.path.join(base, namespace))):
            fqcn = "%s.%s" % (namespace, name)
            if fqcn in ("hyperpod.eks_lifecycle", "ansible.builtin"):
                problem("collections/%s/%s: a site cannot ship %s (the bundle has its own)" % (namespace, name, fqcn))
                continue
            runtime = os.path.join(base, namespace, name, "meta", "runtime.yml")
            if not os.path.isfile(runtime) or SpecifierSet is None:
                continue
            try:
                meta = site_lib.load_yaml(runtime, "collection %s meta/runtime.yml" % fqcn) or {}
            except site_lib.SiteError as exc:
                problem(str(exc))
                continue
            spec = meta.get("requires_ansible") if isinstance(meta, dict) else None
            if not spec:
                continue
            try:
                spec = SpecifierSet(str(spec))
            except InvalidSpecifier:
                problem("collection %s: requires_ansible %r is not a version specifier" % (fqcn, spec))
                continue
            fits = dict((tag, spec.contains(v, prereleases=True)) for tag, v in versions.items())
            if not any(fits.values()):
                problem("collection %s requires ansible-core %s; the bundle runs %s" % (
                    fqcn, spec, " and ".join("%s (%s)" % (v, "AL2" if t == "py37" else "AL2023") for t, v in versions.items())))
            elif not all(fits.values()):
                bad = [t for t, ok in fits.items() if not ok]
                print("[bundle] warning: collection %s requires ansible-core %s: not on %s (ansible-core %s)" % (
                    fqcn, spec, "AL2" if bad[0] == "py37" else "AL2023", versions[bad[0]]))


def syntax_check(steps):
    tasks = []
    for step in steps:
        if step["error"] or step["kind"] == "script":
            continue
        if step["kind"] == "role":
            tasks.append({"name": step["name"], "ansible.builtin.import_role": {"name": step["path"] if step["file"].startswith("roles/") else step["file"]}})
        else:
            tasks.append({"name": step["name"], "ansible.builtin.import_tasks": step["path"]})
    if not tasks:
        return
    with tempfile.TemporaryDirectory() as work:
        playbook = os.path.join(work, "site-syntax.yml")
        with open(playbook, "w") as handle:
            json.dump([{"name": "Site syntax", "hosts": "localhost", "gather_facts": False, "tasks": tasks}], handle)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS + ":" + os.path.join(SITE, "collections"),
                   ANSIBLE_ROLES_PATH=os.path.join(SITE, "roles"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
                   ANSIBLE_CONFIG=os.path.join(work, "ansible.cfg"))
        open(env["ANSIBLE_CONFIG"], "w").close()
        proc = subprocess.run(["ansible-playbook", "--syntax-check", "-i", "localhost,", playbook], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
        if proc.returncode != 0:
            lines = [l for l in proc.stdout.splitlines() if l.strip() and not l.startswith("[WARNING]")]
            problem("ansible-playbook --syntax-check of the site's roles and task files: %s"
                    % " ".join(" ".join(lines).split())[:1500].replace(SITE + "/", ""))


def main():
    data = settings()
    vendored()
    result = site_lib.plan(SITE, data.get("hyperpod_site_steps"), collection_paths=COLLECTIONS.split(":") + [
        os.path.join(SITE, "collections")], require_exec=True, scope=False)
    problems.extend(result["errors"])
    env, errors = site_lib.check_script_env(data.get("hyperpod_site_script_env"))
    problems.extend(errors)
    steps = result["before"] + result["after"]
    for step in steps:
        if step["error"]:
            problem(step["error"])
    if not problems:
        syntax_check(steps)
    if problems:
        for text in problems:
            print("[bundle] error: site: %s" % text, file=sys.stderr)
        return 1
    for phase in ("before", "after"):
        names = ["%s%s" % (s["name"], " [%s]" % ",".join(s["instance_groups"] + s["instance_types"])
                           if s["instance_groups"] or s["instance_types"] else "") for s in result[phase]]
        print("[bundle] site steps %s the built-in roles: %s" % (phase, ", ".join(names) or "none"))
    for item in result["ignored"]:
        print("[bundle] warning: site: %s is not run (%s)" % (item["file"], item["reason"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
