# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install wheels into a virtual environment without pip: the bundle's runtime installer.

    python3 install_wheels.py VENV WHEEL...

on_create.sh runs this with the node's own Python (3.7 on Amazon Linux 2, 3.9 on AL2023) after
``python3 -m venv --without-pip VENV``. The wheels are the bundle's, already checked against its
SHA256SUMS, pinned and complete (no dependency resolution is needed), so installing them is
unpacking them: each wheel's files go to the venv's site-packages, its ``.data/purelib`` and
``.data/platlib`` there too, its ``.data/scripts`` to the venv's bin with their ``#!python`` line
pointed at the venv's Python, its ``.data/data`` to the venv itself, and a script is written for
each ``console_scripts`` entry point. ``.data/headers`` (C headers, for building extensions
against the package) are not installed: nothing builds in the runtime. This takes a fraction of
the time pip needs to start.

It runs as root on a fresh node, so a wheel gets no more trust than its own RECORD gives it.
Before anything of a wheel is written, every member is checked against the sha256 in its
``.dist-info/RECORD`` (a member RECORD does not list, or a RECORD entry the wheel does not have,
is refused too), every member's path and every console script's name must stay in the
directory it is meant for, and every entry point must be ``module.path:object.attribute``.
Files are then created, never overwritten (two wheels shipping one file is an error, and the
venv's own ``bin/python*``, symlinks to the OS's Python, are never written through), in
directories that resolve inside the venv's site-packages, bin or the venv itself. The umask is
022 and, at the end, nothing in the venv is left writable by group or others. When the venv's
Python has a space in its path, or a path too long for a ``#!`` line, scripts start with the
``/bin/sh`` trampoline that pip writes in that case. A refused wheel ends the run with one line,
``install_wheels: WHEEL: why``, and exit status 1; what was written into the venv stays there
(on_create.sh removes an incomplete runtime).

Standard library only; runs on Python 3.7 and later.
"""

from __future__ import absolute_import, division, print_function

import base64
import csv
import errno
import hashlib
import keyword
import os
import re
import stat
import struct
import sys
import sysconfig
import zipfile
import zlib

try:
    from lzma import LZMAError
except ImportError:  # a Python built without lzma reads no LZMA member at all
    LZMAError = zlib.error

__metaclass__ = type

SCRIPT = """# -*- coding: utf-8 -*-
# Written by the hyperpod.eks_lifecycle bootstrap for the {name} entry point.
import sys
from {module} import {attribute}
if __name__ == "__main__":
    sys.exit({call}())
