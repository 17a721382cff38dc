"""bootstrap/install_wheels.py: the bundle's runtime installer, on the Pythons of both generations."""

import base64
import csv
import hashlib
import io
import os
import stat
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALLER = REPO / "bootstrap" / "install_wheels.py"
PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
PYTHONS = {"py37": ("3.7.16", "2.11"), "py39": ("3.9.18", "2.15")}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist") / "lifecycle"
    subprocess.run(["bash", str(REPO / "tools" / "build_bundle.sh")], env=dict(os.environ, OUT=str(out)),
                   check=True, capture_output=True)
    return out


def venv(python, path):
    subprocess.run([str(python), "-m", "venv", "--without-pip", str(path)], check=True)
    return path


@pytest.mark.parametrize("tag", sorted(PYTHONS))
def test_installs_a_working_ansible_playbook(bundle, tmp_path, tag):
    version, core = PYTHONS[tag]
    python = PYENV / "versions" / version / "bin" / ("python" + version.rsplit(".", 1)[0])
    if not python.exists():
        pytest.fail("%s is needed: Amazon Linux's Python %s" % (python, version))
    env = venv(python, tmp_path / "venv")
    wheels = sorted(str(p) for p in (bundle / "runtime" / tag).glob("*.whl"))
    proc = subprocess.run([str(env / "bin" / "python"), str(INSTALLER), str(env), *wheels],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    out = subprocess.run([str(env / "bin" / "ansible-playbook"), "--version"], capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("ansible-playbook [core %s." % core)
    assert ("python version = %s" % version) in out
    script = (env / "bin" / "ansible-playbook").read_text().splitlines()[0]
    assert script == "#!%s" % (env / "bin" / "python")
    # Nothing outside the venv, and the Python it was made from is untouched.
    assert not (python.parent.parent / "lib" / ("python" + version.rsplit(".", 1)[0]) / "site-packages" / "ansible").exists()
    # The same from a venv whose path has a space: the scripts start with the /bin/sh trampoline.
    spaced = venv(python, tmp_path / "run time" / "venv")
    proc = run(spaced, *wheels)
    assert proc.returncode == 0, proc.stderr
    out = subprocess.run([str(spaced / "bin" / "ansible-playbook"), "--version"], capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("ansible-playbook [core %s." % core)
    assert ("python version = %s" % version) in out
    assert (spaced / "bin" / "ansible-playbook").read_text().splitlines()[0] == "#!/bin/sh"


def record_line(name, data):
    """NAME's RECORD row: sha256 as urlsafe base64 without padding, as the wheel spec has it."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([name, "sha256=" + digest, len(data)])
    return out.getvalue()


def make_wheel(path, members, record=True, unlisted=(), executable=(), extra_record="", compression=zipfile.ZIP_DEFLATED):
    """A wheel at PATH with MEMBERS ({name: text or bytes}) and, with RECORD, a correct RECORD that
    lists every member but UNLISTED (and EXTRA_RECORD's lines); EXECUTABLE members get mode 0755."""
    dist, version = path.name.split("-")[:2]
    lines = []
    with zipfile.ZipFile(str(path), "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            data = data.encode() if isinstance(data, str) else data
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = compression
            info.external_attr = (0o100755 if name in executable else 0o100644) << 16
            archive.writestr(info, data)
            if name not in unlisted:
                lines.append(record_line(name, data))
        if record:
            name = "%s-%s.dist-info/RECORD" % (dist, version)
            archive.writestr(name, "".join(lines) + extra_record + name + ",,\n")
    return path


def run(env, *wheels, python=None):
    return subprocess.run([str(python or env / "bin" / "python"), str(INSTALLER), str(env), *map(str, wheels)],
                          capture_output=True, text=True, check=False)


def test_entry_points_and_data_scripts(tmp_path):
    env = venv(sys.executable, tmp_path / "venv")
    wheel = make_wheel(tmp_path / "demo_pkg-1.0-py3-none-any.whl", {
        "demo_pkg/__init__.py": "def main():\n    print('hello from demo')\n    return 0\n",
        "demo_pkg-1.0.dist-info/entry_points.txt": "[console_scripts]\ndemo = demo_pkg:main\n",
        "demo_pkg-1.0.data/scripts/demo-script": "#!python\nprint('script')\n",
    })
    assert run(env, wheel).returncode == 0
    assert subprocess.run([str(env / "bin" / "demo")], capture_output=True, text=True, check=True).stdout == "hello from demo\n"
    assert subprocess.run([str(env / "bin" / "demo-script")], capture_output=True, text=True, check=True).stdout == "script\n"


def test_refuses_members_that_escape_the_venv(tmp_path):
    env = venv(sys.executable, tmp_path / "venv")
    wheel = make_wheel(tmp_path / "evil-1.0-py3-none-any.whl", {"../../outside.py": "x = 1\n"})
    proc = run(env, wheel)
    assert proc.returncode == 1
    assert "would be written outside the venv" in proc.stderr
    assert not (tmp_path / "outside.py").exists()


def test_refuses_a_corrupt_wheel(tmp_path):
    env = venv(sys.executable, tmp_path / "venv")
    bad = tmp_path / "bad-1.0-py3-none-any.whl"
    bad.write_bytes(b"not a zip file")
    proc = run(env, bad)
    assert proc.returncode == 1
    assert "cannot open" in proc.stderr


def test_needs_a_venv(tmp_path):
    proc = subprocess.run([sys.executable, str(INSTALLER), str(tmp_path), "x-1.0-py3-none-any.whl"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "not a virtual environment" in proc.stderr


# Crafted wheels: each is refused with one line on stderr, and nothing outside the venv changes.

def tree(root, skip):
    """Everything under ROOT but SKIP: {relative path: (type, mode, content or link target)}."""
    found = {}
    for top, dirs, files in os.walk(str(root)):
        dirs[:] = [name for name in dirs if Path(top, name) != skip]
        for name in dirs + files:
            path = Path(top, name)
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                value = os.readlink(str(path))
            elif stat.S_ISREG(mode):
                value = path.read_bytes()
            else:
                value = None
            found[str(path.relative_to(root))] = (stat.S_IFMT(mode), stat.S_IMODE(mode), value)
    return found


@pytest.fixture
def env(tmp_path):
    """A fresh venv in tmp_path, beside tmp_path/outside: the sentinel the crafted wheels aim at."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep\n")
    return venv(sys.executable, tmp_path / "venv")


def site_packages(env):
    return Path(sysconfig.get_path("purelib", "posix_prefix", {"base": str(env), "platbase": str(env)}))


def refused(env, wheels, *fragments, python=None):
    """Run the installer (with PYTHON, the venv's by default), expecting WHEELS[-1] refused in one
    line with FRAGMENTS in it, and nothing beside the venv (tmp_path: the wheels, tmp_path/outside)
    changed."""
    before = tree(env.parent, env)
    proc = run(env, *wheels, python=python)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("install_wheels: %s: " % Path(wheels[-1]).name), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert tree(env.parent, env) == before
    return lines[0]


PKG = {"pkg/__init__.py": "def main():\n    return 0\n", "pkg-1.0.dist-info/METADATA": "Name: pkg\nVersion: 1.0\n"}
UNSAFE_MEMBERS = [
    ("pkg-1.0.data/data/{outside}/pwned", "empty"),
    ("pkg-1.0.data/purelib/{outside}/pwned", "empty"),
    ("pkg-1.0.data/platlib/{outside}/pwned", "empty"),
    ("pkg-1.0.data/scripts/{outside}/pwned", "empty"),
    ("pkg-1.0.data/headers/{outside}/pwned", "empty"),
    ("{outside}/pwned", "an absolute path"),
    ("pkg-1.0.data/data/../outside/pwned", "'..'"),
    ("pkg-1.0.data/purelib/pkg/../../../../../outside/pwned", "'..'"),
    ("pkg/../../../../../outside/pwned", "'..'"),
    ("pkg/../../../../../outside/", "'..'"),
    ("pkg//pwned.py", "empty"),
    ("./pkg/pwned.py", "'.'"),
    ("pkg\\..\\..\\..\\..\\..\\outside\\pwned", "backslash"),
]


@pytest.mark.parametrize("member, why", UNSAFE_MEMBERS, ids=[member for member, why in UNSAFE_MEMBERS])
def test_refuses_unsafe_member_paths(tmp_path, env, member, why):
    member = member.format(outside=tmp_path / "outside")
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", dict(PKG, **{member: "pwned\n"}))
    refused(env, [wheel], repr(member), why, "would be written outside the venv")
    assert not (site_packages(env) / "pkg").exists()


@pytest.mark.parametrize("member, why", [
    ("pkg-1.0.data/purelib", "names no file"),
    ("pkg-1.0.data/scripts", "names no file"),
    ("pkg-1.0.data/data", "names no file"),
    ("pkg-1.0.data", "in no .data scheme"),
    ("pkg-1.0.data/etc/pwned", "in no .data scheme"),
])
def test_refuses_members_outside_the_data_schemes(tmp_path, env, member, why):
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", dict(PKG, **{member: "pwned\n"}))
    refused(env, [wheel], repr(member), why)


def test_refuses_a_member_name_cut_at_a_nul(tmp_path, env):
    # zipfile cuts a name at its first NUL: pkg/pwned<NUL>.py is read as pkg/pwned, which RECORD
    # does not list.
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", dict(PKG, **{"pkg/pwnedZ.py": "x = 1\n"}))
    wheel.write_bytes(wheel.read_bytes().replace(b"pkg/pwnedZ.py", b"pkg/pwned\0.py"))
    refused(env, [wheel], "RECORD")


SCRIPT_NAMES = ["../../outside/pwned", "{outside}/pwned", "sub/pwned", "..", ".", "back\\slash", "two words"]


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_refuses_unsafe_console_script_names(tmp_path, env, name):
    name = name.format(outside=tmp_path / "outside")
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", dict(PKG, **{
        "pkg-1.0.dist-info/entry_points.txt": "[console_scripts]\n%s = pkg:main\n" % name}))
    refused(env, [wheel], "console script name %r is not a plain file name" % name)
    assert not (site_packages(env) / "pkg").exists()


ENTRY_POINT_VALUES = [
    "pkg:main;__import__('os').system('touch {outside}/pwned')",
    "pkg:main()",
    "os:system('touch {outside}/pwned') or print",
    "pkg;import os:main",
    "pkg",
    ":main",
    "pkg:",
    "pkg:class",
    "pkg.1x:main",
    "pkg:main.",
    "pkg::main",
    "pkg:main [bad extra!]",
    "pkg:main [a] [b]",
    "pkg:main # comment",
]


@pytest.mark.parametrize("value", ENTRY_POINT_VALUES)
def test_refuses_entry_points_that_are_not_module_attribute(tmp_path, env, value):
    value = value.format(outside=tmp_path / "outside")
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", dict(PKG, **{
        "pkg-1.0.dist-info/entry_points.txt": "[console_scripts]\ndemo = %s\n" % value}))
    refused(env, [wheel], "console script 'demo'", "is not module.path:object.attribute")
    assert not (env / "bin" / "demo").exists()


def test_runs_dotted_entry_points_with_extras(tmp_path, env):
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", dict(PKG, **{
        "pkg/sub.py": "class Tool:\n    @staticmethod\n    def run():\n        print('tool')\n        return 3\n",
        "pkg-1.0.dist-info/entry_points.txt": "# generated\n[console_scripts]\ntool = pkg.sub:Tool.run [cli, extra-2]\n"
                                              "spaced = pkg.sub : Tool.run\n\n[other.group]\nx = anything at all()\n",
    }))
    proc = run(env, wheel)
    assert proc.returncode == 0, proc.stderr
    for script in ("tool", "spaced"):
        done = subprocess.run([str(env / "bin" / script)], capture_output=True, text=True, check=False)
        assert (done.returncode, done.stdout) == (3, "tool\n")
    assert not (env / "bin" / "x").exists()


@pytest.mark.parametrize("member", ["pkg-1.0.data/scripts/{python}", "pkg-1.0.data/data/bin/{python}", "console script"])
@pytest.mark.parametrize("python", ["python", "python3", "python%d.%d" % sys.version_info[:2]])
def test_never_writes_through_the_venvs_python_symlinks(tmp_path, env, member, python):
    # The venv's bin/python* are symlinks to the Python it was made from (python3.X from 3.8 on):
    # here, to a sentinel.
    sentinel = tmp_path / "outside" / "python-sentinel"
    sentinel.write_bytes(b"#!/bin/sh\necho the OS's Python\n")
    if os.path.lexists(str(env / "bin" / python)):
        (env / "bin" / python).unlink()
    (env / "bin" / python).symlink_to(sentinel)
    members = dict(PKG)
    if member == "console script":
        members["pkg-1.0.dist-info/entry_points.txt"] = "[console_scripts]\n%s = pkg:main\n" % python
    else:
        members[member.format(python=python)] = "#!python\nimport os\nos.system('echo pwned')\n"
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", members)
    # The venv's own Python may be the sentinel now: the installer runs with the one it was made from.
    refused(env, [wheel], "bin/%s already exists in the venv: not overwriting it" % python, python=sys.executable)
    assert sentinel.read_bytes() == b"#!/bin/sh\necho the OS's Python\n"
    assert os.readlink(str(env / "bin" / python)) == str(sentinel)


@pytest.mark.parametrize("case", ["lib64 outside", "package dir outside", "bin dir into lib", "bin dir into lib, after data",
                                  "through bin/python3"])
def test_refuses_directories_that_resolve_outside_their_scheme(tmp_path, env, case):
    outside = tmp_path / "outside"
    members = dict(PKG)
    if case == "lib64 outside":
        if os.path.lexists(str(env / "lib64")):
            (env / "lib64").unlink()
        (env / "lib64").symlink_to(outside)
        member, link = "pkg-1.0.data/data/lib64/pwned", "lib64"
    elif case == "package dir outside":
        (site_packages(env) / "pkg").symlink_to(outside)
        member, link = "pkg/pwned.py", str((site_packages(env) / "pkg").relative_to(env))
    elif case.startswith("bin dir into lib"):
        # Inside the venv, but not inside bin; .data/data may go through it, .data/scripts may not.
        (env / "bin" / "sub").symlink_to(env / "lib")
        if case.endswith("after data"):
            members["pkg-1.0.data/data/bin/sub/data.txt"] = "data\n"
        member, link = "pkg-1.0.data/scripts/sub/pwned", "bin/sub"
    else:
        (outside / "python-sentinel").write_text("sentinel\n")
        (env / "bin" / "python3").unlink()
        (env / "bin" / "python3").symlink_to(outside / "python-sentinel")
        member, link = "pkg-1.0.data/data/bin/python3/pwned", "bin/python3"
    members[member] = "pwned\n"
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", members)
    refused(env, [wheel], "%s is a symlink to " % link)
    assert not (env / "lib" / "pwned").exists()


def test_data_through_the_venvs_lib64_stays_in_the_venv(tmp_path, env):
    if not (env / "lib64").is_symlink():
        pytest.skip("python -m venv made no lib64 symlink here")
    inside = site_packages(env).relative_to(env / "lib")
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", dict(PKG, **{
        "pkg-1.0.data/data/lib64/%s/datamod.py" % inside: "VALUE = 7\n"}))
    assert run(env, wheel).returncode == 0
    assert (site_packages(env) / "datamod.py").read_text() == "VALUE = 7\n"


def test_never_overwrites_a_file(tmp_path, env):
    first = make_wheel(tmp_path / "first-1.0-py3-none-any.whl", {"shared/x.py": "FIRST = 1\n"})
    second = make_wheel(tmp_path / "second-1.0-py3-none-any.whl", {"shared/x.py": "SECOND = 1\n"})
    refused(env, [first, second], "%s already exists in the venv" % (site_packages(env) / "shared" / "x.py").relative_to(env))
    assert (site_packages(env) / "shared" / "x.py").read_text() == "FIRST = 1\n"


@pytest.mark.parametrize("members, fragment", [
    ({"x.py": "a = 1\n", "pkg-1.0.data/purelib/x.py": "a = 2\n"}, "x.py would be written twice"),
    ({"x.py": "a = 1\n", "pkg-1.0.data/platlib/x.py": "a = 2\n"}, "x.py would be written twice"),
    ({"pkg-1.0.data/scripts/demo": "#!python\n", "pkg-1.0.dist-info/entry_points.txt": "[console_scripts]\ndemo = pkg:main\n"},
     "bin/demo would be written twice"),
    ({"pkg-1.0.data/data/pyvenv.cfg": "home = /tmp\n"}, "pyvenv.cfg already exists in the venv"),
], ids=["purelib", "platlib", "script and console script", "pyvenv.cfg"])
def test_refuses_a_wheel_writing_one_file_twice(tmp_path, env, members, fragment):
    config = (env / "pyvenv.cfg").read_bytes()
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", dict(PKG, **members))
    refused(env, [wheel], fragment)
    assert (env / "pyvenv.cfg").read_bytes() == config
    assert not (site_packages(env) / "pkg").exists()


def _valid(path):
    return make_wheel(path, dict(PKG, **{"pkg/big.py": "# padding\n" * 2000}))


def _stored_with_a_bad_crc(path):
    wheel = make_wheel(path, dict(PKG, **{"pkg/data.txt": "MARKER " * 50}), compression=zipfile.ZIP_STORED)
    wheel.write_bytes(wheel.read_bytes().replace(b"MARKER MARKER", b"MARKER MARKEQ", 1))
    return wheel


def _record_not_utf8(path):
    with zipfile.ZipFile(str(path), "w") as archive:
        archive.writestr("pkg/__init__.py", "")
        archive.writestr("pkg-1.0.dist-info/RECORD", b"pkg/__init__.py,sha256=\xff,0\n")
    return path


def _damaged(compression):
    """A wheel whose big member, compressed with COMPRESSION, has its stream damaged."""
    def build(path):
        wheel = make_wheel(path, dict(PKG, **{"pkg/big.py": "# padding\n" * 2000}), compression=compression)
        with zipfile.ZipFile(str(wheel)) as archive:
            info = archive.getinfo("pkg/big.py")
        data = bytearray(wheel.read_bytes())
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
        for offset in range(start + 8, start + info.compress_size - 2):
            data[offset] ^= 0x5A
        wheel.write_bytes(bytes(data))
        return wheel
    return build


def _with(extra, **kwargs):
    def build(path):
        return make_wheel(path, dict(PKG, **extra), **kwargs)
    return build


def _raw(data):
    def build(path):
        path.write_bytes(data(_valid(path).read_bytes()))
        return path
    return build


def _renamed(built, name):
    """A wheel built as BUILT (the members of PKG's, RECORD for BUILT's project), named NAME."""
    def build(path):
        wheel = make_wheel(path.with_name(built), {"pkg/__init__.py": "", built.replace("-py3-none-any.whl", ".dist-info/METADATA"): ""})
        return wheel.rename(path.with_name(name)) or path.with_name(name)
    return build


def _directory(path):
    path.mkdir()
    return path


def _missing(path):
    return path


CORRUPT_WHEELS = {
    "not a zip": (_raw(lambda data: b"not a zip file"), "cannot open"),
    "empty file": (_raw(lambda data: b""), "cannot open"),
    "truncated": (_raw(lambda data: data[:len(data) // 2]), "cannot open"),
    "truncated end": (_raw(lambda data: data[:-10]), "cannot open"),
    "bad CRC": (_stored_with_a_bad_crc, "corrupt wheel: Bad CRC-32"),
    "damaged deflate stream": (_damaged(zipfile.ZIP_DEFLATED), "corrupt wheel"),
    "damaged lzma stream": (_damaged(zipfile.ZIP_LZMA), "corrupt wheel"),
    "a directory": (_directory, "cannot open"),
    "missing file": (_missing, "cannot open"),
    "entry_points.txt not UTF-8": (_with({"pkg-1.0.dist-info/entry_points.txt": b"[console_scripts]\ndemo = pkg:m\xffain\n"}),
                                   "entry_points.txt is not UTF-8"),
    "entry_points.txt bad header": (_with({"pkg-1.0.dist-info/entry_points.txt": "[console_scripts\ndemo = pkg:main\n"}),
                                    "entry_points.txt line 1 is not a [group] header"),
    "entry_points.txt empty header": (_with({"pkg-1.0.dist-info/entry_points.txt": "[ ]\ndemo = pkg:main\n"}),
                                      "entry_points.txt line 1 is not a [group] header"),
    "entry_points.txt no group": (_with({"pkg-1.0.dist-info/entry_points.txt": "demo = pkg:main\n"}),
                                  "entry_points.txt line 1 is not NAME = VALUE in a [group]"),
    "entry_points.txt no =": (_with({"pkg-1.0.dist-info/entry_points.txt": "[console_scripts]\n\ndemo pkg:main\n"}),
                              "entry_points.txt line 3 is not NAME = VALUE in a [group]"),
    "entry_points.txt no name": (_with({"pkg-1.0.dist-info/entry_points.txt": "[console_scripts]\n = pkg:main\n"}),
                                 "entry_points.txt line 2 is not NAME = VALUE in a [group]"),
    "entry_points.txt twice": (_with({"pkg-1.0.dist-info/entry_points.txt": "[console_scripts]\nx = pkg:main\nx = pkg:other\n"}),
                               "console script 'x' is defined twice"),
    "RECORD not UTF-8": (_record_not_utf8, "pkg-1.0.dist-info/RECORD is not UTF-8"),
    "no .dist-info": (lambda path: make_wheel(path, {"pkg/__init__.py": ""}, record=False), "no .dist-info directories"),
    "two .dist-info": (_with({"other-1.0.dist-info/METADATA": "Name: other\n"}), "2 .dist-info directories"),
    "another project's .dist-info": (_renamed("other-1.0-py3-none-any.whl", "pkg-1.0-py3-none-any.whl"),
                                     "its other-1.0.dist-info is not for pkg"),
    "not a wheel name": (_renamed("pkg-1.0-py3-none-any.whl", "pkg.whl"), "pkg.whl is not a wheel file name"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_WHEELS))
def test_refuses_corrupt_wheels(tmp_path, env, case):
    build, fragment = CORRUPT_WHEELS[case]
    wheel = build(tmp_path / "pkg-1.0-py3-none-any.whl")
    line = refused(env, [wheel], fragment)
    assert "Traceback" not in line
    assert not (site_packages(env) / "pkg").exists()


def _digest(data, algorithm="sha256"):
    return base64.urlsafe_b64encode(hashlib.new(algorithm, data).digest()).rstrip(b"=").decode()


INIT = PKG["pkg/__init__.py"].encode()
BAD_RECORDS = {
    "hash mismatch": (dict(unlisted={"pkg/__init__.py"}, extra_record=record_line("pkg/__init__.py", b"something else")),
                      "member 'pkg/__init__.py' does not match its sha256 in pkg-1.0.dist-info/RECORD"),
    "member not listed": (dict(unlisted={"pkg/__init__.py"}), "member 'pkg/__init__.py' is not listed in pkg-1.0.dist-info/RECORD"),
    "signature elsewhere not listed": (dict(unlisted={"pkg/RECORD.jws"}), "member 'pkg/RECORD.jws' is not listed"),
    "listed file missing": (dict(extra_record=record_line("pkg/gone.py", b"")),
                            "pkg-1.0.dist-info/RECORD lists 'pkg/gone.py', which is not in the wheel"),
    "no hash": (dict(unlisted={"pkg/__init__.py"}, extra_record="pkg/__init__.py,,\n"), "has no hash for 'pkg/__init__.py'"),
    "md5": (dict(unlisted={"pkg/__init__.py"}, extra_record="pkg/__init__.py,md5=%s,%d\n" % (_digest(INIT, "md5"), len(INIT))),
            "no usable hash"),
    "empty hash value": (dict(unlisted={"pkg/__init__.py"}, extra_record="pkg/__init__.py,sha256=,%d\n" % len(INIT)), "no usable hash"),
    "wrong size": (dict(unlisted={"pkg/__init__.py"}, extra_record="pkg/__init__.py,sha256=%s,%d\n" % (_digest(INIT), len(INIT) + 1)),
                   "is %d bytes" % len(INIT)),
    "listed twice": (dict(extra_record=record_line("pkg/__init__.py", INIT)), "lists 'pkg/__init__.py' twice"),
    "a size that is a digit but not a number": (
        dict(unlisted={"pkg/__init__.py"}, extra_record="pkg/__init__.py,sha256=%s,\u00b2\n" % _digest(INIT)), "has a bad size"),
    "no RECORD": (dict(record=False), "it has no pkg-1.0.dist-info/RECORD"),
}


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_refuses_wheels_that_do_not_match_their_record(tmp_path, env, case):
    options, fragment = BAD_RECORDS[case]
    members = dict(PKG, **{"pkg/RECORD.jws": "{}"}) if case == "signature elsewhere not listed" else PKG
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", members, **options)
    refused(env, [wheel], fragment)
    assert not (site_packages(env) / "pkg").exists()


def test_accepts_record_signatures_and_padded_hashes_and_skips_headers(tmp_path, env):
    members = dict(PKG, **{
        "pkg-1.0.dist-info/RECORD.jws": "{}", "pkg-1.0.dist-info/RECORD.p7s": "sig",
        "pkg-1.0.data/headers/pkg.h": "#define PKG 1\n",
        "pkg/padded.py": "x = 1\n",
    })
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", members,
                       unlisted={"pkg-1.0.dist-info/RECORD.jws", "pkg-1.0.dist-info/RECORD.p7s", "pkg/padded.py"},
                       extra_record="pkg/padded.py,sha256=%s=,6\n" % _digest(b"x = 1\n"))
    proc = run(env, wheel)
    assert proc.returncode == 0, proc.stderr
    assert (site_packages(env) / "pkg" / "padded.py").read_text() == "x = 1\n"
    assert (site_packages(env) / "pkg-1.0.dist-info" / "RECORD.jws").exists()
    assert not list(env.rglob("pkg.h"))


def test_installs_nothing_group_or_world_writable_under_umask_000(tmp_path):
    env = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True,
                   preexec_fn=lambda: os.umask(0))

    def writable():
        return subprocess.run(["find", str(env), "-perm", "/022", "!", "-type", "l"], capture_output=True, text=True,
                              check=True).stdout.split()

    assert writable(), "python -m venv under umask 000 made nothing group- or world-writable: the test proves nothing"
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", dict(PKG, **{
        "pkg/deep/er/mod.py": "x = 1\n",
        "pkg/run.sh": "#!/bin/sh\n",
        "pkg-1.0.data/scripts/tool": "#!python\nprint('tool')\n",
        "pkg-1.0.data/data/share/pkg/doc.txt": "doc\n",
        "pkg-1.0.dist-info/entry_points.txt": "[console_scripts]\ndemo = pkg:main\n",
    }), executable={"pkg/run.sh"})
    proc = subprocess.run([str(env / "bin" / "python"), str(INSTALLER), str(env), str(wheel)], capture_output=True,
                          text=True, check=False, preexec_fn=lambda: os.umask(0))
    assert proc.returncode == 0, proc.stderr
    assert writable() == []
    site = site_packages(env)
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in (
        site / "pkg", site / "pkg" / "deep" / "er", site / "pkg" / "__init__.py", site / "pkg" / "run.sh",
        env / "bin" / "tool", env / "bin" / "demo", env / "share" / "pkg" / "doc.txt")}
    assert modes == {
        site / "pkg": 0o755, site / "pkg" / "deep" / "er": 0o755, site / "pkg" / "__init__.py": 0o644,
        site / "pkg" / "run.sh": 0o755, env / "bin" / "tool": 0o755, env / "bin" / "demo": 0o755,
        env / "share" / "pkg" / "doc.txt": 0o644}


@pytest.mark.parametrize("where", ["with a space", "too long for #!"])
def test_scripts_run_from_a_venv_path_with_a_space(tmp_path, where):
    path = tmp_path / "my venv" / "v" if where == "with a space" else tmp_path / ("l" * 120) / "venv"
    env = venv(sys.executable, path)
    assert (" " in str(env)) or len(str(env / "bin" / "python")) > 125
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", dict(PKG, **{
        "pkg/cli.py": "import sys\ndef main():\n    print('demo', sys.argv[1:])\n    return 0\n",
        "pkg-1.0.data/scripts/tool": "#!python\nimport sys\nprint('tool', sys.argv[1:], sys.prefix)\n",
        "pkg-1.0.dist-info/entry_points.txt": "[console_scripts]\ndemo = pkg.cli:main\n",
    }))
    proc = run(env, wheel)
    assert proc.returncode == 0, proc.stderr
    demo = subprocess.run([str(env / "bin" / "demo"), "a b", "$HOME"], capture_output=True, text=True, check=True)
    assert demo.stdout == "demo ['a b', '$HOME']\n"
    tool = subprocess.run([str(env / "bin" / "tool"), "c d"], capture_output=True, text=True, check=True)
    assert tool.stdout == "tool ['c d'] %s\n" % env
    for script in ("demo", "tool"):
        assert (env / "bin" / script).read_text().splitlines()[:3] == [
            "#!/bin/sh", "'''exec' \"%s\" \"$0\" \"$@\"" % (env / "bin" / "python"), "' '''"]


def test_refuses_a_venv_path_a_script_cannot_name(tmp_path):
    env = venv(sys.executable, tmp_path / 'a "quoted" $path')
    wheel = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", PKG)
    proc = run(env, wheel)
    assert proc.returncode == 2
    assert "not a usable virtual environment" in proc.stderr
    assert not (site_packages(env) / "pkg").exists()
