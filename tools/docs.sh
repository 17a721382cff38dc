#!/usr/bin/env bash
# The collection's documentation: its changelog and its documentation site.
#
#   tools/docs.sh changelog COLLECTION    (test venv: make changelog-lint)
#     antsibull-changelog lint of the fragments and of changelogs/changelog.yaml; CHANGELOG.rst must be
#     what changelogs/changelog.yaml generates; and a preview of the next release (galaxy.yml's version,
#     which must be newer than the last release) built in a scratch copy, which must succeed. Warns about
#     plugins, modules and roles without version_added, and about those no release lists although their
#     version_added is not newer than the last release (they would never be listed).
#   tools/docs.sh lint COLLECTION         (docs venv: make docs-lint)
#     antsibull-docs lint-collection-docs, with the plugins' and roles' documentation.
#   tools/docs.sh site COLLECTIONS OUT    (docs venv: make docs)
#     The documentation site of the collection installed under COLLECTIONS (make collection's copy),
#     built with antsibull-docs and Sphinx into OUT/html. Offline: nothing comes from Galaxy or GitHub,
#     and docs/docsite/sphinx/conf.py links the ansible-core pages the plugin pages mention.
#
# COLLECTION is a collection's root (the directory with galaxy.yml); nothing in it is changed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
name=hyperpod.eks_lifecycle

usage() {
  sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

changelog() {
  local coll=$1 tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064  # expand now: $tmp is local
  trap "rm -rf '$tmp'" EXIT
  cd "$coll"
  antsibull-changelog lint
  antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
  antsibull-changelog generate --output "$tmp/CHANGELOG.rst"
  if ! diff -u CHANGELOG.rst "$tmp/CHANGELOG.rst"; then
    echo "changelog: CHANGELOG.rst is not what changelogs/changelog.yaml generates (run antsibull-changelog generate)" >&2
    exit 1
  fi

  # The next release, in a scratch copy: the fragments and the plugins' version_added as a release sees them.
  mkdir "$tmp/next"
  cp -a galaxy.yml meta plugins roles changelogs "$tmp/next/"
  rm -f "$tmp/next/changelogs/.plugin-cache.yaml"
  python3 - "$tmp/next" <<'EOF'
import sys
import yaml
from packaging.version import Version

root = sys.argv[1]
version = str(yaml.safe_load(open(root + "/galaxy.yml"))["version"])
releases = yaml.safe_load(open(root + "/changelogs/changelog.yaml")).get("releases") or {}
last = max(releases, key=Version) if releases else None
if last is not None and Version(version) <= Version(last):
    sys.exit("changelog: galaxy.yml's version %s is not newer than the last release in changelogs/changelog.yaml, %s: "
             "raise it to the version of the next release" % (version, last))
EOF
  if ! (cd "$tmp/next" && antsibull-changelog release --date "$(date -u +%F)") >"$tmp/release.log" 2>&1; then
    cat "$tmp/release.log" >&2
    echo "changelog: antsibull-changelog release of the fragments failed" >&2
    exit 1
  fi
  # A release summary is written at release time: that a preview has none is expected.
  grep -v 'Found no release_summary' "$tmp/release.log" || true
  python3 - "$tmp/next" <<'EOF'
import sys
import yaml
from packaging.version import Version

root = sys.argv[1]
version = str(yaml.safe_load(open(root + "/galaxy.yml"))["version"])
releases = yaml.safe_load(open(root + "/changelogs/changelog.yaml")).get("releases") or {}
if version not in releases:
    sys.exit("changelog: antsibull-changelog release could not make a release %s of the fragments" % version)
release = releases[version]
listed = set()
for data in releases.values():
    listed |= {("module", m["name"]) for m in data.get("modules", [])}
    for kind in ("plugins", "objects"):
        for plugin_type, items in (data.get(kind) or {}).items():
            listed |= {(plugin_type, item["name"]) for item in items}
cache = yaml.safe_load(open(root + "/changelogs/.plugin-cache.yaml"))
earlier = [Version(v) for v in releases if v != version]
last = max(earlier) if earlier else None
for kind in ("plugins", "objects"):
    for plugin_type, items in sorted((cache.get(kind) or {}).items()):
        for plugin in sorted(items):
            added = items[plugin].get("version_added")
            what = "%s %s.%s" % (plugin_type, "hyperpod.eks_lifecycle", plugin)
            if not added:
                print("changelog: warning: %s has no version_added" % what)
            elif (plugin_type, plugin) not in listed and last is not None and Version(str(added)) <= last:
                print("changelog: warning: %s has version_added %s, but no release lists it "
                      "(a plugin new in %s needs version_added: %s)" % (what, added, version, version))
fragments = release.get("fragments") or []
new = sorted("%s %s" % (t, i["name"]) for k in ("plugins", "objects") for t, items in (release.get(k) or {}).items() for i in items)
new += sorted("module %s" % m["name"] for m in release.get("modules") or [])
print("changelog: next release %s: %d fragments, %s" % (version, len(fragments), "new: " + ", ".join(new) if new else "nothing new"))
EOF
}

docs_lint() {
  antsibull-docs lint-collection-docs --plugin-docs "$1"
}

site() {
  local collections=$1 out=$2 conf="$here/docs/docsite/sphinx" start
  start=$(date +%s)
  export ANSIBLE_COLLECTIONS_PATH="$collections" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
  rm -rf "$out"
  mkdir -p "$out/rst"
  chmod 0700 "$out" "$out/rst"  # antsibull-docs writes only to a directory no one else can write to
  antsibull-docs --config-file "$conf/antsibull-docs.cfg" collection --use-current --squash-hierarchy \
    --fail-on-error --cleanup everything --dest-dir "$out/rst" "$name"
  # -W: any warning fails the build (-q prints warnings only); --keep-going reports them all first.
  sphinx-build -q -W --keep-going -b html -c "$conf" -d "$out/doctrees" "$out/rst" "$out/html"
  echo "docs: $(find "$out/html" -maxdepth 1 -name '*.html' | wc -l) pages in $(($(date +%s) - start)) s: $out/html/index.html"
}

case "${1:-}" in
  changelog) [ $# -eq 2 ] || usage; changelog "$2" ;;
  lint) [ $# -eq 2 ] || usage; docs_lint "$2" ;;
  site) [ $# -eq 3 ] || usage; site "$2" "$3" ;;
  *) usage ;;
esac
