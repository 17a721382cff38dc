# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils import provision_report as lib


def test_iso_and_seconds():
    assert lib.iso(0) == '1970-01-01T00:00:00.000Z'
    assert lib.iso(1700000000.5) == '2023-11-14T22:13:20.500Z'
    assert lib.seconds(-1) == 0.0
    assert lib.seconds('2.34567') == 2.346


@pytest.mark.parametrize('text, expected', [
    ('', []),
    (None, []),
    ('lock=0.01 runtime=2.5', [{'name': 'lock', 'duration_seconds': 0.01}, {'name': 'runtime', 'duration_seconds': 2.5}]),
    ('junk =1 x=notanumber ok=1', [{'name': 'ok', 'duration_seconds': 1.0}]),
])
def test_parse_steps(text, expected):
    assert lib.parse_steps(text) == expected


def test_one_line_and_failure_reason():
    assert lib.one_line(' a\n\tb  c ') == 'a b c'
    assert lib.one_line('x' * 2001) == 'x' * 2000 + '...'
    assert lib.failure_reason('non-zero return code', 'broken\n') == 'non-zero return code: broken'
    assert lib.failure_reason('failed: broken', 'broken') == 'failed: broken'
    assert lib.failure_reason('', 'only stderr') == 'only stderr'


def test_finish_rejects_an_unknown_outcome():
    with pytest.raises(ValueError):
        lib.finish(lib.new_report('r', 0), 1, 'maybe')


def test_prometheus_labels_are_escaped_and_values_formatted():
    report = lib.new_report('r', 100.0, 'a=1.5', bootstrap=True)
    report['hosts'] = {'h': {'counts': {'changed': 2}, 'failed_tasks': [], 'os': {'platform': 'al2023', 'version_id': '2023'},
                             'containerd': {'version': '2.1.9'},
                             'roles': [{'name': 'r "quoted"\\n', 'duration_seconds': 1.25, 'changed': 2}]}}
    lib.finish(report, 103.0, 'failed', {'step': 'x\ny'})
    text = lib.to_prometheus(report)
    assert 'hyperpod_provision_role_duration_seconds{role="r \\"quoted\\"\\\\n"} 1.25\n' in text
    assert 'hyperpod_provision_success 0\n' in text
    assert 'hyperpod_provision_duration_seconds 3.0\n' in text
    assert 'hyperpod_provision_changed_tasks 2\n' in text
    assert 'hyperpod_provision_last_run_timestamp_seconds 103.0\n' in text
    assert 'failed_step="x\\ny"' in text
    assert text.count('# TYPE ') == len(lib.METRICS)


def test_write_outputs_replaces_atomically(tmp_path):
    report = lib.finish(lib.new_report('r', 0), 1, 'succeeded')
    path = tmp_path / 'log' / 'report.json'
    assert lib.write_outputs(report, str(path), str(tmp_path / 'metrics')) == []
    data = json.loads(path.read_text())
    assert data['run_id'] == 'r' and '_started_epoch' not in data and '_finished_epoch' not in data
    assert oct(os.stat(str(path)).st_mode & 0o777) == '0o640'
    assert sorted(os.listdir(str(tmp_path / 'metrics'))) == ['hyperpod_provision.prom']
    errors = lib.write_outputs(report, str(tmp_path / 'log'), None)  # a directory in the way
    assert len(errors) == 1 and 'cannot write' in errors[0]
    assert sorted(os.listdir(str(tmp_path / 'log'))) == ['report.json']  # no temporary file left
