"""bootstrap/install_wheels.py: the bundle's runtime installer, on the Pythons of both generations."""

import os
import subprocess
import sys
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


def make_wheel(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def run(env, *wheels):
    return subprocess.run([str(env / "bin" / "python"), str(INSTALLER), str(env), *map(str, wheels)],
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
