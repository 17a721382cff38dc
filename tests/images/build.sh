#!/usr/bin/env bash
# Build the Amazon Linux look-alike node images the tests run on.
#
# No real Amazon Linux image can be had on the build machines (no registry), so each image is a
# Debian bookworm userland made to look like the real node where the collection can tell:
#   - the real AL identity files (/etc/os-release, /etc/system-release, ...);
#   - the OS's own Python only: 3.7 (+ 2.7 as `python`) on AL2, 3.9 on AL2023, no other python3;
#   - the containerd version the EKS AMI ships: 1.7 on AL2, 2.x (or 1.7) on AL2023, running as a
#     systemd service from the package's unit plus the AMI's `00-runtime-slice.conf` drop-in;
#   - the containerd config the AMI ships (the unit tests' fixtures, with their provenance:
#     tests/unit/plugins/module_utils/fixtures/containerd): AL2's
#     /etc/eks/containerd/containerd-config.toml, AL2023's nodeadm-rendered /etc/containerd/config.toml;
#   - the sandbox image the AMI pins, named in /usr/share/hyperpod-lookalike/sandbox-image (the one
#     place the image's stand-ins read it from): its docker-save archive at /etc/eks/pause.tar, as the
#     AMI ships it, and the image already in /var/lib/containerd, imported from that archive and
#     labelled pinned; the archives are built here from tests/images/pause/pause.c, one per reference
#     (each a different image, so with a different digest);
#   - GPU variants carry a stand-in /usr/bin/nvidia-container-runtime that execs runc;
#   - stand-ins for the AMI's boot-time steps that rewrite containerd's config: /etc/eks/bootstrap.sh
#     on AL2; on AL2023 /usr/bin/nodeadm (phases config and run) and the AMI's boot units
#     nodeadm-config.service and nodeadm-run.service, installed but not enabled (tests enable them
#     to model the boots after the first one);
#   - a package manager stand-in (dnf, and yum as its alias, on AL2023; yum on AL2; `rpm -q`) that installs the few
#     packages of tests/images/standins/repo.txt offline, recording them (standins/dnf);
#   - a kubelet stand-in, /usr/bin/kubelet (it sleeps in /var/lib/kubelet) and its unit
#     kubelet.service, installed but not enabled (tests/images/standins, tests/images/units).
#
# Images (all tagged localhost/hyperpod-lookalike:<variant>):
#   al2, al2-gpu                     Python 3.7, containerd 1.7
#   al2023, al2023-gpu               Python 3.9, containerd 2.x
#   al2023-containerd1.7-gpu         Python 3.9, containerd 1.7 (nodeadm's v2 template)
#   al2023-next-gpu                  Python 3.9, containerd 2.x, a newer AMI: it pins
#                                    localhost/kubernetes/pause:3.10 (and has no :latest)
# All but al2023-next-gpu pin localhost/kubernetes/pause:latest.
# An image is rebuilt only when the inputs (this folder, the AMI configs, the Python trees) change.
#
# Needs: root, a running docker engine, debootstrap, gcc, and Debian's package mirror.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${WORK:-/var/tmp/hyperpod-eks-lifecycle/images}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PYENV_ROOT=${PYENV_ROOT:-$HOME/.pyenv}
PY_AL2=${PY_AL2:-3.7.16}
PY2_AL2=${PY2_AL2:-2.7.18}
PY_AL2023=${PY_AL2023:-3.9.18}
REPO=localhost/hyperpod-lookalike
VARIANTS=(al2 al2-gpu al2023 al2023-gpu al2023-containerd1.7-gpu al2023-next-gpu)
# The sandbox image each OS stage pins (the stages are below, in step 5).
declare -A SANDBOX_OF=([al2]=localhost/kubernetes/pause:latest [al2023]=localhost/kubernetes/pause:latest
                       [al2023-containerd1.7]=localhost/kubernetes/pause:latest
                       [al2023-next]=localhost/kubernetes/pause:3.10)
# The AMIs' containerd configs: one copy, shared with the unit tests.
FIXTURES=$HERE/../unit/plugins/module_utils/fixtures/containerd
AMI_CONFIGS=(al2-eks-containerd-config.toml
             al2023-nodeadm-config-v2.template.toml al2023-nodeadm-config-v3.template.toml
             al2023-nodeadm-v2-rendered.toml al2023-nodeadm-v3-rendered-runc.toml al2023-nodeadm-v3-rendered-nvidia.toml)
