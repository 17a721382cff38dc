#!/usr/bin/env bash
# Stand-in for the containerd part of the EKS AL2 AMI's /etc/eks/bootstrap.sh, which runs after
# the lifecycle script: fill in the sandbox image, install /etc/eks/containerd/containerd-config.toml
# as /etc/containerd/config.toml when they differ, restart containerd, and check the config.
# The sandbox image defaults to the one the AMI pins (/usr/share/hyperpod-lookalike/sandbox-image).
set -euo pipefail
SANDBOX_IMAGE=${SANDBOX_IMAGE:-$(cat /usr/share/hyperpod-lookalike/sandbox-image)}
[ -n "$SANDBOX_IMAGE" ] || { echo "bootstrap.sh: no sandbox image" >&2; exit 1; }
src=/etc/eks/containerd/containerd-config.toml
sed -i "s,SANDBOX_IMAGE,${SANDBOX_IMAGE},g" "$src"
if ! cmp -s "$src" /etc/containerd/config.toml; then
  cp "$src" /etc/containerd/config.toml
  systemctl daemon-reload
  systemctl enable containerd
  systemctl restart containerd
fi
containerd config dump >/dev/null
