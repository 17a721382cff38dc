#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: containerd_config_set
short_description: Set a few keys in a containerd TOML configuration file, in place
version_added: 1.0.0
description:
  - Sets keys of an existing containerd configuration file (TOML) without rewriting the file.
    Every line the edit does not need to touch stays byte for byte as it was, including comments,
    commented-out settings such as C(#root = "/x"), blank lines, indentation and quoting style.
  - For each entry of O(settings), finds the table the key belongs to (the lines from its C([header])
    to the next header; top-level keys are the lines before the first header) and, in it, an assignment
    of exactly that key (bare or quoted). Keys of the same name in other tables are never touched.
  - An existing assignment gets only its value replaced (a value spanning several lines, such as a
    multi-line array, is replaced as a whole); a comment after the value is kept. An assignment that is
    already equal to the requested value (same type and value) is left as written.
  - A missing key is inserted after the last assignment of its table (or right after the table header;
    top-level keys go after the file's leading comments, before the first table header).
  - A table without a header of its own is appended at the end of the file as a new C([header]) block
    holding all settings of that table.
  - 'Before writing, the old and new texts are both parsed; the module fails with
    C(internal error: edit would change other keys) unless the only difference is exactly the requested
    keys set to the requested values.'
options:
  path:
    description:
      - The containerd configuration file to edit. It must exist and be valid TOML.
    type: path
    required: true
  settings:
    description:
      - The keys to set, applied in order.
    type: list
    elements: dict
    required: true
    suboptions:
      table:
        description:
          - The key segments of the table holding O(settings[].key), for example
            C(['plugins', 'io.containerd.grpc.v1.cri', 'containerd']).
          - An empty list means the top level of the file.
        type: list
        elements: str
        default: []
      key:
        description:
          - The name of the key in that table (one segment; dots are part of the name).
        type: str
        required: true
      value:
        description:
          - The value to set. A string is written as a double-quoted TOML string, a boolean as
            C(true)/C(false); integers and floats as numbers; a list as an inline array, for example
            C(["a", "b"]).
          - Mind YAML typing, C("1") is a string and C(1) an integer; containerd rejects a value of the
            wrong type.
        type: raw
        required: true
  validate_binary:
    description:
      - Path of a containerd binary. When set and the file would change, the new content is first
        written to a temporary file in the same directory (so relative C(imports) resolve as they will)
        and C(validate_binary --config TMPFILE config dump) is run; the module fails, leaving the file
        untouched, if that command fails.
      - This also happens in check mode (the temporary file is removed again); if the directory is not
        writable in check mode, validation is skipped with a warning.
    type: path
  backup:
    description:
      - Create a backup file including the timestamp information so you can get the original file back
        if you somehow clobbered it incorrectly.
    type: bool
    default: false
notes:
  - The file is replaced atomically (a temporary file in the same directory is moved over it); its owner,
    group and mode are kept.
  - Keys that are defined implicitly, through a dotted key in a parent table (C(containerd.snapshotter = "x")
    under C([plugins."io.containerd.grpc.v1.cri"])) or inside an inline table, cannot be edited safely; the
    module then fails naming the key and table, changing nothing. Keys inside arrays of tables (C([[...]]))
    are not supported either.
  - Comments inside a multi-line value that gets replaced are lost with the old value.
author:
  - hyperpod.eks_lifecycle contributors (@hyperpod)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Computes the new content (and validates it with O(validate_binary)) without writing the file.
  diff_mode:
    support: full
    details: Returns the whole file before and after the edit.
  platform:
    platforms: posix
    details: Any POSIX node; the TOML handling needs only the Python standard library (3.7 or later).
seealso:
  - module: hyperpod.eks_lifecycle.containerd_config_info
'''

EXAMPLES = r'''
- name: Put the containerd data root on the secondary volume
  hyperpod.eks_lifecycle.containerd_config_set:
    path: /etc/containerd/config.toml
    settings:
      - key: root
        value: /opt/sagemaker/containerd/data-root
    validate_binary: /usr/bin/containerd
    backup: true

- name: Add the nvidia runtime (containerd 1.7, config version 2)
  hyperpod.eks_lifecycle.containerd_config_set:
    path: /etc/containerd/config.toml
    settings:
      - table: [plugins, io.containerd.grpc.v1.cri, containerd, runtimes, nvidia]
        key: runtime_type
        value: io.containerd.runc.v2
      - table: [plugins, io.containerd.grpc.v1.cri, containerd, runtimes, nvidia, options]
        key: BinaryName
        value: /usr/bin/nvidia-container-runtime
      - table: [plugins, io.containerd.grpc.v1.cri, containerd, runtimes, nvidia, options]
        key: SystemdCgroup
        value: true
      - table: [plugins, io.containerd.grpc.v1.cri, containerd]
        key: default_runtime_name
        value: nvidia
'''

RETURN = r'''
previous:
  description:
    - The values the keys had before, one per entry of O(settings) and in the same order;
      V(null) where the key was not set.
  returned: always
  type: list
  elements: raw
  sample: ["/var/lib/containerd", null]
backup_file:
  description: Name of the backup file created.
  returned: changed and O(backup=true) and not in check mode
  type: str
  sample: /etc/containerd/config.toml.2345.2025-01-01@00:00:00~
diff:
  description: The whole file before and after the edit.
  returned: in diff mode
  type: dict
  contains:
    before:
      description: The content before.
      type: str
    after:
      description: The content after.
      type: str
    before_header:
      description: The path of the file.
      type: str
    after_header:
      description: The path of the file.
      type: str
'''

import copy
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils import atomic
from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.containerd_cli import Rejected, checker
from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.containerd_settings import same_value, value_at
from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.containerd_toml import (
    TomlError,
    format_key,
    format_value,
    loads,
    parse_document,
)


class EditError(Exception):
    """The requested edit cannot be done safely."""


def show_table(table):
    """The table as its header reads, '[a."b.c"]' (or 'the top level')."""
    if not table:
        return 'the top level'
    return '[%s]' % '.'.join(format_key(seg) for seg in table)


def show_key(table, key):
    return '%s in %s' % (format_key(key), show_table(table))


def normalize_value(value):
    """Return value as plain str/bool/int/float or list of those; raise EditError otherwise."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            if isinstance(item, (list, tuple, dict)) or item is None:
                raise EditError('list values may only hold strings, booleans, integers and floats')
            items.append(normalize_value(item))
        return items
    raise EditError('value must be a string, boolean, integer, float or a list of those, not %s'
                    % ('null' if value is None else value.__class__.__name__))


def newline_of(text):
    return '\r\n' if '\r\n' in text else '\n'


def line_end(text, pos):
    """Offset just after the newline ending the line that contains pos (len(text) at EOF)."""
    idx = text.find('\n', pos)
    return len(text) if idx < 0 else idx + 1


def indentation(text, pos):
    start = text.rfind('\n', 0, pos) + 1
    return text[start:pos]


def insert_line(text, pos, line):
    """Insert line (without newline) as a line of its own at offset pos, a line start or EOF."""
    nl = newline_of(text)
    if pos >= len(text) and text and not text.endswith('\n'):
        return text + nl + line + nl
    return text[:pos] + line + nl + text[pos:]


def _is_prefix(short, long_):
    return len(short) <= len(long_) and tuple(long_[:len(short)]) == tuple(short)


def apply_one(text, table, key, value):
    """Return text with table.key set to value (raises EditError, TomlError)."""
    table = tuple(table)
    full = table + (key,)
    data, statements = parse_document(text)
    rendered = format_value(value)
    where = show_key(table, key)

    for st in statements:
        if st.kind == 'array_table' and _is_prefix(st.key, full):
            raise EditError('cannot set %s: %s is an array of tables ([[...]]), which this module does not edit'
                            % (where, show_table(st.key)))

    for st in statements:
        if st.kind == 'table' and _is_prefix(full, st.key):
            raise EditError('cannot set %s: it is a table (%s)' % (where, show_table(st.key)))

    headers = [idx for idx, st in enumerate(statements) if st.kind == 'table' and st.key == table]
    section = headers[0] if headers else None
    if not table:
        section = -1

    direct = None
    last_in_section = None
    for st in statements:
        if st.kind != 'keyval':
            continue
        absolute = st.table + st.key
        if section is not None and st.section == section:
            last_in_section = st
            if st.key == (key,):
                direct = st
                continue
        if absolute == full:
            raise EditError('cannot set %s: it is defined implicitly through the dotted key %s in %s; '
                            'edit that layout by hand' % (where, '.'.join(format_key(k) for k in st.key),
                                                          show_table(st.table)))
        if _is_prefix(absolute, full):
            if isinstance(value_at(data, absolute), dict):
                raise EditError('cannot set %s: it is defined implicitly inside the inline table %s = {...} in %s; '
                                'edit that layout by hand' % (where, '.'.join(format_key(k) for k in st.key),
                                                              show_table(st.table)))
            raise EditError('cannot set %s: %s is assigned a value that is not a table in %s'
                            % (where, '.'.join(format_key(k) for k in st.key), show_table(st.table)))
        if _is_prefix(full, absolute):
            raise EditError('cannot set %s: it is a table, defined through the dotted key %s in %s'
                            % (where, '.'.join(format_key(k) for k in st.key), show_table(st.table)))
        if len(st.table) < len(table) and _is_prefix(table, absolute):
            raise EditError('cannot set %s: table %s is defined implicitly through the dotted key %s in %s; '
                            'edit that layout by hand' % (where, show_table(table), '.'.join(format_key(k) for k in st.key),
                                                          show_table(st.table)))

    if direct is not None:
        old = value_at(data, full)
        if same_value(old, value):
            return text
        return text[:direct.value_start] + rendered + text[direct.value_end:]

    line = '%s = %s' % (format_key(key), rendered)
    if last_in_section is not None:
        return insert_line(text, line_end(text, last_in_section.end),
                           indentation(text, last_in_section.start) + line)
    if section is not None and section >= 0:
        header = statements[section]
        return insert_line(text, line_end(text, header.end), indentation(text, header.start) + line)
    if section == -1:
        # Top level without any assignment: after the leading comment lines, before the first header.
        pos = 0
        scan = 0
        while scan < len(text):
            end = line_end(text, scan)
            stripped = text[scan:end].strip()
            if stripped.startswith('#'):
                pos = end
            elif stripped:
                break
            scan = end
        return insert_line(text, pos, line)

    # A table without a header: append a new block.
    nl = newline_of(text)
    new = text
    if new and not new.endswith('\n'):
        new += nl
    if new:
        new += nl
    return new + show_table(table) + nl + line + nl


def edit_text(text, settings):
    """Apply settings (dicts with table, key, value) to text.

    Returns (new_text, previous_values). Raises TomlError when text does not parse and EditError
    when an edit cannot be done safely.
    """
    original = loads(text)
    requests = []
    for setting in settings:
        table = list(setting.get('table') or [])
        key = setting['key']
        if not all(isinstance(seg, str) for seg in table) or not isinstance(key, str):
            raise EditError('table segments and key must be strings')
        try:
            value = normalize_value(setting['value'])
        except EditError as exc:
            raise EditError('cannot set %s: %s' % (show_key(table, key), exc))
        requests.append((table, key, value))
    previous = [copy.deepcopy(value_at(original, table + [key])) for table, key, value in requests]

    new = text
    for table, key, value in requests:
        try:
            new = apply_one(new, table, key, value)
        except TomlError as exc:
            raise EditError('internal error: edit would produce invalid TOML (%s)' % exc)

    # Safety net: the new document must be the old one with exactly the requested keys set.
    expected = copy.deepcopy(original)
    for table, key, value in requests:
        node = expected
        for idx, seg in enumerate(table):
            child = node.setdefault(seg, {})
            if not isinstance(child, dict):
                raise EditError('cannot set %s: %s is not a table' % (show_key(table, key), show_table(table[:idx + 1])))
            node = child
        node[key] = copy.deepcopy(value)
    try:
        result = loads(new)
    except TomlError as exc:
        raise EditError('internal error: edit would produce invalid TOML (%s)' % exc)
    if not same_value(result, expected):
        raise EditError('internal error: edit would change other keys')
    return new, previous


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            settings=dict(
                type='list', elements='dict', required=True,
                options=dict(
                    table=dict(type='list', elements='str', default=[]),
                    key=dict(type='str', required=True, no_log=False),
                    value=dict(type='raw', required=True),
                ),
            ),
            validate_binary=dict(type='path'),
            backup=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    path = module.params['path']
    settings = module.params['settings']
    validate_binary = module.params['validate_binary']

    if not os.path.isfile(path):
        module.fail_json(msg='containerd config file %s does not exist (or is not a regular file)' % path)
    try:
        with open(path, 'rb') as handle:
            raw = handle.read()
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot read %s: %s' % (path, to_native(exc)))
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as exc:
        module.fail_json(msg='%s is not valid UTF-8: %s' % (path, to_native(exc)))

    try:
        new, previous = edit_text(text, settings)
    except TomlError as exc:
        module.fail_json(msg='cannot parse %s: %s' % (path, to_native(exc)))
    except EditError as exc:
        module.fail_json(msg='%s: %s' % (path, to_native(exc)))

    result = dict(changed=new != text, previous=previous)
    if module._diff:
        result['diff'] = dict(before=text, after=new, before_header=path, after_header=path)

    if not result['changed'] or (module.check_mode and not validate_binary):
        module.exit_json(**result)

    data = new.encode('utf-8')
    check = checker(module, validate_binary) if validate_binary else None
    try:
        if module.check_mode:
            try:
                atomic.check_only(data, check, directory=os.path.dirname(os.path.abspath(path)),
                                  name=os.path.basename(path))
            except (IOError, OSError) as exc:
                module.warn('check mode: not validating with %s, cannot write a temporary file beside %s: %s'
                            % (validate_binary, path, to_native(exc)))
        else:
            if check is not None:  # before the backup: a rejected edit leaves nothing behind
                atomic.check_only(data, check, directory=os.path.dirname(os.path.abspath(path)),
                                  name=os.path.basename(path))
            if module.params['backup']:
                result['backup_file'] = module.backup_local(path)
            st = os.stat(path)
            atomic.write_atomic(path, data, st.st_mode & 0o7777, owner=(st.st_uid, st.st_gid))
    except Rejected as exc:
        module.fail_json(msg='%s rejects the edited configuration (%s left unchanged): %s' % (validate_binary, path, exc),
                         **dict(result, **exc.details))
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot write %s: %s' % (path, to_native(exc)), **result)

    module.exit_json(**result)


if __name__ == '__main__':
    main()
