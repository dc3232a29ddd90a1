#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: check_input
short_description: Check a role's input in one task and name every variable that is wrong
version_added: "0.2.0"
author: Groundwork Maintainers (@groundwork-platform)
description:
  - Evaluates a list of checks on the controller, each a list of conditional expressions with a
    message, and fails with the message of every check that does not hold.
  - One task for all of a role's checks. A task, or an item of a looped M(ansible.builtin.assert),
    costs every host about 0.2 s on every run; the roles of this collection run their input checks
    on every run.
  - A check's message is templated only when the check fails, so that it may use values that exist
    only when the check's own conditions are false.
  - Messages should name variables, not print secrets; the action adds no values of its own to
    the result.
  - This is an action plugin; it runs on the controller and never contacts the host.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The checks only read variables.
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  checks:
    description:
      - The checks, evaluated in order. Every check is evaluated; the task fails when one or more fail.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: A label for the check, shown in RV(failed_checks).
        type: str
      that:
        description:
          - A conditional expression, or a list of them, as in M(ansible.builtin.assert) (no C({{ }})).
          - The check fails at the first expression that is false.
        type: list
        elements: str
        required: true
      msg:
        description: The message when the check fails; templated only then.
        type: str
        required: true
      when:
        description: A conditional expression; the check is evaluated only when it is true.
        type: str
"""

EXAMPLES = r"""
- name: Check the input
  groundwork.platform.check_input:
    checks:
      - name: Ports
        that:
          - myrole_port | int > 0 and myrole_port | int < 65536
        msg: "myrole: myrole_port must be 1-65535 (got {{ myrole_port }})."
      - name: The password is set
        that: myrole_password | length >= 12
        msg: "myrole: myrole_password must be set (12 characters or more)."
        when: myrole_auth_enabled | bool
"""

RETURN = r"""
evaluated:
  description: How many checks were evaluated (those whose O(checks[].when) was false are not).
  returned: always
  type: int
  sample: 5
failed_checks:
  description: Every check that failed, with the expression that was false and the message.
  returned: failed
  type: list
  elements: dict
  sample: [{"name": "Ports", "assertion": "myrole_port | int > 0 and myrole_port | int < 65536", "msg": "myrole: myrole_port must be 1-65535 (got 70000)."}]
msg:
  description: >-
    The message of each failed check followed by the expression that was false (C([failed: ...])), or
    how many checks passed.
  returned: always
  type: str
"""
