#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: site_plan
short_description: Plan the admin's site steps for this node
version_added: 1.2.0
description:
  - Reads the site folder (the bundle's C(site/), see the collection's README) and returns its
    steps in the order they run - the roles and task files of O(steps) and every script of
    C(scripts.d/) - each checked, its file exists inside the folder and parses (task files and a
    role's YAML), a script starts with a C(#!) line and its C(# hyperpod:) header settings are known.
  - A step that cannot run keeps its place with an C(error) naming the file; the play fails when
    it gets there, after the steps before it. A step limited to instance groups or types this
    node is not gets a C(skip) reason. Nothing is left out silently.
  - Nothing is changed on the node.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - hyperpod.eks_lifecycle.attributes.read_only
attributes:
  platform:
    platforms: posix
options:
  site_dir:
    description: The site folder.
    type: path
    required: true
  steps:
    description: The site's C(hyperpod_site_steps) (each with one of C(role), C(tasks), C(script)).
    type: list
    elements: raw
    default: []
  instance_group:
    description: This node's instance group (empty - unknown).
    type: str
    default: ""
  instance_group_reason:
    description: Why the instance group is unknown, for the error of a step limited to groups.
    type: str
    default: ""
  instance_type:
    description: This node's instance type (empty - unknown).
    type: str
    default: ""
  collections_paths:
    description: Where roles named C(namespace.collection.role) are looked for.
    type: list
    elements: path
    default: []
  script_env:
    description:
      - Variables the site adds to every script's environment (C(hyperpod_site_script_env)).
      - Names are letters, digits and C(_), not starting with a digit nor with C(HYPERPOD_) (those are the
        collection's); values are strings, numbers or booleans.
    type: dict
    default: {}
author:
  - hyperpod.eks_lifecycle contributors (@hyperpod)
'''

EXAMPLES = r'''
- name: Plan the site steps
  hyperpod.eks_lifecycle.site_plan:
    site_dir: "{{ playbook_dir }}/../site"
    steps: "{{ hyperpod_site_steps | default([]) }}"
  register: site_plan
'''

RETURN = r'''
before:
  description: The steps that run before the built-in roles, in order.
  returned: always
  type: list
  elements: dict
after:
  description: The steps that run after the built-in roles, in order.
  returned: always
  type: list
  elements: dict
ignored:
  description: Entries of C(scripts.d/) that are not scripts (C(file), C(reason)).
  returned: always
  type: list
  elements: dict
errors:
  description: What is wrong with C(hyperpod_site_steps) itself.
  returned: always
  type: list
  elements: str
script_env:
  description: O(script_env), every value a string.
  returned: always
  type: dict
summary:
  description: One line for the log.
  returned: always
  type: str
'''

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils import site as site_lib


def summary(result):
    count = dict(run=0, skip=0, error=0)
    for step in result["before"] + result["after"]:
        count["error" if step["error"] else "skip" if step["skip"] else "run"] += 1
    text = "site: %d steps before the built-in roles, %d after (%d to run, %d not for this node, %d that cannot run)" % (
        len(result["before"]), len(result["after"]), count["run"], count["skip"], count["error"])
    if result["ignored"]:
        text += "; not run: %s" % ", ".join("%s (%s)" % (i["file"], i["reason"]) for i in result["ignored"])
    return text


def main():
    module = AnsibleModule(
        argument_spec=dict(
            site_dir=dict(type="path", required=True),
            steps=dict(type="list", elements="raw", default=[]),
            instance_group=dict(type="str", default=""),
            instance_group_reason=dict(type="str", default=""),
            instance_type=dict(type="str", default=""),
            collections_paths=dict(type="list", elements="path", default=[]),
            script_env=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    if not site_lib.HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    params = module.params
    if not os.path.isdir(params["site_dir"]):
        module.fail_json(msg="the site folder %s is not a directory" % params["site_dir"])
    result = site_lib.plan(params["site_dir"], params["steps"], group=params["instance_group"],
                           group_reason=params["instance_group_reason"], instance_type=params["instance_type"],
                           collection_paths=params["collections_paths"])
    script_env, errors = site_lib.check_script_env(params["script_env"])
    result["errors"].extend(errors)
    module.exit_json(changed=False, summary=summary(result), script_env=script_env, **result)


if __name__ == "__main__":
    main()
