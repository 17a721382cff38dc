# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import json
import os

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.modules import os_release_facts
from ansible_collections.hyperpod.eks_lifecycle.tests.unit.plugins.modules.utils import run_main


FIXTURES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'module_utils', 'fixtures', 'os-release')

AL2 = os.path.join(FIXTURES, 'amzn-2')
AL2023 = os.path.join(FIXTURES, 'amzn-2023')
UBUNTU = os.path.join(FIXTURES, 'ubuntu-24.04')

AL2023_OS_RELEASE = {
    'name': 'Amazon Linux',
    'version': '2023',
    'id': 'amzn',
    'id_like': ['fedora'],
    'version_id': '2023',
    'platform_id': 'platform:al2023',
    'pretty_name': 'Amazon Linux 2023.6.20241212',
    'ansi_color': '0;33',
    'cpe_name': 'cpe:2.3:o:amazon:amazon_linux:2023',
    'home_url': 'https://aws.amazon.com/linux/amazon-linux-2023/',
    'documentation_url': 'https://docs.aws.amazon.com/linux/',
    'support_url': 'https://aws.amazon.com/premiumsupport/',
    'bug_report_url': 'https://github.com/amazonlinux/amazon-linux-2023',
    'vendor_name': 'AWS',
    'vendor_url': 'https://aws.amazon.com/',
    'support_end': '2029-06-30',
}


@pytest.fixture
def run_module(monkeypatch):
    """Return a function running main() with the given args and returning its result dict."""
    return lambda args=None: run_main(monkeypatch, os_release_facts, args or {})[1]


@pytest.fixture
def default_paths(monkeypatch, tmp_path):
    """Point the module's two default paths into tmp_path; return them (neither exists yet)."""
    etc = tmp_path / 'etc-os-release'
    usr = tmp_path / 'usr-lib-os-release'
    monkeypatch.setattr(os_release_facts, 'DEFAULT_PATH', str(etc))
    monkeypatch.setattr(os_release_facts, 'FALLBACK_PATH', str(usr))
    return etc, usr


def copy_fixture(source, target):
    with open(source, 'rb') as handle:
        target.write_bytes(handle.read())


def test_explicit_path_al2(run_module):
    result = run_module({'path': AL2})
    assert not result.get('failed')
    assert result['changed'] is False
    facts = result['ansible_facts']
    assert facts['os_release_path'] == AL2
    assert facts['hyperpod_platform'] == 'al2'
    assert facts['hyperpod_platform_reason'] == "ID 'amzn' VERSION_ID '2': Amazon Linux 2"
    assert facts['os_release']['id_like'] == ['centos', 'rhel', 'fedora']
    assert facts['os_release']['pretty_name'] == 'Amazon Linux 2'
    assert 'path' not in facts['os_release']


def test_explicit_path_al2023(run_module):
    result = run_module({'path': AL2023})
    assert result['changed'] is False
    assert result['ansible_facts'] == {
        'os_release': AL2023_OS_RELEASE,
        'os_release_path': AL2023,
        'hyperpod_platform': 'al2023',
        'hyperpod_platform_reason': "ID 'amzn' VERSION_ID '2023': Amazon Linux 2023",
    }


def test_check_mode(run_module):
    result = run_module({'path': AL2023, '_ansible_check_mode': True})
    assert result['changed'] is False
    assert result['ansible_facts']['hyperpod_platform'] == 'al2023'
    assert result['ansible_facts']['os_release'] == AL2023_OS_RELEASE


@pytest.mark.parametrize('name, platform, reason', [
    ('ubuntu-24.04', 'unsupported', "ID 'ubuntu' is not Amazon Linux ('amzn')"),
    ('amzn-2025-future', 'unsupported', "Amazon Linux VERSION_ID '2025' is not supported (supported: 2, 2023)"),
    ('rocky-9.3', 'unsupported', "ID 'rocky' is not Amazon Linux ('amzn')"),
])
def test_unsupported_is_not_a_failure(run_module, name, platform, reason):
    result = run_module({'path': os.path.join(FIXTURES, name)})
    assert not result.get('failed')
    assert result['changed'] is False
    assert result['ansible_facts']['hyperpod_platform'] == platform
    assert result['ansible_facts']['hyperpod_platform_reason'] == reason


def test_default_reads_etc(run_module, default_paths):
    etc, usr = default_paths
    copy_fixture(AL2, etc)
    copy_fixture(AL2023, usr)
    facts = run_module()['ansible_facts']
    assert facts['os_release_path'] == str(etc)
    assert facts['hyperpod_platform'] == 'al2'


def test_default_falls_back_to_usr_lib(run_module, default_paths):
    etc, usr = default_paths
    copy_fixture(AL2023, usr)
    assert not etc.exists()
    result = run_module()
    assert not result.get('failed')
    facts = result['ansible_facts']
    assert facts['os_release_path'] == str(usr)
    assert facts['os_release'] == AL2023_OS_RELEASE
    assert facts['hyperpod_platform'] == 'al2023'


