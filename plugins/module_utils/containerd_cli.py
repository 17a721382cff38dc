# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`containerd --config FILE config dump`, the check containerd makes of a file when it starts:
for the modules that read a configuration and for those that validate one before it goes live."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.text.converters import to_native, to_text

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.containerd_toml import TomlError, loads


class Rejected(Exception):
    """containerd rejects a configuration file: why (its error output), with its exit code and
    command line in .details (for a module's failure result)."""

    def __init__(self, why, rc, stderr, cmd):
        super(Rejected, self).__init__(why)
        self.details = dict(rc=rc, stderr=stderr, cmd=cmd)


def rejection(module, binary, config):
    """(why, rc, stderr, cmd) when containerd BINARY rejects CONFIG, else None."""
    cmd = [binary, '--config', config, 'config', 'dump']
    rc, out, err = module.run_command(cmd)
    if rc == 0:
        return None
    return to_text(err).strip() or to_text(out).strip() or 'exit %d' % rc, rc, err, cmd


def checker(module, binary):
    """A check for atomic.write_atomic: raises Rejected with containerd's reason."""
    def check(candidate):
        rejected = rejection(module, binary, candidate)
        if rejected is not None:
            raise Rejected(*rejected)
    return check


def dump(module, binary, config):
    """The parsed effective configuration of CONFIG; fails the module when it cannot be had."""
    cmd = [binary, '--config', config, 'config', 'dump']
    rc, out, err = module.run_command(cmd)
    if rc != 0:
        module.fail_json(msg='%s failed (rc=%d): %s' % (' '.join(cmd), rc, to_text(err).strip()),
                         rc=rc, stderr=err, cmd=cmd)
    try:
        return loads(to_text(out, errors='surrogate_or_strict'))
    except (TomlError, UnicodeError) as exc:
        module.fail_json(msg='cannot parse the output of %s: %s' % (' '.join(cmd), to_native(exc)),
                         rc=rc, stdout=out, stderr=err, cmd=cmd)
