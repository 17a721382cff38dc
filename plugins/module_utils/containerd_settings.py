# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""containerd settings as the roles ask for them: what a drop-in holds, and whether a config has them.

A setting is ``{'table': [keys above it], 'key': key, 'value': value}`` in the schema of the
containerd on the node (``table: []`` is the top level). Used by the containerd_config_info module
(the check after a change) and by the containerd_dropin and containerd_differences filters (the
drop-in a change writes, and the check of a change that needed no restart). Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import math

# Keys a layered config has of its own (its imports) and that a drop-in always states.
UNCOMPARED = ('imports', 'version')


def setting_path(setting):
    return tuple(setting.get('table') or ()) + (setting['key'],)


def leaves(data, prefix=()):
    """(path, value) for every leaf of a nested dict (an empty dict is a leaf)."""
    for key, value in data.items():
        path = prefix + (key,)
        if isinstance(value, dict) and value:
            for leaf in leaves(value, path):
                yield leaf
        else:
            yield path, value


def lookup(data, path):
    """(True, value) at PATH in nested dicts, or (False, None)."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return False, None
        data = data[key]
    return True, data


def _kind(value):
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind
    return None


def same_value(left, right):
    """Equality that also compares types (True is not 1, nor the string 'true') and treats NaN as
    equal to NaN."""
    if isinstance(left, dict) or isinstance(right, dict):
        if not (isinstance(left, dict) and isinstance(right, dict)) or set(left) != set(right):
            return False
        return all(same_value(left[k], right[k]) for k in left)
    if isinstance(left, list) or isinstance(right, list):
        if not (isinstance(left, list) and isinstance(right, list)) or len(left) != len(right):
            return False
        return all(same_value(a, b) for a, b in zip(left, right))
    if _kind(left) is not _kind(right):
        return False
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return left == right


def value_at(data, path):
    """The value at PATH in nested dicts, or None."""
    return lookup(data, path)[1]


def applied(settings):
    """The settings as one nested dict, applied in order (a later one overrides an earlier one)."""
    tree = {}
    for setting in settings:
        path = setting_path(setting)
        table = tree
        for key in path[:-1]:
            table = table.setdefault(key, {})
            if not isinstance(table, dict):
                raise ValueError('%s is not a table' % '.'.join(path[:-1]))
        value = setting.get('value')
        if isinstance(value, dict) and isinstance(table.get(path[-1]), dict):
            table[path[-1]] = merged(table[path[-1]], value)
        else:
            table[path[-1]] = copy.deepcopy(value)
    return tree


def merged(base, over):
    """BASE with OVER merged in, recursively (OVER wins)."""
    result = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def differences(config, settings, before=None):
    """How CONFIG differs from BEFORE with SETTINGS applied, one line each.

    Every setting must have its value (of the same kind; settings apply in order, a later one
    overriding an earlier one), and every other value of BEFORE must still be there, unchanged.
    Keys CONFIG has beyond those (defaults containerd fills in for a new runtime, say) and
    UNCOMPARED keys are not compared.
    """
    lines = []
    changed = [setting_path(setting) for setting in settings]
    for path, value in leaves(applied(settings)):
        found, actual = lookup(config, path)
        if not found:
            lines.append('%s: missing, expected %r' % ('.'.join(path), value))
        elif not same_value(actual, value):
            lines.append('%s: %r, expected %r' % ('.'.join(path), actual, value))
    for path, value in leaves(before or {}):
        if path[0] in UNCOMPARED or any(path[:len(c)] == c for c in changed):
            continue
        found, actual = lookup(config, path)
        if not found:
            lines.append('%s: lost (was %r)' % ('.'.join(path), value))
        elif not same_value(actual, value):
            lines.append('%s: %r, was %r' % ('.'.join(path), actual, value))
    return lines


def dropin(settings, schema, base=None, merges_plugin_sections=True):
    """The drop-in (a dict, for to_toml) that applies SETTINGS over BASE in config SCHEMA.

    containerd before 2.1 replaces a whole plugin section from an imported file: there, every
    plugin section a setting touches carries BASE's section (the config the drop-in is imported
    over) with the settings applied, so that nothing of it is lost.
    """
    tree = applied(settings)
    result = {'version': schema}
    if not merges_plugin_sections:
        for name, section in (tree.get('plugins') or {}).items():
            found, whole = lookup(base or {}, ('plugins', name))
            if found and isinstance(whole, dict):
                tree['plugins'][name] = merged(whole, section)
    result.update(tree)
    return result
