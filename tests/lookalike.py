"""Start and drive Amazon Linux look-alike nodes (tests/images/build.sh) with the docker CLI."""

import subprocess
import time
import uuid

IMAGES = "localhost/hyperpod-lookalike"


def docker(*args, check=True, timeout=300, **kwargs):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout, **kwargs)


class Node:
    """A look-alike node: systemd as PID 1, no network, the data volume mounted unless volume=None."""

    def __init__(self, variant, volume, prefix="hp-test", read_only=False, volume_size=None, wait_containerd=True,
                 instance_store=None, sysctl=False):
        """VOLUME: a host directory bind-mounted at /opt/sagemaker (None: no volume); with VOLUME_SIZE
        (e.g. "8m") instead, a tmpfs of that size, a small file system to fill. INSTANCE_STORE (a size,
        e.g. "64m"): a tmpfs of that size at /opt/dlami/nvme as well, the node's instance store.
        WAIT_CONTAINERD=False: a boot is over when systemd is, for a node whose containerd is disabled.
        SYSCTL=True: /proc/sys writable, for the node's own network namespace's keys (net.*); keys
        that are not namespaced would be the host's, and the tests never write them.

        /run is a tmpfs, emptied at each boot (restart()); so are the tmpfs volumes, while a
        bind-mounted VOLUME keeps its files."""
        self.wait_containerd = wait_containerd
        self.name = "%s-%s-%s" % (prefix, variant.replace(".", ""), uuid.uuid4().hex[:6])
        args = ["run", "-d", "--name", self.name, "--hostname", self.name, "--network", "none",
                "--cap-add", "SYS_ADMIN", "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                "--tmpfs", "/run", "--tmpfs", "/run/lock"]
        if sysctl:
            args += ["--security-opt", "systempaths=unconfined"]
        if volume_size is not None:
            args += ["--mount", "type=tmpfs,destination=/opt/sagemaker,tmpfs-size=%s" % volume_size]
        elif volume is not None:
            args += ["-v", "%s:/opt/sagemaker%s" % (volume, ":ro" if read_only else "")]
        if instance_store is not None:
            args += ["--mount", "type=tmpfs,destination=/opt/dlami/nvme,tmpfs-size=%s" % instance_store]
        docker(*args, "%s:%s" % (IMAGES, variant))
        self.wait_booted()

    def wait_booted(self):
        """Wait until the boot is over: systemd up, and containerd answering unless wait_containerd=False."""
        for dummy in range(60):
            state = self.run("systemctl is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded") and (
                    not self.wait_containerd or self.run("ctr version", check=False).returncode == 0):
                return
            time.sleep(1)
        raise AssertionError("%s did not boot: %s" % (self.name, self.run("systemctl --failed", check=False).stdout))

    def run(self, command, check=True, env=None, workdir=None, timeout=600):
        args = ["exec"]
        for key, value in (env or {}).items():
            args += ["-e", "%s=%s" % (key, value)]
        if workdir:
            args += ["-w", workdir]
        return docker(*args, self.name, "sh", "-c", command, check=check, timeout=timeout)

    def restart(self):
        """Reboot the node (docker restart): /run and the tmpfs volumes come back empty, as on a real
        boot; then wait for the boot as the constructor does."""
        docker("restart", self.name)
        self.wait_booted()

    def copy_in(self, source, dest):
        docker("cp", str(source), "%s:%s" % (self.name, dest))

    def remove(self):
        docker("rm", "-f", self.name, check=False)
