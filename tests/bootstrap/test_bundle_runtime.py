"""The bundle's Ansible runtime: exactly the wheels the lock files list, runnable on Amazon Linux.

`make bundle` (tools/build_bundle.sh) ships runtime/py37/ and runtime/py39/ from tools/runtime/py37.txt
and py39.txt. Checked here: the folder holds those files and nothing else, byte for byte; no compiled
extension needs a glibc newer than the node's (2.26 on Amazon Linux 2, 2.34 on AL2023), by the ELF's
version needs and by the wheels' platform tags; cryptography and its companions are left out; the
runtime runs a real play on both Pythons; the wheel cache is never trusted.
"""

import hashlib
import os
import re
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "tools" / "build_bundle.sh"
LOCKS = REPO / "tools" / "runtime"
PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
CACHE = Path(os.environ.get("CACHE", "/var/tmp/hyperpod-eks-lifecycle/wheels"))
# tag: the tests' pyenv Python, its ansible-core, the node's glibc
RUNTIMES = {"py37": ("3.7.16", "2.11", (2, 26)), "py39": ("3.9.18", "2.15", (2, 34))}
DROPPED = {"cryptography", "cffi", "pycparser"}
LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) +--hash=sha256:([0-9a-f]{64}) +# +(\S+)$")
GLIBC = re.compile(r"^GLIBC_(\d+)\.(\d+)(?:\.\d+)?$")


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path):
    """{file: (canonical name, version, sha256)} of a lock file; fails on a malformed line."""
    entries = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        match = LOCK_LINE.match(line)
        assert match, "%s:%d: not 'name==version --hash=sha256:HEX  # FILE': %s" % (path, number, line)
        name, version, sha, file = match.groups()
        assert file not in entries, "%s:%d: %s twice" % (path, number, file)
        entries[file] = (canonical(name), version, sha)
    return entries


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot(folder):
    return {p.name: sha256(p) for p in sorted(folder.iterdir())}


