"""Fixtures of the bundle tests: the folder `make bundle` writes, a host directory as the data
volume, and the look-alike nodes a test started (removed at its end)."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist") / "lifecycle"
    subprocess.run(["bash", str(REPO / "tools" / "build_bundle.sh")], env=dict(os.environ, OUT=str(out)),
                   check=True, capture_output=True, text=True)
    return out


@pytest.fixture
def volume(tmp_path):
    path = tmp_path / "volume"
    path.mkdir()
    return path


@pytest.fixture
def nodes():
    started = []
    yield started
    for node in started:
        node.remove()