"""

# Where each .data scheme goes (None: not installed).
SCHEMES = {"purelib": "site", "platlib": "site", "scripts": "bin", "data": "venv", "headers": None}
# Members that RECORD cannot list with a hash: itself and its signatures.
UNHASHED = ("RECORD", "RECORD.jws", "RECORD.p7s")
# "sha256 or better" (the wheel specification); real wheels use sha256.
HASHES = ("sha256", "sha384", "sha512")
# The longest #! line the kernel reads whole (as pip and distlib count it).
MAX_SHEBANG = 127
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
ENTRY_POINT = re.compile(r"(?P<module>[^\s:\[\]]+)\s*:\s*(?P<attribute>[^\s:\[\]]+)\s*(?:\[(?P<extras>[^\[\]]*)\])?\Z")
EXTRA = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\Z")
# A corrupt archive: zipfile's own error, or what its decompressors and parsers raise.
CORRUPT = (zipfile.BadZipFile, zlib.error, LZMAError, EOFError, struct.error, NotImplementedError, RuntimeError)
DIGITS = re.compile(r"[0-9]+\Z")
UNOPENABLE = CORRUPT + (OSError, ValueError)
OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class WheelError(Exception):
    """A wheel that cannot be installed."""


def venv_paths(venv):
    """site-packages and bin of VENV, for the running Python (the venv's own)."""
    variables = {"base": venv, "platbase": venv}
    return (sysconfig.get_path("purelib", "posix_prefix", variables),
            sysconfig.get_path("scripts", "posix_prefix", variables))


def shebang(python):
    """The lines that make a script run with PYTHON: ``#!PYTHON``, or pip's /bin/sh trampoline
    when PYTHON has blanks or is too long for a #! line. ValueError if PYTHON cannot be written."""
    exe = os.fsencode(python)
    if b"\n" in exe or b"\r" in exe:
        raise ValueError("it has a line break")
    if b" " not in exe and b"\t" not in exe and len(exe) + 3 <= MAX_SHEBANG:
        return b"#!" + exe + b"\n"
    # sh reads '''exec' as '' then 'exec', that is exec; Python reads lines 2 and 3 as one string.
    # The path is in double quotes for sh inside that string: it must need escaping in neither.
    if any(char in exe for char in (b'"', b"'", b"$", b"`", b"\\")):
        raise ValueError("it needs a trampoline and has a quote, $, ` or \\ in it")
    return b"#!/bin/sh\n'''exec' \"" + exe + b"\" \"$0\" \"$@\"\n' '''\n"


class Venv:
    """The venv being installed into: its directories, their real paths, its scripts' #! lines."""

    def __init__(self, path):
        self.path = path
        site, bin_dir = venv_paths(path)
        self.dirs = {"site": site, "bin": bin_dir, "venv": path}
        real_venv = os.path.realpath(path)
        self.real = {}
        for key, directory in self.dirs.items():
            real = os.path.realpath(directory)
            if not os.path.isdir(real) or not _inside(real, real_venv):
                raise ValueError("%s is not a directory inside the venv" % directory)
            self.real[key] = real
        self.shebang = shebang(os.path.join(path, "bin", "python"))
        self.ready = {}  # directory -> its real path, for directories checked or made

    def relative(self, path):
        return os.path.relpath(path, self.path)

    def directory(self, key, components):
        """Make DIRS[KEY]/COMPONENTS..., each level resolving inside the KEY directory."""
        path, real = self.dirs[key], self.real[key]
        for part in components:
            parent_real = real
            path = os.path.join(path, part)
            known = self.ready.get(path)
            if known is not None and _inside(known, self.real[key]):
                real = known
                continue
            try:
                os.mkdir(path, 0o755)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise
            mode = os.lstat(path).st_mode
            if stat.S_ISDIR(mode):
                real = os.path.join(parent_real, part)
            elif stat.S_ISLNK(mode):
                real = os.path.realpath(path)
                if not os.path.isdir(real) or not _inside(real, self.real[key]):
                    raise WheelError("%s is a symlink to %s, not to a directory in %s"
                                     % (self.relative(path), real, self.dirs[key]))
            else:
                raise WheelError("%s is not a directory" % self.relative(path))
            self.ready[path] = real
        return path

    def write(self, path, content, mode):
        """Create PATH with CONTENT: never through a symlink, never over an existing file."""
        try:
            fd = os.open(path, OPEN_FLAGS, mode)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise WheelError("%s already exists in the venv: not overwriting it" % self.relative(path))
            raise
        with os.fdopen(fd, "wb") as stream:
            stream.write(content)


def _inside(real, root):
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _components(name, member):
    """The components of NAME, the path of MEMBER; WheelError for a path that could leave its directory."""
    why = None
    if name.startswith("/"):
        why = "an absolute path"
    elif "\\" in name:
        why = "a backslash"
    elif "\0" in name:
        why = "a NUL character"
    parts = name.split("/")
    if why is None and ".." in parts:
        why = "a '..' component"
    elif why is None and any(part in ("", ".") for part in parts):
        why = "an empty or '.' component"
    if why is not None:
        raise WheelError("member %r has %s: it would be written outside the venv" % (member, why))
    return parts


def _canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _record(archive, name):
    """RECORD of the wheel: {path: (algorithm, urlsafe-base64 digest without padding, size)}."""
    try:
        text = archive.read(name).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WheelError("%s is not UTF-8: %s" % (name, exc))
    record = {}
    try:
        for row in csv.reader(text.splitlines()):
            if not row or not row[0]:
                continue
            path, digest, size = (row + ["", ""])[:3]
            if path in record:
                raise WheelError("%s lists %r twice" % (name, path))
            algorithm, sep, value = digest.partition("=")
            if not digest:
                record[path] = None
                continue
            if not sep or algorithm not in HASHES or not value:
                raise WheelError("%s has no usable hash for %r (%r): sha256= is needed" % (name, path, digest))
            if size and not DIGITS.match(size):
                raise WheelError("%s has a bad size for %r: %r" % (name, path, size))
            record[path] = (algorithm, value.rstrip("="), int(size) if size else None)
    except csv.Error as exc:
        raise WheelError("%s is malformed: %s" % (name, exc))
    return record


def _verify(name, content, record, record_name):
    """Check a member's CONTENT against its RECORD entry."""
    if name not in record:
        raise WheelError("member %r is not listed in %s" % (name, record_name))
    entry = record[name]
    if entry is None:
        raise WheelError("%s has no hash for %r" % (record_name, name))
    algorithm, value, size = entry
    digest = base64.urlsafe_b64encode(hashlib.new(algorithm, content).digest()).rstrip(b"=").decode("ascii")
    if digest != value:
        raise WheelError("member %r does not match its %s in %s: the wheel is corrupt or altered"
                         % (name, algorithm, record_name))
    if size is not None and size != len(content):
        raise WheelError("member %r is %d bytes, %s says %d" % (name, len(content), record_name, size))


def _entry_points(text):
    """The groups of an entry_points.txt: {group: [(name, value), ...]}; WheelError if malformed."""
    groups = {}
    group = None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]") or not line[1:-1].strip():
                raise WheelError("entry_points.txt line %d is not a [group] header: %r" % (number, line))
            group = groups.setdefault(line[1:-1].strip(), [])
            continue
        name, sep, value = line.partition("=")
        if group is None or not sep or not name.strip():
            raise WheelError("entry_points.txt line %d is not NAME = VALUE in a [group]: %r" % (number, line))
        group.append((name.strip(), value.strip()))
    return groups


