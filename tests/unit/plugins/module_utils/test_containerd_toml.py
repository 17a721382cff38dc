# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import glob
import math
import os
import random
import subprocess

import pytest

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.containerd_toml import (
    TomlError,
    dumps,
    format_key,
    format_value,
    loads,
    parse_document,
)

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'containerd')
NOT_TOML = {
    # A Go template: `enable_cdi = {{.EnableCDI}}` is not a TOML value.
    'al2023-nodeadm-config-v3.template.toml': 18,
    # An unterminated string.
    'syntax-error.toml': 5,
}
ALL_FIXTURES = sorted(os.path.basename(path) for path in glob.glob(os.path.join(FIXTURES, '*.toml')))
TOML_FIXTURES = [name for name in ALL_FIXTURES if name not in NOT_TOML]
CONTAINERD_17 = '/var/tmp/hyperpod-eks-lifecycle/containerd/1.7/usr/bin/containerd'

CRI = 'io.containerd.grpc.v1.cri'
CRI_IMAGES = 'io.containerd.cri.v1.images'
CRI_RUNTIME = 'io.containerd.cri.v1.runtime'


def read(name):
    with open(os.path.join(FIXTURES, name), 'rb') as handle:
        return handle.read().decode('utf-8')


def strict_equal(left, right):
    """== that also compares types (True is not 1, 1 is not 1.0) and lets NaN equal NaN."""
    if isinstance(left, dict):
        return isinstance(right, dict) and set(left) == set(right) and all(strict_equal(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return isinstance(right, list) and len(left) == len(right) and all(strict_equal(a, b) for a, b in zip(left, right))
    if type(left) is not type(right):
        return False
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return left == right


# -- fixtures --------------------------------------------------------------------------------

def test_fixture_list_is_complete():
    assert len(TOML_FIXTURES) >= 12
    assert 'al2-eks-containerd-config.toml' in TOML_FIXTURES
    assert 'dump-2.1-nodeadm-v3.toml' in TOML_FIXTURES


@pytest.mark.parametrize('name', TOML_FIXTURES)
def test_fixture_round_trip(name):
    data = loads(read(name))
    assert isinstance(data, dict) and data
    text = dumps(data)
    again = loads(text)
    assert strict_equal(again, data)
    # The writer is deterministic and reaches a fixed point after one round.
    assert dumps(again) == text


@pytest.mark.parametrize('name', TOML_FIXTURES)
def test_fixture_matches_tomllib(name):
    if tomllib is None:
        pytest.skip('tomllib needs Python 3.11 or later')
    text = read(name)
    assert strict_equal(loads(text), tomllib.loads(text))
    assert strict_equal(tomllib.loads(dumps(loads(text))), loads(text))


@pytest.mark.parametrize('name', sorted(NOT_TOML))
def test_fixture_not_toml(name):
    with pytest.raises(TomlError) as info:
        loads(read(name))
    assert info.value.lineno == NOT_TOML[name]
    assert str(info.value).startswith('line %d, column ' % NOT_TOML[name])
    if tomllib is not None:
        with pytest.raises(tomllib.TOMLDecodeError):
            tomllib.loads(read(name))


def test_dump_17_nodeadm_values():
    data = loads(read('dump-1.7-nodeadm-v2.toml'))
    assert data['version'] == 2
    assert data['root'] == '/var/lib/containerd'
    assert data['state'] == '/run/containerd'
    assert data['imports'] == ['base2.toml']
    assert data['disabled_plugins'] == []
    cri = data['plugins'][CRI]
    assert cri['sandbox_image'] == 'localhost/kubernetes/pause'
    assert cri['registry']['config_path'] == '/etc/containerd/certs.d:/etc/docker/certs.d'
    assert cri['registry']['mirrors'] == {}
    assert cri['containerd']['default_runtime_name'] == 'runc'
    assert cri['containerd']['runtimes']['runc']['runtime_type'] == 'io.containerd.runc.v2'
    assert cri['containerd']['runtimes']['runc']['options'] == {'SystemdCgroup': True}
    assert cri['containerd']['default_runtime']['options'] == {}
    assert cri['cdi_spec_dirs'] == ['/etc/cdi', '/var/run/cdi']
    assert cri['max_concurrent_downloads'] == 3
    assert cri['enable_cdi'] is False
    gc = data['plugins']['io.containerd.gc.v1.scheduler']
    assert gc['pause_threshold'] == 0.02 and isinstance(gc['pause_threshold'], float)
    assert data['plugins']['io.containerd.internal.v1.tracing'] == {}
    assert data['plugins']['io.containerd.transfer.v1.local']['unpack_config'] == [
        {'differ': '', 'platform': 'linux/amd64', 'snapshotter': 'overlayfs'}]
    assert data['timeouts']['io.containerd.timeout.shim.load'] == '5s'
    assert data['proxy_plugins'] == {}


def test_dump_21_nodeadm_values():
    data = loads(read('dump-2.1-nodeadm-v3.toml'))
    assert data['version'] == 3
    assert data['root'] == '/var/lib/containerd'
    assert data['state'] == '/run/containerd'
    assert data['imports'] == []
    images = data['plugins'][CRI_IMAGES]
    assert images['pinned_images']['sandbox'] == 'localhost/kubernetes/pause'
    assert images['registry']['config_path'] == '/etc/containerd/certs.d:/etc/docker/certs.d'
    runtime = data['plugins'][CRI_RUNTIME]
    assert runtime['enable_cdi'] is True
    assert runtime['cdi_spec_dirs'] == ['/etc/cdi', '/var/run/cdi']
    assert runtime['containerd']['default_runtime_name'] == 'runc'
    runc = runtime['containerd']['runtimes']['runc']
    assert runc['runtime_type'] == 'io.containerd.runc.v2'
    assert runc['base_runtime_spec'] == '/etc/containerd/base-runtime-spec.json'
    assert runc['options']['BinaryName'] == '/usr/sbin/runc'
    assert runc['options']['SystemdCgroup'] is True
    assert data['timeouts']['io.containerd.timeout.cri.defercleanup'] == '1m0s'
    assert data['plugins']['io.containerd.tracing.processor.v1.otlp'] == {}


def test_dump_17_al2_values():
    data = loads(read('dump-1.7-al2-eks.toml'))
    assert data['root'] == '/var/lib/containerd'
    cri = data['plugins'][CRI]
    assert cri['sandbox_image'] == 'SANDBOX_IMAGE'
    assert cri['enable_cdi'] is True
    assert cri['registry']['config_path'] == '/etc/containerd/certs.d:/etc/docker/certs.d'
    assert cri['containerd']['runtimes']['runc']['options']['SystemdCgroup'] is True


def test_ami_v3_nvidia_values():
    data = loads(read('al2023-nodeadm-v3-rendered-nvidia.toml'))
    runtime = data['plugins'][CRI_RUNTIME]
    assert runtime['containerd']['default_runtime_name'] == 'nvidia'
    assert runtime['containerd']['runtimes']['nvidia']['options'] == {
        'BinaryName': '/usr/bin/nvidia-container-runtime', 'SystemdCgroup': True}
    # '...' and "..." header segments name the same table.
    assert data['plugins'][CRI_IMAGES]['registry']['config_path'] == '/etc/containerd/certs.d:/etc/docker/certs.d'
    assert data['plugins'][CRI_IMAGES]['pinned_images'] == {'sandbox': 'localhost/kubernetes/pause'}


def test_ami_al2_values():
    data = loads(read('al2-eks-containerd-config.toml'))
    assert data == {
        'version': 2,
        'root': '/var/lib/containerd',
        'state': '/run/containerd',
        'imports': ['/etc/containerd/config.d/*.toml'],
        'grpc': {'address': '/run/containerd/containerd.sock'},
        'plugins': {CRI: {
            'containerd': {
                'default_runtime_name': 'runc',
                'discard_unpacked_layers': True,
                'runtimes': {'runc': {'runtime_type': 'io.containerd.runc.v2', 'options': {'SystemdCgroup': True}}},
            },
            'sandbox_image': 'SANDBOX_IMAGE',
            'enable_cdi': True,
            'registry': {'config_path': '/etc/containerd/certs.d:/etc/docker/certs.d'},
            'cni': {'bin_dir': '/opt/cni/bin', 'conf_dir': '/etc/cni/net.d'},
        }},
    }


def test_containerd_reads_written_file(tmp_path):
    """containerd itself takes the writer's output and sees the same configuration."""
    assert os.access(CONTAINERD_17, os.X_OK), '%s is missing: run `make units`, which unpacks it' % CONTAINERD_17
    source = os.path.join(FIXTURES, 'al2-eks-containerd-config.toml')
    written = tmp_path / 'config.toml'
    written.write_text(dumps(loads(read('al2-eks-containerd-config.toml'))))

    def dump(path):
        out = subprocess.check_output([CONTAINERD_17, '--config', str(path), 'config', 'dump'])
        data = loads(out.decode('utf-8'))
        data.pop('imports')  # containerd 1.7 lists the main file itself in imports
        return data

    assert dump(written) == dump(source)


# -- reader ----------------------------------------------------------------------------------

def test_empty_and_comments():
    assert loads('') == {}
    assert loads('# only a comment\n\n   # indented comment\n') == {}
    assert loads('a = 1 # trailing comment\n') == {'a': 1}
    assert loads('a = 1') == {'a': 1}
    assert loads('a = 1\r\nb = 2\r\n') == {'a': 1, 'b': 2}


def test_keys():
    assert loads('bare_key-1 = 1\n"quoted key" = 2\n\'literal key\' = 3\n1234 = 4\n"" = 5\n') == {
        'bare_key-1': 1, 'quoted key': 2, 'literal key': 3, '1234': 4, '': 5}
    assert loads('a.b.c = 1\na . "b" . d = 2\n3.14 = "pi"\n') == {'a': {'b': {'c': 1, 'd': 2}}, '3': {'14': 'pi'}}
    assert loads('"a.b" = 1\n') == {'a.b': 1}
    assert loads('"\\u00e9t\\u00e9" = 1\n') == {u'\u00e9t\u00e9': 1}


def test_table_headers():
    text = '\n'.join([
        '[plugins."io.containerd.grpc.v1.cri".containerd]',
        'a = 1',
        "[plugins.'io.containerd.cri.v1.images'.pinned_images]",
        'sandbox = "pause"',
        '[ plugins . "x.y" . z ]',
        '  [plugins."io.containerd.grpc.v1.cri"]  # defined after its sub-table',
        '  b = 2',
        '[empty]',
    ])
    assert loads(text) == {
        'plugins': {
            CRI: {'containerd': {'a': 1}, 'b': 2},
            CRI_IMAGES: {'pinned_images': {'sandbox': 'pause'}},
            'x.y': {'z': {}},
        },
        'empty': {},
    }


def test_arrays_of_tables():
    text = '\n'.join([
        '[[unpack]]',
        'platform = "linux/amd64"',
        '[unpack.extra]',
        'x = 1',
        '[[unpack]]',
        'platform = "linux/arm64"',
        '[[unpack.nested]]',
        'y = 2',
        '[[a.b]]',
    ])
    assert loads(text) == {
        'unpack': [
            {'platform': 'linux/amd64', 'extra': {'x': 1}},
            {'platform': 'linux/arm64', 'nested': [{'y': 2}]},
        ],
        'a': {'b': [{}]},
    }


def test_basic_strings():
    data = loads(r'''
a = "tab\tnewline\nquote\"backslash\\"
b = "\b\f\r"
c = "\u00e9\U0001F600"
d = ""
e = "# not a comment"
f = "caf\u00E9"
''')
    assert data == {
        'a': 'tab\tnewline\nquote"backslash\\',
        'b': '\b\f\r',
        'c': u'\u00e9\U0001F600',
        'd': '',
        'e': '# not a comment',
        'f': u'caf\u00e9',
    }
    assert loads(u'a = "h\u00e9llo \U0001F600"\n') == {'a': u'h\u00e9llo \U0001F600'}


def test_literal_strings():
    data = loads(r'''
a = 'C:\Users\nodejs'
b = '<\i\c*\s*>'
c = 'say "hi"'
d = ''
''')
    assert data == {'a': 'C:\\Users\\nodejs', 'b': '<\\i\\c*\\s*>', 'c': 'say "hi"', 'd': ''}


def test_multiline_strings():
    data = loads('a = """\nRoses are red\nViolets are blue"""\n'
                 'b = """\\\n  The quick \\\n\n  brown fox."""\n'
                 'c = """Here are two quotation marks: "". Simple enough."""\n'
                 'd = """Here are three quotation marks: ""\\"."""\n'
                 'e = """"This," she said, "is just a pointless statement.""""\n'
                 "f = '''\nThe first newline is\ntrimmed in raw strings.\n   All other whitespace\n   is preserved.\n'''\n"
                 "g = ''''That,' she said, 'is still pointless.''''\n"
                 'h = """a\r\nb"""\n'
                 'i = """trailing backslash with spaces \\   \n   x"""\n')
    assert data == {
        'a': 'Roses are red\nViolets are blue',
        'b': 'The quick brown fox.',
        'c': 'Here are two quotation marks: "". Simple enough.',
        'd': 'Here are three quotation marks: """.',
        'e': '"This," she said, "is just a pointless statement."',
        'f': 'The first newline is\ntrimmed in raw strings.\n   All other whitespace\n   is preserved.\n',
        'g': "'That,' she said, 'is still pointless.'",
        'h': 'a\nb',
        'i': 'trailing backslash with spaces x',
    }


def test_integers():
    data = loads('a = 99\nb = +42\nc = -17\nd = 0\ne = 1_000_000\nf = 0xDEAD_beef\ng = 0o755\nh = 0b1101\ni = -0\n'
                 'j = 9223372036854775807\n')
    assert data == {'a': 99, 'b': 42, 'c': -17, 'd': 0, 'e': 1000000, 'f': 0xdeadbeef, 'g': 0o755, 'h': 13, 'i': 0,
                    'j': 9223372036854775807}
    assert all(type(v) is int for v in data.values())


def test_floats():
    data = loads('a = 1.0\nb = 3.1415\nc = -0.01\nd = 5e+22\ne = 1e06\nf = -2E-2\ng = 6.626e-34\nh = 224_617.445_991\n'
                 'i = inf\nj = +inf\nk = -inf\nl = nan\nm = -nan\nn = 0.02\n')
    assert data['a'] == 1.0 and data['b'] == 3.1415 and data['c'] == -0.01
    assert data['d'] == 5e22 and data['e'] == 1e6 and data['f'] == -0.02 and data['g'] == 6.626e-34
    assert data['h'] == 224617.445991 and data['n'] == 0.02
    assert data['i'] == float('inf') and data['j'] == float('inf') and data['k'] == float('-inf')
    assert math.isnan(data['l']) and math.isnan(data['m'])
    assert all(type(v) is float for v in data.values())


def test_booleans():
    assert loads('a = true\nb = false\n') == {'a': True, 'b': False}
    assert loads('a = true\n')['a'] is True


def test_datetimes():
    data = loads('odt1 = 1979-05-27T07:32:00Z\n'
                 'odt2 = 1979-05-27T00:32:00-07:00\n'
                 'odt3 = 1979-05-27T00:32:00.999999-07:00\n'
                 'odt4 = 1979-05-27 07:32:00+05:30\n'
                 'ldt1 = 1979-05-27T07:32:00\n'
                 'ldt2 = 1979-05-27T00:32:00.123456789\n'
                 'ld = 1979-05-27\n'
                 'lt1 = 07:32:00\n'
                 'lt2 = 00:32:00.5\n')
    utc = datetime.timezone.utc
    assert data['odt1'] == datetime.datetime(1979, 5, 27, 7, 32, tzinfo=utc)
    assert data['odt1'].tzinfo is not None
    assert data['odt2'] == datetime.datetime(1979, 5, 27, 7, 32, tzinfo=utc)
    assert data['odt3'] == datetime.datetime(1979, 5, 27, 7, 32, 0, 999999, tzinfo=utc)
    assert data['odt4'].utcoffset() == datetime.timedelta(hours=5, minutes=30)
    assert data['ldt1'] == datetime.datetime(1979, 5, 27, 7, 32) and data['ldt1'].tzinfo is None
    assert data['ldt2'] == datetime.datetime(1979, 5, 27, 0, 32, 0, 123456)
    assert data['ld'] == datetime.date(1979, 5, 27) and not isinstance(data['ld'], datetime.datetime)
    assert data['lt1'] == datetime.time(7, 32)
    assert data['lt2'] == datetime.time(0, 32, 0, 500000)
    assert loads(dumps(data)) == data
    if tomllib is not None:
        text = dumps(data)
        assert tomllib.loads(text) == data


def test_arrays():
    text = '\n'.join([
        'a = [ 1, 2, 3 ]',
        'b = [ "red", "yellow", "green", ]',
        'c = [ [ 1, 2 ], ["a", "b", "c"] ]',
        'd = [',
        '  1, # one',
        '  # a comment line',
        '',
        '  2,',
        ']',
        'e = []',
        'f = [ 0.1, 0.2, 1, "mixed", { x = 1 }, [] ]',
        'g = [',
        ']',
    ])
    assert loads(text) == {
        'a': [1, 2, 3],
        'b': ['red', 'yellow', 'green'],
        'c': [[1, 2], ['a', 'b', 'c']],
        'd': [1, 2],
        'e': [],
        'f': [0.1, 0.2, 1, 'mixed', {'x': 1}, []],
        'g': [],
    }


def test_inline_tables():
    data = loads('name = { first = "Tom", last = "Preston-Werner" }\n'
                 'point = {x=1,y=2}\n'
                 'animal = { type.name = "pug", type.size = "small" }\n'
                 'empty = {}\n'
                 'nested = { a = { b = [ { c = 1 } ] } }\n')
    assert data == {
        'name': {'first': 'Tom', 'last': 'Preston-Werner'},
        'point': {'x': 1, 'y': 2},
        'animal': {'type': {'name': 'pug', 'size': 'small'}},
        'empty': {},
        'nested': {'a': {'b': [{'c': 1}]}},
    }


def test_dotted_keys_and_tables():
    text = '\n'.join([
        'apple.type = "fruit"',
        'orange.type = "fruit"',
        'apple.skin = "thin"',
        '[fruit]',
        'apple.color = "red"',
        'apple.taste.sweet = true',
        '[fruit.apple.texture]',
        'smooth = true',
    ])
    assert loads(text) == {
        'apple': {'type': 'fruit', 'skin': 'thin'},
        'orange': {'type': 'fruit'},
        'fruit': {'apple': {'color': 'red', 'taste': {'sweet': True}, 'texture': {'smooth': True}}},
    }


def test_parse_document_positions():
    text = 'version = 2\n[a."b.c"]\n  key = [\n  1,\n]  # c\n[[x]]\n'
    data, statements = parse_document(text)
    assert data == {'version': 2, 'a': {'b.c': {'key': [1]}}, 'x': [{}]}
    kinds = [(st.kind, st.key, st.table) for st in statements]
    assert kinds == [
        ('keyval', ('version',), ()),
        ('table', ('a', 'b.c'), ('a', 'b.c')),
        ('keyval', ('key',), ('a', 'b.c')),
        ('array_table', ('x',), ('x',)),
    ]
    keyval = statements[2]
    assert text[keyval.value_start:keyval.value_end] == '[\n  1,\n]'
    assert text[keyval.start:keyval.end] == 'key = [\n  1,\n]'
    assert keyval.section == 1
    assert text[statements[1].start:statements[1].end] == '[a."b.c"]'


def test_byte_order_mark():
    """A UTF-8 byte order mark may start a document (only there); positions still index the text."""
    assert loads(u'\ufeffa = 1\n') == {'a': 1}
    assert loads(u'\ufeff') == {}
    assert loads(u'\ufeff# comment\n[t]\n') == {'t': {}}
    text = u'\ufeffversion = 2\n[a]\n'
    data, statements = parse_document(text)
    assert data == {'version': 2, 'a': {}}
    assert [text[st.start:st.end] for st in statements] == ['version = 2', '[a]']
    assert loads(u'a = "\ufeff"\n') == {'a': u'\ufeff'}


def test_offsets():
    data = loads('a = 1979-05-27T00:32:00+23:59\nb = 1979-05-27T00:32:00-23:59\nc = 1979-05-27T00:32:00-00:00\n')
    assert data['a'].utcoffset() == datetime.timedelta(hours=23, minutes=59)
    assert data['b'].utcoffset() == -datetime.timedelta(hours=23, minutes=59)
    assert data['c'].utcoffset() == datetime.timedelta(0)


# Refused like ERRORS below, but not compared with tomllib, which reads some of these (see each).
MORE_ERRORS = [
    (u'a = 1\n\ufeffb = 2\n', 2, 'expected a key'),  # a byte order mark anywhere but at the start
    (u'\ufeff\ufeffa = 1\n', 1, 'expected a key'),
    ('a = 1985-06-18T17:04:07+12:60\n', 1, 'offset +12:60 out of range'),
    ('a = 1985-06-18T17:04:07-23:60\n', 1, 'offset -23:60 out of range'),
    ('a = 1985-06-18T17:04:07+24:00\n', 1, 'offset +24:00 out of range'),
    # Other scripts' digits are not TOML digits (int() and \d take them).
    (u'a = \u0661\u0669\u0667\u0669-05-27\n', 1, 'invalid value'),
    (u'a = 1979-05-2\u0667\n', 1, 'end of line'),
    (u'a = \u0660\u0667:32:00\n', 1, 'invalid value'),
    (u'a = 07:32:00.\u0665\n', 1, 'end of line'),
    # Lone surrogates, what surrogateescape decoding makes of bytes that are not UTF-8 (tomllib reads them).
    (u'# \udcc3\n', 1, 'lone surrogate'),
    (u'a = 1\nb = "x\udcc3"\n', 2, 'U+DCC3 (a lone surrogate)'),
    (u"a = '''\n\ud800'''\n", 2, 'lone surrogate'),
    # Longer than Python's limit for int() of a decimal string (tomllib lets int()'s ValueError through).
    ('a = ' + '1' * 5000 + '\n', 1, 'too long (5000 digits)'),
]


@pytest.mark.parametrize('text, lineno, message', MORE_ERRORS)
def test_more_errors(text, lineno, message):
    with pytest.raises(TomlError) as info:
        loads(text)
    assert info.value.lineno == lineno, str(info.value)
    assert message in info.value.msg, info.value.msg


def test_surrogate_error_column():
    with pytest.raises(TomlError) as info:
        loads(u'a = 1\nkey = "ab\udcff"\n')
    assert (info.value.lineno, info.value.colno) == (2, 10)


# -- errors ----------------------------------------------------------------------------------

ERRORS = [
    ('a = 1\na = 2\n', 2, 'duplicate key'),
    ('a = 1\n"a" = 2\n', 2, 'duplicate key'),
    ('[a]\nx = 1\n[b]\n[a]\n', 4, 'defined more than once'),
    ('a.b = 1\n[a.b]\n', 2, 'defined more than once'),
    ('[a.b]\n[a]\nb.c = 1\n', 3, 'dotted keys'),
    ('a = {}\n[a]\n', 2, 'defined more than once'),
    ('a = { b = 1 }\n[a.c]\n', 2, 'inline table'),
    ('a = { b = 1 }\na.c = 2\n', 2, 'inline table'),
    ('a = [1]\n[[a]]\n', 2, 'array of tables'),
    ('[[a]]\n[a]\n', 2, 'defined more than once'),
    ('a = 1\n[a.b]\n', 2, 'not a table'),
    ('a = { b = 1, b = 2 }\n', 1, 'duplicate key'),
    ('\n\nkey = \n', 3, 'expected a value'),
    ('key\n', 1, "expected '='"),
    ('= 1\n', 1, 'expected a key'),
    ('a = 1 b = 2\n', 1, 'end of line'),
    ('a = "unterminated\nb = 1\n', 1, 'unterminated string'),
    ('a = """never closed\n\n', 1, 'unterminated multi-line string'),
    ("a = 'unterminated\n", 1, 'unterminated string'),
    ('a = "bad \\x escape"\n', 1, 'invalid escape'),
    ('a = "\\uD800"\n', 1, 'Unicode scalar value'),
    ('a = "\\u12"\n', 1, 'hex digits'),
    ('a = "ctrl \x01"\n', 1, 'control character'),
    ('# ctrl \x7f\n', 1, 'control character'),
    ('a = [1, 2\n', 1, 'unterminated array'),
    ('a = [1 2]\n', 1, "expected ','"),
    ('a = [,]\n', 1, 'invalid value'),
    ('a = { b = 1,\n c = 2 }\n', 1, 'one line'),
    ('a = { b = 1, }\n', 1, 'expected a key'),
    ('a = 01\n', 1, 'end of line'),
    ('a = 1__0\n', 1, 'end of line'),
    ('a = 1.\n', 1, 'end of line'),
    ('a = .5\n', 1, 'invalid value'),
    ('a = 0x\n', 1, 'end of line'),
    ('a = +0x10\n', 1, 'end of line'),
    ('a = True\n', 1, 'invalid value'),
    ('a = 1979-13-27\n', 1, 'invalid date-time'),
    ('a = 25:00:00\n', 1, 'invalid time'),
    ('[a\n', 1, "expected ']'"),
    ('[[a]\n', 1, "expected ']]'"),
    ('[]\n', 1, 'expected a key'),
    ('[a] b = 1\n', 1, 'end of line'),
    ('a = 1\rb = 2\n', 1, 'end of line'),
    ('\r', 1, 'carriage return'),
    ('"""a""" = 1\n', 1, 'multi-line strings cannot be used as keys'),
    ('a = bare\n', 1, 'invalid value'),
]


@pytest.mark.parametrize('text, lineno, message', ERRORS)
def test_errors(text, lineno, message):
    with pytest.raises(TomlError) as info:
        loads(text)
    assert isinstance(info.value, ValueError)
    assert info.value.lineno == lineno, str(info.value)
    assert message in info.value.msg
    assert str(info.value).startswith('line %d, column %d: ' % (lineno, info.value.colno))
    if tomllib is not None:
        with pytest.raises(tomllib.TOMLDecodeError):
            tomllib.loads(text)


def test_deep_nesting_is_an_error():
    with pytest.raises(TomlError) as info:
        loads('a = ' + '[' * 100000 + ']' * 100000 + '\n')
    assert 'nested too deeply' in info.value.msg


def test_error_column():
    with pytest.raises(TomlError) as info:
        loads('a = 1\n\n[table]\nkey = "ok"\nother = tru\n')
    assert (info.value.lineno, info.value.colno) == (5, 9)


def test_loads_requires_text():
    with pytest.raises(TypeError):
        loads(b'a = 1')


# -- writer ----------------------------------------------------------------------------------

def test_dumps_layout():
    data = {
        'version': 2,
        'root': '/var/lib/containerd',
        'plugins': {
            CRI: {
                'containerd': {
                    'runtimes': {
                        'nvidia': {
                            'runtime_type': 'io.containerd.runc.v2',
                            'options': {'BinaryName': '/usr/bin/nvidia-container-runtime', 'SystemdCgroup': True},
                        },
                    },
                    'default_runtime_name': 'nvidia',
                },
                'registry': {'mirrors': {}},
            },
        },
        'imports': ['/etc/containerd/config.d/*.toml'],
        'timeouts': {'io.containerd.timeout.shim.load': '5s'},
        'proxy_plugins': {},
        'unpack': [{'platform': 'linux/amd64'}, {}],
    }
    assert dumps(data) == '\n'.join([
        'version = 2',
        'root = "/var/lib/containerd"',
        'imports = ["/etc/containerd/config.d/*.toml"]',
        '',
        '[plugins."io.containerd.grpc.v1.cri".containerd]',
        'default_runtime_name = "nvidia"',
        '',
        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]',
        'runtime_type = "io.containerd.runc.v2"',
        '',
        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]',
        'BinaryName = "/usr/bin/nvidia-container-runtime"',
        'SystemdCgroup = true',
        '',
        '[plugins."io.containerd.grpc.v1.cri".registry.mirrors]',
        '',
        '[timeouts]',
        '"io.containerd.timeout.shim.load" = "5s"',
        '',
        '[proxy_plugins]',
        '',
        '[[unpack]]',
        'platform = "linux/amd64"',
        '',
        '[[unpack]]',
        '',
    ])


