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
                             'roles': [{'name': 'r "quoted"\\n', 'duration_seconds': 1.25, 'changed': 2}],
                             'site_steps': [{'name': 'scripts.d/10-a.sh', 'kind': 'script', 'status': 'changed',
                                             'duration_seconds': 0.5, 'exit_code': 0}]}}
    lib.finish(report, 103.0, 'failed', {'step': 'x\ny'})
    text = lib.to_prometheus(report)
    assert 'hyperpod_provision_role_duration_seconds{role="r \\"quoted\\"\\\\n"} 1.25\n' in text
    assert 'hyperpod_provision_success 0\n' in text
    assert 'hyperpod_provision_duration_seconds 3.0\n' in text
    assert 'hyperpod_provision_changed_tasks 2\n' in text
    assert 'hyperpod_provision_last_run_timestamp_seconds 103.0\n' in text
    assert 'failed_step="x\\ny"' in text
    assert text.count('# TYPE ') == len(lib.METRICS)  # every family, each with a sample


# -- site steps -------------------------------------------------------------------------------------

SITE_STEPS = [
    {'name': 'scripts.d/10-packages.sh', 'kind': 'script', 'file': 'scripts.d/10-packages.sh', 'status': 'changed',
     'duration_seconds': 12.5, 'exit_code': 0, 'summary': 'exit 0 in 12.5s, 40 lines of output'},
    {'name': 'role site_motd', 'kind': 'role', 'file': 'roles/site_motd', 'status': 'ok', 'duration_seconds': 0.75,
     'exit_code': None, 'summary': '2 tasks, 0 changed, in 0.8s'},
    {'name': 'scripts.d/20-optional.sh', 'kind': 'script', 'file': 'scripts.d/20-optional.sh', 'status': 'allowed_failure',
     'duration_seconds': 0.25, 'exit_code': 3, 'summary': 'failed (allowed): exited with 3'},
    {'name': 'tasks/gpu.yml', 'kind': 'tasks', 'file': 'tasks/gpu.yml', 'status': 'skipped', 'duration_seconds': 0.0,
     'exit_code': None, 'reason': 'scope', 'summary': 'skipped: instance group cpu is not one of gpu-*'},
    {'name': 'scripts.d/30-slow.sh', 'kind': 'script', 'file': 'scripts.d/30-slow.sh', 'status': 'failed',
     'duration_seconds': 60.0, 'exit_code': None, 'summary': 'stopped after its timeout of 60s'},
    {'name': 'scripts.d/40-bool.sh', 'kind': 'script', 'file': 'scripts.d/40-bool.sh', 'status': 'failed',
     'duration_seconds': None, 'exit_code': True, 'summary': 'an exit code that is not one'},
]


def site_report(steps):
    report = lib.new_report('r', 100.0)
    report['hosts'] = {'localhost': {'counts': {'changed': 1}, 'failed_tasks': [], 'roles': [], 'site_steps': steps}}
    return lib.finish(report, 180.0, 'failed', {'step': 'scripts.d/30-slow.sh'})


def test_site_step_metrics():
    from ansible_collections.hyperpod.eks_lifecycle.tests.reportcheck import metrics, value
    text = lib.to_prometheus(site_report(SITE_STEPS))
    samples = metrics(text)

    def labels(step):
        return dict(step=step['name'], kind=step['kind'], status=step['status'])

    durations = [value(samples, 'hyperpod_provision_site_step_duration_seconds', **labels(step)) for step in SITE_STEPS]
    assert durations == [12.5, 0.75, 0.25, 0.0, 60.0, 0.0]
    failed = [value(samples, 'hyperpod_provision_site_step_failed', **labels(step)) for step in SITE_STEPS]
    assert failed == [0, 0, 1, 0, 1, 1]  # an allowed failure is a failure too
    # Only the scripts that ran to their end have an exit code (not a timeout, not a bool).
    codes = dict((dict(key[1])['step'], val) for key, val in samples.items() if key[0] == 'hyperpod_provision_site_step_exit_code')
    assert codes == {'scripts.d/10-packages.sh': 0, 'scripts.d/20-optional.sh': 3}
    assert 'hyperpod_provision_site_step_exit_code{step="scripts.d/20-optional.sh"} 3\n' in text
    assert ('hyperpod_provision_site_step_failed{step="scripts.d/20-optional.sh",kind="script",status="allowed_failure"} 1\n'
            in text)
    assert 'hyperpod_provision_site_step_duration_seconds{step="role site_motd",kind="role",status="ok"} 0.75\n' in text
    assert sum(1 for key in samples if key[0].startswith('hyperpod_provision_site_step_')) == 6 + 6 + 2


