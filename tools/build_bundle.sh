#!/usr/bin/env bash
# `make bundle`: write dist/lifecycle/, the folder a HyperPod admin uploads to S3 as it is.
#
#   on_create.sh              the lifecycle script (the cluster's OnCreate)
#   on_init_complete.sh       the same script under the name that runs the check after the AMI's
#                             start-up (the cluster's OnInitComplete): playbooks/on_init_complete.yml
#   playbooks/                the play, and vars/on_create.yml: the settings to edit
#   collections/              hyperpod.eks_lifecycle itself
#   runtime/                  an Ansible runtime per Amazon Linux generation, as wheels for the
#                             OS's own Python (nodes often have no internet):
#     py37/                   Amazon Linux 2, Python 3.7: ansible-core 2.11 (the last release whose
#                             controller runs on Python 3.7)
#     py39/                   Amazon Linux 2023, Python 3.9: ansible-core 2.15 (the last release
#                             whose controller runs on Python 3.9)
#     install_wheels.py       unpacks them into a venv of the OS's Python (no pip, no ensurepip)
#     requirements-py*.txt    exact versions installed (name==version)
#   site/                     the admin's site folder (SITE=dir): settings, roles, task files,
#                             scripts.d/, and collections/ vendored from its requirements.yml
#   SHA256SUMS                checksum of every file above; on_create.sh checks it before anything
#
# The runtime is exactly what the lock files in tools/runtime/ say, byte for byte; this script only
# reads them (`make lock`, tools/lock_runtime.sh, is the one step that resolves anything anew):
#   py37.txt, py39.txt        the wheels shipped in runtime/py37/ and runtime/py39/, one a line:
#                             `name==version --hash=sha256:HEX  # FILE` (pip's hash-checking format)
#   sources.txt               sdists the build turns into wheels, because the index has no wheel
#                             (ansible-core 2.11.12); the wheel built from one must still have the
#                             sha256 its runtime's lock gives it
#   build.txt                 the build backend those wheels are built with (pip, setuptools)
# Files come from the package index through the wheel cache (CACHE), which is never trusted: every
# file is copied out of it into a private directory and its copy checked against the lock, the
# folder written is checked again, and the build stops at the first difference: a file whose
# sha256 differs, one the lock lists that is missing, or one in runtime/<tag>/ the lock does not
# list. With a complete cache the build needs no network.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/dist/lifecycle}
CACHE=${CACHE:-/var/tmp/hyperpod-eks-lifecycle/wheels}
LOCKS=${LOCKS:-$REPO/tools/runtime}
PIP=${PIP:-pip}
# The Python the build backend runs on (a throwaway venv of it builds wheels from sdists).
PYTHON=${PYTHON:-python3}
# A settings file to ship instead of playbooks/vars/on_create.yml (`make bundle SETTINGS=...`).
SETTINGS=${SETTINGS:-}
# The admin's site folder (`make bundle SITE=dir`, `make new-site` writes one): shipped as site/,
# its requirements.yml's collections vendored into site/collections/, checked by tools/check_site.py.
SITE=${SITE:-}
# The tool venv's Python and ansible-galaxy (the build's own Ansible; the nodes' is in runtime/).
TOOL_PYTHON=${TOOL_PYTHON:-python3}
# tag  the node's Python  ABI   the node's glibc (Amazon Linux 2: 2.26, AL2023: 2.34): wheels
#                               are fetched for these, and their platform tags must allow that glibc
RUNTIMES=(
  "py37 3.7.16 cp37m 2.26"
  "py39 3.9.24 cp39  2.34"
)
WORK=          # the build's private directory (mode 0700, removed at exit)
BACKEND=       # the venv with the pinned build backend, once made

LOG_TAG=${LOG_TAG:-bundle}
log() { printf '[%s] %s\n' "$LOG_TAG" "$*"; }
die() { printf '[%s] error: %s\n' "$LOG_TAG" "$*" >&2; exit 1; }
pip_quiet() { "$@" --disable-pip-version-check -q 2>&1 | { grep -v '^WARNING: Location' || true; }; }

