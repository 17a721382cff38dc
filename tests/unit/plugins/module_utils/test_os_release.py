# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.os_release import (
    hyperpod_platform,
    parse_os_release,
    unquote_value,
)


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'os-release')


def load(name):
    with open(os.path.join(FIXTURES, name), 'rb') as handle:
        return handle.read().decode('utf-8')


AL2 = {
    'name': 'Amazon Linux',
    'version': '2',
    'id': 'amzn',
    'id_like': ['centos', 'rhel', 'fedora'],
    'version_id': '2',
    'pretty_name': 'Amazon Linux 2',
    'ansi_color': '0;33',
    'cpe_name': 'cpe:2.3:o:amazon:amazon_linux:2',
    'home_url': 'https://amazonlinux.com/',
    'support_end': '2026-06-30',
}

AL2023 = {
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

NOT_AMAZON = "ID '%s' is not Amazon Linux ('amzn')"

# fixture name, spot-checked keys, platform, reason
DISTROS = [
    ('amzn-2', {'id': 'amzn', 'version_id': '2'},
     'al2', "ID 'amzn' VERSION_ID '2': Amazon Linux 2"),
    ('amzn-2023', {'id': 'amzn', 'version_id': '2023', 'platform_id': 'platform:al2023'},
     'al2023', "ID 'amzn' VERSION_ID '2023': Amazon Linux 2023"),
    ('amzn-2025-future', {'id': 'amzn', 'version_id': '2025', 'id_like': ['fedora']},
     'unsupported', "Amazon Linux VERSION_ID '2025' is not supported (supported: 2, 2023)"),
    ('ubuntu-22.04', {'id': 'ubuntu', 'id_like': ['debian'], 'version_id': '22.04',
                      'version_codename': 'jammy', 'pretty_name': 'Ubuntu 22.04.4 LTS'},
     'unsupported', NOT_AMAZON % 'ubuntu'),
    ('ubuntu-24.04', {'id': 'ubuntu', 'id_like': ['debian'], 'version_id': '24.04',
                      'version': '24.04.1 LTS (Noble Numbat)', 'logo': 'ubuntu-logo'},
     'unsupported', NOT_AMAZON % 'ubuntu'),
    ('debian-12', {'id': 'debian', 'version_id': '12', 'version_codename': 'bookworm',
                   'name': 'Debian GNU/Linux'},
     'unsupported', NOT_AMAZON % 'debian'),
    ('rocky-9.3', {'id': 'rocky', 'id_like': ['rhel', 'centos', 'fedora'], 'version_id': '9.3',
                   'cpe_name': 'cpe:/o:rocky:rocky:9::baseos', 'redhat_support_product': 'Rocky Linux'},
     'unsupported', NOT_AMAZON % 'rocky'),
    ('rhel-9.4', {'id': 'rhel', 'id_like': ['fedora'], 'version_id': '9.4',
                  'redhat_bugzilla_product_version': '9.4', 'platform_id': 'platform:el9'},
     'unsupported', NOT_AMAZON % 'rhel'),
    ('fedora-40', {'id': 'fedora', 'version_id': '40', 'version_codename': '',
                   'ansi_color': '0;38;2;60;110;180', 'variant': 'Container Image',
                   'support_end': '2025-05-13'},
     'unsupported', NOT_AMAZON % 'fedora'),
    ('alpine-3.19', {'id': 'alpine', 'version_id': '3.19.1', 'pretty_name': 'Alpine Linux v3.19'},
     'unsupported', NOT_AMAZON % 'alpine'),
    ('opensuse-leap-15.5', {'id': 'opensuse-leap', 'id_like': ['suse', 'opensuse'],
                            'version_id': '15.5', 'logo': 'distributor-logo-Leap'},
     'unsupported', NOT_AMAZON % 'opensuse-leap'),
]


def test_every_fixture_is_covered():
    assert sorted(os.listdir(FIXTURES)) == sorted(entry[0] for entry in DISTROS)


@pytest.mark.parametrize('name, expected', [('amzn-2', AL2), ('amzn-2023', AL2023)])
def test_amazon_linux_exact(name, expected):
    assert parse_os_release(load(name)) == expected


@pytest.mark.parametrize('name, spot, platform, reason', DISTROS, ids=[entry[0] for entry in DISTROS])
def test_real_files(name, spot, platform, reason):
    parsed = parse_os_release(load(name))
    for key, value in spot.items():
        assert parsed[key] == value
    assert hyperpod_platform(parsed) == (platform, reason)


@pytest.mark.parametrize('name', [entry[0] for entry in DISTROS])
def test_real_files_shape(name):
    parsed = parse_os_release(load(name))
    assert parsed
    for key, value in parsed.items():
        assert key == key.lower()
        if key == 'id_like':
            assert isinstance(value, list)
        else:
            assert isinstance(value, str)
            # No quoting survives in these well-formed files.
            assert not value.startswith('"') and not value.startswith("'")


@pytest.mark.parametrize('name', ['amzn-2', 'amzn-2023', 'fedora-40', 'rhel-9.4'])
def test_crlf_line_endings_parse_like_lf(name):
    text = load(name)
    assert '\r' not in text
    assert parse_os_release(text.replace('\n', '\r\n')) == parse_os_release(text)
    assert parse_os_release(text.replace('\n', '\r')) == parse_os_release(text)


@pytest.mark.parametrize('name', ['amzn-2', 'amzn-2023'])
def test_bytes_input(name):
    text = load(name)
    assert parse_os_release(text.encode('utf-8')) == parse_os_release(text)


EDGE_CASES = [
    pytest.param('', {}, id='empty'),
    pytest.param('\n\n   \n\t\n', {}, id='blank-lines-only'),
    pytest.param('# ID=amzn\n  # VERSION_ID="2"\n', {}, id='comments-only'),
    pytest.param(
        '# header\n\nID=amzn\n\n# VERSION_ID="2023"\nVERSION_ID="2"\n',
        {'id': 'amzn', 'version_id': '2'}, id='comments-and-blanks'),
    pytest.param(
        r'PRETTY_NAME="say \"hi\" \\ \$HOME \`date\`"',
        {'pretty_name': 'say "hi" \\ $HOME `date`'}, id='double-quote-escapes'),
    pytest.param(
        r'NAME="C:\temp\new"',
        {'name': 'C:\\temp\\new'}, id='double-quote-other-backslash-kept'),
    pytest.param(
        r'NAME="trailing\\"',
        {'name': 'trailing\\'}, id='double-quote-escaped-backslash-before-close'),
    pytest.param(
        r"""NAME='it\s "literal" $x `y`'""",
        {'name': 'it\\s "literal" $x `y`'}, id='single-quotes-literal'),
    pytest.param(
        "ID=amzn\nVERSION_ID=2023\nANSI_COLOR=0\\;33\nNAME=Amazon\\ Linux\nEMPTY=\n",
        {'id': 'amzn', 'version_id': '2023', 'ansi_color': '0;33', 'name': 'Amazon Linux', 'empty': ''},
        id='unquoted-values'),
    pytest.param('NAME=\\"x\\\\y\\', {'name': '"x\\y'}, id='unquoted-backslashes'),
    pytest.param(
        'NAME="Amazon "\'Linux\'" 2"', {'name': 'Amazon Linux 2'}, id='concatenated-quotes'),
    pytest.param(
        '   ID="amzn"   \n\tVERSION_ID = "2" \t\nNAME= x\n',
        {'id': 'amzn', 'version_id': '2', 'name': 'x'}, id='whitespace-around'),
    pytest.param('NAME="  padded  "', {'name': '  padded  '}, id='whitespace-inside-quotes-kept'),
    pytest.param(
        'ID=amzn\nthis line has no equals sign\nVERSION_ID\n=2\n"ID"=x\nVERSION_ID="2"\n',
        {'id': 'amzn', 'version_id': '2'}, id='lines-without-assignment'),
    pytest.param(
        '1ID=x\nID-LIKE=x\nexport ID=x\nI D=x\nID.X=x\n_PRIVATE_9=ok\nID=amzn\n',
        {'_private_9': 'ok', 'id': 'amzn'}, id='invalid-key-names'),
    pytest.param(
        'ID=amzn\nVERSION_ID="2023\nNAME=\'Amazon Linux\nPRETTY_NAME="x"y"\nHOME_URL="ok"\n',
        {'id': 'amzn', 'home_url': 'ok'}, id='unterminated-quotes-ignored'),
    pytest.param(
        'ID="amzn"\nVERSION_ID="2"\nVERSION_ID="2023"\n',
        {'id': 'amzn', 'version_id': '2023'}, id='duplicate-key-last-wins'),
    pytest.param('Id=amzn\nversion_id=2\n', {'id': 'amzn', 'version_id': '2'}, id='keys-lowercased'),
    pytest.param(
        'ID_LIKE=""\n', {'id_like': []}, id='id-like-empty'),
    pytest.param(
        'ID_LIKE="  rhel\tcentos   fedora "\n', {'id_like': ['rhel', 'centos', 'fedora']},
        id='id-like-whitespace'),
    pytest.param('ID_LIKE=debian\n', {'id_like': ['debian']}, id='id-like-unquoted'),
    pytest.param('\ufeffID=amzn\n', {'id': 'amzn'}, id='utf8-bom'),
    pytest.param('NAME="Amazon Linux \u2013 ünïcode"\n', {'name': 'Amazon Linux \u2013 ünïcode'}, id='unicode'),
    pytest.param('NAME=a=b=c\n', {'name': 'a=b=c'}, id='equals-in-value'),
    pytest.param('ID=amzn\x00\x01\nVERSION_ID="2"\n', {'id': 'amzn\x00\x01', 'version_id': '2'}, id='control-chars'),
]


@pytest.mark.parametrize('text, expected', EDGE_CASES)
def test_edge_cases(text, expected):
    assert parse_os_release(text) == expected


def test_binary_garbage_bytes():
    garbage = bytes(bytearray(range(256))) * 4 + b'\xff\xfe\x00\x00\x89PNG\r\n\x1a\n\xc3\x28'
    parsed = parse_os_release(garbage)
    assert isinstance(parsed, dict)
    assert 'id' not in parsed
    assert hyperpod_platform(parsed, '/etc/os-release') == ('unsupported', 'no ID in /etc/os-release')


def test_binary_garbage_around_valid_lines():
    data = b'\x7fELF\x02\x01\x01\x00\n' + b'ID="amzn"\n' + b'\xff\xfe\xfa\n' + b'VERSION_ID="2023"\n'
    parsed = parse_os_release(data)
    assert parsed == {'id': 'amzn', 'version_id': '2023'}
    assert hyperpod_platform(parsed)[0] == 'al2023'


def test_invalid_utf8_in_value_is_replaced():
    parsed = parse_os_release(b'ID=amzn\nNAME="Amazon \xff Linux"\n')
    assert parsed == {'id': 'amzn', 'name': 'Amazon \ufffd Linux'}


@pytest.mark.parametrize('raw, expected', [
    ('plain', 'plain'),
    ('', ''),
    ('""', ''),
    ("''", ''),
    ('"a b"', 'a b'),
    (r'"\""', '"'),
    (r'"\$"', '$'),
    (r'"\`"', '`'),
    (r'"\\"', '\\'),
    (r'"\n"', '\\n'),
    (r"'\n'", '\\n'),
    (r'\n', 'n'),
    ('a\\', 'a'),
    ('"open', None),
    ("'open", None),
    ('"a"\'b', None),
    (r'"escaped close\"', None),
])
def test_unquote_value(raw, expected):
    assert unquote_value(raw) == expected


PLATFORMS = [
    pytest.param({'id': 'amzn', 'version_id': '2'},
                 ('al2', "ID 'amzn' VERSION_ID '2': Amazon Linux 2"), id='al2'),
    pytest.param({'id': 'amzn', 'version_id': '2023'},
                 ('al2023', "ID 'amzn' VERSION_ID '2023': Amazon Linux 2023"), id='al2023'),
    pytest.param({'id': 'amzn', 'version_id': '2025'},
                 ('unsupported', "Amazon Linux VERSION_ID '2025' is not supported (supported: 2, 2023)"),
                 id='amzn-future'),
    pytest.param({'id': 'amzn', 'version_id': '2018.03'},
                 ('unsupported', "Amazon Linux VERSION_ID '2018.03' is not supported (supported: 2, 2023)"),
                 id='amzn-1'),
    pytest.param({'id': 'amzn', 'version_id': '2023.6.20241212'},
                 ('unsupported',
                  "Amazon Linux VERSION_ID '2023.6.20241212' is not supported (supported: 2, 2023)"),
                 id='amzn-2023-point-release-is-not-2023'),
    pytest.param({'id': 'amzn'},
                 ('unsupported', 'Amazon Linux without VERSION_ID in os-release is not supported (supported: 2, 2023)'),
                 id='amzn-no-version'),
    pytest.param({'id': 'ubuntu', 'version_id': '2'},
                 ('unsupported', "ID 'ubuntu' is not Amazon Linux ('amzn')"), id='ubuntu-version-2'),
    pytest.param({'id': 'fedora', 'version_id': '2023'},
                 ('unsupported', "ID 'fedora' is not Amazon Linux ('amzn')"), id='fedora-version-2023'),
    pytest.param({'id': 'AMZN', 'version_id': '2'},
                 ('unsupported', "ID 'AMZN' is not Amazon Linux ('amzn')"), id='id-is-case-sensitive'),
    pytest.param({'id': 'centos', 'id_like': ['amzn'], 'version_id': '2'},
                 ('unsupported', "ID 'centos' is not Amazon Linux ('amzn')"), id='id-like-does-not-count'),
    pytest.param({}, ('unsupported', 'no ID in os-release'), id='empty'),
    pytest.param({'id': '', 'version_id': '2'}, ('unsupported', 'no ID in os-release'), id='empty-id'),
    pytest.param({'version_id': '2023', 'name': 'Amazon Linux'},
                 ('unsupported', 'no ID in os-release'), id='no-id'),
]


@pytest.mark.parametrize('os_release, expected', PLATFORMS)
def test_hyperpod_platform(os_release, expected):
    assert hyperpod_platform(os_release) == expected


def test_hyperpod_platform_names_source():
    assert hyperpod_platform({}, '/usr/lib/os-release') == ('unsupported', 'no ID in /usr/lib/os-release')
    assert hyperpod_platform({'id': 'amzn'}, '/etc/os-release') == (
        'unsupported', 'Amazon Linux without VERSION_ID in /etc/os-release is not supported (supported: 2, 2023)')


def test_hyperpod_platform_does_not_modify_input():
    os_release = {'id': 'amzn', 'version_id': '2'}
    hyperpod_platform(os_release)
    assert os_release == {'id': 'amzn', 'version_id': '2'}