def test_site_step_metrics_of_odd_entries():
    from ansible_collections.hyperpod.eks_lifecycle.tests.reportcheck import metrics, value
    steps = [{'name': 'step "quoted"\\x', 'kind': 'tasks', 'status': None}, {'name': 'no status', 'kind': 'role'}]
    text = lib.to_prometheus(site_report(steps))
    samples = metrics(text)
    assert value(samples, 'hyperpod_provision_site_step_duration_seconds', step='step "quoted"\\x', kind='tasks', status='') == 0.0
    assert value(samples, 'hyperpod_provision_site_step_failed', step='no status', kind='role', status='') == 0
    assert 'step="step \\"quoted\\"\\\\x"' in text
    assert 'hyperpod_provision_site_step_exit_code' not in text


def test_no_site_steps_no_site_families():
    for hosts in ({'localhost': {'counts': {}, 'roles': []}}, {'localhost': {'site_steps': []}}, {}):
        report = lib.new_report('r', 100.0)
        report['hosts'] = hosts
        text = lib.to_prometheus(lib.finish(report, 101.0, 'succeeded'))
        assert 'hyperpod_provision_site_step' not in text  # neither HELP nor TYPE without a sample
        assert 'hyperpod_provision_success 1\n' in text


def test_site_steps_of_every_host_are_counted():
    from ansible_collections.hyperpod.eks_lifecycle.tests.reportcheck import metrics, value
    report = site_report(SITE_STEPS[:1])
    report['hosts']['other'] = {'site_steps': [dict(SITE_STEPS[2], name='scripts.d/50-other.sh')]}
    samples = metrics(lib.to_prometheus(report))
    assert value(samples, 'hyperpod_provision_site_step_exit_code', step='scripts.d/10-packages.sh') == 0
    assert value(samples, 'hyperpod_provision_site_step_exit_code', step='scripts.d/50-other.sh') == 3


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


# -- the verification (on_init_complete.sh) -----------------------------------------------------

def verification_report(outcome='succeeded', checks=None):
    report = lib.new_report('verify-1', 200.0)
    report['hosts'] = {'localhost': {'outcome': outcome, 'checks': [
        {'name': 'containerd_running', 'ok': True, 'detail': 'containerd is active'},
        {'name': 'containerd_sandbox_image', 'ok': outcome != 'failed', 'detail': 'sandbox image present'},
    ] if checks is None else checks}}
    return lib.finish(report, 212.5, outcome, None if outcome != 'failed' else {'step': 'verify'})


ON_CREATE = {
    'schema_version': 1, 'run_id': 'oncreate-1', 'started': '2023-11-14T22:13:20.500Z', 'outcome': 'succeeded',
    'hosts': {'localhost': {'outcome': 'succeeded', 'tasks': [{'name': 'x'}]}}, 'bootstrap': {'steps': []},
}


def test_with_verification_keeps_the_report_and_adds_the_public_section():
    verification = verification_report()
    text = lib.with_verification(json.dumps(ON_CREATE), verification)
    assert text.endswith('}\n')
    data = json.loads(text)
    assert dict((k, v) for k, v in data.items() if k != 'verification') == ON_CREATE
    assert data['verification'] == lib.public(verification)
    assert '_started_epoch' not in data['verification'] and '_finished_epoch' not in data['verification']
    assert data['verification']['run_id'] == 'verify-1' and data['verification']['duration_seconds'] == 12.5
    assert '_finished_epoch' in verification  # the caller's report is left as it is (the metrics need it)
    assert text == json.dumps(data, indent=2, sort_keys=True) + '\n'


def test_with_verification_replaces_an_earlier_verification():
    first = json.loads(lib.with_verification(json.dumps(ON_CREATE), verification_report()))
    second = json.loads(lib.with_verification(json.dumps(first), verification_report('failed')))
    assert second['verification']['outcome'] == 'failed'
    assert dict((k, v) for k, v in second.items() if k != 'verification') == ON_CREATE


