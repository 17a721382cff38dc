"""Helpers for the testinfra checks of the look-alike nodes (they run on the controller)."""

import tomllib

DATA_VOLUME = "/opt/sagemaker"
DATA_ROOT = DATA_VOLUME + "/containerd/data-root"
MARKER = DATA_ROOT + "/.hyperpod-eks-lifecycle.json"
LAYER_CONFIG = "/etc/containerd/hyperpod/config.toml"
NODEADM_CONFIG = "/etc/containerd/config.toml"
EKS_CONFIG = "/etc/eks/containerd/containerd-config.toml"
NVIDIA = "/usr/bin/nvidia-container-runtime"
FIXTURES = "/usr/share/hyperpod-lookalike/fixtures"
SANDBOX = "localhost/kubernetes/pause:latest"


def platform(host):
    """al2 or al2023, from the node's os-release."""
    return "al2" if host.file("/etc/os-release").contains('^VERSION_ID="2"$') else "al2023"


def is_gpu(host):
    return host.file(NVIDIA).exists


def dump(host, config):
    """containerd's effective config for CONFIG, parsed."""
    return tomllib.loads(host.check_output("containerd --config %s config dump 2>/dev/null", config))


def cri_runtime(cfg):
    """The CRI plugin section that holds runtimes, for either schema."""
    plugins = cfg["plugins"]
    if cfg.get("version") == 3:
        return plugins["io.containerd.cri.v1.runtime"]
    return plugins["io.containerd.grpc.v1.cri"]


def sandbox_image(cfg):
    if cfg.get("version") == 3:
        return cfg["plugins"]["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"]
    return cfg["plugins"]["io.containerd.grpc.v1.cri"]["sandbox_image"]


def daemon_content_root(host):
    """The content store path the running daemon reports: where its root really is."""
    out = host.check_output("ctr plugins ls --detailed type==io.containerd.content.v1 2>/dev/null")
    for line in out.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "root":
            return words[1]
    raise AssertionError("no content store root in: " + out)


def k8s_images(host):
    """{ref: labels} of the images containerd keeps for Kubernetes."""
    out = host.check_output("ctr --namespace k8s.io images list 2>/dev/null")
    images = {}
    for line in out.splitlines()[1:]:
        words = line.split()
        images[words[0]] = words[-1]
    return images


def flatten(data, prefix=()):
    """{('a', 'b'): value} for every leaf of a nested dict."""
    leaves = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            leaves.update(flatten(value, prefix + (key,)))
        else:
            leaves[prefix + (key,)] = value
    return leaves
