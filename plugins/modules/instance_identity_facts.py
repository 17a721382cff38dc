#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: instance_identity_facts
short_description: Learn the node's instance ID, instance type and HyperPod instance group, offline
version_added: 1.2.0
description:
  - The instance ID is read from the first of O(instance_id_files) that holds one (on Nitro
    instances the firmware's C(board_asset_tag) is the instance ID; cloud-init keeps it in
    C(/var/lib/cloud/data/instance-id)), else asked of the instance metadata service (IMDSv2,
    link-local, reachable from every HyperPod node) when O(imds=true).
  - The instance group is the group of O(resource_config) (the cluster's resource configuration
    HyperPod places on its nodes) whose instances list this instance ID; its instance type is that
    group's. Without that file, or when it does not list the instance, the group is unknown, and the
    instance type is asked of the metadata service, else read from the firmware's C(product_name).
  - O(instance_group) and O(instance_type) given (the C(HYPERPOD_INSTANCE_GROUP) and
    C(HYPERPOD_INSTANCE_TYPE) environment variables of C(on_create.sh)) are taken as they are.
  - Nothing is changed on the node.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hyperpod.eks_lifecycle.attributes.read_only
attributes:
  platform:
    platforms: posix
options:
  resource_config:
    description: The cluster's resource configuration (JSON with C(InstanceGroups)).
    type: path
    default: /opt/ml/config/resource_config.json
  instance_id_files:
    description: Files that may hold the instance ID, in the order they are tried.
    type: list
    elements: path
    default: [/sys/devices/virtual/dmi/id/board_asset_tag, /var/lib/cloud/data/instance-id]
  product_name_file:
    description: The firmware's product name, the instance type on Nitro instances.
    type: path
    default: /sys/devices/virtual/dmi/id/product_name
  imds:
    description: Ask the instance metadata service for what the files do not say.
    type: bool
    default: true
  imds_timeout:
    description: Seconds each request to the metadata service may take.
    type: float
    default: 2
  instance_group:
    description: The instance group, when the caller knows it (empty - learn it).
    type: str
    default: ""
  instance_type:
    description: The instance type, when the caller knows it (empty - learn it).
    type: str
    default: ""
author:
  - hyperpod.eks_lifecycle contributors (@hyperpod)
'''

EXAMPLES = r'''
- name: Learn the node's instance group
  hyperpod.eks_lifecycle.instance_identity_facts:

- name: Show it
  ansible.builtin.debug:
    msg: "{{ ansible_facts['hyperpod_instance_group'] or 'unknown' }} ({{ ansible_facts['hyperpod_instance_identity']['group_source'] }})"
