#!/usr/bin/env bash
# Re-creation of the original HyperPod EKS "better lifecycle scripts" main script
# (on_create_main.sh), written from its documented step-by-step behaviour as of its first
# version, known bugs included: /opt/sagemaker hard-coded and matched by substring, a silent
# exit 0 when it is not mounted, rm -rf of the containerd data root on every AL2023 run, a
# version = 2 config that forces nvidia as the default runtime and bypasses
# /etc/containerd/config.toml, no containerd restart and no check of the effective root.
# It is kept only as the baseline of the benchmark. Never use it on a node.

set -ex

logger() {
  echo "$@"
}

logger "[start] on_create_main.sh"

# Wait for the secondary volume: 12 tries, 5 s apart.
mounted=false
for _ in $(seq 1 12); do
  if mount | grep -q "/opt/sagemaker"; then
    mounted=true
    break
  fi
  sleep 5
done

if [ "$mounted" != "true" ]; then
  logger "/opt/sagemaker not mounted. Skipping containerd configuration"
  exit 0
fi

# shellcheck disable=SC1091 # the original sources the node's os-release as is; it only exists on the node
source /etc/os-release
os_version=$VERSION_ID

if [ "$os_version" = "2" ]; then
  # AL2: edit the config that the AMI's bootstrap.sh later copies to /etc/containerd/config.toml.
  if [ -f /etc/eks/containerd/containerd-config.toml ]; then
    sed -i -e "/^[# ]*root\s*=/c\root = \"/opt/sagemaker/containerd/data-root\"" /etc/eks/containerd/containerd-config.toml
  else
    logger "/etc/eks/containerd/containerd-config.toml not found!"
  fi

elif [ "$os_version" = "2023" ]; then
  # Data left by AL2 containerd breaks AL2023 containerd: wipe it, every run.
  if [ -d /opt/sagemaker/containerd/data-root ]; then
    rm -rf /opt/sagemaker/containerd/data-root
  fi

  mkdir -p /opt/sagemaker/containerd

  cat <<EOF | tee /opt/sagemaker/containerd/config.toml
version = 2
root = "/opt/sagemaker/containerd/data-root"
state = "/run/containerd"

[grpc]
address = "/run/containerd/containerd.sock"

[plugins."io.containerd.grpc.v1.cri".containerd]
default_runtime_name = "nvidia"
discard_unpacked_layers = true

[plugins."io.containerd.grpc.v1.cri"]
sandbox_image = "localhost/kubernetes/pause"
enable_cdi = false

[plugins."io.containerd.grpc.v1.cri".registry]
config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]
runtime_type = "io.containerd.runc.v2"
base_runtime_spec = "/etc/containerd/base-runtime-spec.json"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]
BinaryName = "/usr/bin/nvidia-container-runtime"
SystemdCgroup = true

[plugins."io.containerd.grpc.v1.cri".cni]
bin_dir = "/opt/cni/bin"
conf_dir = "/etc/cni/net.d"
EOF

  mkdir -p /etc/systemd/system/containerd.service.d
  cat <<EOF | tee /etc/systemd/system/containerd.service.d/override.conf
[Service]
Environment="CONTAINERD_CONFIG=/opt/sagemaker/containerd/config.toml"
ExecStart=
ExecStart=/usr/bin/containerd --config \$CONTAINERD_CONFIG
EOF

  systemctl daemon-reload

  # Keep the AMI's pinned pause image (it cannot be pulled): copy the whole old root.
  cp -a /var/lib/containerd /opt/sagemaker/containerd/data-root

else
  logger "Unsupported OS version: $os_version. Skipping containerd configuration"
fi

logger "no more steps to run"
logger "[stop] on_create_main.sh"
