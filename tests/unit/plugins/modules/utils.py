# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the module unit tests share: running a module's main(), and the real containerd binaries."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

CONTAINERD_17 = '/var/tmp/hyperpod-eks-lifecycle/containerd/1.7/usr/bin/containerd'
CONTAINERD_21 = '/var/tmp/hyperpod-eks-lifecycle/containerd/2/usr/bin/containerd'


def require_containerd():
    """The real containerd binaries are part of the test setup (`make units` unpacks them with
    tests/tools/fetch-containerd.sh): without them the tests that use them must fail, not skip.
    Run before every test marked `real_containerd` (tests/unit/conftest.py)."""
    for required in (CONTAINERD_17, CONTAINERD_21):
        if not os.access(required, os.X_OK):
            raise RuntimeError('%s is missing: run `make units`, which unpacks it (tests/tools/fetch-containerd.sh)' % required)


class ExitJson(Exception):
    """Raised in place of AnsibleModule.exit_json."""


class FailJson(Exception):
    """Raised in place of AnsibleModule.fail_json."""


def _exit_json(self, **kwargs):  # pylint: disable=unused-argument
    raise ExitJson(kwargs)


def _fail_json(self, **kwargs):  # pylint: disable=unused-argument
    kwargs['failed'] = True
    raise FailJson(kwargs)


def run_main(monkeypatch, module, args):
    """Run MODULE.main() with ARGS fed the way AnsibleModule reads them (ansible-core 2.11 to 2.19).

    Returns (failed, result).
    """
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', _fail_json)
    monkeypatch.setattr(basic, '_ANSIBLE_ARGS', to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args})))
    if hasattr(basic, '_ANSIBLE_PROFILE'):  # ansible-core >= 2.19 also wants a serialization profile
        monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy')
    try:
        module.main()
    except ExitJson as exc:
        return False, exc.args[0]
    except FailJson as exc:
        return True, exc.args[0]
    raise AssertionError('the module neither exited nor failed')
