#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to hyperpod.eks_lifecycle
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: site_script
short_description: Run one of the admin's site scripts as a step of the play, its output in the provisioning log
version_added: 1.2.0
description:
  - Runs O(path) with the interpreter of its C(#!) line (a file uploaded through S3 keeps no exec
    bit), from the site folder, with standard input from C(/dev/null) and exactly the environment
    O(env).
  - Every line the script writes goes to O(log) as it comes, with a timestamp and the step's name
    (C([scripts.d/10-packages.sh]) for standard output, C([scripts.d/10-packages.sh stderr]) for
    standard error), synced; control characters are dropped and a line is cut at 4096
    characters. Writing to standard error is not a failure, the exit code decides.
  - A script that runs past O(timeout) seconds is stopped - SIGTERM to its whole process group,
    SIGKILL O(kill_grace) seconds later - and counts as failed. When the script has exited, output
    still held open by a process it left running is read for two more seconds, then no longer
    (start services with systemctl, not with C(&)).
  - A script that fails (a non-zero exit code, or stopped at its timeout) fails the task, with its
    last lines in the message; with O(allow_failure=true) it gives a warning instead.
  - A script runs again on every run unless O(creates) names a file that exists.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: partial
    details: In check mode the script is not run (the step says so) unless O(check_safe=true); then it
      runs, with C(HYPERPOD_CHECK=1) in its environment, and must change nothing itself.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  path:
    description: The script.
    type: path
    required: true
  name:
    description: The step's name, for the log and the report (by default the script's file name).
    type: str
  file:
    description: The script as the site folder names it (C(scripts.d/10-packages.sh)), for the report.
    type: str
  interpreter:
    description: The interpreter and its one optional argument, from the script's C(#!) line.
    type: list
    elements: str
    required: true
  chdir:
    description: The directory the script runs in (the site folder).
    type: path
  env:
    description: The script's whole environment.
    type: dict
    default: {}
  timeout:
    description: Seconds the script may run.
    type: int
    default: 1800
  kill_grace:
    description: Seconds between SIGTERM and SIGKILL when the timeout is reached.
    type: int
    default: 10
  log:
    description: The provisioning log the script's lines are appended to (empty - none).
    type: path
    default: ""
  allow_failure:
    description: A failure of the script is a warning, not a failed task.
    type: bool
    default: false
  check_safe:
    description: The script may run in check mode (it changes nothing when C(HYPERPOD_CHECK=1)).
    type: bool
    default: false
  creates:
    description: A file whose existence means the script has done its work; it is not run while the file exists.
    type: path
  tail:
    description: How many of the last lines of each output stream the result keeps.
    type: int
    default: 20
author:
  - hyperpod.eks_lifecycle contributors (@hyperpod)
'''

EXAMPLES = r'''
- name: Run a site script
  hyperpod.eks_lifecycle.site_script:
    path: /run/hyperpod-eks-lifecycle/stage/files/site/scripts.d/10-packages.sh
    interpreter: [/bin/bash]
    env:
      PATH: /usr/sbin:/usr/bin:/sbin:/bin
    log: /var/log/provision/provisioning.log
'''

RETURN = r'''
exit_code:
  description: The script's exit code (null when it did not run or was stopped).
  returned: always
  type: int
duration_seconds:
  description: How long it ran.
  returned: always
  type: float
timed_out:
  description: Whether it was stopped at its timeout.
  returned: always
  type: bool
stdout_lines:
  description: The last O(tail) lines of its standard output.
  returned: always
  type: list
  elements: str
stderr_lines:
  description: The last O(tail) lines of its standard error.
  returned: always
  type: list
  elements: str
hyperpod_site_step:
  description: The step's entry for the provisioning report (C(name), C(kind=script), C(file), C(status) -
    changed, failed, allowed_failure or skipped -, C(exit_code), C(duration_seconds), C(summary)).
  returned: always
  type: dict
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hyperpod.eks_lifecycle.plugins.module_utils.site_run import Log, run