def _dotted(value):
    parts = value.split(".")
    return all(IDENTIFIER.match(part) and not keyword.iskeyword(part) for part in parts)


def _console_scripts(text):
    """[(script name, module, attribute)] of an entry_points.txt, each checked."""
    scripts = []
    seen = set()
    for name, value in _entry_points(text).get("console_scripts", ()):
        if (name in (".", "..") or "/" in name or "\\" in name or " " in name or not name.isprintable()):
            raise WheelError("console script name %r is not a plain file name" % name)
        if name in seen:
            raise WheelError("console script %r is defined twice" % name)
        seen.add(name)
        match = ENTRY_POINT.match(value)
        extras = match.group("extras") if match else None
        if (match is None or not _dotted(match.group("module")) or not _dotted(match.group("attribute"))
                or (extras is not None and not all(EXTRA.match(extra.strip()) for extra in extras.split(",")))):
            raise WheelError("console script %r: %r is not module.path:object.attribute [extras]" % (name, value))
        scripts.append((name, match.group("module"), match.group("attribute")))
    return scripts


def _plan(wheel, archive, venv):
    """[(directory key, path components under it, content, mode, what)] of the files WHEEL
    installs, all checked but for the directories they go to (Venv.directory checks those)."""
    base = os.path.basename(wheel)
    parts = base[:-len(".whl")].split("-") if base.endswith(".whl") else []
    if len(parts) < 5:
        raise WheelError("%s is not a wheel file name" % base)
    infos = archive.infolist()
    members = {}
    tops = set()
    for info in infos:
        name = info.filename
        components = _components(name[:-1] if name.endswith("/") else name, name)
        if len(components) > 1:
            tops.add(components[0])
        if name.endswith("/"):
            continue
        if name in members:
            raise WheelError("member %r is in the archive twice" % name)
        members[name] = (info, components)
    infos_dirs = sorted(top for top in tops if top.endswith(".dist-info"))
    if len(infos_dirs) != 1:
        raise WheelError("it has %s .dist-info directories, not one" % (len(infos_dirs) or "no"))
    info_dir = infos_dirs[0]
    if _canonical(info_dir.split("-")[0]) != _canonical(parts[0]):
        raise WheelError("its %s is not for %s" % (info_dir, parts[0]))
    data_dir = info_dir[:-len(".dist-info")] + ".data"
    record_name = info_dir + "/RECORD"
    if record_name not in members:
        raise WheelError("it has no %s" % record_name)
    record = _record(archive, record_name)
    unhashed = set(info_dir + "/" + name for name in UNHASHED)
    missing = sorted(path for path in record if path not in members)
    if missing:
        raise WheelError("%s lists %r, which is not in the wheel" % (record_name, missing[0]))

    files = []
    targets = set()
    entry_points = None
    for name, (info, components) in members.items():
        content = archive.read(info)
        if name not in unhashed:
            _verify(name, content, record, record_name)
        if name == info_dir + "/entry_points.txt":
            entry_points = content
        if components[0] != data_dir:
            key, rest = "site", components
        else:
            if len(components) < 2 or components[1] not in SCHEMES:
                raise WheelError("member %r is in no .data scheme (%s)" % (name, ", ".join(sorted(SCHEMES))))
            if len(components) < 3:
                raise WheelError("member %r names no file under %s/%s" % (name, data_dir, components[1]))
            key, rest = SCHEMES[components[1]], components[2:]
            if key is None:
                continue
        if key == "bin":
            if content.startswith(b"#!python"):
                end = content.find(b"\n")
                content = venv.shebang + (content[end + 1:] if end >= 0 else b"")
            mode = 0o755
        else:
            mode = 0o755 if (info.external_attr >> 16) & 0o111 else 0o644
        files.append((key, rest, content, mode, name))

    if entry_points is not None:
        try:
            text = entry_points.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WheelError("%s/entry_points.txt is not UTF-8: %s" % (info_dir, exc))
        for script, module, attribute in _console_scripts(text):
            content = venv.shebang + SCRIPT.format(name=script, module=module, attribute=attribute.split(".")[0],
                                                   call=attribute).encode("utf-8")
            files.append(("bin", [script], content, 0o755, "console script %r" % script))

    for key, rest, content, mode, name in files:
        target = os.path.join(venv.dirs[key], *rest)
        if target in targets:
            raise WheelError("%s would be written twice (%s)" % (venv.relative(target), name))
        targets.add(target)
        if os.path.lexists(target):
            raise WheelError("%s already exists in the venv: not overwriting it (%s)" % (venv.relative(target), name))
    return files