@pytest.mark.parametrize('existing', [None, '', 'not json {', '[1, 2]', '"a string"', 'null', '42'])
def test_with_verification_without_a_readable_report(existing):
    verification = verification_report()
    data = json.loads(lib.with_verification(existing, verification))
    assert data == {'schema_version': 1, 'run_id': None, 'outcome': None,
                    'note': 'no readable report of the OnCreate run was found; this file holds the verification only',
                    'verification': lib.public(verification)}


def test_verification_prometheus():
    from ansible_collections.hyperpod.eks_lifecycle.tests.reportcheck import metrics, value
    text = lib.verification_prometheus(verification_report())
    samples = metrics(text)
    assert value(samples, 'hyperpod_provision_verification_success') == 1
    assert value(samples, 'hyperpod_provision_verification_timestamp_seconds') == 212.5
    assert value(samples, 'hyperpod_provision_verification_check', check='containerd_running') == 1
    assert value(samples, 'hyperpod_provision_verification_check', check='containerd_sandbox_image') == 1
    assert len(samples) == 4
    assert text.count('# TYPE ') == 3
    assert 'hyperpod_provision_verification_check{check="containerd_running"} 1\n' in text

    samples = metrics(lib.verification_prometheus(verification_report('failed')))
    assert value(samples, 'hyperpod_provision_verification_success') == 0
    assert value(samples, 'hyperpod_provision_verification_check', check='containerd_running') == 1
    assert value(samples, 'hyperpod_provision_verification_check', check='containerd_sandbox_image') == 0


def test_verification_prometheus_skipped_counts_as_success_and_no_checks_no_family():
    text = lib.verification_prometheus(verification_report('skipped', checks=[]))
    assert 'hyperpod_provision_verification_success 1\n' in text
    assert 'hyperpod_provision_verification_check' not in text  # neither HELP nor TYPE without a sample
    assert text.count('# TYPE ') == 2


def test_verification_prometheus_escapes_and_counts_every_host():
    report = verification_report(checks=[{'name': 'a "quoted"\\name', 'ok': 1}, {'name': 'b', 'ok': None}])
    report['hosts']['other'] = {'checks': [{'name': 'c', 'ok': 'yes'}]}
    text = lib.verification_prometheus(report)
    assert 'hyperpod_provision_verification_check{check="a \\"quoted\\"\\\\name"} 1\n' in text
    assert 'hyperpod_provision_verification_check{check="b"} 0\n' in text
    assert 'hyperpod_provision_verification_check{check="c"} 1\n' in text
    assert lib.verification_checks(report) == [('a "quoted"\\name', True), ('b', False), ('c', True)]
    assert lib.verification_checks({}) == []


def test_write_verification_keeps_the_report_and_writes_its_metrics(tmp_path):
    report_path = tmp_path / 'log' / 'report.json'
    metrics_dir = tmp_path / 'textfile'
    on_create = lib.finish(lib.new_report('oncreate-1', 100.0), 150.0, 'succeeded')
    assert lib.write_outputs(on_create, str(report_path), str(metrics_dir)) == []
    before = json.loads(report_path.read_text())
    on_create_prom = (metrics_dir / lib.METRICS_FILE).read_text()

    verification = verification_report()
    assert lib.write_verification(verification, str(report_path), str(metrics_dir)) == []
    data = json.loads(report_path.read_text())
    assert dict((k, v) for k, v in data.items() if k != 'verification') == before
    assert data['verification'] == lib.public(verification)
    assert oct(os.stat(str(report_path)).st_mode & 0o777) == '0o640'
    assert sorted(os.listdir(str(tmp_path / 'log'))) == ['report.json']  # no temporary file left
    assert sorted(os.listdir(str(metrics_dir))) == [lib.METRICS_FILE, lib.VERIFICATION_METRICS_FILE]
    assert (metrics_dir / lib.METRICS_FILE).read_text() == on_create_prom  # the OnCreate run's figures are kept
    prom = metrics_dir / lib.VERIFICATION_METRICS_FILE
    assert prom.read_text() == lib.verification_prometheus(verification)
    assert oct(os.stat(str(prom)).st_mode & 0o777) == '0o644'


