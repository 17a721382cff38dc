# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The admin's site folder: its steps, their order, and whether they are fit to run.

A site folder (the bundle's site/, from `make bundle SITE=dir`) holds the admin's own provisioning:

    settings.yml              settings, the built-in roles' and the site's own, in one place
    instance_types/<t>.yml    settings for instance type <t> (ml.p5.48xlarge.yml), over settings.yml
    instance_groups/<g>.yml   settings for instance group <g>, over both
    roles/<name>/             the admin's roles
    tasks/*.yml               the admin's task files
    scripts.d/NN-name.sh      the admin's shell scripts, run in name order
    requirements.yml          collections the roles use, vendored by `make bundle` into collections/

Steps are the roles and task files `hyperpod_site_steps` lists and every script of scripts.d (where
the list names a script, it runs there; the others run after the listed steps, in name order).
The same checks run when `make bundle` builds the folder (tools/check_site.py) and on the node before
the play runs anything (the site_plan module): a step that cannot run is reported with the file it
is about, never skipped silently.

Standard library (and PyYAML, which ansible-core brings) only, Python 3.7+.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import os
import re
import stat

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - ansible-core always has it
    yaml = None
    HAS_YAML = False

SCRIPTS_DIR = "scripts.d"
ROLES_DIR = "roles"
SETTINGS_FILE = "settings.yml"
GROUPS_DIR = "instance_groups"
TYPES_DIR = "instance_types"
DEFAULT_TIMEOUT = 1800
MAX_TIMEOUT = 86400
HEADER_BYTES = 65536
PHASES = ("before", "after")
# A script's name: what `ls` shows without quoting, ending in .sh.
SCRIPT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*\.sh$")
ROLE_NAME = re.compile(r"^([a-z0-9_]+\.[a-z0-9_]+\.)?[A-Za-z0-9_][A-Za-z0-9_-]*$")
GROUP_NAME = re.compile(r"^[A-Za-z0-9*?\[\]][A-Za-z0-9._*?\[\]-]*$")
# An instance group's name as HyperPod's API allows it, and an instance type (ml. optional): the
# names a node may learn, and its settings files are named after.
INSTANCE_GROUP = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9]){0,62}$")
INSTANCE_TYPE = re.compile(r"^(ml\.)?[a-z][a-z0-9-]*\.[a-z0-9-]+$")
STEP_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ ./:+-]{0,119}$")
DIRECTIVE = re.compile(r"^#\s*hyperpod:(.*)$")
FLAGS = ("allow-fail", "check-safe")
VALUED = ("timeout", "creates", "instance-groups", "instance-types", "phase")
STEP_KEYS = ("name", "role", "tasks", "script", "phase", "instance_groups", "instance_types", "allow_failure")


class SiteError(Exception):
    """What makes a site file unfit to run, with the file it is about."""


# -- YAML ---------------------------------------------------------------------------------------

if HAS_YAML:
    class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
        """The safe loader, taking Ansible's tags (!unsafe, !vault) as plain values."""

    def _any_tag(loader, suffix, node):  # pylint: disable=unused-argument
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_mapping(node)

    _Loader.add_multi_constructor("!", _any_tag)


def load_yaml(path, label):
    """The YAML document of PATH; SiteError naming LABEL and the line for a file that does not parse."""
    if not HAS_YAML:
        raise SiteError("%s: cannot check YAML without PyYAML" % label)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise SiteError("%s: cannot be read: %s" % (label, exc.strerror or exc))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SiteError("%s: not UTF-8 text (byte %d)" % (label, exc.start))
    try:
        return yaml.load(text, Loader=_Loader)  # nosec - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " line %d column %d" % (mark.line + 1, mark.column + 1) if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SiteError("%s:%s is not valid YAML: %s" % (label, where, " ".join(str(problem).split())))


def check_tasks_file(path, label):
    """A task file must be a list of tasks (or empty)."""
    data = load_yaml(path, label)
    if data is not None and not isinstance(data, list):
        raise SiteError("%s: a task file must be a list of tasks, not a %s" % (label, type(data).__name__))
    for number, task in enumerate(data or (), 1):
        if not isinstance(task, dict):
            raise SiteError("%s: task %d is not a mapping" % (label, number))
        _no_ending(task, label, number)


ENDING = ("end_host", "end_play", "end_batch")


def _no_ending(task, label, number):
    """Refuse a task that ends the host or the play: in a site step it would end the run as if it
    had succeeded, with the built-in roles or the later steps never run."""
    for key in ("meta", "ansible.builtin.meta", "ansible.legacy.meta"):
        value = task.get(key)
        if isinstance(value, dict):
            value = value.get("free_form") or value.get("_raw_params")
        if isinstance(value, str) and value.strip() in ENDING:
            raise SiteError("%s: task %d is meta: %s, which would end the whole run as a success; a site step must "
                            "finish, or fail" % (label, number, value.strip()))
    for key in ("block", "rescue", "always"):
        for inner in task.get(key) or ():
            if isinstance(inner, dict):
                _no_ending(inner, label, number)


def check_vars_file(path, label):
    data = load_yaml(path, label)
    if data is not None and not isinstance(data, dict):
        raise SiteError("%s: a settings file must be a mapping of variables, not a %s" % (label, type(data).__name__))
    return data or {}


def check_role(path, label):
    """Every YAML file of the role at PATH parses; it has a tasks/main.yml (or .yaml)."""
    if not os.path.isdir(path):
        raise SiteError("%s: no such role" % label)
    if not any(os.path.isfile(os.path.join(path, "tasks", main)) for main in ("main.yml", "main.yaml")):
        raise SiteError("%s: the role has no tasks/main.yml" % label)
    for top, dirs, files in os.walk(path):
        dirs.sort()
        part = os.path.relpath(top, path).split(os.sep)[0]
        if part in ("files", "templates", "library", "module_utils", "filter_plugins", "lookup_plugins"):
            continue
        for name in sorted(files):
            if name.endswith((".yml", ".yaml")):
                full = os.path.join(top, name)
                sub = "%s/%s" % (label, os.path.relpath(full, path))
                if part in ("tasks", "handlers"):
                    check_tasks_file(full, sub)
                else:
                    load_yaml(full, sub)


# -- paths -------------------------------------------------------------------------------------

def _relative(relative):
    """Whether RELATIVE is a path below a folder, as written (not absolute, no .., no empty part)."""
    return isinstance(relative, str) and bool(relative) and not relative.startswith("/") and "\\" not in relative \
        and not any(part in ("..", "") for part in relative.split("/")) and "\n" not in relative


def inside(site_dir, relative, label):
    """SITE_DIR/RELATIVE, refused if RELATIVE is absolute, climbs out or resolves outside SITE_DIR."""
    if not _relative(relative):
        raise SiteError("%s: %r must be a relative path inside the site folder" % (label, relative))
    full = os.path.join(site_dir, relative)
    real_site = os.path.realpath(site_dir)
    if not os.path.realpath(full).startswith(real_site + os.sep):
        raise SiteError("%s: %s resolves outside the site folder" % (label, relative))
    return full


def _collection_role(name, collection_paths):
    namespace, collection, role = name.split(".")
    for base in collection_paths:
        path = os.path.join(base, "ansible_collections", namespace, collection, "roles", role)
        if os.path.isdir(path):
            return path
    return None


# -- scripts -----------------------------------------------------------------------------------

def parse_script(data, label):
    """The settings a script declares in its header: the comment lines after its #! line, of the
    form `# hyperpod: allow-fail timeout=600 creates=/path`. Returns a dict; SiteError names
    LABEL and the line of anything wrong."""
    if b"\r\n" in data[:HEADER_BYTES]:
        raise SiteError("%s: has Windows line endings (CRLF), which bash reads as part of each command; "
                        "convert it (dos2unix, or sed -i 's/\\r$//')" % label)
    if data.startswith(b"\xef\xbb\xbf"):
        raise SiteError("%s: starts with a byte order mark (an editor's UTF-8 BOM) before its #! line; "
                        "save it without one" % label)
    text = data[:HEADER_BYTES].decode("utf-8", "replace")
    lines = text.split("\n")
    if not lines[0].startswith("#!") or not lines[0][2:].strip():
        raise SiteError("%s: the first line must be a #! line naming the interpreter (e.g. #!/bin/bash)" % label)
    words = lines[0][2:].strip().split(None, 1)
    if not words[0].startswith("/"):
        raise SiteError("%s: the #! line must name the interpreter by its absolute path, not %r" % (label, words[0]))
    result = {
        "interpreter": words,
        "allow_failure": False,
        "check_safe": False,
        "timeout": DEFAULT_TIMEOUT,
        "creates": "",
        "instance_groups": [],
        "instance_types": [],
        "phase": "",
    }
    in_header = True
    for number, line in enumerate(lines[1:], 2):
        stripped = line.strip()
        match = DIRECTIVE.match(stripped)
        if in_header and stripped and not stripped.startswith("#"):
            in_header = False
        if not match:
            continue
        if not in_header:
            raise SiteError("%s line %d: '# hyperpod:' settings belong in the comment block at the top of the script"
                            % (label, number))
        for word in match.group(1).split():
            _directive(result, word, "%s line %d" % (label, number))
    return result


def _directive(result, word, where):
    key, sep, value = word.partition("=")
    if key in FLAGS and not sep:
        result[{"allow-fail": "allow_failure", "check-safe": "check_safe"}[key]] = True
        return
    if key not in VALUED or not sep or not value:
        raise SiteError("%s: unknown setting %r (known: %s, and %s)"
                        % (where, word, ", ".join(FLAGS), ", ".join("%s=..." % k for k in VALUED)))
    if key == "timeout":
        if not value.isdigit() or not 1 <= int(value) <= MAX_TIMEOUT:
            raise SiteError("%s: timeout must be a number of seconds from 1 to %d, not %r" % (where, MAX_TIMEOUT, value))
        result["timeout"] = int(value)
    elif key == "creates":
        if not value.startswith("/") or "/../" in value + "/":
            raise SiteError("%s: creates= must be an absolute path, not %r" % (where, value))
        result["creates"] = value
    elif key == "phase":
        if value not in PHASES:
            raise SiteError("%s: phase must be before or after, not %r" % (where, value))
        result["phase"] = value
    else:
        patterns = value.split(",")
        for pattern in patterns:
            if not GROUP_NAME.match(pattern):
                raise SiteError("%s: %s has a bad name or pattern %r" % (where, key, pattern))
        result[key.replace("-", "_")] = patterns


def list_scripts(site_dir):
    """(the scripts of scripts.d in the order they run, the entries that do not run, with why)."""
    directory = os.path.join(site_dir, SCRIPTS_DIR)
    if not os.path.isdir(directory):
        return [], []
    scripts, ignored = [], []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not name.endswith(".sh"):
            ignored.append({"file": "%s/%s" % (SCRIPTS_DIR, name), "reason": "not named *.sh"})
        elif os.path.isdir(path):
            ignored.append({"file": "%s/%s" % (SCRIPTS_DIR, name), "reason": "a directory"})
        else:
            scripts.append(name)
    return scripts, ignored


def check_script(site_dir, name, require_exec=False):
    """The header settings of scripts.d/NAME, checked."""
    label = "%s/%s" % (SCRIPTS_DIR, name)
    if not SCRIPT_NAME.match(name):
        raise SiteError("%s: a script's name may hold only letters, digits and _ . + - (and end in .sh)" % label)
    path = inside(site_dir, label, label)
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise SiteError("%s: %s" % (label, exc.strerror))
    if not stat.S_ISREG(info.st_mode):
        raise SiteError("%s: not a regular file" % label)
    if require_exec and not info.st_mode & stat.S_IXUSR:
        raise SiteError("%s: not executable: a script in %s/ must have its exec bit (chmod +x %s)"
                        % (label, SCRIPTS_DIR, label))
    with open(path, "rb") as handle:
        data = handle.read(HEADER_BYTES)
    return parse_script(data, label)


# -- steps -------------------------------------------------------------------------------------

def _names(value, key, label):
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and GROUP_NAME.match(v) for v in value):
        raise SiteError("%s: %s must be a list of names or patterns" % (label, key))
    return list(value)


def _bool(value, key, label):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("yes", "true", "on", "1", "no", "false", "off", "0"):
        return value.lower() in ("yes", "true", "on", "1")
    raise SiteError("%s: %s must be true or false, not %r" % (label, key, value))


def normalize_step(entry, number):
    """One entry of hyperpod_site_steps, checked: {name, kind, ref, phase, ...}."""
    label = "hyperpod_site_steps[%d]" % number
    if not isinstance(entry, dict):
        raise SiteError("%s: a step is a mapping with one of role, tasks or script" % label)
    unknown = sorted(set(entry) - set(STEP_KEYS))
    if unknown:
        raise SiteError("%s: unknown key %s (known: %s)" % (label, ", ".join(unknown), ", ".join(STEP_KEYS)))
    kinds = [k for k in ("role", "tasks", "script") if entry.get(k) not in (None, "")]
    if len(kinds) != 1:
        raise SiteError("%s: a step names exactly one of role, tasks or script" % label)
    kind = kinds[0]
    ref = entry[kind]
    if not isinstance(ref, str):
        raise SiteError("%s: %s must be a string" % (label, kind))
    if kind == "tasks" and not _relative(ref):
        # Said before the step's name (by default the path) is found unfit for a name.
        raise SiteError("%s: tasks %r must be a relative path inside the site folder" % (label, ref))
    if kind == "role" and not ROLE_NAME.match(ref):
        raise SiteError("%s: %r is not a role name (a name in roles/, or namespace.collection.role)" % (label, ref))
    if kind == "script":
        ref = ref[len(SCRIPTS_DIR) + 1:] if ref.startswith(SCRIPTS_DIR + "/") else ref
        if not SCRIPT_NAME.match(ref):
            raise SiteError("%s: %r is not the name of a script in %s/" % (label, ref, SCRIPTS_DIR))
        for key in ("instance_groups", "instance_types", "allow_failure"):
            if key in entry:
                raise SiteError("%s: a script's %s is set in its header (# hyperpod: ...), not here" % (label, key))
    phase = entry.get("phase") or "after"
    if phase not in PHASES:
        raise SiteError("%s: phase must be before or after, not %r" % (label, phase))
    default_name = {"role": "role %s" % ref, "tasks": ref, "script": "%s/%s" % (SCRIPTS_DIR, ref)}[kind]
    name = entry.get("name") or default_name
    if not isinstance(name, str) or not STEP_NAME.match(name):
        raise SiteError("%s: name %r may hold letters, digits, spaces and _ . / : + - (at most 120)" % (label, name))
    return {
        "name": name,
        "kind": kind,
        "ref": ref,
        "phase": phase,
        "phase_given": entry.get("phase") not in (None, ""),
        "instance_groups": _names(entry.get("instance_groups"), "instance_groups", label),
        "instance_types": _names(entry.get("instance_types"), "instance_types", label),
        "allow_failure": _bool(entry.get("allow_failure", False), "allow_failure", label),
    }


def bare_type(value):
    return value[3:] if value and value.startswith("ml.") else value


def scope_skip(step, group, group_reason, instance_type):
    """Why STEP does not run on this node ("" when it does); SiteError when the node cannot tell."""
    if step["instance_groups"]:
        if not group:
            raise SiteError("%s is limited to instance groups %s, and this node's instance group is unknown (%s)"
                            % (step["name"], ", ".join(step["instance_groups"]), group_reason or "no source"))
        if not any(fnmatch.fnmatchcase(group, p) for p in step["instance_groups"]):
            return "instance group %s is not one of %s" % (group, ", ".join(step["instance_groups"]))
    if step["instance_types"]:
        if not instance_type:
            raise SiteError("%s is limited to instance types %s, and this node's instance type is unknown"
                            % (step["name"], ", ".join(step["instance_types"])))
        if not any(fnmatch.fnmatchcase(bare_type(instance_type), bare_type(p)) for p in step["instance_types"]):
            return "instance type %s is not one of %s" % (instance_type, ", ".join(step["instance_types"]))
    return ""


def _resolve(step, site_dir, collection_paths, require_exec):
    """Fill in the step's files; SiteError naming the file when it is unfit to run."""
    kind, ref = step["kind"], step["ref"]
    if kind == "tasks":
        path = inside(site_dir, ref, step["name"])
        if not os.path.isfile(path):
            raise SiteError("%s: no such task file in the site folder" % ref)
        check_tasks_file(path, ref)
        step["path"] = path
        step["file"] = ref
    elif kind == "role":
        if ref.count(".") == 2:
            path = _collection_role(ref, collection_paths)
            if path is None:
                raise SiteError("role %s: not found in the site's collections (is its collection in requirements.yml?)"
                                % ref)
            label = "role %s" % ref
            step["file"] = ref
        else:
            label = "%s/%s" % (ROLES_DIR, ref)
            path = inside(site_dir, label, step["name"])
            step["file"] = label
        check_role(path, label)
        step["path"] = path
    else:
        header = check_script(site_dir, ref, require_exec)
        step["file"] = "%s/%s" % (SCRIPTS_DIR, ref)
        step["path"] = os.path.join(site_dir, SCRIPTS_DIR, ref)
        step["allow_failure"] = header["allow_failure"]
        step["instance_groups"] = header["instance_groups"]
        step["instance_types"] = header["instance_types"]
        for key in ("interpreter", "check_safe", "timeout", "creates"):
            step[key] = header[key]
        if header["phase"] and not step.get("phase_given"):
            step["phase"] = header["phase"]
    return step


def load_steps(entries):
    """hyperpod_site_steps, checked entry by entry: (steps, [error])."""
    if entries in (None, ""):
        entries = []
    if not isinstance(entries, list):
        return [], ["hyperpod_site_steps must be a list of steps"]
    steps, errors = [], []
    for number, entry in enumerate(entries):
        try:
            steps.append(normalize_step(entry, number))
        except SiteError as exc:
            errors.append(str(exc))
    return steps, errors


def plan(site_dir, entries, group=None, group_reason="", instance_type=None, collection_paths=(),
         require_exec=False, scope=True):
    """The site's steps for this node, in the order they run.

    Returns {"before": [step], "after": [step], "ignored": [{file, reason}], "errors": [str]}.
    Each step: name, kind (role, tasks, script), file (as in the site folder), phase, path,
    allow_failure, skip (why it does not run on this node, or ""), error (why it cannot run, or "":
    the play fails there, naming it), and for scripts interpreter, check_safe, timeout, creates.
    ERRORS are those not tied to one step (a bad hyperpod_site_steps); they fail the run before
    the first site step. REQUIRE_EXEC: a script must have its exec bit (the build's check; on the
    node the bit is gone, S3 keeps none). SCOPE=False: instance groups and types are not applied
    (the build's check, which knows no node)."""
    steps, errors = load_steps(entries)
    scripts, ignored = list_scripts(site_dir)
    listed = set(s["ref"] for s in steps if s["kind"] == "script")
    for name in scripts:
        if name not in listed:
            try:
                steps.append(normalize_step({"script": name}, len(steps)))
            except SiteError:
                # A file of scripts.d whose name a step cannot have: it keeps its place, and
                # check_script says what is wrong with it (the list is not to blame).
                steps.append({"name": "%s/%s" % (SCRIPTS_DIR, name), "kind": "script", "ref": name, "phase": "after",
                              "instance_groups": [], "instance_types": [], "allow_failure": False})
    seen = {}
    for step in steps:
        step.setdefault("skip", "")
        step.setdefault("error", "")
        step.setdefault("file", step["ref"])
        step.setdefault("path", "")
        try:
            _resolve(step, site_dir, collection_paths, require_exec)
            if step["name"] in seen:
                raise SiteError("two steps are named %r: give one a name" % step["name"])
            seen[step["name"]] = True
            if scope:
                step["skip"] = scope_skip(step, group, group_reason, instance_type)
        except SiteError as exc:
            step["error"] = str(exc)
        step.pop("phase_given", None)
    # Listed steps run in the list's order; the scripts nobody placed follow them, by name.
    before = [s for s in steps if s["phase"] == "before"]
    after = [s for s in steps if s["phase"] == "after"]
    # A "before" step that cannot run must not cost the node the built-in provisioning: the before
    # steps up to it run, then the built-in roles, then the run fails at it (the later steps not run).
    broken = [i for i, s in enumerate(before) if s["error"]]
    if broken:
        for step in before[broken[0]:]:
            step.update(deferred=True, phase="after")
        before, after = before[:broken[0]], before[broken[0]:] + after
    return {
        "before": before,
        "after": after,
        "ignored": ignored,
        "errors": errors,
    }


ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_script_env(value):
    """(hyperpod_site_script_env with string values, [error])."""
    if value in (None, ""):
        return {}, []
    if not isinstance(value, dict):
        return {}, ["hyperpod_site_script_env must be a mapping of names to values"]
    env, errors = {}, []
    for key in sorted(value, key=str):
        item = value[key]
        if not isinstance(key, str) or not ENV_NAME.match(key) or key.upper().startswith("HYPERPOD_"):
            errors.append("hyperpod_site_script_env: %r is not a name a site may set (letters, digits, _; "
                          "HYPERPOD_* are the collection's)" % (key,))
        elif isinstance(item, bool):
            env[key] = "true" if item else "false"
        elif isinstance(item, (str, int, float)) and "\0" not in str(item):
            env[key] = str(item)
        else:
            errors.append("hyperpod_site_script_env: %s must be a string, a number or a boolean" % key)
    return env, errors
