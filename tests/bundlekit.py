"""What the tests that run `make bundle`'s folder on look-alike nodes share (tests/bundle): a copy of
the bundle with other settings, a node started and recorded for removal, a stand-in service."""

import re
import shutil
import subprocess

from lookalike import Node


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