def build(out, **env):
    return subprocess.run(["bash", str(BUILD)], env=dict(os.environ, OUT=str(out), **env),
                          capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    locks = snapshot(LOCKS)
    out = tmp_path_factory.mktemp("dist") / "lifecycle"
    proc = build(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return SimpleNamespace(path=out, locks_before=locks)


# -- the glibc a compiled extension needs ------------------------------------------------------

def glibc_needs_in(readelf_output):
    """{GLIBC_* version: {symbols}} from `readelf --version-info --dyn-syms --wide` output: the
    versions of the version-needs section, with the undefined dynamic symbols bound to each."""
    needs, section = {}, None
    for line in readelf_output.splitlines():
        if line.startswith("Version needs section"):
            section = "needs"
        elif line.startswith(("Version definition section", "Version symbols section", "Symbol table")):
            section = "symbols" if line.startswith("Symbol table") else None
        elif section == "needs":
            match = re.search(r"Name: (GLIBC_\S+)", line)
            if match:
                needs.setdefault(match.group(1), set())
        elif section == "symbols":
            match = re.search(r"\sUND\s+([^@\s]+)@(GLIBC_[^\s@]+)", line)
            if match:
                needs.setdefault(match.group(2), set()).add(match.group(1))
    return needs


def glibc_needs(path):
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.fail("readelf (Debian's binutils) is needed: make deps")
    proc = subprocess.run([readelf, "--version-info", "--dyn-syms", "--wide", str(path)], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, "readelf %s: %s" % (path, proc.stderr)
    return glibc_needs_in(proc.stdout)


def too_new(needs, limit):
    """'GLIBC_X.Y (symbols)' for each version in NEEDS newer than LIMIT, (major, minor); any other
    GLIBC_ version (GLIBC_PRIVATE) is never portable."""
    problems = []
    for version, symbols in sorted(needs.items()):
        match = GLIBC.match(version)
        if match is None or (int(match.group(1)), int(match.group(2))) > limit:
            problems.append("%s (%s)" % (version, ", ".join(sorted(symbols)) or "no symbol bound to it"))
    return problems


def extensions(wheel):
    with zipfile.ZipFile(wheel) as archive:
        return [name for name in archive.namelist() if re.search(r"\.so(\.[0-9.]+)?$", name)]


def glibc_problems(wheel, limit, scratch):
    """'WHEEL!MEMBER needs GLIBC_X.Y (symbols)' for each compiled extension of WHEEL needing a glibc
    newer than LIMIT; and the number of extensions checked."""
    problems = []
    members = extensions(wheel)
    with zipfile.ZipFile(wheel) as archive:
        for member in members:
            path = Path(archive.extract(member, str(scratch / Path(wheel).name)))
            problems += ["%s!%s needs %s" % (Path(wheel).name, member, problem)
                         for problem in too_new(glibc_needs(path), limit)]
    return problems, len(members)


# -- what a wheel's tags allow ------------------------------------------------------------------

LEGACY = {"manylinux1_x86_64": (2, 5), "manylinux2010_x86_64": (2, 12), "manylinux2014_x86_64": (2, 17)}


def tags_problem(wheel, python, limit):
    """Why WHEEL's tags do not allow CPython PYTHON ((3, minor)) on x86_64 with glibc LIMIT, or None."""
    pythons, abis, platforms = Path(wheel).name[:-len(".whl")].split("-")[-3:]
    cp = "cp%d%d" % python
    if not any(tag in ("py3", "py%d%d" % python, cp) or (tag.startswith("cp3") and "abi3" in abis.split(".")
               and int(tag[3:]) <= python[1]) for tag in pythons.split(".")):
        return "python tag %s does not allow CPython %d.%d" % (pythons, python[0], python[1])
    if not set(abis.split(".")) & {"none", "abi3", cp, cp + "m"}:
        return "ABI tag %s does not allow CPython %d.%d" % (abis, python[0], python[1])
    for tag in platforms.split("."):
        if tag == "any" or LEGACY.get(tag, (99, 0)) <= limit:
            return None
        match = re.match(r"^manylinux_(\d+)_(\d+)_x86_64$", tag)
        if match and (int(match.group(1)), int(match.group(2))) <= limit:
            return None
    return "platform tag %s needs a glibc newer than %d.%d (or another system)" % (platforms, limit[0], limit[1])


# -- the bundle against the locks ---------------------------------------------------------------

def test_lock_files_are_well_formed_and_consistent():
    build_lock, sources = read_lock(LOCKS / "build.txt"), read_lock(LOCKS / "sources.txt")
    assert {name for name, _version, _sha in build_lock.values()} == {"pip", "setuptools"}
    py37 = read_lock(LOCKS / "py37.txt")
    for file, (name, version, _sha) in sources.items():
        assert file.endswith(".tar.gz")
        assert any(entry[:2] == (name, version) for entry in py37.values()), "%s is built for no runtime" % file
    for tag, (_python, core, _glibc) in RUNTIMES.items():
        lock = read_lock(LOCKS / ("%s.txt" % tag))
        assert all(file.endswith(".whl") for file in lock)
        cores = [version for name, version, _sha in lock.values() if name == "ansible-core"]
        assert len(cores) == 1 and cores[0].startswith(core + ".")
        for file, (name, version, _sha) in lock.items():
            assert canonical(file.split("-")[0]) == name and file.split("-")[1] == version, file


@pytest.mark.parametrize("tag", sorted(RUNTIMES))
def test_bundle_ships_exactly_the_locked_wheels(bundle, tag):
    lock = read_lock(LOCKS / ("%s.txt" % tag))
    shipped = {p.name: sha256(p) for p in (bundle.path / "runtime" / tag).iterdir()}
    assert sorted(set(shipped) - set(lock)) == [], "shipped, not in the lock"
    assert sorted(set(lock) - set(shipped)) == [], "in the lock, not shipped"
    assert {f: s for f, s in shipped.items() if s != lock[f][2]} == {}, "sha256 differs from the lock"
    requirements = (bundle.path / "runtime" / ("requirements-%s.txt" % tag)).read_text().split()
    assert sorted(requirements) == sorted("%s==%s" % entry[:2] for entry in lock.values())
    # SHA256SUMS covers them, as on_create.sh checks it.
    sums = dict(reversed(line.split("  ", 1)) for line in (bundle.path / "SHA256SUMS").read_text().splitlines())
    assert {f: sums["runtime/%s/%s" % (tag, f)] for f in shipped} == shipped


def test_make_bundle_leaves_the_locks_alone(bundle):
    assert snapshot(LOCKS) == bundle.locks_before


@pytest.mark.parametrize("tag", sorted(RUNTIMES))
def test_cryptography_is_not_shipped(bundle, tag):
    names = {canonical(p.name.split("-")[0]) for p in (bundle.path / "runtime" / tag).glob("*.whl")}
    assert "ansible-core" in names
    assert names & DROPPED == set()
    assert {entry[0] for entry in read_lock(LOCKS / ("%s.txt" % tag)).values()} & DROPPED == set()


@pytest.mark.parametrize("tag", sorted(RUNTIMES))
def test_compiled_extensions_need_no_newer_glibc_than_the_node(bundle, tmp_path, tag):
    limit = RUNTIMES[tag][2]
    problems, checked = [], 0
    for wheel in sorted((bundle.path / "runtime" / tag).glob("*.whl")):
        found, count = glibc_problems(wheel, limit, tmp_path)
        problems += found
        checked += count
    assert checked >= 2, "no compiled extension found: MarkupSafe's and PyYAML's were expected"
    assert problems == []


@pytest.mark.parametrize("tag", sorted(RUNTIMES))
def test_wheel_tags_allow_the_nodes_python_and_glibc(bundle, tag):
    version, _core, limit = RUNTIMES[tag]
    python = tuple(int(part) for part in version.split(".")[:2])
    problems = {p.name: tags_problem(p, python, limit) for p in (bundle.path / "runtime" / tag).glob("*.whl")}
    assert {name: why for name, why in problems.items() if why} == {}


# -- the checkers can fail -------------------------------------------------------------------

def compile_probe(tmp_path, function, header):
    """A shared object that calls FUNCTION (declared in HEADER), linked against this machine's glibc."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is needed: make deps")
    source = tmp_path / "probe.c"
    source.write_text("#define _GNU_SOURCE\n#include <%s>\nvoid *probe(void) { return (void *) &%s; }\n"
                      % (header, function))
    library = tmp_path / "_probe.cpython-39-x86_64-linux-gnu.so"
    proc = subprocess.run([gcc, "-shared", "-fPIC", "-o", str(library), str(source)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        pytest.skip("this machine's glibc has no %s: %s" % (function, proc.stderr.strip()))
    return library


@pytest.mark.parametrize("function, header, version, flagged", [
    ("pthread_mutex_clocklock", "pthread.h", "GLIBC_2.34", {"py37"}),
    ("_dl_find_object", "dlfcn.h", "GLIBC_2.35", {"py37", "py39"}),
])
def test_glibc_check_reports_a_newer_symbol(tmp_path, function, header, version, flagged):
    library = compile_probe(tmp_path, function, header)
    assert function in glibc_needs(library)[version]
    wheel = tmp_path / "probe-1.0-cp39-cp39-manylinux2014_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(str(library), "probe/" + library.name)
    for tag, (_python, _core, limit) in sorted(RUNTIMES.items()):
        problems, checked = glibc_problems(wheel, limit, tmp_path / tag)
        assert checked == 1
        expected = ["%s!probe/%s needs %s (%s)" % (wheel.name, library.name, version, function)]
        assert (problems == expected) if tag in flagged else (problems == []), (tag, problems)


def test_glibc_check_reads_readelf_output():
    output = """
Symbol table '.dynsym' contains 4 entries:
   Num:    Value          Size Type    Bind   Vis      Ndx Name
     1: 0000000000000000     0 FUNC    GLOBAL DEFAULT  UND memcpy@GLIBC_2.14 (3)
     2: 0000000000000000     0 FUNC    GLOBAL DEFAULT  UND arc4random@GLIBC_2.36 (4)
     3: 0000000000001100    10 FUNC    GLOBAL DEFAULT   12 PyInit__speedups

Version symbols section '.gnu.version' contains 4 entries:
 Addr: 0x0000000000000450  Offset: 0x000450  Link: 3 (.dynsym)
  000:   0 (*local*)       3 (GLIBC_2.14)    4 (GLIBC_2.36)    1 (*global*)

Version needs section '.gnu.version_r' contains 1 entry:
 Addr: 0x0000000000000460  Offset: 0x000460  Link: 4 (.dynstr)
  000000: Version: 1  File: libc.so.6  Cnt: 3
  0x0010:   Name: GLIBC_2.14  Flags: none  Version: 3
  0x0020:   Name: GLIBC_2.36  Flags: none  Version: 4
  0x0030:   Name: GLIBC_PRIVATE  Flags: none  Version: 5
"""
    needs = glibc_needs_in(output)
    assert needs == {"GLIBC_2.14": {"memcpy"}, "GLIBC_2.36": {"arc4random"}, "GLIBC_PRIVATE": set()}
    assert too_new(needs, (2, 34)) == ["GLIBC_2.36 (arc4random)", "GLIBC_PRIVATE (no symbol bound to it)"]
    assert too_new({"GLIBC_2.2.5": {"free"}, "GLIBC_2.17": {"clock_gettime"}}, (2, 17)) == []


@pytest.mark.parametrize("wheel, python, limit, allowed", [
    ("a-1-py3-none-any.whl", (3, 7), (2, 26), True),
    ("a-1-py2.py3-none-any.whl", (3, 9), (2, 34), True),
    ("a-1-cp37-cp37m-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", (3, 7), (2, 26), True),
    ("a-1-cp39-cp39-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl", (3, 9), (2, 34), True),
    ("a-1-cp37-abi3-manylinux1_x86_64.whl", (3, 9), (2, 34), True),
    ("a-1-cp37-cp37m-manylinux_2_28_x86_64.whl", (3, 7), (2, 26), False),
    ("a-1-cp39-abi3-manylinux_2_34_x86_64.whl", (3, 9), (2, 34), True),
    ("a-1-cp39-abi3-manylinux_2_34_x86_64.whl", (3, 7), (2, 26), False),
    ("a-1-cp39-cp39-manylinux_2_35_x86_64.whl", (3, 9), (2, 34), False),
    ("a-1-cp39-cp39-linux_x86_64.whl", (3, 9), (2, 34), False),
    ("a-1-cp39-cp39-musllinux_1_1_x86_64.whl", (3, 9), (2, 34), False),
    ("a-1-cp39-cp39-manylinux2014_aarch64.whl", (3, 9), (2, 34), False),
    ("a-1-cp39-cp39-manylinux2014_x86_64.whl", (3, 7), (2, 26), False),
])
def test_tags_check(wheel, python, limit, allowed):
    assert (tags_problem(wheel, python, limit) is None) == allowed


# -- the runtime works -----------------------------------------------------------------------

PLAY = """\
- name: Render a file as the roles do
  hosts: all
  gather_facts: false
  vars:
    settings: {data_root: /opt/sagemaker/containerd, runtimes: [runc, nvidia]}
  tasks:
    - name: Render the template
      ansible.builtin.template:
        src: "{{ playbook_dir }}/config.j2"
        dest: "{{ out }}"
        mode: "0644"
"""
TEMPLATE = """\
settings = {{ settings | to_json }}
version = {{ 'containerd github.com/containerd/containerd v1.7.24 abc' | regex_search('[0-9]+[.][0-9]+[.][0-9]+') }}
"""


@pytest.mark.parametrize("tag", sorted(RUNTIMES))
def test_runtime_runs_a_play_without_cryptography(bundle, tmp_path, tag):
    version, core, _glibc = RUNTIMES[tag]
    python = PYENV / "versions" / version / "bin" / ("python" + version.rsplit(".", 1)[0])
    if not python.exists():
        pytest.fail("%s is needed: Amazon Linux's Python %s" % (python, version))
    env = tmp_path / "venv"
    subprocess.run([str(python), "-m", "venv", "--without-pip", str(env)], check=True)
    wheels = sorted(str(p) for p in (bundle.path / "runtime" / tag).glob("*.whl"))
    proc = subprocess.run([str(env / "bin" / "python"), str(bundle.path / "runtime" / "install_wheels.py"), str(env),
                           *wheels], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr

    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "config.j2").write_text(TEMPLATE)
    out = tmp_path / "config.toml"
    home = tmp_path / "home"
    home.mkdir()
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "PYTHON"))}
    environment.update(HOME=str(home), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    proc = subprocess.run([str(env / "bin" / "ansible-playbook"), "-c", "local", "-i", "localhost,",
                           "-e", "ansible_python_interpreter=%s" % (env / "bin" / "python"), "-e", "out=%s" % out,
                           str(tmp_path / "play.yml")], capture_output=True, text=True, check=False, cwd=str(tmp_path),
                          env=environment)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"localhost +: ok=1 +changed=1 +unreachable=0 +failed=0", proc.stdout), proc.stdout
    assert out.read_text() == ('settings = {"data_root": "/opt/sagemaker/containerd", "runtimes": ["runc", "nvidia"]}\n'
                               "version = 1.7.24\n")
    assert "ansible-playbook [core %s." % core in subprocess.run(
        [str(env / "bin" / "ansible-playbook"), "--version"], capture_output=True, text=True, check=True,
        env=environment).stdout
    probe = subprocess.run([str(env / "bin" / "python"), "-c", "import cryptography"], capture_output=True, text=True,
                           check=False)
    assert probe.returncode != 0 and "No module named 'cryptography'" in probe.stderr


# -- the wheel cache is never trusted ------------------------------------------------------------

def test_refuses_a_cache_that_is_a_symlink(tmp_path):
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "cache").symlink_to(tmp_path / "real")
    proc = build(tmp_path / "out", CACHE=str(tmp_path / "cache"))
    assert proc.returncode == 1
    assert "wheel cache %s is a symlink: refusing to use it" % (tmp_path / "cache") in proc.stderr
    assert not (tmp_path / "out").exists()


def test_refuses_a_cache_others_can_write(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o775)
    proc = build(tmp_path / "out", CACHE=str(cache))
    assert proc.returncode == 1
    assert "wheel cache %s is writable by group or others (mode 775): refusing to use it" % cache in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory away needs root")
def test_refuses_a_cache_of_another_user(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    os.chown(str(cache), 65534, 65534)
    proc = build(tmp_path / "out", CACHE=str(cache))
    assert proc.returncode == 1
    assert "wheel cache %s belongs to uid 65534, not to you" % cache in proc.stderr


def test_makes_a_new_cache_private(tmp_path):
    cache = tmp_path / "new" / "cache"
    proc = subprocess.run(["bash", "-c", 'source "$1" && CACHE=$2 && check_cache', "bash", str(BUILD), str(cache)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700 and cache.stat().st_uid == os.geteuid()


@pytest.fixture
def private_cache(bundle, tmp_path):
    """A copy of the wheel cache the module's build filled, for this test alone."""
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    for path in CACHE.iterdir():
        if path.is_file() and not path.is_symlink():
            shutil.copy(str(path), str(cache / path.name))
    return cache


def offline():
    """The environment with pip unable to reach any index or local wheel directory."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    environment.update(PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull)
    return environment


def test_a_tampered_wheel_in_the_cache_is_never_shipped(private_cache, tmp_path):
    wheel = next(file for file in read_lock(LOCKS / "py37.txt") if file.startswith("jinja2-"))
    (private_cache / wheel).write_bytes(b"not the wheel the lock names")
    # Offline, the build cannot fetch it again: it stops, and leaves no folder behind.
    proc = subprocess.run(["bash", str(BUILD)], env=dict(offline(), OUT=str(tmp_path / "out"), CACHE=str(private_cache)),
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "could not fetch the py37 runtime's %s with the sha256" % wheel in proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_tampered_built_wheel_in_the_cache_is_built_again(private_cache, tmp_path):
    wheel = next(file for file, entry in read_lock(LOCKS / "py37.txt").items() if entry[0] == "ansible-core")
    (private_cache / wheel).write_bytes(b"not the wheel the lock names")
    proc = build(tmp_path / "out", CACHE=str(private_cache))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "building the py37 wheel of ansible-core" in proc.stdout
    assert sha256(tmp_path / "out" / "runtime" / "py37" / wheel) == read_lock(LOCKS / "py37.txt")[wheel][2]
    assert sha256(private_cache / wheel) == read_lock(LOCKS / "py37.txt")[wheel][2]


@pytest.mark.parametrize("change", [None, "extra", "altered", "missing"])
def test_a_folder_that_differs_from_the_lock_fails(tmp_path, change):
    lock = tmp_path / "lock.txt"
    folder = tmp_path / "wheels"
    folder.mkdir()
    lines = []
    for name in ("a", "b"):
        data = ("wheel %s" % name).encode()
        (folder / ("%s-1.0-py3-none-any.whl" % name)).write_bytes(data)
        lines.append("%s==1.0 --hash=sha256:%s  # %s-1.0-py3-none-any.whl" % (name, hashlib.sha256(data).hexdigest(), name))
    lock.write_text("# a lock\n\n" + "\n".join(lines) + "\n")
    if change == "extra":
        (folder / "cryptography-45.0.7-cp37-abi3-manylinux2014_x86_64.whl").write_bytes(b"x")
    elif change == "altered":
        (folder / "b-1.0-py3-none-any.whl").write_bytes(b"another wheel b")
    elif change == "missing":
        (folder / "b-1.0-py3-none-any.whl").unlink()
    proc = subprocess.run(["bash", "-c", 'source "$1" && verify_dir "$2" "$3"', "bash", str(BUILD), str(lock), str(folder)],
                          capture_output=True, text=True, check=False)
    if change is None:
        assert proc.returncode == 0, proc.stderr
        return
    assert proc.returncode == 1
    assert "does not match %s" % lock in proc.stderr
    if change == "extra":
        assert "+ %s  cryptography-45.0.7-cp37-abi3-manylinux2014_x86_64.whl" % hashlib.sha256(b"x").hexdigest() in proc.stderr
    else:
        assert "- %s  b-1.0-py3-none-any.whl" % hashlib.sha256(b"wheel b").hexdigest() in proc.stderr
