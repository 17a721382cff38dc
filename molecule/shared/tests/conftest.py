"""Fixtures shared by the node checks of every scenario."""

import json
import os

import pytest

from nodecheck import MARKER


@pytest.fixture
def marker(host):
    return json.loads(host.file(MARKER).content_string)


@pytest.fixture
def provision_log():
    """The provision_log callback's file on the controller (molecule's ephemeral directory)."""
    path = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "provisioning.log")
    with open(path, encoding="utf-8") as stream:
        return stream.read().splitlines()
