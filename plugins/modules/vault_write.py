#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vault_write
short_description: One write to the OpenBao (or Vault) HTTP API, predicted in check mode
version_added: "0.1.0"
author: Groundwork Maintainers (@groundwork-platform)
description:
  - Sends one C(POST) or C(PUT) with a JSON body and a token to an OpenBao or HashiCorp Vault
    API path, verifying TLS against a CA file, and returns the answer.
  - It is the write half of the vault role's configuration as code. The role reads the current
    object, compares it with what is declared and calls this module only where the two differ,
    so every call is a change. In check mode the module sends nothing and reports that change;
    C(ansible.builtin.uri), which has no check mode, is skipped there instead, which would hide
    the pending writes of a C(--check) run.
  - Needs nothing but Python's standard library on the host (no C(hvac)).
  - How an answer is read (statuses, OpenBao's C(errors) list) is in
    C(plugins/module_utils/_vault_api.py), unit tested.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Nothing is sent; the result is changed, with an empty RV(json) and RV(status) null.
  diff_mode:
    support: none
    details: The role decides what differs before it calls the module.
  platform:
    platforms: posix
options:
  url:
    description:
      - The full URL of the API path, for example C(https://10.0.0.5:8200/v1/sys/policies/acl/app).
    type: str
    required: true
  method:
    description:
      - The HTTP method (OpenBao treats both alike).
    type: str
    choices: [POST, PUT]
    default: POST
  token:
    description:
      - The token sent as C(X-Vault-Token). Never logged, never returned.
      - Empty for the calls that need none (a login).
    type: str
    default: ""
  body:
    description:
      - The request's JSON body.
    type: dict
    default: {}
  ca_path:
    description:
      - The CA certificate that the server's certificate must chain to. Without it, the
        system's trust store is used.
    type: path
  status_code:
    description:
      - The statuses that mean success.
    type: list
    elements: int
    default: [200, 204]
  timeout:
    description:
      - Seconds to wait for the answer.
    type: int
    default: 30
notes:
  - The token is only sent in the header. The body can hold secrets (a password, a secret id),
    so run such a task with C(no_log), as the vault role does.
"""

EXAMPLES = r"""
- name: Write a policy that differs
  groundwork.platform.vault_write:
    url: "https://{{ ansible_host }}:8200/v1/sys/policies/acl/app-read"
    method: PUT
    token: "{{ admin_token }}"
    body:
      policy: 'path "secret/data/app/*" { capabilities = ["read"] }'
    ca_path: /etc/openbao/tls/ca.crt
  no_log: true
"""

RETURN = r"""
status:
  description: The HTTP status of the answer; null in check mode.
  returned: always
  type: int
  sample: 204
json:
  description: The answer's JSON body; empty for a 204 and in check mode.
  returned: always
  type: dict
  sample: {"data": {"csr": "-----BEGIN CERTIFICATE REQUEST-----\n..."}}
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urlsplit

from ansible_collections.groundwork.platform.plugins.module_utils._vault_api import outcome


def send(module):
    params = module.params
    headers = {'Content-Type': 'application/json'}
    if params['token']:
        headers['X-Vault-Token'] = params['token']
    try:
        answer = open_url(params['url'], data=json.dumps(params['body']), headers=headers,
                          method=params['method'], ca_path=params['ca_path'], timeout=params['timeout'],
                          follow_redirects='none')
        return answer.getcode(), answer.read().decode('utf-8', 'replace')
    except HTTPError as err:
        return err.code, err.read().decode('utf-8', 'replace')
    except (URLError, OSError, ValueError) as err:
        return None, str(getattr(err, 'reason', err))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type='str', required=True),
            method=dict(type='str', choices=['POST', 'PUT'], default='POST'),
            token=dict(type='str', default='', no_log=True),
            body=dict(type='dict', default={}),
            ca_path=dict(type='path'),
            status_code=dict(type='list', elements='int', default=[200, 204]),
            timeout=dict(type='int', default=30),
        ),
        supports_check_mode=True,
    )
    path = urlsplit(module.params['url']).path
    if module.check_mode:
        module.exit_json(changed=True, status=None, json={}, msg='%s %s: would be sent' % (module.params['method'], path))
    status, text = send(module)
    ok, body, message = outcome(module.params['method'], path, status, text, module.params['status_code'])
    if not ok:
        module.fail_json(msg=message, status=status, json=body)
    module.exit_json(changed=True, status=status, json=body)


if __name__ == '__main__':
    main()