def install_wheel(wheel, venv):
    """Unpack WHEEL into VENV (a Venv) once all of it is checked; return the scripts it installed."""
    try:
        archive = zipfile.ZipFile(wheel)
    except UNOPENABLE as exc:
        raise WheelError("cannot open: %s" % _why(exc))
    try:
        with archive:
            files = _plan(wheel, archive, venv)
    except CORRUPT as exc:
        raise WheelError("corrupt wheel: %s" % _why(exc))
    except OSError as exc:
        raise WheelError("cannot read: %s" % _why(exc))
    scripts = []
    for key, rest, content, mode, _name in files:
        try:
            directory = venv.directory(key, rest[:-1])
            target = os.path.join(directory, rest[-1])
            venv.write(target, content, mode)
        except OSError as exc:
            raise WheelError("cannot write: %s" % _why(exc))
        if key == "bin":
            scripts.append(target)
    return scripts


def _why(exc):
    if isinstance(exc, OSError) and exc.strerror:
        return "%s%s" % (exc.strerror, ": %s" % exc.filename if exc.filename else "")
    return str(exc) or type(exc).__name__


def tighten(path):
    """Remove group and other write permission from PATH and everything in it; symlinks are
    neither changed nor followed."""
    mode = os.stat(path).st_mode
    if mode & 0o022:
        os.chmod(path, stat.S_IMODE(mode) & ~0o022)
    for top, dirs, files in os.walk(path):
        for name in dirs + files:
            entry = os.path.join(top, name)
            mode = os.lstat(entry).st_mode
            if mode & 0o022 and not stat.S_ISLNK(mode):
                os.chmod(entry, stat.S_IMODE(mode) & ~0o022)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        sys.stderr.write("usage: install_wheels.py VENV WHEEL...\n")
        return 2
    os.umask(0o022)
    path, wheels = os.path.abspath(argv[0]), argv[1:]
    if not os.path.exists(os.path.join(path, "bin", "python")):
        sys.stderr.write("%s is not a virtual environment (no bin/python)\n" % path)
        return 2
    try:
        venv = Venv(path)
    except ValueError as exc:
        sys.stderr.write("%s is not a usable virtual environment: %s\n" % (path, exc))
        return 2
    status = 0
    for wheel in wheels:
        try:
            install_wheel(wheel, venv)
        except WheelError as exc:
            sys.stderr.write("install_wheels: %s: %s\n" % (os.path.basename(wheel), exc))
            status = 1
            break
    try:
        tighten(path)
    except OSError as exc:
        sys.stderr.write("install_wheels: cannot remove group and other write permission in %s: %s\n" % (path, _why(exc)))
        status = status or 1
    return status


if __name__ == "__main__":
    sys.exit(main())