# check_cache: make sure CACHE is a directory only this user can write, creating it (mode 0700) if
# need be. Its files are checked before use all the same; this keeps others from filling it.
check_cache() {
  local parent owner mode
  parent=$(dirname "$CACHE")
  [ ! -L "$CACHE" ] || die "the wheel cache $CACHE is a symlink: refusing to use it (remove it, or set CACHE to a directory of yours)"
  if [ ! -e "$CACHE" ]; then
    mkdir -p "$parent"
    mkdir -m 0700 "$CACHE"
  fi
  [ -d "$CACHE" ] || die "the wheel cache $CACHE is not a directory"
  owner=$(stat -c %u "$CACHE")
  [ "$owner" = "$(id -u)" ] \
    || die "the wheel cache $CACHE belongs to uid $owner, not to you (uid $(id -u)): refusing to use it (remove it, or set CACHE)"
  mode=$(stat -c %a "$CACHE")
  (( (8#$mode & 8#022) == 0 )) \
    || die "the wheel cache $CACHE is writable by group or others (mode $mode): refusing to use it (remove it, or set CACHE)"
  # Someone else able to rename or replace entries of the parent could swap the cache under us.
  owner=$(stat -c %u "$parent")
  mode=$(stat -c %a "$parent")
  if { [ "$owner" != "$(id -u)" ] && [ "$owner" != 0 ]; } || (( (8#$mode & 8#022) != 0 && (8#$mode & 8#1000) == 0 )); then
    die "the wheel cache's parent $parent can be changed by others (uid $owner, mode $mode): refusing to use $CACHE (set CACHE)"
  fi
  chmod 0700 "$CACHE"
}

# lock_entries LOCK: "name version sha256 file" for each requirement of LOCK; dies on a line that
# is not `name==version --hash=sha256:HEX  # FILE`.
lock_entries() {
  local lock=$1 line n=0
  [ -f "$lock" ] || die "$lock is missing: run make lock"
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    case $line in '' | '#'*) continue ;; esac
    [[ $line =~ ^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)\ +--hash=sha256:([0-9a-f]{64})\ +#\ +([A-Za-z0-9][A-Za-z0-9._+!-]*)$ ]] \
      || die "$lock:$n: not a 'name==version --hash=sha256:HEX  # FILE' line: $line"
    printf '%s %s %s %s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}" "${BASH_REMATCH[4]}"
  done <"$lock"
}

# lock_line LOCK FILE: LOCK's requirement line for FILE (a requirements file of one line for pip).
lock_line() {
  awk -v file="$2" '!/^#/ && $NF == file' "$1"
}

# cached_ok SHA256 FILE: whether the cache holds FILE with that sha256 (a hint only: the copy
# taken out of the cache is what gets checked).
cached_ok() {
  [ -f "$CACHE/$2" ] && [ ! -L "$CACHE/$2" ] && [ "$(sha256sum <"$CACHE/$2" | cut -d' ' -f1)" = "$1" ]
}

# take LOCK DEST: copy every file LOCK lists from the cache into DEST, then check DEST.
take() {
  local lock=$1 dest=$2 name version sha file
  mkdir -p "$dest"
  while read -r name version sha file; do
    if [ ! -f "$CACHE/$file" ] || [ -L "$CACHE/$file" ]; then
      die "$file ($name==$version, $lock) is not in the wheel cache $CACHE"
    fi
    cp "$CACHE/$file" "$dest/$file"
  done < <(lock_entries "$lock")
  verify_dir "$lock" "$dest"
}

# verify_dir LOCK DIR: DIR holds exactly the files LOCK lists, each with LOCK's sha256, or die.
verify_dir() {
  local lock=$1 dir=$2 expected actual odd
  odd=$(find "$dir" -mindepth 1 ! -type f -printf '%P\n')
  [ -z "$odd" ] || die "$dir holds something other than files: $(printf '%s' "$odd" | tr '\n' ' ')"
  expected=$(lock_entries "$lock" | awk '{print $3 "  " $4}' | LC_ALL=C sort)
  actual=$(cd "$dir" && find . -mindepth 1 -printf '%P\0' | LC_ALL=C sort -z | xargs -0 -r sha256sum | LC_ALL=C sort)
  if [ "$expected" != "$actual" ]; then
    die "$dir does not match $lock (- the lock, + the folder; a sha256 that differs shows as both):
$(diff <(printf '%s\n' "$expected") <(printf '%s\n' "$actual") | grep '^[<>]' | sed 's/^< /- /; s/^> /+ /')"
  fi
}

# platforms GLIBC: pip's --platform options for x86_64 wheels that run on that glibc.
platforms() {
  local minor
  for ((minor = ${1#2.}; minor >= 5; minor--)); do
    printf -- '--platform manylinux_2_%s_x86_64 ' "$minor"
  done
  printf -- '--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64'
}

# backend: a throwaway venv of PYTHON holding exactly build.txt's pip and setuptools (setuptools'
# own bdist_wheel builds the wheel: no `wheel` package). Sets BACKEND.
backend() {
  local name version sha file pip_wheel missing=()
  [ -z "$BACKEND" ] || return 0
  while read -r name version sha file; do
    cached_ok "$sha" "$file" || missing+=("$(lock_line "$LOCKS/build.txt" "$file")")
  done < <(lock_entries "$LOCKS/build.txt")
  if [ "${#missing[@]}" -gt 0 ]; then
    log "fetching the build backend ($LOCKS/build.txt)"
    printf '%s\n' "${missing[@]}" >"$WORK/backend.txt"
    pip_quiet "$PIP" download --no-deps --require-hashes --only-binary=:all: -d "$CACHE" -r "$WORK/backend.txt" \
      || die "could not fetch the build backend with the sha256 $LOCKS/build.txt gives"
  fi
  take "$LOCKS/build.txt" "$WORK/backend-wheels"
  "$PYTHON" -m venv --without-pip "$WORK/backend"
  pip_wheel=$(find "$WORK/backend-wheels" -name 'pip-*.whl')
  [ -n "$pip_wheel" ] || die "$LOCKS/build.txt has no pip wheel"
  # pip runs from its (checked) wheel to install itself and setuptools, from the checked copies only.
  pip_quiet "$WORK/backend/bin/python" "$pip_wheel/pip" install --no-index --no-deps --require-hashes \
    --no-cache-dir --find-links "$WORK/backend-wheels" -r "$LOCKS/build.txt"
  BACKEND=$WORK/backend
}

# build_wheel SDIST OUTDIR: the wheel of the checked sdist SDIST, built into OUTDIR by the pinned
# backend, with no build isolation (nothing is fetched: no floating setuptools).
#
# Reproducible, checked: the same sdist and build.txt give the same bytes on CPython 3.11, 3.12
# and 3.13, in any directory, at any time, whatever the caller's umask: file times come from
# SOURCE_DATE_EPOCH (the sdist's newest member), modes from the umask fixed here, and the member
# order and metadata from setuptools alone. Not reproducible: across setuptools or pip releases
# (another build.txt; `make lock` then records the new wheel's sha256), or with a build Python
# pip's pinned release does not run on. Any difference fails the build, as the wheel's sha256 is
# in its runtime's lock.
build_wheel() {
  local sdist=$1 outdir=$2 epoch
  backend
  epoch=$("$BACKEND/bin/python" -c 'import sys, tarfile; print(int(max(m.mtime for m in tarfile.open(sys.argv[1]))))' "$sdist")
  mkdir -p "$outdir"
  if ! (umask 022 && cd "$WORK" && export SOURCE_DATE_EPOCH=$epoch PYTHONHASHSEED=0 &&
    pip_quiet "$BACKEND/bin/python" -m pip wheel --no-deps --no-build-isolation --no-index --no-cache-dir \
      -w "$outdir" "$sdist"); then
    die "building a wheel from $(basename "$sdist") failed"
  fi
}

# from_source TAG NAME VERSION: build TAG's wheel of NAME==VERSION from sources.txt's sdist, into the
# cache (once its sha256 is the one TAG's lock gives it).
from_source() {
  local tag=$1 want=$2 version=$3 name v sha file sdist='' wheel lock=$LOCKS/$1.txt
  while read -r name v sha file; do
    [ "$name" = "$want" ] && [ "$v" = "$version" ] && sdist=$file
  done < <(lock_entries "$LOCKS/sources.txt")
  [ -n "$sdist" ] || die "$want==$version: no sdist in $LOCKS/sources.txt"
  backend
  lock_line "$LOCKS/sources.txt" "$sdist" >"$WORK/sdist.txt"
  if ! cached_ok "$(lock_entries "$WORK/sdist.txt" | cut -d' ' -f3)" "$sdist"; then
    log "fetching $sdist"
    # In the backend's venv: pip reads the sdist's metadata with the pinned setuptools, after it
    # checked the sdist's sha256.
    pip_quiet "$BACKEND/bin/python" -m pip download --no-deps --no-build-isolation --require-hashes \
      --no-binary=:all: --no-cache-dir -d "$CACHE" -r "$WORK/sdist.txt" \
      || die "could not fetch $sdist with the sha256 $LOCKS/sources.txt gives"
  fi
  take "$WORK/sdist.txt" "$WORK/src-$tag"
  log "building the $tag wheel of $want $version from $sdist"
  rm -rf "$WORK/built-$tag"
  build_wheel "$WORK/src-$tag/$sdist" "$WORK/built-$tag"
  awk -v req="$want==$version" '$1 == req' "$lock" >"$WORK/built-$tag.txt"
  wheel=$(lock_entries "$WORK/built-$tag.txt" | cut -d' ' -f4)
  if ! ( verify_dir "$WORK/built-$tag.txt" "$WORK/built-$tag" ) 2>"$WORK/built-$tag.err"; then
    cat "$WORK/built-$tag.err" >&2
    die "the wheel built from $sdist is not the one $lock records: another build backend than $LOCKS/build.txt's, or a stale lock (make lock)"
  fi
  cp "$WORK/built-$tag/$wheel" "$CACHE/$wheel"
}

# fetch_runtime TAG PYTHON ABI GLIBC: put TAG's locked wheels, checked, into $WORK/TAG.
fetch_runtime() {
  local tag=$1 python=$2 abi=$3 glibc=$4 lock=$LOCKS/$1.txt name version sha file missing=() built=()
  while read -r name version sha file; do
    cached_ok "$sha" "$file" && continue
    if lock_entries "$LOCKS/sources.txt" | awk -v n="$name" -v v="$version" '$1 == n && $2 == v {found = 1} END {exit !found}'; then
      built+=("$name $version")
    else
      missing+=("$(lock_line "$lock" "$file")")
    fi
  done < <(lock_entries "$lock")
  if [ "${#missing[@]}" -gt 0 ]; then
    log "fetching ${#missing[@]} file(s) of the $tag runtime ($lock)"
    printf '%s\n' "${missing[@]}" >"$WORK/$tag-missing.txt"
    # shellcheck disable=SC2046 # platforms prints options, one word each
    pip_quiet "$PIP" download --no-deps --require-hashes --only-binary=:all: --python-version "$python" \
      --implementation cp --abi "$abi" --abi abi3 --abi none $(platforms "$glibc") \
      -d "$CACHE" -r "$WORK/$tag-missing.txt" \
      || die "could not fetch the $tag runtime's $(printf '%s\n' "${missing[@]}" | awk '{printf "%s%s", sep, $NF; sep=", "}') with the sha256 $lock gives"
  fi
  for name in "${built[@]}"; do
    # shellcheck disable=SC2086 # "name version"
    from_source "$tag" $name
  done
  take "$lock" "$WORK/$tag"
}

# refuse_odd_files DIR: stop the build at anything in DIR (.git aside) but regular files and
# directories (a link or a device in an upload is a surprise on the node, which refuses them), and at
# file names with white space, quotes or backslashes (they do not survive the checksum list).
refuse_odd_files() {
  local odd
  odd=$(cd "$1" && find . -name .git -prune -o ! -type f ! -type d -printf '%P ' | head -c 1000)
  [ -z "$odd" ] || die "site: not a regular file or directory (copy the file itself in): $odd"
  odd=$(cd "$1" && find . -name .git -prune -o -type f \( -name '*[[:space:]]*' -o -name '*["'"'"']*' -o -name '*\\*' \) \
          -printf '"%P" ' | head -c 1000)
  [ -z "$odd" ] || die "site: file names with white space, quotes or backslashes: $odd"
}

# add_site DIR DEST: copy the site folder DIR to DEST (the bundle's site/), vendor the collections
# of its requirements.yml, and check it all (tools/check_site.py). Any problem stops the build.
add_site() {
  local dir=$1 dest=$2
  [ -d "$dir" ] || die "SITE=$dir is not a directory"
  dir=$(cd "$dir" && pwd -P)
  case "$dir/" in
    "$REPO"/dist/*) die "SITE=$dir is inside dist/, which the build writes" ;;
  esac
  refuse_odd_files "$dir"
  log "site folder $dir"
  mkdir -p "$dest"
  (cd "$dir" && find . -name .git -prune -o -type f -print0 | tar --null --no-recursion -c -T -) | tar -x -C "$dest"
  find "$dest" -type d -exec chmod 0755 {} + -o -type f -exec chmod go-w,a+r {} +
  if [ -f "$dest/requirements.yml" ] && "$TOOL_PYTHON" -c '
import sys, yaml
data = yaml.safe_load(open(sys.argv[1])) or {}
sys.exit(0 if isinstance(data, dict) and (data.get("collections") or data.get("roles")) else 1)' "$dest/requirements.yml" 2>/dev/null; then
    if grep -qE '^roles:' "$dest/requirements.yml"; then
      die "site: requirements.yml lists roles: put roles in the site's roles/ folder (only collections are vendored)"
    fi
    log "site: vendoring the collections of requirements.yml into site/collections/"
    (cd "$dir" && ANSIBLE_NOCOLOR=1 ansible-galaxy collection install -r requirements.yml \
        -p "$dest/collections" --force 2>&1 | sed 's/^/[bundle]   /') \
      || die "site: ansible-galaxy could not vendor the collections of requirements.yml (above)"
  fi
  # What ansible-galaxy vendored is checked as the admin's own files are.
  refuse_odd_files "$dest"
  "$TOOL_PYTHON" "$REPO/tools/check_site.py" "$dest" "$OUT/collections" "$LOCKS" \
    || die "site: the folder has the problems above; nothing was written"
}

main() {
  local runtime tag python abi glibc file sums final=$OUT
  for file in build.txt sources.txt py37.txt py39.txt; do
    lock_entries "$LOCKS/$file" >/dev/null
  done
  check_cache
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/hyperpod-bundle.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT

  # The folder is written beside its place and moved there once complete: a failed build leaves
  # no folder at all (not a partial one that could be uploaded).
  rm -rf "$final"
  mkdir -p "$(dirname "$final")"
  OUT=$(mktemp -d "$(dirname "$final")/.$(basename "$final").XXXXXX")
  chmod 0755 "$OUT"
  trap 'rm -rf "$WORK" "$OUT"' EXIT
  mkdir -p "$OUT/runtime" "$OUT/collections/ansible_collections/hyperpod/eks_lifecycle"

  log "collection and playbook"
  (cd "$REPO" && git ls-files -z --cached --others --exclude-standard -- \
    galaxy.yml LICENSE README.md meta plugins roles playbooks | xargs -0 tar -c) \
    | tar -x -C "$OUT/collections/ansible_collections/hyperpod/eks_lifecycle"
  cp -r "$OUT/collections/ansible_collections/hyperpod/eks_lifecycle/playbooks" "$OUT/playbooks"
  install -m 0755 "$REPO/bootstrap/on_create.sh" "$OUT/on_create.sh"
  install -m 0755 "$REPO/bootstrap/on_create.sh" "$OUT/on_init_complete.sh"
  install -m 0644 "$REPO/bootstrap/install_wheels.py" "$OUT/runtime/install_wheels.py"
  if [ -n "$SETTINGS" ]; then
    log "settings from $SETTINGS"
    cp "$SETTINGS" "$OUT/playbooks/vars/on_create.yml"
  fi

  if [ -n "$SITE" ]; then
    add_site "$SITE" "$OUT/site"
  fi

  for runtime in "${RUNTIMES[@]}"; do
    read -r tag python abi glibc <<<"$runtime"
    fetch_runtime "$tag" "$python" "$abi" "$glibc"
    mkdir -p "$OUT/runtime/$tag"
    find "$WORK/$tag" -mindepth 1 -maxdepth 1 -type f -exec install -m 0644 {} "$OUT/runtime/$tag/" \;
    verify_dir "$LOCKS/$tag.txt" "$OUT/runtime/$tag"
    lock_entries "$LOCKS/$tag.txt" | awk '{print $1 "==" $2}' | LC_ALL=C sort >"$OUT/runtime/requirements-$tag.txt"
    log "runtime $tag: $(wc -l <"$OUT/runtime/requirements-$tag.txt") wheels, each as $LOCKS/$tag.txt has it"
  done

  cat >"$OUT/README.txt" <<'EOF'
HyperPod lifecycle scripts: hyperpod.eks_lifecycle

Upload this folder as it is to the cluster's lifecycle S3 URI; set the instance groups'
LifeCycleConfig OnCreate to on_create.sh and OnInitComplete to on_init_complete.sh.
Settings: playbooks/vars/on_create.yml. Log on the node: /var/log/provision/provisioning.log.
SHA256SUMS protects every file; after editing the settings run, in this folder:
  sha256sum $(find . -type f ! -name SHA256SUMS | sort) > SHA256SUMS
EOF

  log "checksums"
  sums=$(cd "$OUT" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum)
  printf '%s\n' "$sums" >"$OUT/SHA256SUMS"
  mv -T "$OUT" "$final"
  OUT=$final
  trap 'rm -rf "$WORK"' EXIT
  log "wrote $OUT ($(du -sh "$OUT" | cut -f1), $(wc -l <"$OUT/SHA256SUMS") files)"
}

# tools/lock_runtime.sh sources this file for its functions; run, it builds the bundle.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
