#!/usr/bin/env bash
# `make lock`: resolve the bundle's Ansible runtime anew and rewrite its lock files, tools/runtime/*.txt
# (see tools/build_bundle.sh for what each holds). This is the one step that floats: it takes the
# newest releases the constraints below allow, so run it on purpose, review the diff it prints
# (every version, file name and sha256) and commit the lock files; `make bundle` then ships exactly
# them, and never changes them.
#
# Resolved for the nodes' own interpreters, not the build machine's: pip runs under CPython 3.7.16
# and 3.9 (pyenv's; PY37=, PY39= to choose others), so that environment markers are evaluated as on
# the node, and is told the nodes' exact versions (3.7.16, 3.9.24; a bare `--python-version 3.9`
# means 3.9.0, for which some packages resolve to old releases), their ABI and the glibc they have
# (only wheels whose platform tags allow Amazon Linux 2's 2.26 or AL2023's 2.34 are taken).
set -euo pipefail

LOG_TAG=lock
# shellcheck disable=SC1091 source=tools/build_bundle.sh
source "$(dirname "${BASH_SOURCE[0]}")/build_bundle.sh"

PYENV_ROOT=${PYENV_ROOT:-$HOME/.pyenv}
PY37=${PY37:-$PYENV_ROOT/versions/3.7.16/bin/python3.7}
PY39=${PY39:-$PYENV_ROOT/versions/3.9.18/bin/python3.9}
# What each runtime is for: ansible-core, the newest release whose controller runs on that Python.
declare -A ROOT=([py37]=ansible-core==2.11.12 [py39]=ansible-core==2.15.13)
declare -A INTERPRETER=([py37]=$PY37 [py39]=$PY39)
# Sdists to build wheels from: ansible-core before 2.13 is published as an sdist only.
SOURCES=(ansible-core==2.11.12)
declare -A SOURCE_WHY=([ansible-core==2.11.12]="Amazon Linux 2's engine: the index has only its sdist")
# The build backend: pip (to unpack the sdist and drive the build) and setuptools (70.1 or later
# has its own bdist_wheel, so no `wheel` package).
BACKEND_REQS=(pip "setuptools>=70.1")
# Declared by ansible-core but not shipped (see the lock files' headers for why).
DROP=(cryptography cffi pycparser)

# resolve REPORT PYTHON PIP-ARGS...: pip's resolution of PIP-ARGS (an install --dry-run from
# scratch) by pip running under PYTHON, as pip's JSON installation report.
resolve() {
  local report=$1 interpreter=$2
  shift 2
  pip_quiet "$PIP" --python "$interpreter" install --dry-run --ignore-installed --no-cache-dir --report "$report" "$@"
}