export DOCKER_BUILDKIT=0

log() { printf '[images] %s\n' "$*"; }
die() { printf '[images] error: %s\n' "$*" >&2; exit 1; }

for tool in docker debootstrap gcc dpkg-deb apt-get sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
docker info >/dev/null 2>&1 || die "no docker engine answers"
for v in "$PY_AL2" "$PY2_AL2" "$PY_AL2023"; do
  [ -x "$PYENV_ROOT/versions/$v/bin/python${v%.*}" ] || die "Python $v not found under $PYENV_ROOT/versions"
done

inputs_hash() {
  {
    (cd "$HERE" && find . -type f ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    (cd "$FIXTURES" && sha256sum "${AMI_CONFIGS[@]}")
    echo "$PY_AL2 $PY2_AL2 $PY_AL2023 $MIRROR ${VARIANTS[*]}"
  } | sha256sum | cut -c1-16
}
HASH=$(inputs_hash)

up_to_date() {
  local v
  for v in "${VARIANTS[@]}"; do
    [ "$(docker image inspect -f '{{ index .Config.Labels "hyperpod.inputs" }}' "$REPO:$v" 2>/dev/null)" = "$HASH" ] || return 1
  done
}
if [ "${FORCE:-0}" != 1 ] && up_to_date; then
  log "images up to date (inputs $HASH)"
  exit 0
fi

mkdir -p "$WORK"
CTX=$WORK/ctx
rm -rf "$CTX"
mkdir -p "$CTX"

# --- 1. base userland: bookworm minbase with systemd, no python3, no containerd package -------
BASE=localhost/hyperpod-lookalike-base:bookworm
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  log "debootstrap bookworm (about a minute)"
  ROOTFS=$WORK/rootfs
  rm -rf "$ROOTFS"
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,procps,iproute2,kmod,runc,ca-certificates,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,libreadline8,libncursesw6,libexpat1,libtirpc3,libuuid1,zlib1g \
    bookworm "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -30 "$WORK/debootstrap.log"; die "debootstrap failed"; }
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
  # A quiet boot in a container: no getty, udev, network or time daemons, no apt timers.
  for unit in getty@tty1.service console-getty.service systemd-udevd.service systemd-networkd.service \
              systemd-resolved.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
              systemd-logind.service; do
    ln -sf /dev/null "$ROOTFS/etc/systemd/system/$unit"
  done
  tar -C "$ROOTFS" -c . | docker import -c 'CMD ["/sbin/init"]' - "$BASE" >/dev/null
  rm -rf "$ROOTFS"
fi

# --- 2. containerd binaries, unpacked from Debian's packages (nothing installed on the host) ----
bash "$HERE/../tools/fetch-containerd.sh"
CONTAINERD_TREES=${CONTAINERD_TREES:-/var/tmp/hyperpod-eks-lifecycle/containerd}
copy_containerd() {  # copy_containerd TREE DEST: the binaries and the package's unit file
  mkdir -p "$2/usr/bin" "$2/usr/lib/systemd/system"
  cp -a "$1"/usr/bin/. "$2/usr/bin/"
  cp "$1"/usr/lib/systemd/system/containerd.service "$2/usr/lib/systemd/system/"
}
copy_containerd "$CONTAINERD_TREES/1.7" "$CTX/containerd-1.7"
copy_containerd "$CONTAINERD_TREES/2" "$CTX/containerd-2"

# --- 3. the OS's own Python, copied from pyenv and trimmed ------------------------------------
copy_python() {  # copy_python VERSION DEST
  local v=$1 dest=$2$PYENV_ROOT/versions/$1
  mkdir -p "$dest"
  cp -a "$PYENV_ROOT/versions/$v/." "$dest/"
  rm -rf "$dest"/lib/python*/test "$dest"/lib/python*/idlelib "$dest"/lib/python*/tkinter \
         "$dest"/lib/python*/lib2to3/tests "$dest"/lib/python*/config-* "$dest"/include "$dest"/share \
         "$dest"/lib/pkgconfig "$dest"/lib/*.a
  # The OS's python3 has no pip-installed extras; keep the stdlib only.
  find "$dest"/lib/python*/site-packages -mindepth 1 -maxdepth 1 ! -name README.txt -exec rm -rf {} +
  find "$dest" -name __pycache__ -type d -prune -exec rm -rf {} +
}
copy_python "$PY_AL2" "$CTX/python-al2"
copy_python "$PY2_AL2" "$CTX/python-al2"
copy_python "$PY_AL2023" "$CTX/python-al2023"

# --- 4. the pinned sandbox images, built and saved as archives, one per reference --------------
# Each reference is its own image (its tag in a label), so that each has its own digest.
archive_of() { printf '%s.tar' "$1" | tr '/:' '__'; }  # archive_of REF: its archive's name
mkdir -p "$CTX/pause" "$CTX/pause-archives"
gcc -static -Os -s -o "$CTX/pause/pause" "$HERE/pause/pause.c"
for ref in $(printf '%s\n' "${SANDBOX_OF[@]}" | LC_ALL=C sort -u); do
  printf 'FROM scratch\nCOPY pause /pause\nLABEL io.hyperpod-lookalike.pause.tag=%s\nENTRYPOINT ["/pause"]\n' \
    "${ref##*:}" >"$CTX/pause/Dockerfile"
  docker build -q -t "$ref" "$CTX/pause" >/dev/null
  docker save -o "$CTX/pause-archives/$(archive_of "$ref")" "$ref"
done
chmod 0644 "$CTX"/pause-archives/*.tar

cp -r "$HERE/identity" "$HERE/standins" "$HERE/units" "$CTX/"
mkdir -p "$CTX/fixtures"
(cd "$FIXTURES" && cp "${AMI_CONFIGS[@]}" "$CTX/fixtures/")

build() {  # build TAG DOCKERFILE [build args...]
  local tag=$1 file=$2 logf
  shift 2
  logf=$WORK/build-${tag##*:}.log
  docker build -t "$tag" -f "$file" --label "hyperpod.inputs=$HASH" --build-arg PYENV_ROOT="$PYENV_ROOT" "$@" "$CTX" >"$logf" 2>&1 \
    || { tail -40 "$logf"; die "docker build $tag failed"; }
}

# --- 5. per-OS images before the sandbox image is baked in -------------------------------------
cat >"$CTX/Dockerfile.os" <<'DF'
FROM localhost/hyperpod-lookalike-base:bookworm
ARG OS
ARG CONTAINERD
ARG PYTHON_TREE
ARG PYTHON3
ARG PYTHON2=
ARG PYENV_ROOT
ARG SANDBOX
ARG SANDBOX_ARCHIVE
COPY identity/${OS}/os-release /usr/lib/os-release
COPY ${PYTHON_TREE}/ /
COPY ${CONTAINERD}/ /
COPY standins/ /usr/share/hyperpod-lookalike/standins/
COPY units/ /usr/share/hyperpod-lookalike/units/
COPY fixtures/ /usr/share/hyperpod-lookalike/fixtures/
COPY identity/${OS}/ /usr/share/hyperpod-lookalike/identity/
COPY pause-archives/${SANDBOX_ARCHIVE} /etc/eks/pause.tar
RUN set -eu; \
    printf '%s\n' "$SANDBOX" >/usr/share/hyperpod-lookalike/sandbox-image; \
    ln -sf ../usr/lib/os-release /etc/os-release; \
    if [ "$OS" = al2 ]; then \
      cp /usr/share/hyperpod-lookalike/identity/system-release /etc/system-release; \
      cp /usr/share/hyperpod-lookalike/identity/system-release-cpe /etc/system-release-cpe; \
    else \
      cp /usr/share/hyperpod-lookalike/identity/system-release /etc/amazon-linux-release; \
      cp /usr/share/hyperpod-lookalike/identity/system-release-cpe /etc/amazon-linux-release-cpe; \
      ln -sf amazon-linux-release /etc/system-release; ln -sf amazon-linux-release-cpe /etc/system-release-cpe; \
    fi; \
    ln -sf "$PYENV_ROOT/versions/${PYTHON3}/bin/python${PYTHON3%.*}" "/usr/bin/python${PYTHON3%.*}"; \
    ln -sf "python${PYTHON3%.*}" /usr/bin/python3; \
    if [ -n "$PYTHON2" ]; then \
      ln -sf "$PYENV_ROOT/versions/${PYTHON2}/bin/python2.7" /usr/bin/python2.7; \
      ln -sf python2.7 /usr/bin/python2; ln -sf python2 /usr/bin/python; \
    fi; \
    chmod 0700 /root; \
    mkdir -p /etc/containerd/certs.d /etc/cni/net.d /opt/cni/bin /etc/systemd/system/containerd.service.d \
             /var/lib/containerd /opt/sagemaker; \
    printf '[Service]\nSlice=runtime.slice\n' >/etc/systemd/system/containerd.service.d/00-runtime-slice.conf; \
    ln -sf /usr/lib/systemd/system/containerd.service /etc/systemd/system/multi-user.target.wants/containerd.service; \
    install -m 0755 /usr/share/hyperpod-lookalike/standins/kubelet /usr/bin/kubelet; \
    if [ "$OS" = al2 ]; then pm=yum; else pm=dnf; fi; \
    install -m 0755 /usr/share/hyperpod-lookalike/standins/dnf "/usr/bin/$pm"; \
    if [ "$pm" = dnf ]; then ln -sf dnf /usr/bin/yum; fi; \
    install -m 0755 /usr/share/hyperpod-lookalike/standins/rpm /usr/bin/rpm; \
    mkdir -p /usr/share/hyperpod-lookalike/repo; \
    grep -v '^#' /usr/share/hyperpod-lookalike/standins/repo.txt | while read -r name version; do \
      printf '%s\n' "$version" >"/usr/share/hyperpod-lookalike/repo/$name"; done; \
    install -m 0644 /usr/share/hyperpod-lookalike/units/kubelet.service /usr/lib/systemd/system/kubelet.service; \
    if [ "$OS" = al2 ]; then \
      mkdir -p /etc/eks/containerd /etc/containerd/config.d; \
      cp /usr/share/hyperpod-lookalike/fixtures/al2-eks-containerd-config.toml /etc/eks/containerd/containerd-config.toml; \
      sed "s,SANDBOX_IMAGE,$(cat /usr/share/hyperpod-lookalike/sandbox-image)," /etc/eks/containerd/containerd-config.toml >/etc/containerd/config.toml; \
      install -m 0755 /usr/share/hyperpod-lookalike/standins/eks-bootstrap.sh /etc/eks/bootstrap.sh; \
    else \
      install -m 0755 /usr/share/hyperpod-lookalike/standins/nodeadm /usr/bin/nodeadm; \
      install -m 0644 /usr/share/hyperpod-lookalike/units/nodeadm-config.service /usr/share/hyperpod-lookalike/units/nodeadm-run.service \
        /usr/lib/systemd/system/; \
      /usr/bin/nodeadm render-config; \
    fi; \
    python3 -c 'import sys; assert sys.version_info[:2] == tuple(int(x) for x in "'"${PYTHON3}"'".split(".")[:2])'
CMD ["/sbin/init"]
DF

# al2023-next: a newer AL2023 AMI (same Python and containerd) that pins another sandbox image.
declare -A OS_OF=([al2]=al2 [al2023]=al2023 [al2023-containerd1.7]=al2023 [al2023-next]=al2023)
declare -A CTD_OF=([al2]=containerd-1.7 [al2023]=containerd-2 [al2023-containerd1.7]=containerd-1.7 [al2023-next]=containerd-2)
declare -A PYTREE_OF=([al2]=python-al2 [al2023]=python-al2023 [al2023-containerd1.7]=python-al2023 [al2023-next]=python-al2023)
declare -A PY3_OF=([al2]=$PY_AL2 [al2023]=$PY_AL2023 [al2023-containerd1.7]=$PY_AL2023 [al2023-next]=$PY_AL2023)
declare -A PY2_OF=([al2]=$PY2_AL2 [al2023]="" [al2023-containerd1.7]="" [al2023-next]="")

for os_variant in al2 al2023 al2023-containerd1.7 al2023-next; do
  log "building $os_variant"
  build "$REPO:stage-$os_variant" "$CTX/Dockerfile.os" \
    --build-arg OS="${OS_OF[$os_variant]}" --build-arg CONTAINERD="${CTD_OF[$os_variant]}" \
    --build-arg PYTHON_TREE="${PYTREE_OF[$os_variant]}" --build-arg PYTHON3="${PY3_OF[$os_variant]}" \
    --build-arg PYTHON2="${PY2_OF[$os_variant]}" --build-arg SANDBOX="${SANDBOX_OF[$os_variant]}" \
    --build-arg SANDBOX_ARCHIVE="$(archive_of "${SANDBOX_OF[$os_variant]}")"

  # Bake the pinned sandbox image into /var/lib/containerd the way the AMI build does: import the
  # image's /etc/eks/pause.tar with that OS's own containerd and label it pinned; the archive must
  # hold exactly the reference the image pins. containerd needs a real filesystem (not the image's
  # overlay) to unpack, so it runs on a host folder that is then copied in.
  root_dir=$WORK/containerd-root-$os_variant
  rm -rf "$root_dir"
  mkdir -p "$root_dir"
  docker run --rm --network none --cap-add SYS_ADMIN -v "$root_dir:/var/lib/containerd" \
    "$REPO:stage-$os_variant" /bin/sh -eu -c '
      ref=$(cat /usr/share/hyperpod-lookalike/sandbox-image)
      containerd >/tmp/containerd.log 2>&1 &
      pid=$!
      for i in $(seq 1 50); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done
      ctr -n k8s.io images import /etc/eks/pause.tar >/dev/null
      ctr -n k8s.io images label "$ref" io.cri-containerd.pinned=pinned >/dev/null
      names=$(ctr -n k8s.io images ls -q | grep -v "^sha256:")
      [ "$names" = "$ref" ] || { echo "/etc/eks/pause.tar holds [$names], not $ref" >&2; exit 1; }
      kill "$pid"; wait "$pid" || true' \
    || die "baking the sandbox image into $os_variant failed"
  rm -rf "$CTX/containerd-root"
  cp -a "$root_dir" "$CTX/containerd-root"
  printf 'FROM %s\nCOPY containerd-root/ /var/lib/containerd/\n' "$REPO:stage-$os_variant" >"$CTX/Dockerfile.bake"
  build "$REPO:baked-$os_variant" "$CTX/Dockerfile.bake"
  rm -rf "$root_dir" "$CTX/containerd-root"
done

# --- 6. CPU and GPU variants -------------------------------------------------------------------
gpu_layer() {  # gpu_layer FROM TAG
  printf 'FROM %s\nRUN install -m 0755 /usr/share/hyperpod-lookalike/standins/nvidia-container-runtime /usr/bin/nvidia-container-runtime && { [ ! -x /usr/bin/nodeadm ] || /usr/bin/nodeadm render-config; }\n' "$1" >"$CTX/Dockerfile.gpu"
  build "$2" "$CTX/Dockerfile.gpu"
}
printf 'FROM %s\n' "$REPO:baked-al2" >"$CTX/Dockerfile.cpu"; build "$REPO:al2" "$CTX/Dockerfile.cpu"
printf 'FROM %s\n' "$REPO:baked-al2023" >"$CTX/Dockerfile.cpu"; build "$REPO:al2023" "$CTX/Dockerfile.cpu"
gpu_layer "$REPO:baked-al2" "$REPO:al2-gpu"
gpu_layer "$REPO:baked-al2023" "$REPO:al2023-gpu"
gpu_layer "$REPO:baked-al2023-containerd1.7" "$REPO:al2023-containerd1.7-gpu"
gpu_layer "$REPO:baked-al2023-next" "$REPO:al2023-next-gpu"
rm -rf "$CTX"

for v in "${VARIANTS[@]}"; do
  log "$REPO:$v: $(docker run --rm --network none "$REPO:$v" /bin/sh -c \
    '. /etc/os-release; printf "%s | %s | containerd %s | nvidia %s | sandbox %s" "$PRETTY_NAME" "$(python3 -V 2>&1)" "$(containerd --version | cut -d" " -f3)" "$([ -x /usr/bin/nvidia-container-runtime ] && echo yes || echo no)" "$(cat /usr/share/hyperpod-lookalike/sandbox-image)"')"
done
