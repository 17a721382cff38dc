# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest settings every unit test shares (ansible-test runs pytest with its own ini file, so markers
are registered here)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def pytest_configure(config):
    config.addinivalue_line(
        'markers',
        'real_containerd: uses the real containerd 1.7 and 2.x binaries that `make containerd-binaries` unpacks '
        '(tests/tools/fetch-containerd.sh), to run them or as paths the module checks; without them the test '
        'fails, it is never skipped')


def pytest_runtest_setup(item):
    if item.get_closest_marker('real_containerd') is not None:
        from ansible_collections.hyperpod.eks_lifecycle.tests.unit.plugins.modules.utils import require_containerd
        require_containerd()
