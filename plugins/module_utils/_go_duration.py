# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Go durations (the syntax of Go's time.ParseDuration: ``5s``, ``1m30s``, ``250ms``) as seconds.

MinIO, etcd and other Go programs take their timeouts in this syntax; a role that must compare two
of them (one timeout shorter than another) reads both here. Pure: no I/O.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, u"\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
# a number (5, 1.5, .5, 5.) and a unit; ms and ns before m and s, so that the longest unit matches
_PART = re.compile(u"([0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(ns|us|\u00b5s|ms|s|m|h)")


def duration_seconds(text):
    """Seconds in ``text``, a Go duration without a sign; None when it is not one.

    ``"0"`` alone is zero, as in Go; any other number needs a unit (``"5"`` is None).
    """
    if not isinstance(text, str):
        return None
    if text == "0":
        return 0.0
    total, pos = 0.0, 0
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return total if text else None
