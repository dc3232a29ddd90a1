# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Go durations as seconds: what MinIO's timeouts are compared with."""
import pytest

from ansible_collections.groundwork.platform.plugins.filter.go_duration import go_duration_seconds
from ansible_collections.groundwork.platform.plugins.module_utils._go_duration import duration_seconds

GOOD = [
    ("5s", 5.0), ("2s", 2.0), ("30s", 30.0), ("10m", 600.0), ("1h", 3600.0), ("1m30s", 90.0),
    ("1.5s", 1.5), (".5s", 0.5), ("5.s", 5.0), ("250ms", 0.25), ("1500ms", 1.5), ("2h45m", 9900.0),
    ("100us", 1e-4), (u"100\u00b5s", 1e-4), ("10ns", 1e-8), ("0", 0.0), ("0s", 0.0), ("1m0.5s", 60.5),
]
BAD = ["", "5", "five seconds", "-5s", "+5s", "5 s", "5S", "5sec", "s", "1m30", "5s ", "1d", "5s5"]


@pytest.mark.parametrize("text,seconds", GOOD)
def test_durations(text, seconds):
    assert duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", BAD)
def test_not_durations(text):
    assert duration_seconds(text) is None


def test_not_a_string():
    assert duration_seconds(5) is None
    assert duration_seconds(None) is None


def test_filter_reads_numbers_as_text():
    # a YAML value such as `minio_conn_user_timeout: 0` arrives as an int
    assert go_duration_seconds(0) == 0.0
    assert go_duration_seconds(5) is None
    assert go_duration_seconds("1m30s") == 90.0
