"""What the tests that run `make bundle`'s folder on look-alike nodes share (tests/bundle): a copy of
the bundle with other settings, a bundle built with a site folder, a node started and recorded for
removal, a stand-in service, a node's HyperPod identity."""

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from lookalike import Node

REPO = Path(__file__).resolve().parents[1]
SITES = REPO / "tests" / "bundle" / "sites"


def settings_bundle(bundle, tmp_path, added=None, **replacements):
    """A copy of the bundle with settings changed in its settings file and its checksums renewed:
    each of REPLACEMENTS replaces the line the file has for that setting (it must have one), each
    of ADDED ({setting: value}) is a setting the file does not list (it must not)."""
    folder = tmp_path / "lifecycle"
    shutil.copytree(bundle, folder)
    settings = folder / "playbooks/vars/on_create.yml"
    text = settings.read_text()
    for key, value in replacements.items():
        text, count = re.subn(r"(?m)^%s: .*$" % key, "%s: %s" % (key, value), text)
        assert count == 1, key
    for key, value in (added or {}).items():
        assert not re.search(r"(?m)^%s:" % key, text), key
        text += "%s: %s\n" % (key, value)
    settings.write_text(text)
    subprocess.run("sha256sum $(find . -type f ! -name SHA256SUMS | sort) > SHA256SUMS", shell=True, cwd=folder, check=True)
    return folder


def start(nodes, variant, volume, prefix="hp-bundle", **kwargs):
    """A look-alike node (tests/lookalike.py), added to NODES, the list the `nodes` fixture removes."""
    node = Node(variant, volume, prefix=prefix, **kwargs)
    nodes.append(node)
    return node


def install_unit(node, tmp_path, name, text):
    """NAME (a systemd unit) with TEXT in the node's /etc/systemd/system, systemd reloaded."""
    (tmp_path / name).write_text(text)
    node.copy_in(tmp_path / name, "/etc/systemd/system/" + name)
    node.run("systemctl daemon-reload")


def site_bundle(tmp_path, site, name="lifecycle"):
    """`make bundle SITE=SITE` into TMP_PATH/NAME: (the build's CompletedProcess, the folder)."""
    out = tmp_path / name
    proc = subprocess.run(["bash", str(REPO / "tools" / "build_bundle.sh")],
                          env=dict(os.environ, OUT=str(out), SITE=str(site)), capture_output=True, text=True, check=False)
    return proc, out


def copy_site(tmp_path, name="site", files=None, source=None):
    """A copy of the tests' e2e site folder (or SOURCE) as TMP_PATH/NAME, with FILES ({relative path:
    text}, a text of None removes the file) written over it; scripts.d/*.sh made executable."""
    folder = tmp_path / name
    shutil.copytree(source or SITES / "e2e", folder)
    if (source or SITES / "e2e") == SITES / "e2e":
        # The vendored collection's source, where requirements.yml finds it (../acme.nodeutil).
        if not (tmp_path / "acme.nodeutil").exists():
            shutil.copytree(SITES / "acme.nodeutil", tmp_path / "acme.nodeutil")
    for relative, text in (files or {}).items():
        path = folder / relative
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if relative.startswith("scripts.d/") and relative.endswith(".sh"):
            path.chmod(0o755)
    return folder


def resum(folder):
    """Renew FOLDER's SHA256SUMS after editing it (what an admin does after changing a file)."""
    subprocess.run("sha256sum $(find . -type f ! -name SHA256SUMS | sort) > SHA256SUMS", shell=True, cwd=folder,
                   check=True)


def identify(node, group, instance_type="ml.m5.2xlarge", instance_id="i-0abc12345678def00"):
    """Give the node what a HyperPod node has: its instance ID (cloud-init's copy) and the cluster's
    resource configuration listing it in instance group GROUP."""
    config = {"InstanceGroups": [
        {"Name": group, "InstanceType": instance_type, "TargetCount": 1,
         "Instances": [{"InstanceName": group + "1", "InstanceId": instance_id, "CustomerIpAddress": "10.1.0.5"}]},
        {"Name": "other-group", "InstanceType": "ml.c5.large", "Instances": [{"InstanceId": "i-0fff00000000000ff"}]},
    ]}
    node.run("mkdir -p /opt/ml/config /var/lib/cloud/data && printf '%%s\\n' %s >/var/lib/cloud/data/instance-id"
             " && printf '%%s' %s >/opt/ml/config/resource_config.json"
             % (shlex.quote(instance_id), shlex.quote(json.dumps(config))))


FOLDER = "/root/lifecycle"
LOG = "/var/log/provision/provisioning.log"


def on_create(node, *args, **env):
    """bash on_create.sh ARGS in the node's copy of the bundle (FOLDER), as HyperPod runs it, with
    no wait for a log upload on failure; .log: the whole provisioning log afterwards."""
    proc = node.run("bash on_create.sh %s" % " ".join(shlex.quote(a) for a in args), check=False,
                    env=dict(HYPERPOD_FAILURE_WAIT="0", **env), workdir=FOLDER)
    proc.log = node.run("cat %s" % LOG).stdout.splitlines()
    return proc