# write_lock KIND REPORT OUT [FULL_PYTHON]: the lock file OUT from pip's REPORT: every package the
# requested ones need, those in DROP and what only they need left out, one line each with a comment
# saying why it is there.
write_lock() {
  DROP="${DROP[*]}" "$PYTHON" - "$@" <<'EOF'
import hashlib
import json
import os
import sys
import textwrap
from urllib.parse import unquote, urlparse

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip's own copy
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

kind, report_path, out = sys.argv[1:4]
full = sys.argv[4] if len(sys.argv) > 4 else None
drop = set(os.environ["DROP"].split())
report = json.load(open(report_path))
env = dict(report["environment"], extra="")
if full:
    env.update(python_full_version=full, python_version=".".join(full.split(".")[:2]))

WHY = {
    "ansible-core": "the engine: ansible-playbook, and the modules and plugins the play runs",
    "jinja2": "templating: every {{ }} expression, the template tasks and the filters (to_json, regex_search, ...); "
              "ansible-core imports it at start",
    "markupsafe": "Jinja2's escaping; Jinja2 imports it at start",
    "pyyaml": "reads the playbook, its variables and the collection's metadata; ansible-core imports it at start",
    "packaging": "ansible-core checks each collection's requires_ansible with it (plugins/loader.py); without it, "
                 "it warns and skips the check",
    "resolvelib": "ansible-galaxy's collection dependency resolver (ansible/galaxy/dependency_resolution): not on the "
                  "play's path, kept (some 15 KB) so that every command the runtime installs works",
    "importlib-resources": "ansible-galaxy's collection commands on Python < 3.10 (ansible/compat/importlib_resources.py): "
                           "not on the play's path, kept (some 25 KB) so that every command the runtime installs works",
    "pip": "unpacks the sdist and drives its build (and installs setuptools into the backend's venv)",
    "setuptools": "builds the wheel from the sdist (with its own bdist_wheel)",
}
HEADER = {
    "py37": ["The Amazon Linux 2 runtime: runtime/py37/ of the bundle, for the node's CPython 3.7.16",
             "(x86_64, glibc 2.26)."],
    "py39": ["The Amazon Linux 2023 runtime: runtime/py39/ of the bundle, for the node's CPython 3.9.24",
             "(x86_64, glibc 2.34; resolved under CPython 3.9.18, with 3.9.24 for Requires-Python)."],
    "build": ["The build backend that turns sources.txt's sdists into wheels (a throwaway venv, no build",
              "isolation), for the build machine's CPython %s." % env["python_full_version"]],
}
COMMON = ["Written by `make lock` (tools/lock_runtime.sh); review every change. `make bundle` only reads it",
          "and checks every file against it. One requirement a line, pip's hash-checking format: the sha256",
          "of the one file used, whose name follows the '#'."]
DROPPED = ["Left out, although ansible-core declares it: cryptography, with cffi and pycparser (and anything",
           "else only they need), 58% of the bundle's 16 MB before. ansible-core imports it only behind a",
           "try/except, for ansible-vault and vault-encrypted data, and for TLS channel binding in",
           "module_utils/urls.py (NTLM/Kerberos over HTTPS); the play uses neither, and the runtime is",
           "installed without dependency resolution, so nothing asks for it."]

items = {canonicalize_name(i["metadata"]["name"]): i for i in report["install"]}
keep, parents, left_out = [], {}, set()
todo = [name for name, item in items.items() if item.get("requested")]
for name in todo:
    parents.setdefault(name, [])
while todo:
    name = todo.pop(0)
    keep.append(name)
    for spec in items[name]["metadata"].get("requires_dist") or []:
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        dep = canonicalize_name(req.name)
        if dep in drop:
            left_out.add(dep)
            continue
        if dep not in parents:
            parents[dep] = []
            todo.append(dep)
        parents[dep].append(name)
left_out |= set(items) - set(keep)

lines = ["# " + line if line else "#" for line in HEADER[kind] + COMMON + (DROPPED if kind != "build" else [])]
for name in sorted(keep):
    item = items[name]
    info = item["download_info"]
    url = urlparse(info["url"])
    file = unquote(url.path.rsplit("/", 1)[-1])
    if url.scheme == "file":  # a wheel built here: hash it ourselves
        with open(unquote(url.path), "rb") as handle:
            sha = hashlib.sha256(handle.read()).hexdigest()
    else:
        sha = info["archive_info"]["hashes"]["sha256"]
    why = WHY.get(name, "no reason recorded: check whether the play needs it")
    if parents[name]:
        why += " (required by %s)" % ", ".join(sorted(set(parents[name])))
    lines.append("")
    lines.extend(textwrap.wrap("%s: %s" % (name, why), 98, initial_indent="# ", subsequent_indent="#   "))
    lines.append("%s==%s --hash=sha256:%s  # %s" % (name, item["metadata"]["version"], sha, file))
with open(out, "w") as handle:
    handle.write("\n".join(lines) + "\n")
if left_out:
    print("[lock] %s: left out %s" % (kind, ", ".join(sorted(left_out))))
EOF
}