def test_dumps_only_tables_and_empty():
    assert dumps({}) == ''
    assert dumps({'a': {}}) == '[a]\n'
    assert dumps({'a': {'b': {'c': 1}}}) == '[a.b]\nc = 1\n'


def test_format_key():
    assert format_key('bare_Key-1') == 'bare_Key-1'
    assert format_key('io.containerd.grpc.v1.cri') == '"io.containerd.grpc.v1.cri"'
    assert format_key('') == '""'
    assert format_key('with space') == '"with space"'
    assert format_key(u'caf\u00e9') == u'"caf\u00e9"'
    assert format_key('a\nb') == '"a\\nb"'
    assert format_key('a"b') == '"a\\"b"'


def test_format_value():
    assert format_value('a "quoted" \\ back\tslash\n\x01\x7f') == '"a \\"quoted\\" \\\\ back\\tslash\\n\\u0001\\u007f"'
    assert format_value(True) == 'true' and format_value(False) == 'false'
    assert format_value(0) == '0' and format_value(-12) == '-12'
    assert format_value(0.02) == '0.02' and format_value(1e22) == '1e+22'
    assert format_value(float('inf')) == 'inf' and format_value(float('-inf')) == '-inf'
    assert format_value(float('nan')) == 'nan'
    assert format_value(['a', 1, [True]]) == '["a", 1, [true]]'
    assert format_value(('a',)) == '["a"]'
    assert format_value({'a': 1, 'b c': {}}) == '{ a = 1, "b c" = {} }'
    assert format_value([]) == '[]'