def test_default_follows_symlink(run_module, default_paths):
    etc, usr = default_paths
    copy_fixture(AL2023, usr)
    etc.symlink_to(usr)
    facts = run_module()['ansible_facts']
    assert facts['os_release_path'] == str(etc)
    assert facts['hyperpod_platform'] == 'al2023'


def test_default_dangling_symlink_falls_back(run_module, default_paths, tmp_path):
    etc, usr = default_paths
    etc.symlink_to(tmp_path / 'nowhere')
    copy_fixture(AL2, usr)
    facts = run_module()['ansible_facts']
    assert facts['os_release_path'] == str(usr)
    assert facts['hyperpod_platform'] == 'al2'


def test_default_both_missing_fails(run_module, default_paths):
    etc, usr = default_paths
    result = run_module()
    assert result['failed'] is True
    assert str(etc) in result['msg']
    assert str(usr) in result['msg']
    assert 'No such file or directory' in result['msg']


def test_real_default_constants():
    assert os_release_facts.DEFAULT_PATH == '/etc/os-release'
    assert os_release_facts.FALLBACK_PATH == '/usr/lib/os-release'


def test_explicit_missing_path_fails_without_fallback(run_module, default_paths, tmp_path):
    etc, usr = default_paths
    copy_fixture(AL2, etc)
    copy_fixture(AL2, usr)
    missing = str(tmp_path / 'does-not-exist')
    result = run_module({'path': missing})
    assert result['failed'] is True
    assert missing in result['msg']
    assert str(etc) not in result['msg']
    assert str(usr) not in result['msg']


def test_explicit_directory_fails(run_module, tmp_path):
    result = run_module({'path': str(tmp_path)})
    assert result['failed'] is True
    assert str(tmp_path) in result['msg']


def deny(monkeypatch, denied):
    """Make open() in the module raise PermissionError for the path `denied` (tests run as root)."""
    real_open = open

    def fake_open(path, *args, **kwargs):
        if path == denied:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os_release_facts, 'open', fake_open, raising=False)


def test_explicit_unreadable_fails(run_module, monkeypatch):
    deny(monkeypatch, AL2)
    result = run_module({'path': AL2})
    assert result['failed'] is True
    assert AL2 in result['msg']
    assert 'Permission denied' in result['msg']


def test_default_unreadable_etc_does_not_fall_back(run_module, monkeypatch, default_paths):
    etc, usr = default_paths
    copy_fixture(AL2, etc)
    copy_fixture(AL2023, usr)
    deny(monkeypatch, str(etc))
    result = run_module()
    assert result['failed'] is True
    assert str(etc) in result['msg']
    assert str(usr) in result['msg']
    assert 'Permission denied' in result['msg']


def test_default_unreadable_fallback_fails(run_module, monkeypatch, default_paths):
    etc, usr = default_paths
    copy_fixture(AL2023, usr)
    deny(monkeypatch, str(usr))
    result = run_module()
    assert result['failed'] is True
    assert str(etc) in result['msg']
    assert str(usr) in result['msg']
    assert 'Permission denied' in result['msg']


def test_garbled_file_is_unsupported_not_failed(run_module, tmp_path):
    garbled = tmp_path / 'os-release'
    garbled.write_bytes(bytes(bytearray(range(256))) * 8 + b'\x89PNG\r\n\x1a\n\xff\xfe\xc3\x28 not = valid\n')
    result = run_module({'path': str(garbled)})
    assert not result.get('failed')
    assert result['changed'] is False
    facts = result['ansible_facts']
    assert facts['hyperpod_platform'] == 'unsupported'
    assert facts['hyperpod_platform_reason'] == 'no ID in %s' % garbled
    assert 'id' not in facts['os_release']
    json.dumps(result)


def test_empty_file_is_unsupported_not_failed(run_module, tmp_path):
    empty = tmp_path / 'os-release'
    empty.write_bytes(b'')
    facts = run_module({'path': str(empty)})['ansible_facts']
    assert facts['os_release'] == {}
    assert facts['os_release_path'] == str(empty)
    assert facts['hyperpod_platform'] == 'unsupported'
    assert facts['hyperpod_platform_reason'] == 'no ID in %s' % empty


def test_invalid_utf8_and_crlf(run_module, tmp_path):
    odd = tmp_path / 'os-release'
    odd.write_bytes(b'ID="amzn"\r\nVERSION_ID="2023"\r\nNAME="Amazon \xff Linux"\r\nBROKEN="open\r\n')
    facts = run_module({'path': str(odd)})['ansible_facts']
    assert facts['os_release'] == {'id': 'amzn', 'version_id': '2023', 'name': 'Amazon \ufffd Linux'}
    assert facts['hyperpod_platform'] == 'al2023'


def test_unknown_option_fails(run_module):
    result = run_module({'path': AL2, 'bogus': 1})
    assert result['failed'] is True
    assert 'bogus' in result['msg']


def test_gather_facts_directly():
    facts = os_release_facts.gather_facts(UBUNTU)
    assert facts['os_release']['id'] == 'ubuntu'
    assert facts['hyperpod_platform'] == 'unsupported'
    with pytest.raises(ValueError):
        os_release_facts.gather_facts(os.path.join(FIXTURES, 'no-such-file'))
