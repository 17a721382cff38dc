# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.containerd_settings import (
    applied, differences, dropin, merged, same_value)

CRI = 'io.containerd.cri.v1.runtime'
RUNTIMES = ['plugins', CRI, 'containerd', 'runtimes']
BEFORE = {
    'version': 3,
    'root': '/var/lib/containerd',
    'imports': [],
    'plugins': {CRI: {'enable_cdi': True, 'cni': {'bin_dir': '/opt/cni/bin'},
                      'containerd': {'default_runtime_name': 'runc',
                                     'runtimes': {'runc': {'runtime_type': 'io.containerd.runc.v2',
                                                           'base_runtime_spec': '/etc/containerd/base-runtime-spec.json',
                                                           'options': {'BinaryName': '/usr/sbin/runc', 'SystemdCgroup': True}}}}}},
}
NVIDIA = [
    {'table': RUNTIMES, 'key': 'nvidia', 'value': BEFORE['plugins'][CRI]['containerd']['runtimes']['runc']},
    {'table': RUNTIMES + ['nvidia', 'options'], 'key': 'BinaryName', 'value': '/usr/bin/nvidia-container-runtime'},
    {'table': ['plugins', CRI, 'containerd'], 'key': 'default_runtime_name', 'value': 'nvidia'},
]


def after(before, settings):
    return merged(before, applied(settings))


@pytest.mark.parametrize('actual, expected, result', [
    (True, True, True), (True, 'true', False), ('true', True, False), (1, True, False), (True, 1, False),
    ('1', 1, False), (1, 1, True), ('a', 'a', True), ([1], [1], True), ({}, {}, True), (None, None, True),
])
def test_values_are_the_same_only_when_of_the_same_kind(actual, expected, result):
    assert same_value(actual, expected) is result


def test_later_settings_override_earlier_ones():
    tree = applied(NVIDIA)
    nvidia = tree['plugins'][CRI]['containerd']['runtimes']['nvidia']
    assert nvidia['options'] == {'BinaryName': '/usr/bin/nvidia-container-runtime', 'SystemdCgroup': True}
    assert nvidia['base_runtime_spec'] == '/etc/containerd/base-runtime-spec.json'
    assert BEFORE['plugins'][CRI]['containerd']['runtimes']['runc']['options']['BinaryName'] == '/usr/sbin/runc'


def test_a_config_with_the_settings_and_nothing_else_changed_has_no_differences():
    config = after(BEFORE, NVIDIA)
    config['imports'] = ['/etc/containerd/config.toml']  # the layer's own
    config['plugins'][CRI]['containerd']['runtimes']['nvidia']['sandboxer'] = 'podsandbox'  # a default containerd adds
    assert differences(config, NVIDIA, BEFORE) == []


def test_a_setting_of_the_wrong_kind_or_missing_is_a_difference():
    config = after(BEFORE, NVIDIA)
    config['plugins'][CRI]['containerd']['runtimes']['nvidia']['options']['SystemdCgroup'] = 'true'
    del config['plugins'][CRI]['containerd']['default_runtime_name']
    lines = differences(config, NVIDIA, BEFORE)
    assert lines == ["plugins.%s.containerd.runtimes.nvidia.options.SystemdCgroup: 'true', expected True" % CRI,
                     "plugins.%s.containerd.default_runtime_name: missing, expected 'nvidia'" % CRI]


def test_anything_else_lost_or_changed_is_a_difference():
    config = after(BEFORE, NVIDIA)
    del config['plugins'][CRI]['cni']
    config['plugins'][CRI]['enable_cdi'] = False
    assert differences(config, NVIDIA, BEFORE) == [
        'plugins.%s.enable_cdi: False, was True' % CRI, "plugins.%s.cni.bin_dir: lost (was '/opt/cni/bin')" % CRI]


def test_no_before_checks_the_settings_only():
    assert differences({'root': '/x'}, [{'table': [], 'key': 'root', 'value': '/x'}]) == []
    assert differences({'root': '/y'}, [{'table': [], 'key': 'root', 'value': '/x'}]) == ["root: '/y', expected '/x'"]


def test_a_dropin_for_a_containerd_that_merges_holds_the_settings_only():
    assert dropin([{'table': [], 'key': 'root', 'value': '/data'}], 3) == {'version': 3, 'root': '/data'}
    data = dropin(NVIDIA, 3, BEFORE, merges_plugin_sections=True)
    assert set(data['plugins'][CRI]) == {'containerd'}
    assert set(data['plugins'][CRI]['containerd']) == {'runtimes', 'default_runtime_name'}


def test_a_dropin_for_an_older_containerd_carries_the_whole_section():
    base = copy.deepcopy(BEFORE)
    data = dropin(NVIDIA, 2, base, merges_plugin_sections=False)
    section = data['plugins'][CRI]
    assert section['cni'] == {'bin_dir': '/opt/cni/bin'} and section['enable_cdi'] is True
    assert set(section['containerd']['runtimes']) == {'runc', 'nvidia'}
    assert section['containerd']['default_runtime_name'] == 'nvidia'
    assert base == BEFORE  # the base is not changed
    # Applied over the base, the drop-in gives what the settings ask and loses nothing.
    assert differences(merged(base, data), NVIDIA, BEFORE) == []


def test_a_setting_under_a_value_that_is_no_table_is_refused():
    with pytest.raises(ValueError):
        applied([{'table': [], 'key': 'root', 'value': '/x'}, {'table': ['root'], 'key': 'a', 'value': 1}])
