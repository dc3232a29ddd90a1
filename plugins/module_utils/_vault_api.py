# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of the vault_write module: what an OpenBao (or Vault) API answer means.

OpenBao answers a write with 200 and a JSON body, or 204 and none; a refused write with a
4xx/5xx status and ``{"errors": [...]}``. The errors are OpenBao's own messages (a path, a
permission, a parse error), never the request's body, so they can be shown.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json


def parse_body(text):
    """The JSON body of an answer, {} when there is none; (body, error text or None)."""
    if text is None or not text.strip():
        return {}, None
    try:
        body = json.loads(text)
    except ValueError:
        return {}, 'the answer is not JSON: %s' % text.strip()[:200]
    if not isinstance(body, dict):
        return {}, 'the answer is JSON but not an object: %s' % text.strip()[:200]
    return body, None


def outcome(method, path, status, text, expected):
    """-> (ok, body, message). `expected` is the list of statuses that mean success."""
    body, parse_error = parse_body(text)
    if status in expected:
        if parse_error and status != 204:
            return False, {}, '%s %s: %s' % (method, path, parse_error)
        return True, body, None
    if status is None or status < 0:
        return False, body, '%s %s: no answer (%s)' % (method, path, text or 'connection failed')
    errors = body.get('errors') if isinstance(body.get('errors'), list) else []
    detail = '; '.join(str(e) for e in errors) if errors else (parse_error or 'no error message')
    return False, body, '%s %s: HTTP %s, expected %s: %s' % (
        method, path, status, ', '.join(str(s) for s in expected), detail)