@pytest.mark.parametrize('bad', [
    {'a': None},
    {'a': {'b': [1, None]}},
    {1: 'int key'},
    {'a': {2: 'x'}},
    {'a': object()},
    {'a': b'bytes'},
    {'a': {1, 2}},
])
def test_dumps_rejects(bad):
    with pytest.raises(TypeError):
        dumps(bad)


def test_dumps_rejects_non_mapping():
    with pytest.raises(TypeError):
        dumps(['a'])


UTC = datetime.timezone.utc


def _tz(**kwargs):
    return datetime.timezone(datetime.timedelta(**kwargs))


# (value, as written, the offset read back: None for local values)
DATETIMES = [
    (datetime.date(1979, 5, 27), '1979-05-27', None),
    (datetime.date(1, 1, 1), '0001-01-01', None),
    (datetime.time(7, 32), '07:32:00', None),
    (datetime.time(0, 32, 0, 999), '00:32:00.000999', None),
    (datetime.datetime(1979, 5, 27, 7, 32), '1979-05-27T07:32:00', None),
    (datetime.datetime(9999, 12, 31, 23, 59, 59, 999999), '9999-12-31T23:59:59.999999', None),
    (datetime.datetime(1979, 5, 27, 7, 32, tzinfo=UTC), '1979-05-27T07:32:00+00:00', datetime.timedelta(0)),
    (datetime.datetime(1979, 5, 27, 0, 32, 0, 5, tzinfo=_tz(hours=-7)), '1979-05-27T00:32:00.000005-07:00',
     datetime.timedelta(hours=-7)),
    (datetime.datetime(1979, 5, 27, 7, 32, tzinfo=_tz(hours=5, minutes=30)), '1979-05-27T07:32:00+05:30',
     datetime.timedelta(hours=5, minutes=30)),
    (datetime.datetime(1979, 5, 27, 7, 32, tzinfo=_tz(hours=-23, minutes=-59)), '1979-05-27T07:32:00-23:59',
     datetime.timedelta(hours=-23, minutes=-59)),
    # Offsets with seconds are not TOML: the same instant, in UTC.
    (datetime.datetime(1979, 5, 27, 7, 32, tzinfo=_tz(seconds=30)), '1979-05-27T07:31:30+00:00', datetime.timedelta(0)),
    (datetime.datetime(1911, 3, 11, tzinfo=_tz(minutes=9, seconds=21)), '1911-03-10T23:50:39+00:00', datetime.timedelta(0)),
    (datetime.datetime(1979, 5, 27, 7, 32, tzinfo=_tz(hours=-5, seconds=-1, microseconds=-500)),
     '1979-05-27T12:32:01.000500+00:00', datetime.timedelta(0)),
]


