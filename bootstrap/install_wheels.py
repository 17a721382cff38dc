# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install wheels into a virtual environment without pip: the bundle's runtime installer.

    python3 install_wheels.py VENV WHEEL...

on_create.sh runs this with the node's own Python (3.7 on Amazon Linux 2, 3.9 on AL2023) after
``python3 -m venv --without-pip VENV``. The wheels are the bundle's, already checked against its
SHA256SUMS, pinned and complete (no dependency resolution is needed), so installing them is
unpacking them: each wheel's files go to the venv's site-packages, its ``.data/scripts`` to the
venv's bin with their ``#!python`` line pointed at the venv's Python, and a script is written for
each ``console_scripts`` entry point. This takes a fraction of the time pip needs to start.

Standard library only; runs on Python 3.7 and later.
"""

from __future__ import absolute_import, division, print_function

import os
import stat
import sys
import sysconfig
import zipfile

try:
    from configparser import ConfigParser
except ImportError:  # pragma: no cover - Python 2 is not a target
    ConfigParser = None

__metaclass__ = type

SCRIPT = """#!{python}
# -*- coding: utf-8 -*-
# Written by the hyperpod.eks_lifecycle bootstrap for the {name} entry point.
import sys
from {module} import {attribute}
if __name__ == "__main__":
    sys.exit({call}())
"""


class WheelError(Exception):
    """A wheel that cannot be installed."""


def venv_paths(venv):
    """site-packages and bin of VENV, for the running Python (the venv's own)."""
    variables = {"base": venv, "platbase": venv}
    return (sysconfig.get_path("purelib", "posix_prefix", variables),
            sysconfig.get_path("scripts", "posix_prefix", variables))


def _target(name, data_dir, site_packages, bin_dir, venv):
    """Where a file of the wheel goes, or None for files that are not installed."""
    if not name.startswith(data_dir + "/"):
        return os.path.join(site_packages, name)
    scheme, _sep, rest = name[len(data_dir) + 1:].partition("/")
    if scheme in ("purelib", "platlib"):
        return os.path.join(site_packages, rest)
    if scheme == "scripts":
        return os.path.join(bin_dir, rest)
    if scheme == "data":
        return os.path.join(venv, rest)
    return None


def install_wheel(wheel, venv, python):
    """Unpack WHEEL into VENV; return the scripts it installed."""
    site_packages, bin_dir = venv_paths(venv)
    made = set()
    base = os.path.basename(wheel)
    parts = base[:-len(".whl")].split("-") if base.endswith(".whl") else []
    if len(parts) < 5:
        raise WheelError("%s is not a wheel file name" % base)
    data_dir = "%s-%s.data" % (parts[0], parts[1])
    scripts = []
    try:
        archive = zipfile.ZipFile(wheel)
    except (IOError, OSError, zipfile.BadZipfile) as exc:
        raise WheelError("cannot open %s: %s" % (wheel, exc))
    with archive:
        for info in archive.infolist():
            if info.filename.endswith("/"):
                continue
            if info.filename.startswith("/") or ".." in info.filename.split("/"):
                raise WheelError("%s: %s would be written outside the venv" % (base, info.filename))
            target = _target(info.filename, data_dir, site_packages, bin_dir, venv)
            if target is None:
                continue
            directory = os.path.dirname(target)
            if directory not in made:
                if not os.path.isdir(directory):
                    os.makedirs(directory)
                made.add(directory)
            content = archive.read(info)
            if target.startswith(bin_dir + os.sep):
                if content.startswith(b"#!python"):
                    content = b"#!" + python.encode() + content[len(b"#!python"):]
                scripts.append(target)
            with open(target, "wb") as stream:
                stream.write(content)
            mode = (info.external_attr >> 16) & 0o777
            if target in scripts or mode & 0o111:
                os.chmod(target, 0o755)
            elif mode:
                os.chmod(target, mode & 0o755 | 0o644)
        scripts.extend(_entry_points(archive, parts, bin_dir, python))
    return scripts


def _entry_points(archive, parts, bin_dir, python):
    name = "%s-%s.dist-info/entry_points.txt" % (parts[0], parts[1])
    try:
        text = archive.read(name).decode("utf-8")
    except KeyError:
        return []
    parser = ConfigParser(delimiters=("=",))
    parser.optionxform = str
    parser.read_string(text)
    if not parser.has_section("console_scripts"):
        return []
    written = []
    for script, target in parser.items("console_scripts"):
        module, _sep, attribute = target.strip().partition(":")
        attribute = attribute.split("[")[0].strip()
        path = os.path.join(bin_dir, script)
        with open(path, "w") as stream:
            stream.write(SCRIPT.format(python=python, name=script, module=module.strip(),
                                       attribute=attribute.split(".")[0], call=attribute))
        os.chmod(path, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        written.append(path)
    return written


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        sys.stderr.write("usage: install_wheels.py VENV WHEEL...\n")
        return 2
    venv, wheels = os.path.abspath(argv[0]), argv[1:]
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        sys.stderr.write("%s is not a virtual environment (no bin/python)\n" % venv)
        return 2
    try:
        for wheel in wheels:
            install_wheel(wheel, venv, python)
    except WheelError as exc:
        sys.stderr.write("install_wheels: %s\n" % exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
