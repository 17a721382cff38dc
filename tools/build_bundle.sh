#!/usr/bin/env bash
# `make bundle`: write dist/lifecycle/, the folder a HyperPod admin uploads to S3 as it is.
#
#   on_create.sh              the lifecycle script (the cluster's OnCreate)
#   playbooks/                the play, and vars/on_create.yml: the settings to edit
#   collections/              hyperpod.eks_lifecycle itself
#   runtime/                  an Ansible runtime per Amazon Linux generation, as wheels for the
#                             OS's own Python (nodes often have no internet):
#     py37/                   Amazon Linux 2, Python 3.7: ansible-core 2.11 (the last release whose
#                             controller runs on Python 3.7)
#     py39/                   Amazon Linux 2023, Python 3.9: ansible-core 2.15 (the last release
#                             whose controller runs on Python 3.9)
#     install_wheels.py       unpacks them into a venv of the OS's Python (no pip, no ensurepip)
#     requirements-py*.txt    exact versions installed
#   SHA256SUMS                checksum of every file above; on_create.sh checks it before anything
#
# Wheels are fetched from the package index on the build machine and cached.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/dist/lifecycle}
CACHE=${CACHE:-/var/tmp/hyperpod-eks-lifecycle/wheels}
PIP=${PIP:-pip}
# A settings file to ship instead of playbooks/vars/on_create.yml (`make bundle SETTINGS=...`).
SETTINGS=${SETTINGS:-}
# tag  python  abi     ansible-core        extra requirements (markers are evaluated for the
#                                          build machine's Python, so the target's are named)
RUNTIMES=(
  "py37 3.7 cp37m ansible-core==2.11.12 -"
  "py39 3.9 cp39  ansible-core==2.15.13 importlib-resources>=5.0,<5.1"
)

log() { printf '[bundle] %s\n' "$*"; }
pip_quiet() { "$PIP" "$@" --disable-pip-version-check -q 2>&1 | { grep -v '^WARNING: Location' || true; }; }

fetch_runtime() {  # fetch_runtime TAG PYTHON ABI ANSIBLE_CORE EXTRA -> $CACHE/TAG
  local tag=$1 python=$2 abi=$3 core=$4 extra=$5 dir=$CACHE/$1 reqs
  reqs=("$core")
  [ "$extra" = - ] || reqs+=("$extra")
  if [ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "${reqs[*]}" ]; then
    return
  fi
  log "fetching the $tag runtime: ${reqs[*]}"
  rm -rf "$dir"
  mkdir -p "$dir"
  # ansible-core releases before 2.13 are published as source only: build their (pure Python) wheel.
  pip_quiet wheel --no-deps -w "$dir" "$core"
  pip_quiet download --only-binary=:all: --python-version "$python" --implementation cp \
    --abi "$abi" --abi abi3 --abi none \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux1_x86_64 \
    --platform any --find-links "$dir" -d "$dir" "${reqs[@]}"
  printf '%s' "${reqs[*]}" >"$dir/.complete"
}

rm -rf "$OUT"
mkdir -p "$OUT/runtime" "$OUT/collections/ansible_collections/hyperpod/eks_lifecycle"

log "collection and playbook"
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard -- \
  galaxy.yml LICENSE README.md meta plugins roles playbooks | xargs -0 tar -c) \
  | tar -x -C "$OUT/collections/ansible_collections/hyperpod/eks_lifecycle"
cp -r "$OUT/collections/ansible_collections/hyperpod/eks_lifecycle/playbooks" "$OUT/playbooks"
install -m 0755 "$REPO/bootstrap/on_create.sh" "$OUT/on_create.sh"
install -m 0644 "$REPO/bootstrap/install_wheels.py" "$OUT/runtime/install_wheels.py"
if [ -n "$SETTINGS" ]; then
  log "settings from $SETTINGS"
  cp "$SETTINGS" "$OUT/playbooks/vars/on_create.yml"
fi

for runtime in "${RUNTIMES[@]}"; do
  read -r tag python abi core extra <<<"$runtime"
  fetch_runtime "$tag" "$python" "$abi" "$core" "$extra"
  mkdir -p "$OUT/runtime/$tag"
  find "$CACHE/$tag" -name '*.whl' -exec cp {} "$OUT/runtime/$tag/" \;
  (cd "$OUT/runtime/$tag" && for whl in *.whl; do
     name=${whl%%-*}; rest=${whl#*-}; printf '%s==%s\n' "$name" "${rest%%-*}"
   done) | LC_ALL=C sort >"$OUT/runtime/requirements-$tag.txt"
done

cat >"$OUT/README.txt" <<'EOF'
HyperPod lifecycle scripts: hyperpod.eks_lifecycle

Upload this folder as it is to the cluster's lifecycle S3 URI and set OnCreate to on_create.sh.
Settings: playbooks/vars/on_create.yml. Log on the node: /var/log/provision/provisioning.log.
SHA256SUMS protects every file; after editing the settings run, in this folder:
  sha256sum $(find . -type f ! -name SHA256SUMS | sort) > SHA256SUMS
EOF

log "checksums"
sums=$(cd "$OUT" && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs sha256sum)
printf '%s\n' "$sums" >"$OUT/SHA256SUMS"
log "wrote $OUT ($(du -sh "$OUT" | cut -f1), $(wc -l <"$OUT/SHA256SUMS") files)"
