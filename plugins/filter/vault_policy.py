# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: vault_policy_errors
short_description: What keeps OpenBao (Vault) ACL policies from parsing
version_added: "0.1.0"
author: Groundwork Maintainers (@groundwork-platform)
description:
  - Takes a mapping of policy names to HCL text and returns a mapping of the names whose text does
    not parse to what is wrong (with its line); empty when every policy parses.
  - Checks the structure (comments, top-level C(path "<glob>" { ... }) blocks, settings with
    strings, numbers, lists and nested objects) on the controller, so the vault role stops before
    any change. OpenBao still has the last word when a policy is written.
options:
  _input:
    description: Policy name to HCL text.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Refuse policies that do not parse
  ansible.builtin.assert:
    that: vault_policies | groundwork.platform.vault_policy_errors | length == 0
    fail_msg: "{{ vault_policies | groundwork.platform.vault_policy_errors }}"
"""

RETURN = r"""
_value:
  description: Name of each policy that does not parse, and why.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.platform.plugins.module_utils._vault_policy import policy_error


def vault_policy_errors(policies):
    if not isinstance(policies, dict):
        raise AnsibleFilterError("vault_policy_errors expects a mapping of policy names to HCL text")
    errors = {}
    for name, text in policies.items():
        error = policy_error(text)
        if error:
            errors[name] = error
    return errors


class FilterModule(object):
    def filters(self):
        return {'vault_policy_errors': vault_policy_errors}