@pytest.mark.parametrize('value, text, offset', DATETIMES)
def test_dumps_datetimes(value, text, offset):
    assert format_value(value) == text
    written = dumps({'v': value, 'a': [value], 't': {'v': value}})
    assert written == 'v = %s\na = [%s]\n\n[t]\nv = %s\n' % (text, text, text)
    again = loads(written)
    assert again == {'v': value, 'a': [value], 't': {'v': value}}
    assert type(again['v']) is type(value)
    if isinstance(value, datetime.datetime):
        assert again['v'].utcoffset() == offset
    if tomllib is not None:
        assert tomllib.loads(written) == again


def test_dumps_refuses_what_toml_cannot_hold():
    # TOML has no time of day with an offset.
    for value in (datetime.time(7, 32, tzinfo=UTC), datetime.time(7, 32, tzinfo=_tz(hours=-7))):
        with pytest.raises(TypeError) as info:
            dumps({'t': {'when': value}})
        assert 'no time of day with an offset' in str(info.value) and '(at t.when)' in str(info.value)
    # An offset with seconds is written in UTC, unless the instant is out of range there.
    with pytest.raises(TypeError) as info:
        dumps({'a': datetime.datetime(1, 1, 1, tzinfo=_tz(seconds=30))})
    assert 'whole minutes' in str(info.value)
    # Lone surrogates (text that came from bytes that are not UTF-8), in values and in keys.
    for bad in ({'a': u'x\udcc3'}, {u'\udcc3': 1}, {'a': {u'k\ud800': {}}}, {'a': [u'\udfff']}):
        with pytest.raises(TypeError) as info:
            dumps(bad)
        assert 'lone surrogate' in str(info.value)