lock_main() {
  local tag version abi glibc runtime req file dir old new=() changed=0 build_python interpreter
  for interpreter in "$PY37" "$PY39"; do
    [ -x "$interpreter" ] || die "$interpreter is needed to resolve for the node's Python (pyenv install it, or set PY37/PY39)"
  done
  build_python=$(command -v "$PYTHON") || die "$PYTHON not found"
  check_cache
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/hyperpod-lock.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  LOCKS=$WORK/locks
  mkdir -p "$LOCKS" "$WORK/sdists" "$WORK/built"

  log "resolving the build backend for $build_python"
  resolve "$WORK/build.json" "$build_python" --only-binary=:all: "${BACKEND_REQS[@]}"
  write_lock build "$WORK/build.json" "$LOCKS/build.txt"

  log "fetching the sdists: ${SOURCES[*]}"
  backend
  printf '%s\n' "# Sdists tools/build_bundle.sh builds wheels from, with build.txt's backend, because the package" \
    "# index has no wheel of them; the wheel built must have the sha256 its runtime's lock gives it." \
    "# Written by \`make lock\` (tools/lock_runtime.sh); review every change. One requirement a line," \
    "# pip's hash-checking format: the sha256 of the sdist, whose name follows the '#'." >"$LOCKS/sources.txt"
  for req in "${SOURCES[@]}"; do
    dir=$WORK/sdists/${req%%==*}
    pip_quiet "$BACKEND/bin/python" -m pip download --no-deps --no-build-isolation --no-binary=:all: \
      --no-cache-dir -d "$dir" "$req"
    file=$(find "$dir" -mindepth 1 -maxdepth 1 -name '*.tar.gz' -printf '%f\n')
    if [ -z "$file" ] || [ "$(printf '%s\n' "$file" | wc -l)" != 1 ]; then
      die "$req: expected one sdist, got: $file"
    fi
    printf '\n# %s: %s\n%s --hash=sha256:%s  # %s\n' "${req%%==*}" "${SOURCE_WHY[$req]}" \
      "$req" "$(sha256sum <"$dir/$file" | cut -d' ' -f1)" "$file" >>"$LOCKS/sources.txt"
    log "building the wheel of $req"
    build_wheel "$dir/$file" "$WORK/built"
  done

  for runtime in "${RUNTIMES[@]}"; do
    read -r tag version abi glibc <<<"$runtime"
    log "resolving $tag: ${ROOT[$tag]} for CPython $version (${INTERPRETER[$tag]}), glibc $glibc"
    # shellcheck disable=SC2046 # platforms prints options, one word each
    resolve "$WORK/$tag.json" "${INTERPRETER[$tag]}" --target "$WORK/$tag-none" --only-binary=:all: \
      --python-version "$version" --implementation cp --abi "$abi" --abi abi3 --abi none $(platforms "$glibc") \
      --find-links "$WORK/built" "${ROOT[$tag]}"
    write_lock "$tag" "$WORK/$tag.json" "$LOCKS/$tag.txt" "$version"
  done

  for file in build.txt sources.txt py37.txt py39.txt; do
    lock_entries "$LOCKS/$file" >/dev/null
    old=$REPO/tools/runtime/$file
    if [ -f "$old" ] && cmp -s "$old" "$LOCKS/$file"; then
      continue
    fi
    changed=1
    new+=("$file")
    diff -uN --label "a/tools/runtime/$file" --label "b/tools/runtime/$file" "$old" "$LOCKS/$file" 2>/dev/null || true
  done
  mkdir -p "$REPO/tools/runtime"
  for file in "${new[@]}"; do
    cp "$LOCKS/$file" "$REPO/tools/runtime/$file"
  done
  if [ "$changed" = 1 ]; then
    log "rewrote tools/runtime/: ${new[*]}: review the diff above, run make bundle and its tests, and commit them"
  else
    log "tools/runtime/ is up to date"
  fi
}

lock_main "$@"
