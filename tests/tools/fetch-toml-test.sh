#!/usr/bin/env bash
# Unpack toml-test's TOML 1.0.0 cases for the unit tests of plugins/module_utils/containerd_toml.py
# (tests/unit/plugins/module_utils/test_containerd_toml_suite.py reads them from $DEST):
#   $DEST/tests/files-toml-1.0.0   toml-test's list of the TOML 1.0.0 cases
#   $DEST/tests/valid/**           the valid cases, each NAME.toml with NAME.json, the expected value in tagged JSON
#   $DEST/tests/invalid/**         the invalid cases, NAME.toml, which a reader must refuse
#   $DEST/LICENSE                  toml-test's license
# Nothing else of the suite is unpacked, and nothing is done when $DEST is there and matches SUITE_SHA256.
#
# Provenance: toml-test (https://github.com/toml-lang/toml-test, MIT license, "Copyright (c) 2018 TOML
# authors") at v2.1.0 (TOML_TEST, the newest entry of its CHANGELOG.md), as tomlkit 0.15.2 vendors it under
# tests/toml-test/ in its sdist on PyPI, tomlkit-0.15.2.tar.gz (tomlkit is MIT-licensed too). pip downloads
# that file, which is checked against SDIST_SHA256; the unpacked cases are checked against SUITE_SHA256 (the
# sha256 of `sha256sum` over every file, sorted by path), when unpacked and each time they are reused.
# To move to a newer suite: set TOMLKIT and TOML_TEST and empty both hashes; each run then stops at the
# first hash it cannot check and prints the value found, to review and pin.
set -euo pipefail
TOMLKIT=0.15.2
TOML_TEST=v2.1.0
SDIST=tomlkit-$TOMLKIT.tar.gz
SDIST_SHA256=83e32755ba1d20d9340bd069ee97e9f6232ba2346b63ffcba425de01f7e327a6
SUITE_SHA256=4dc2c89107a9c04437c486950dfcfa404d17e528a25808a0be776ba541cbfa5e
CACHE=/var/tmp/hyperpod-eks-lifecycle/toml-test
DEST=$CACHE/tomlkit-$TOMLKIT
PYTHON=${PYTHON:-python3}
IN_SDIST=tomlkit-$TOMLKIT/tests/toml-test

say() { echo "[toml-test] $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# usage: private_dir DIR -- DIR exists, is a directory (not a symlink) of this user, and only they can use it.
private_dir() {
  if [ ! -d "$1" ] || [ -L "$1" ] || [ ! -O "$1" ]; then
    die "$1 is not a directory owned by $(id -un): remove it"
  fi
  chmod 0700 "$1"
}

# usage: tree_sha256 DIR -- the sha256 of the list of sha256s of the files under DIR (paths relative, sorted).
tree_sha256() {
  (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum) | sha256sum | cut -d' ' -f1
}

# usage: suite_ok DIR -- DIR holds only directories and files, with the pinned digest.
suite_ok() {
  [ -d "$1" ] && [ -z "$(find "$1" ! -type f ! -type d -print -quit)" ] && [ "$(tree_sha256 "$1")" = "$SUITE_SHA256" ]
}

umask 077
top=${CACHE%/*}
mkdir -p "$top"
if [ -L "$top" ] || { [ ! -O "$top" ] && [ "$(stat -c %u "$top")" != 0 ]; } || [ -n "$(find "$top" -maxdepth 0 -perm /022)" ]; then
  die "$top is a symlink, or others than $(id -un) and root can write to it"
fi
mkdir -p "$CACHE"
private_dir "$CACHE"

if [ -n "$SUITE_SHA256" ] && suite_ok "$DEST"; then
  exit 0
fi

mkdir -p "$CACHE/download"
private_dir "$CACHE/download"
if ! echo "$SDIST_SHA256  $CACHE/download/$SDIST" | sha256sum --check --status 2>/dev/null; then
  say "downloading $SDIST (toml-test's cases are in it) with pip"
  rm -f "$CACHE/download/$SDIST"
  "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    --dest "$CACHE/download" "tomlkit==$TOMLKIT"
  [ -f "$CACHE/download/$SDIST" ] || die "pip did not download $SDIST"
  got=$(sha256sum "$CACHE/download/$SDIST" | cut -d' ' -f1)
  if [ "$got" != "$SDIST_SHA256" ]; then
    mv -f "$CACHE/download/$SDIST" "$CACHE/download/$SDIST.rejected"
    die "$SDIST has sha256 $got, not the pinned $SDIST_SHA256: refusing it (kept as $CACHE/download/$SDIST.rejected)"
  fi
fi

work=$(mktemp -d "$CACHE/.unpack.XXXXXX")
members=$(mktemp "$CACHE/.members.XXXXXX")
trap 'rm -rf "$work" "$members"' EXIT
untar() { tar -xzf "$CACHE/download/$SDIST" -C "$work" --strip-components=3 --no-same-owner --no-same-permissions "$@"; }
untar "$IN_SDIST/LICENSE" "$IN_SDIST/tests/files-toml-1.0.0"
# The list names the cases' files, relative to tests/; take nothing but plain relative paths from it.
if grep -Evq '^(valid|invalid)(/[A-Za-z0-9_][A-Za-z0-9_.-]*)+\.(toml|json)$' "$work/tests/files-toml-1.0.0"; then
  die "unexpected line in $IN_SDIST/tests/files-toml-1.0.0"
fi
sed "s|^|$IN_SDIST/tests/|" "$work/tests/files-toml-1.0.0" >"$members"
untar --files-from="$members"
[ -z "$(find "$work" ! -type f ! -type d -print -quit)" ] || die "$SDIST holds links among the suite's files"
got=$(tree_sha256 "$work")
if [ -z "$SUITE_SHA256" ]; then
  die "the cases unpacked from $SDIST have the digest $got: review them, then pin it as SUITE_SHA256"
fi
[ "$got" = "$SUITE_SHA256" ] || die "the cases unpacked from $SDIST have the digest $got, not the pinned $SUITE_SHA256"
rm -rf "$DEST"
mv "$work" "$DEST"
valid=$(grep -c '^valid/.*\.toml$' "$DEST/tests/files-toml-1.0.0")
invalid=$(grep -c '^invalid/' "$DEST/tests/files-toml-1.0.0")
say "toml-test $TOML_TEST (from $SDIST): $valid valid and $invalid invalid TOML 1.0.0 cases in $DEST"