'''

RETURN = r'''
ansible_facts:
  description: What was learned.
  returned: always
  type: dict
  contains:
    hyperpod_instance_id:
      description: The instance ID, or an empty string.
      type: str
      sample: i-0123456789abcdef0
    hyperpod_instance_type:
      description: The instance type as the source gives it (the resource configuration's has the C(ml.) prefix), or an empty string.
      type: str
      sample: ml.p5.48xlarge
    hyperpod_instance_group:
      description: The HyperPod instance group, or an empty string when it cannot be learned.
      type: str
      sample: gpu-workers
    hyperpod_instance_identity:
      description: Where each value came from (C(id_source), C(type_source), C(group_source)), and why the group is unknown (C(reason)).
      type: dict
'''

import json
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils import site as site_lib

INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,32}$")
# Names outside these patterns are not taken as an instance group or type.
INSTANCE_TYPE = site_lib.INSTANCE_TYPE
GROUP = site_lib.INSTANCE_GROUP
IMDS = "http://169.254.169.254/latest"


def read_small(path, limit=4096):
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace").strip()
    except (IOError, OSError):
        return ""


class Imds(object):
    """IMDSv2, asked at most once per value; a failure is remembered (no network: fail fast)."""

    def __init__(self, enabled, timeout):
        self.enabled = enabled
        self.timeout = timeout
        self.token = None
        self.error = "" if enabled else "disabled (imds=false)"

    def get(self, path):
        if self.error:
            return ""
        try:
            if self.token is None:
                self.token = open_url(IMDS + "/api/token", method="PUT", timeout=self.timeout,
                                      headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}).read().decode()
            return open_url(IMDS + "/meta-data/" + path, timeout=self.timeout,
                            headers={"X-aws-ec2-metadata-token": self.token}).read().decode().strip()
        except Exception as exc:  # pylint: disable=broad-except
            self.error = str(exc) or exc.__class__.__name__
            return ""


def instance_id(files, imds):
    for path in files:
        value = read_small(path)
        if INSTANCE_ID.match(value):
            return value, path
    value = imds.get("instance-id")
    if INSTANCE_ID.match(value):
        return value, "imds"
    return "", ""


def groups_of(path):
    """[(group name, instance type, [instance ids])] of the resource configuration; ValueError if garbled."""
    with open(path, "rb") as handle:
        data = json.loads(handle.read(16 * 1024 * 1024).decode("utf-8"))
    groups = data.get("InstanceGroups") if isinstance(data, dict) else None
    if not isinstance(groups, list):
        raise ValueError("no InstanceGroups list")
    result = []
    for group in groups:
        if not isinstance(group, dict):
            continue
        name = group.get("Name") or group.get("InstanceGroupName")
        instances = group.get("Instances") if isinstance(group.get("Instances"), list) else []
        ids = [i.get("InstanceId") for i in instances if isinstance(i, dict)]
        if isinstance(name, str) and name:
            result.append((name, group.get("InstanceType") if isinstance(group.get("InstanceType"), str) else "", ids))
    return result


def learn(params, imds):
    facts = {"hyperpod_instance_id": "", "hyperpod_instance_type": "", "hyperpod_instance_group": ""}
    identity = {"id_source": "", "type_source": "", "group_source": "", "reason": ""}
    ident, identity["id_source"] = instance_id(params["instance_id_files"], imds)
    facts["hyperpod_instance_id"] = ident
    if params["instance_group"]:
        facts["hyperpod_instance_group"] = params["instance_group"]
        identity["group_source"] = "given"
    elif not os.path.exists(params["resource_config"]):
        identity["reason"] = "no %s" % params["resource_config"]
    elif not ident:
        identity["reason"] = "the instance ID is unknown (%s; IMDS: %s)" % (
            ", ".join(params["instance_id_files"]) or "no files", imds.error or "no answer")
    else:
        try:
            groups = groups_of(params["resource_config"])
        except (IOError, OSError, ValueError, UnicodeDecodeError) as exc:
            groups = None
            identity["reason"] = "%s cannot be read: %s" % (params["resource_config"], exc)
        for name, itype, ids in groups or ():
            if ident in ids:
                if not GROUP.match(name):
                    identity["reason"] = "%s names this instance's group %r, which is not an instance group name" % (
                        params["resource_config"], name[:80])
                    break
                facts["hyperpod_instance_group"] = name
                identity["group_source"] = params["resource_config"]
                if INSTANCE_TYPE.match(itype or "") and not params["instance_type"]:
                    facts["hyperpod_instance_type"] = itype
                    identity["type_source"] = params["resource_config"]
                break
        else:
            if groups is not None:
                identity["reason"] = "%s lists no instance %s" % (params["resource_config"], ident)
    if params["instance_type"]:
        facts["hyperpod_instance_type"] = params["instance_type"]
        identity["type_source"] = "given"
    if not facts["hyperpod_instance_type"]:
        value = imds.get("instance-type")
        source = "imds"
        if not INSTANCE_TYPE.match(value):
            value, source = read_small(params["product_name_file"]), params["product_name_file"]
        if INSTANCE_TYPE.match(value):
            facts["hyperpod_instance_type"] = value
            identity["type_source"] = source
    facts["hyperpod_instance_identity"] = identity
    return facts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            resource_config=dict(type="path", default="/opt/ml/config/resource_config.json"),
            instance_id_files=dict(type="list", elements="path",
                                   default=["/sys/devices/virtual/dmi/id/board_asset_tag", "/var/lib/cloud/data/instance-id"]),
            product_name_file=dict(type="path", default="/sys/devices/virtual/dmi/id/product_name"),
            imds=dict(type="bool", default=True),
            imds_timeout=dict(type="float", default=2),
            instance_group=dict(type="str", default=""),
            instance_type=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    params = module.params
    for key, pattern in (("instance_group", GROUP), ("instance_type", INSTANCE_TYPE)):
        value = params[key]
        if value and not pattern.match(value):
            module.fail_json(msg="%s %r is not an instance %s" % (key, value, key.split("_")[1]))
    module.exit_json(changed=False, ansible_facts=learn(params, Imds(params["imds"], params["imds_timeout"])))


if __name__ == "__main__":
    main()