CRAFTED = [
    {},
    {'a': {}},
    {'a': {'b': {}, 'c': {'d': {}}}},
    {'': {'': ''}},
    {'plugins': {'io.containerd.grpc.v1.cri': {'containerd': {'runtimes': {'runc': {'options': {}}}}}}},
    {'weird keys': {'a.b': {'"': {"'": {'\\': {'\n': 1}}}}}, u'\u00e9\U0001F600': u'\u00e9\U0001F600'},
    {'s': '"""\'\'\'\\u0000\x00\x1f\x7f\t\r\n# [x]', 'ml': 'line1\nline2\n'},
    {'ints': [0, -1, 2 ** 63 - 1, -2 ** 63], 'floats': [0.0, -0.5, 1e-300, 1.7976931348623157e308, float('inf')]},
    {'bools': [True, False], 'mixed': [1, 'a', 1.5, True, [], [[]], {}, {'x': [1]}]},
    {'aot': [{'a': 1}, {}, {'b': {'c': [{'d': 2}]}}]},
    {'aot_in_table': {'x': [{'y': {'z': 1}}, {'y': {'z': 2}}]}, 'after': {'k': 'v'}},
    {'list_of_dicts_in_list': [[{'a': 1}], [{'b': {}}]]},
    {'values_and_tables': {'v': 1, 't': {'v': 2, 't': {'v': 3}}, 'w': [1], 'e': {}}},
    {'table_after_aot': [{'a': 1}], 'z': {'only': {'sub': {}}}},
]


