#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: containerd_config_info
short_description: Read the effective containerd configuration and the containerd version
version_added: 1.0.0
description:
  - Runs C(containerd --version) and C(containerd --config CONFIG config dump) (no daemon is needed)
    and returns the parsed effective configuration, that is the file with its C(imports) merged and
    every default filled in, as containerd itself sees it.
  - Also tells which configuration schema the binary uses (C(version = 2) for containerd 1.x,
    C(version = 3) for containerd 2.x, which migrates older files when it loads them), which plugin
    holds the CRI runtimes in that schema, and whether an imported file deep-merges plugin sections
    (containerd 2.1 and later) or replaces them whole (older versions).
  - Nothing is changed on the node; the results are returned as module results, not as facts.
options:
  binary:
    description:
      - The containerd binary to run.
    type: path
    default: /usr/bin/containerd
  config:
    description:
      - The main configuration file to load.
      - It must exist, unless O(missing_config=default). (containerd 2.x silently falls back to its
        built-in defaults when the file is missing, so the module checks this itself.)
    type: path
    default: /etc/containerd/config.toml
  missing_config:
    description:
      - What a missing O(config) means. V(fail) fails the module. V(default) reads containerd's
        built-in defaults (C(containerd config default)) instead and returns RV(config_exists=false) -
        on Amazon Linux 2023 nodeadm may write the file only after the lifecycle script ran.
    type: str
    choices: [fail, default]
    default: fail
    version_added: 1.1.0
  sandbox_lookup:
    description:
      - How the daemon looks up the sandbox image reference, for RV(sandbox_image_ok).
      - V(verbatim) as it is written (containerd 2.3 and later, where an untagged
        C(localhost/kubernetes/pause) is not the image C(localhost/kubernetes/pause:latest));
        V(normalized) with C(:latest) added to a reference without tag or digest (older versions);
        V(auto) by the version of O(binary).
    type: str
    choices: [auto, verbatim, normalized]
    default: auto
    version_added: 1.1.0
  layer_dropins:
    description:
      - With O(layered), the directory of the drop-ins that O(layered) imports after O(config); the
        module then returns RV(layered.overridden), the settings of O(config) that the effective
        configuration of O(layered) does not keep although no drop-in sets them.
    type: path
    version_added: 1.1.0
  read_files:
    description:
      - Other files to return the content of, in RV(files), so that a caller that needs them (to
        restore them later, for instance) needs no module call per file.
      - A path that is not a regular file is returned with RV(files[].exists=false).
    type: list
    elements: path
    default: []
    version_added: 1.1.0
  daemon:
    description:
      - Also report the running daemon, in RV(daemon) - its systemd unit's state and command line,
        whether it answers on its socket, where its content store is and the images it has for
        Kubernetes - so that one call checks a restart.
    type: bool
    default: false
    version_added: 1.1.0
  service:
    description: The systemd unit of the daemon (O(daemon=true)).
    type: str
    default: containerd
    version_added: 1.1.0
  ctr:
    description: The C(ctr) client to ask the daemon with (O(daemon=true)).
    type: path
    default: /usr/bin/ctr
    version_added: 1.1.0
  address:
    description: The daemon's socket (O(daemon=true)).
    type: path
    default: /run/containerd/containerd.sock
    version_added: 1.1.0
  layered:
    description:
      - A second configuration file to read in the same call when it exists (on AL2023, the
        collection's layer over nodeadm's file, which containerd runs with once the collection
        configured it), returned in RV(layered).
    type: path
    version_added: 1.1.0
  expect:
    description:
      - What the effective configuration (of O(config)) must be after a change, returned as
        RV(differences) - every setting of O(expect.settings) has its value (of the same type, so
        a boolean is not the string C("true")), and every other value of O(expect.before) (the
        effective configuration before the change) is still there, unchanged. Keys containerd adds
        with their defaults (a new runtime's) and C(imports) and C(version) are not compared.
    type: dict
    version_added: 1.1.0
    suboptions:
      settings:
        description: The settings, each C(table) (the list of keys above it), C(key) and C(value).
        type: list
        elements: dict
        default: []
      before:
        description: The effective configuration before the change.
        type: dict
        default: {}
notes:
  - TOML date-time values, which containerd does not use, would be returned as strings in ISO 8601 form.
author:
  - hyperpod.eks_lifecycle contributors (@hyperpod)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hyperpod.eks_lifecycle.attributes.read_only
attributes:
  platform:
    platforms: posix
    details: Needs a containerd binary on the node; the TOML parsing uses only the Python standard library.
seealso:
  - module: hyperpod.eks_lifecycle.containerd_config_set
'''

EXAMPLES = r'''
- name: Read the effective containerd configuration
  hyperpod.eks_lifecycle.containerd_config_info:
  register: containerd

- name: Show the data root and the default runtime
  ansible.builtin.debug:
    msg: >-
      containerd {{ containerd.version }} keeps its data in {{ containerd.root }} and runs pods with
      {{ containerd.config.plugins[containerd.cri_runtime_plugin].containerd.default_runtime_name }}

- name: Check a candidate file with another binary
  hyperpod.eks_lifecycle.containerd_config_info:
    binary: /opt/containerd-2.1/bin/containerd
    config: /tmp/candidate.toml
  register: candidate
'''

RETURN = r'''
config:
  description: The effective configuration, the parsed output of C(containerd config dump).
  returned: success
  type: dict
  sample:
    version: 3
    root: /var/lib/containerd
    state: /run/containerd
    plugins:
      io.containerd.cri.v1.runtime:
        containerd:
          default_runtime_name: runc
version:
  description: The containerd version, C(MAJOR.MINOR.PATCH) without distribution suffixes.
  returned: success
  type: str
  sample: 2.1.9
version_major:
  description: The major version.
  returned: success
  type: int
  sample: 2
version_minor:
  description: The minor version.
  returned: success
  type: int
  sample: 1
schema:
  description: The configuration schema version (the C(version) key of the dump), 2 for containerd 1.x, 3 for 2.x.
  returned: success
  type: int
  sample: 3
cri_runtime_plugin:
  description:
    - The plugin (key under C(plugins)) that holds C(containerd.runtimes) and C(containerd.default_runtime_name)
      in this schema, C(io.containerd.grpc.v1.cri) for schema 2 and C(io.containerd.cri.v1.runtime) for schema 3.
  returned: success
  type: str
  sample: io.containerd.cri.v1.runtime
merges_plugin_sections:
  description:
    - V(true) for containerd 2.1 and later, where a file listed in C(imports) is deep-merged into the plugin
      sections it mentions; V(false) for older versions, where an imported file replaces every plugin section
      it mentions as a whole (so a drop-in must repeat all keys of the sections it touches).
  returned: success
  type: bool
  sample: true
root:
  description: The top-level C(root) of the effective configuration (where containerd keeps its data).
  returned: success
  type: str
  sample: /var/lib/containerd
state:
  description: The top-level C(state) of the effective configuration.
  returned: success
  type: str
  sample: /run/containerd
systemd_running:
  description: Whether systemd manages the node (C(/run/systemd/system) is a directory).
  returned: success
  type: bool
  sample: true
  version_added: 1.1.0
daemon:
  description: The running daemon, when O(daemon=true).
  returned: when O(daemon=true)
  type: dict
  version_added: 1.1.0
  contains:
    active_state:
      description: The unit's C(ActiveState), or V(null) when systemd cannot tell.
      type: str
      sample: active
    main_pid:
      description: The unit's C(MainPID) (0 when it does not run).
      type: int
      sample: 4242
    exec_start:
      description: The unit's C(ExecStart) as C(systemctl show) prints it.
      type: str
      sample: "{ path=/usr/bin/containerd ; argv[]=/usr/bin/containerd --config /etc/containerd/hyperpod/config.toml ; ... }"
    answers:
      description: Whether C(ctr version) gets an answer from the daemon on O(address).
      type: bool
      sample: true
    content_root:
      description: The root of the daemon's content store, as the daemon reports it, or V(null).
      type: str
      sample: /opt/sagemaker/containerd/data-root/io.containerd.content.v1.content
    k8s_images:
      description: The image references the daemon has in the C(k8s.io) namespace.
      type: list
      elements: str
      sample: [localhost/kubernetes/pause:latest]
    unit_file_state:
      description: The unit's C(UnitFileState) (V(enabled), V(disabled), ...), or V(null).
      type: str
      sample: disabled
      version_added: 1.1.0
    started_at:
      description: When the daemon's main process started, in seconds since the epoch, or V(null).
      type: float
      version_added: 1.1.0
layered:
  description: The effective configuration of O(layered), when that file exists.
  returned: when O(layered) is set
  type: dict
  version_added: 1.1.0
  contains:
    exists:
      description: Whether O(layered) exists (the rest is only returned when it does).
      type: bool
    config:
      description: Its effective configuration.
      type: dict
    root:
      description: Its top-level C(root).
      type: str
    imports:
      description: Its C(imports), as written in the file.
      type: list
      elements: str
      version_added: 1.1.0
    overridden:
      description:
        - With O(layer_dropins), the settings of O(config) (one line each) that the effective
          configuration of O(layered) does not keep although no drop-in sets them (an import that
          replaces a plugin section whole does that). Empty when the layer keeps the base intact.
      type: list
      elements: str
      version_added: 1.1.0
differences:
  description: With O(expect), what differs from it, one line each (empty when the configuration is as expected).
  returned: when O(expect) is set
  type: list
  elements: str
  version_added: 1.1.0
  sample: ["plugins.io.containerd.cri.v1.runtime.containerd.runtimes.nvidia.options.SystemdCgroup: 'true', expected True"]
sandbox_image:
  description:
    - The sandbox (pause) image reference the effective configuration pins (C(sandbox_image) of
      the CRI plugin in schema 2, C(pinned_images.sandbox) in schema 3), or V(null) - that of
      O(layered) when it exists (the configuration the daemon runs with).
  returned: success
  type: str
  version_added: 1.1.0
  sample: localhost/kubernetes/pause:latest
sandbox_image_ref:
  description:
    - RV(sandbox_image) as the daemon looks it up (O(sandbox_lookup)) - with C(:latest) added when
      it has no tag or digest, except where containerd looks it up verbatim.
  returned: success
  type: str
  version_added: 1.1.0
config_exists:
  description: Whether O(config) exists (V(false) only with O(missing_config=default)).
  returned: success
  type: bool
  version_added: 1.1.0
config_head:
  description: The first line of O(config) (at most 200 characters), to tell who wrote it, or V(null).
  returned: success
  type: str
  version_added: 1.1.0
config_mtime:
  description: When O(config) was last modified, in seconds since the epoch, or V(null).
  returned: success
  type: float
  version_added: 1.1.0
sandbox_image_ok:
  description:
    - With O(daemon=true), whether pods can start their sandbox - the image is in the daemon's
      C(k8s.io) namespace, or it can be pulled (it is not a C(localhost/) image, which exists only
      on the node).
  returned: when O(daemon=true)
  type: bool
  version_added: 1.1.0
files:
  description: The files of O(read_files), in that order.
  returned: success
  type: list
  elements: dict
  version_added: 1.1.0
  contains:
    path:
      description: The path, as given.
      type: str
      sample: /etc/containerd/hyperpod/config.toml
    exists:
      description: Whether the path is a regular file.
      type: bool
      sample: true
    content:
      description: The file's content, base64-encoded; empty when it does not exist.
      type: str
      sample: dmVyc2lvbiA9IDMK
    mode:
      description: Its mode in octal, or V(null) when it does not exist.
      type: str
      sample: "0644"
      version_added: 1.1.0
    uid:
      description: Its owner, or V(null).
      type: int
      version_added: 1.1.0
    gid:
      description: Its group, or V(null).
      type: int
      version_added: 1.1.0
'''

import base64
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native, to_text

from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.containerd_settings import (
    UNCOMPARED, differences, leaves, lookup, same_value)
from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.containerd_toml import TomlError, loads
from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.containerd_cli import dump
from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.text import jsonable


CRI_RUNTIME_PLUGIN_V2 = 'io.containerd.grpc.v1.cri'
CRI_RUNTIME_PLUGIN_V3 = 'io.containerd.cri.v1.runtime'

_VERSION_RE = re.compile(r'v?(\d+)\.(\d+)(?:\.(\d+))?')


def parse_version(output):
    """Parse `containerd --version` output; return (version, major, minor) or None.

    Handles upstream releases (containerd github.com/containerd/containerd v1.7.24 <commit>),
    Amazon Linux (... containerd 1.7.27 <commit>), Debian (... 1.7.24~ds1 1.7.24~ds1-6+deb13u1)
    and 2.x builds (... containerd/v2 2.1.9+unknown).
    """
    words = to_text(output).split()
    # Skip the program name and the Go module path; the first word that starts like a version is it.
    for word in words[1:]:
        match = _VERSION_RE.match(word)
        if match:
            major, minor, patch = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
            return '%d.%d.%d' % (major, minor, patch), major, minor
    return None


def cri_runtime_plugin(schema):
    """The plugin holding the CRI runtimes in a given config schema version."""
    if isinstance(schema, int) and not isinstance(schema, bool) and schema >= 3:
        return CRI_RUNTIME_PLUGIN_V3
    return CRI_RUNTIME_PLUGIN_V2


def merges_plugin_sections(major, minor):
    """containerd 2.1+ deep-merges imported plugin sections; older versions replace them."""
    return (major, minor) >= (2, 1)


def read_files(module, paths):
    files = []
    for path in paths:
        entry = dict(path=path, exists=os.path.isfile(path) and not os.path.islink(path), content='',
                     mode=None, uid=None, gid=None)
        if entry['exists']:
            try:
                st = os.lstat(path)
                with open(path, 'rb') as handle:
                    entry['content'] = to_text(base64.b64encode(handle.read()))
            except (IOError, OSError) as exc:
                module.fail_json(msg='cannot read %s: %s' % (path, to_native(exc)))
            entry.update(mode='%04o' % (st.st_mode & 0o7777), uid=st.st_uid, gid=st.st_gid)
        files.append(entry)
    return files


def sandbox_image(config):
    """The pinned sandbox image of an effective configuration, in either schema, or None."""
    plugins = config.get('plugins') or {}
    if config.get('version') == 3:
        image = ((plugins.get('io.containerd.cri.v1.images') or {}).get('pinned_images') or {}).get('sandbox')
    else:
        image = (plugins.get(CRI_RUNTIME_PLUGIN_V2) or {}).get('sandbox_image')
    return image or None


def image_ref(image, verbatim=False):
    """IMAGE as the daemon looks it up: with :latest when it has neither a tag nor a digest, unless
    the daemon looks references up VERBATIM (containerd 2.3 and later)."""
    if verbatim or not image or '@' in image or re.search(r':[^/]+$', image):
        return image
    return image + ':latest'


def looks_up_verbatim(lookup, major, minor):
    """Whether a daemon of version MAJOR.MINOR looks the sandbox image up as written (LOOKUP auto)."""
    if lookup != 'auto':
        return lookup == 'verbatim'
    return (major, minor) >= (2, 3)


def first_line(path):
    try:
        with open(path, 'rb') as handle:
            return to_text(handle.readline(400), errors='surrogate_or_replace').rstrip('\r\n')[:200]
    except (IOError, OSError):
        return None


def started_at(pid):
    """When process PID started, in seconds since the epoch (from /proc), or None."""
    try:
        with open('/proc/%d/stat' % pid) as stat:
            fields = stat.read().rsplit(')', 1)[1].split()
        with open('/proc/stat') as system:
            boot = [line.split()[1] for line in system if line.startswith('btime ')][0]
        return round(int(boot) + int(fields[19]) / float(os.sysconf('SC_CLK_TCK')), 2)
    except (IOError, OSError, IndexError, ValueError):
        return None


def overridden(base, layered, dropins):
    """The leaves of BASE that LAYERED does not keep and that no drop-in of DROPINS sets."""
    covered = set()
    for dropin in dropins:
        for path, dummy in leaves(dropin):
            covered.add(path)
    lines = []
    for path, value in leaves(base):
        if path[0] in UNCOMPARED or any(path[:len(c)] == c for c in covered):
            continue
        found, now = lookup(layered, path)
        # An empty table is kept by any table there: a drop-in may fill it (a proxy plugin, say).
        if value == {} and found and isinstance(now, dict):
            continue
        if not found or not same_value(value, now):
            where = repr(now) if found else 'missing'
            lines.append('%s: %r in the base, %s in the layer' % ('.'.join(path), value, where))
    return lines


def read_dropins(module, directory):
    """The parsed *.toml files of DIRECTORY, in name order (as containerd imports a glob)."""
    found = []
    if not directory or not os.path.isdir(directory):
        return found
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not name.endswith('.toml') or not os.path.isfile(path):
            continue
        try:
            with open(path, 'rb') as handle:
                found.append(loads(to_text(handle.read(), errors='surrogate_or_strict')))
        except (IOError, OSError, TomlError, UnicodeError) as exc:
            module.fail_json(msg='cannot read the drop-in %s: %s' % (path, to_native(exc)))
    return found


def defaults(module, binary):
    """containerd's built-in configuration (`containerd config default`), parsed."""
    cmd = [binary, 'config', 'default']
    rc, out, err = module.run_command(cmd)
    if rc != 0:
        module.fail_json(msg='%s failed (rc=%d): %s' % (' '.join(cmd), rc, to_text(err).strip()), rc=rc, stderr=err, cmd=cmd)
    try:
        return loads(to_text(out, errors='surrogate_or_strict'))
    except (TomlError, UnicodeError) as exc:
        module.fail_json(msg='cannot parse the output of %s: %s' % (' '.join(cmd), to_native(exc)), cmd=cmd)


def parse_systemctl_show(output):
    """`systemctl show -p A -p B unit` output -> {A: value, B: value}."""
    properties = {}
    for line in to_text(output).splitlines():
        key, sep, value = line.partition('=')
        if sep:
            properties[key] = value
    return properties


def parse_content_root(output):
    """The `root` line of `ctr plugins ls --detailed type==io.containerd.content.v1`, or None."""
    for line in to_text(output).splitlines():
        fields = line.split(None, 1)
        if len(fields) == 2 and fields[0] == 'root':
            return fields[1].strip()
    return None


def read_daemon(module):
    params = module.params
    daemon = dict(active_state=None, main_pid=0, exec_start='', answers=False, content_root=None, k8s_images=[],
                  unit_file_state=None, started_at=None)
    systemctl = module.get_bin_path('systemctl')
    rc, out = 1, ''
    if systemctl:
        rc, out, err = module.run_command([systemctl, 'show', '--property=ActiveState', '--property=MainPID',
                                           '--property=ExecStart', '--property=UnitFileState', params['service']])
    if rc == 0:
        properties = parse_systemctl_show(out)
        daemon['active_state'] = properties.get('ActiveState') or None
        try:
            daemon['main_pid'] = int(properties.get('MainPID') or 0)
        except ValueError:
            daemon['main_pid'] = 0
        daemon['exec_start'] = properties.get('ExecStart', '')
        daemon['unit_file_state'] = properties.get('UnitFileState') or None
        if daemon['main_pid']:
            daemon['started_at'] = started_at(daemon['main_pid'])
    ctr = [params['ctr'], '--address', params['address']]
    if not os.access(params['ctr'], os.X_OK):
        return daemon
    rc, out, err = module.run_command(ctr + ['version'])
    daemon['answers'] = rc == 0
    if not daemon['answers']:
        return daemon
    rc, out, err = module.run_command(ctr + ['plugins', 'ls', '--detailed', 'type==io.containerd.content.v1'])
    if rc == 0:
        daemon['content_root'] = parse_content_root(out)
    rc, out, err = module.run_command(ctr + ['--namespace', 'k8s.io', 'images', 'list', '--quiet'])
    if rc == 0:
        daemon['k8s_images'] = [line.strip() for line in to_text(out).splitlines() if line.strip()]
    return daemon


def main():
    module = AnsibleModule(
        argument_spec=dict(
            binary=dict(type='path', default='/usr/bin/containerd'),
            config=dict(type='path', default='/etc/containerd/config.toml'),
            read_files=dict(type='list', elements='path', default=[]),
            daemon=dict(type='bool', default=False),
            service=dict(type='str', default='containerd'),
            ctr=dict(type='path', default='/usr/bin/ctr'),
            address=dict(type='path', default='/run/containerd/containerd.sock'),
            layered=dict(type='path'),
            layer_dropins=dict(type='path'),
            missing_config=dict(type='str', choices=['fail', 'default'], default='fail'),
            sandbox_lookup=dict(type='str', choices=['auto', 'verbatim', 'normalized'], default='auto'),
            expect=dict(type='dict', options=dict(
                settings=dict(type='list', elements='dict', default=[]),
                before=dict(type='dict', default={}),
            )),
        ),
        supports_check_mode=True,
    )
    binary = module.params['binary']
    config = module.params['config']

    if not os.path.isfile(binary) or not os.access(binary, os.X_OK):
        module.fail_json(msg='containerd binary %s does not exist or is not executable' % binary)
    config_exists = os.path.exists(config)
    if not config_exists and module.params['missing_config'] == 'fail':
        module.fail_json(msg='containerd config file %s does not exist' % config)
    if config_exists and not os.path.isfile(config):
        module.fail_json(msg='containerd config %s is not a regular file' % config)

    cmd = [binary, '--version']
    rc, out, err = module.run_command(cmd)
    if rc != 0:
        module.fail_json(msg='%s failed (rc=%d): %s' % (' '.join(cmd), rc, to_text(err).strip()),
                         rc=rc, stdout=out, stderr=err, cmd=cmd)
    parsed = parse_version(out)
    if parsed is None:
        module.fail_json(msg='cannot find a version number in the output of %s: %r' % (' '.join(cmd), to_text(out).strip()),
                         rc=rc, stdout=out, stderr=err, cmd=cmd)
    version, major, minor = parsed

    data = dump(module, binary, config) if config_exists else defaults(module, binary)
    schema = data.get('version')
    extra = {}
    layered = module.params['layered']
    layered_data = None
    if layered:
        extra['layered'] = dict(exists=os.path.isfile(layered))
        if extra['layered']['exists']:
            layered_data = dump(module, binary, layered)
            extra['layered'].update(config=jsonable(layered_data), root=layered_data.get('root'))
            try:
                with open(layered, 'rb') as handle:
                    imports = loads(to_text(handle.read(), errors='surrogate_or_strict')).get('imports') or []
            except (IOError, OSError, TomlError, UnicodeError):
                imports = []
            extra['layered']['imports'] = [to_text(item) for item in imports] if isinstance(imports, list) else []
            if module.params['layer_dropins']:
                extra['layered']['overridden'] = overridden(
                    jsonable(data), jsonable(layered_data), jsonable(read_dropins(module, module.params['layer_dropins'])))
    expect = module.params['expect']
    if expect is not None:
        extra['differences'] = differences(jsonable(data), expect['settings'] or [], expect['before'] or {})
    # The daemon runs with the layer where there is one: its sandbox image is the one pods need.
    image = sandbox_image(layered_data if layered_data is not None else data)
    verbatim = looks_up_verbatim(module.params['sandbox_lookup'], major, minor)
    if module.params['daemon']:
        extra['daemon'] = read_daemon(module)
        extra['sandbox_image_ok'] = image is None or not image.startswith('localhost/') or \
            image_ref(image, verbatim) in extra['daemon']['k8s_images']
    module.exit_json(
        changed=False,
        config=jsonable(data),
        version=version,
        version_major=major,
        version_minor=minor,
        schema=schema,
        cri_runtime_plugin=cri_runtime_plugin(schema),
        merges_plugin_sections=merges_plugin_sections(major, minor),
        root=data.get('root'),
        state=data.get('state'),
        files=read_files(module, module.params['read_files']),
        systemd_running=os.path.isdir('/run/systemd/system'),
        sandbox_image=image,
        sandbox_image_ref=image_ref(image, verbatim),
        config_exists=config_exists,
        config_mtime=os.stat(config).st_mtime if config_exists else None,
        config_head=first_line(config) if config_exists else None,
        **extra
    )


if __name__ == '__main__':
    main()