def last_line(out, err):
    for stream in (err, out):
        for line in reversed(stream.tail):
            if line.strip():
                return line.strip()
    return "no output"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            name=dict(type="str"),
            file=dict(type="str"),
            interpreter=dict(type="list", elements="str", required=True),
            chdir=dict(type="path"),
            env=dict(type="dict", default={}),
            timeout=dict(type="int", default=1800),
            kill_grace=dict(type="int", default=10),
            log=dict(type="path", default=""),
            allow_failure=dict(type="bool", default=False),
            check_safe=dict(type="bool", default=False),
            creates=dict(type="path"),
            tail=dict(type="int", default=20),
        ),
        supports_check_mode=True,
    )
    params = module.params
    params["name"] = params["name"] or os.path.basename(params["path"])
    step = {"name": params["name"], "kind": "script", "file": params["file"] or params["name"],
            "status": "skipped", "exit_code": None, "duration_seconds": 0.0}
    result = dict(changed=False, exit_code=None, duration_seconds=0.0, timed_out=False, stdout_lines=[], stderr_lines=[],
                  hyperpod_site_step=step)

    def done(summary, **more):
        step["summary"] = summary
        result.update(more)
        module.exit_json(msg=summary, **result)

    if not 1 <= len(params["interpreter"]) <= 2 or not params["interpreter"][0].startswith("/"):
        module.fail_json(msg="%s: interpreter must be an absolute path and at most one argument" % params["name"], **result)
    if params["timeout"] < 1:
        module.fail_json(msg="%s: timeout must be at least 1 second" % params["name"], **result)
    if params["creates"] and os.path.lexists(params["creates"]):
        step["reason"] = "guard"
        done("skipped: %s exists (creates=)" % params["creates"])
    if module.check_mode and not params["check_safe"]:
        step["reason"] = "check_mode"
        done("skipped: not run in check mode (the script does not declare '# hyperpod: check-safe')")
    if not os.path.isfile(params["path"]):
        module.fail_json(msg="%s: %s is not a file" % (params["name"], params["path"]), **result)
    if not os.access(params["interpreter"][0], os.X_OK):
        module.fail_json(msg="%s: its interpreter %s (from its #! line) is not on this node"
                         % (params["name"], params["interpreter"][0]), **result)
    if module.check_mode:
        params["env"]["HYPERPOD_CHECK"] = "1"
    log = Log(params["log"])
    try:
        rc, timed_out, seconds, out, err, notes = run(params, log)
    except OSError as exc:
        module.fail_json(msg="%s: cannot run it with %s (its #! line): %s"
                         % (params["name"], " ".join(params["interpreter"]), exc.strerror or exc), **result)
    finally:
        log.close()
    if log.error:
        module.warn("%s: %s" % (params["name"], log.error))
    for note in notes:
        module.warn("%s: %s" % (params["name"], note))
    seconds = round(seconds, 3)
    step.update(exit_code=None if timed_out else rc, duration_seconds=seconds, lines=out.count + err.count)
    result.update(exit_code=None if timed_out else rc, duration_seconds=seconds, timed_out=timed_out,
                  stdout_lines=list(out.tail), stderr_lines=list(err.tail), changed=not module.check_mode)
    if timed_out:
        reason = "stopped after its timeout of %ds (last line: %s)" % (params["timeout"], last_line(out, err))
    elif rc != 0:
        reason = "exited with %d after %.1fs (last line: %s)" % (rc, seconds, last_line(out, err))
    else:
        step["status"] = "changed" if not module.check_mode else "ok"
        done("exit 0 in %.1fs, %d lines of output" % (seconds, out.count + err.count))
    if params["allow_failure"]:
        step["status"] = "allowed_failure"
        module.warn("%s %s; allowed to fail (# hyperpod: allow-fail), the run goes on" % (params["name"], reason))
        done("failed (allowed): %s" % reason)
    step["status"] = "failed"
    step["summary"] = reason
    result["hyperpod_site_step"] = step
    module.fail_json(msg="%s %s" % (params["name"], reason), **result)


if __name__ == "__main__":
    main()