@pytest.mark.parametrize('data', CRAFTED)
def test_crafted_round_trip(data):
    text = dumps(data)
    assert strict_equal(loads(text), data), text
    if tomllib is not None:
        assert strict_equal(tomllib.loads(text), data), text


def _random_structure(rng, depth=0):
    alphabet = u'abcXYZ019_- .\'"\\\n\t#[]={}\u00e9\U0001F600'

    def text():
        return u''.join(rng.choice(alphabet) for dummy in range(rng.randint(0, 6)))

    def scalar():
        kind = rng.randint(0, 4)
        if kind == 0:
            return text()
        if kind == 1:
            return rng.randint(-2 ** 63, 2 ** 63 - 1)
        if kind == 2:
            return rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-30, 30)
        if kind == 3:
            return rng.random() < 0.5
        return rng.choice(['', u'\u00e9', '0', 'true'])

    def value(level):
        roll = rng.random()
        if level > 3 or roll < 0.5:
            return scalar()
        if roll < 0.65:
            return [value(level + 1) for dummy in range(rng.randint(0, 3))]
        if roll < 0.8:
            return [table(level + 1) for dummy in range(rng.randint(1, 3))]
        return table(level + 1)

    def table(level):
        return dict((text(), value(level)) for dummy in range(rng.randint(0, 4)))

    return table(depth)


def test_random_round_trip():
    rng = random.Random(20250101)
    for dummy in range(300):
        data = _random_structure(rng)
        text = dumps(data)
        assert strict_equal(loads(text), data), text
        if tomllib is not None:
            assert strict_equal(tomllib.loads(text), data), text
