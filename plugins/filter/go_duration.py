# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: go_duration_seconds
short_description: The seconds in a Go duration such as 5s or 1m30s
version_added: "0.1.0"
author: Groundwork Maintainers (@groundwork-platform)
description:
  - Reads a duration in the syntax of Go's C(time.ParseDuration) (units ns, us, ms, s, m, h;
    C(1m30s), C(1.5s), C(250ms)), without a sign, and returns its length in seconds.
  - Returns none for anything else (C(5) without a unit, C(five seconds), C(-5s)), so that a role's
    input check can name the variable instead of failing in the filter.
options:
  _input:
    description: The duration.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: The connection timeout is shorter than the drive timeout
  ansible.builtin.assert:
    that: (minio_conn_user_timeout | groundwork.platform.go_duration_seconds) < (minio_drive_max_timeout | groundwork.platform.go_duration_seconds)
"""

RETURN = r"""
_value:
  description: The duration in seconds (a float), or none when the input is not a Go duration.
  type: float
"""

from ansible_collections.groundwork.platform.plugins.module_utils._go_duration import duration_seconds


def go_duration_seconds(value):
    return duration_seconds(value if isinstance(value, str) else str(value))


class FilterModule(object):
    def filters(self):
        return {'go_duration_seconds': go_duration_seconds}
