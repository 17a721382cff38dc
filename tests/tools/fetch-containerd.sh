#!/usr/bin/env bash
# Unpack the containerd versions the EKS AMIs ship, from Debian's packages, without installing them:
#   $DEST/1.7/usr/bin/containerd   containerd 1.7 (Debian trixie): Amazon Linux 2, AL2023 before 2.x
#   $DEST/2/usr/bin/containerd     containerd 2.x (Debian sid): current AL2023
# Used by the unit tests (real `containerd config dump`) and by tests/images/build.sh. The .deb
# files are kept in $DEST/debs; nothing is done when both trees are there.
set -euo pipefail
DEST=${DEST:-/var/tmp/hyperpod-eks-lifecycle/containerd}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

if [ -x "$DEST/1.7/usr/bin/containerd" ] && [ -x "$DEST/2/usr/bin/containerd" ]; then
  exit 0
fi
APT=$DEST/apt
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$DEST/debs"
printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
  "$MIRROR" trixie "$MIRROR" sid >"$APT/sources.list"
APT_OPTS=(-o Dir::Etc::SourceList="$APT/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o Dir::State::Lists="$APT/lists" -o Dir::Cache="$APT/cache" -o APT::Sandbox::User=root)
echo "[containerd] downloading containerd 1.7 (trixie) and 2.x (sid)" >&2
apt-get "${APT_OPTS[@]}" -qq update
(cd "$DEST/debs" && rm -f ./*.deb && apt-get "${APT_OPTS[@]}" -qq download containerd/trixie containerd/sid)
debs_17=("$DEST"/debs/containerd_1.7*.deb)
debs_2=("$DEST"/debs/containerd_2.*.deb)
for pair in "1.7:${debs_17[-1]}" "2:${debs_2[-1]}"; do
  rm -rf "${DEST:?}/${pair%%:*}"
  dpkg-deb -x "${pair#*:}" "$DEST/${pair%%:*}"
done
echo "[containerd] $("$DEST/1.7/usr/bin/containerd" --version | cut -d' ' -f3), $("$DEST/2/usr/bin/containerd" --version | cut -d' ' -f3) in $DEST" >&2
