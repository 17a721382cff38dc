# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`containerd --config FILE config dump`, the check containerd makes of a file when it starts:
for the modules that read a configuration and for those that validate one before it goes live."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

from ansible.module_utils.common.text.converters import to_native, to_text

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.containerd_toml import TomlError, loads


class Rejected(Exception):
    """containerd rejects a configuration file: why (its error output), with its exit code and
    command line in .details (for a module's failure result)."""

    def __init__(self, why, rc, stderr, cmd):
        super(Rejected, self).__init__(why)
        self.details = dict(rc=rc, stderr=stderr, cmd=cmd)


def _imports(config):
    try:
        with open(config, 'rb') as handle:
            imports = loads(to_text(handle.read(), errors='surrogate_or_strict')).get('imports') or []
    except (IOError, OSError, TomlError, UnicodeError, AttributeError):
        return []
    return [to_text(item) for item in imports] if isinstance(imports, list) else []


def missing_imports(config, assume=()):
    """The files CONFIG imports (or the files it imports import, and so on), named without a
    wildcard, that do not exist (the paths in ASSUME count as existing: a preview's files).

    containerd refuses to start with one, but `containerd config dump` (2.x) then prints its
    defaults, the rest of the imports left out, and exits 0: checked here instead."""
    missing, seen, pending = [], set(), [config]
    while pending:
        current = pending.pop(0)
        if current in seen:
            continue
        seen.add(current)
        base = os.path.dirname(current)
        for path in _imports(current):
            if not os.path.isabs(path):
                path = os.path.join(base, path)
            if '*' in path:
                pending.extend(sorted(glob.glob(path)))
            elif path in assume:
                continue
            elif not os.path.exists(path):
                missing.append(path)
            else:
                pending.append(path)
    return missing


def rejection(module, binary, config, assume=()):
    """(why, rc, stderr, cmd) when containerd BINARY rejects CONFIG, else None."""
    cmd = [binary, '--config', config, 'config', 'dump']
    missing = missing_imports(config, assume)
    if missing:
        return '%s imports %s, which does not exist (containerd does not start with it)' % (config, ', '.join(missing)), 1, '', cmd
    rc, out, err = module.run_command(cmd)
    if rc == 0:
        return None
    return to_text(err).strip() or to_text(out).strip() or 'exit %d' % rc, rc, err, cmd


def checker(module, binary, assume=()):
    """A check for atomic.write_atomic: raises Rejected with containerd's reason. ASSUME: paths that
    count as existing when they are imported (files a preview would have written before)."""
    def check(candidate):
        rejected = rejection(module, binary, candidate, assume)
        if rejected is not None:
            raise Rejected(*rejected)
    return check


def dump(module, binary, config):
    """The parsed effective configuration of CONFIG; fails the module when it cannot be had."""
    cmd = [binary, '--config', config, 'config', 'dump']
    missing = missing_imports(config)
    if missing:
        module.fail_json(msg='%s imports %s, which does not exist (containerd does not start with it)' % (config, ', '.join(missing)), cmd=cmd)
    rc, out, err = module.run_command(cmd)
    if rc != 0:
        module.fail_json(msg='%s failed (rc=%d): %s' % (' '.join(cmd), rc, to_text(err).strip()),
                         rc=rc, stderr=err, cmd=cmd)
    try:
        return loads(to_text(out, errors='surrogate_or_strict'))
    except (TomlError, UnicodeError) as exc:
        module.fail_json(msg='cannot parse the output of %s: %s' % (' '.join(cmd), to_native(exc)),
                         rc=rc, stdout=out, stderr=err, cmd=cmd)
