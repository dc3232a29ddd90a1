"""benchmarks/drill.py's measure of one tier in one event (`outcome`), which docs/platform-report.md
shows: on samples written by hand (start relative to the drill, seconds taken, ok, error index)."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "benchmarks"))
from drill import outcome  # noqa: E402  pylint: disable=wrong-import-position

ERRORS = ["ConnectionTimeout: connection timeout expired"]


def steady(start, end, step=0.1, took=0.01):
    n = int(round((end - start) / step))
    return [(round(start + i * step, 3), took, True, None) for i in range(n)]


def test_nothing_failed_costs_the_load_interval_only():
    o = outcome(steady(0, 20), ERRORS, 5.0, 15.0)
    assert o["failed"] == 0 and o["recovered_s"] == 0.0
    assert o["stall_s"] <= 0.11 and o["ops"] == 100


def test_writes_that_fail_until_the_failover_count_from_the_event():
    samples = steady(0, 10) + [(10 + i * 2.0, 2.0, False, 0) for i in range(11)] + steady(32.5, 40)
    o = outcome(samples, ERRORS, 10.0, 40.0)
    assert o["failed"] == 11 and o["first_failure_s"] == 0.0
    # the first success starts at 32.5 s and takes 0.01 s: 22.51 s after the event
    assert o["recovered_s"] == 22.51 and o["stall_s"] == 22.51
    assert o["errors"] == ERRORS and o["max_latency_s"] == 2.0


def test_an_operation_that_hangs_is_a_stall_without_failures():
    samples = steady(0, 10) + [(10.0, 24.3, True, None)] + steady(34.4, 40)
    o = outcome(samples, ERRORS, 10.0, 40.0)
    assert o["failed"] == 0 and o["recovered_s"] == 0.0
    assert o["stall_s"] == 24.3 and o["max_latency_s"] == 24.3 and o["slow_ops"] == 1


def test_no_success_at_all_is_the_whole_window():
    samples = [(10 + i, 1.0, False, 0) for i in range(5)]
    o = outcome(samples, ERRORS, 10.0, 15.0)
    assert o["recovered_s"] is None and o["stall_s"] == 5.0