def test_write_verification_without_a_report_writes_one_with_a_note(tmp_path):
    report_path = tmp_path / 'new' / 'report.json'  # its directory is made
    assert lib.write_verification(verification_report(), str(report_path)) == []
    data = json.loads(report_path.read_text())
    assert data['run_id'] is None and 'note' in data and data['verification']['run_id'] == 'verify-1'


def test_write_verification_of_a_broken_report(tmp_path):
    report_path = tmp_path / 'report.json'
    report_path.write_text('{"run_id": "trunc')
    assert lib.write_verification(verification_report(), str(report_path)) == []
    assert 'note' in json.loads(report_path.read_text())


def test_write_verification_of_a_report_that_is_not_text(tmp_path):
    report_path = tmp_path / 'report.json'
    report_path.write_bytes(b'\xff\xfe{"run_id": "x"}')
    errors = lib.write_verification(verification_report(), str(report_path), str(tmp_path / 'textfile'))
    assert errors == []
    assert 'note' in json.loads(report_path.read_text())
    assert (tmp_path / 'textfile' / lib.VERIFICATION_METRICS_FILE).exists()


def test_write_verification_reports_what_it_cannot_write(tmp_path):
    (tmp_path / 'report.json').mkdir()  # a directory in the way
    (tmp_path / 'textfile').write_text('a file where the directory should be')
    errors = lib.write_verification(verification_report(), str(tmp_path / 'report.json'), str(tmp_path / 'textfile'))
    assert len(errors) == 2
    assert errors[0].startswith('cannot write %s: ' % (tmp_path / 'report.json'))
    assert errors[1].startswith('cannot write %s: ' % (tmp_path / 'textfile' / lib.VERIFICATION_METRICS_FILE))
    assert sorted(os.listdir(str(tmp_path))) == ['report.json', 'textfile']
    # Either one alone.
    assert lib.write_verification(verification_report(), None, str(tmp_path / 'metrics')) == []
    assert sorted(os.listdir(str(tmp_path / 'metrics'))) == [lib.VERIFICATION_METRICS_FILE]
    assert lib.write_verification(verification_report(), str(tmp_path / 'r.json'), None) == []
    assert sorted(os.listdir(str(tmp_path))) == ['metrics', 'r.json', 'report.json', 'textfile']


def test_write_verification_into_a_read_only_directory(tmp_path):
    locked = tmp_path / 'locked'
    locked.mkdir()
    locked.chmod(0o500)
    try:
        probe = locked / 'probe'
        try:
            probe.write_text('')
            writable = True  # root writes anyway: a read-only file system stands in below
            probe.unlink()
        except (IOError, OSError):
            writable = False
        if writable:
            errors = lib.write_verification(verification_report(), '/proc/version/report.json', '/proc/version/textfile')
        else:
            errors = lib.write_verification(verification_report(), str(locked / 'report.json'), str(locked))
        assert len(errors) == 2 and all(error.startswith('cannot write ') for error in errors)
    finally:
        locked.chmod(0o700)


def test_a_new_run_removes_the_verification_metrics_of_the_last_one(tmp_path):
    """OnCreate again (a software update): its report has no verification yet, nor must its metrics."""
    stale = tmp_path / lib.VERIFICATION_METRICS_FILE
    stale.write_text("hyperpod_provision_verification_success 1\n")
    run = lib.finish(lib.new_report("r1", 100.0), 101.0, "succeeded")
    assert lib.write_outputs(run, str(tmp_path / "report.json"), str(tmp_path)) == []
    assert not stale.exists()
    assert (tmp_path / lib.METRICS_FILE).exists()


def test_result_reason_of_a_loop_names_its_failed_items():
    res = {"msg": "One or more items failed", "results": [
        {"failed": False, "msg": "fine"},
        {"failed": True, "msg": "item b is refused"},
        {"failed": True, "msg": "secret", "_ansible_no_log": True},
        {"failed": True, "msg": b"bytes \xff", "stderr": "and stderr"}]}
    assert lib.result_reason(res) == "item b is refused; bytes \ufffd: and stderr"
    assert lib.result_reason({"msg": "plain", "stderr": ""}) == "plain"
    assert lib.result_reason({"reason": "unreachable"}) == "unreachable"
