"""benchmarks/kafka_bench.py's reading of kafka-producer-perf-test's summary (`perf_summary`): on the
last four lines of a run recorded on the lab (2026-12-06, Kafka 4.3.1, `--num-records 2500000
--warmup-records 500000`, acks=all, batching and lz4), and on the same run's whole-run line alone
(a run without a warm-up)."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "benchmarks"))
from kafka_bench import perf_summary  # noqa: E402  pylint: disable=wrong-import-position

RECORDED = """\
707650 records sent, 140881.9 records/sec (13.44 MB/sec), 1035.1 ms avg latency, 3154.0 ms max latency.
1059531 records sent, 211694.5 records/sec (20.19 MB/sec), 151.5 ms avg latency, 1039.0 ms max latency.
2500000 records sent, 131967.905405 records/sec (12.59 MB/sec), 497.84 ms avg latency, 3154.00 ms max latency, \
290 ms 50th, 1620 ms 95th, 2895 ms 99th, 3077 ms 99.9th.
2000000 steady state records sent, 182000.182000 records/sec (17.36 MB/sec), 488.30 ms avg latency, \
3154.00 ms max latency, 219 ms 50th, 1734 ms 95th, 2912 ms 99th, 3143 ms 99.9th.
"""


def test_the_steady_state_line_gives_the_figures_and_the_whole_run_its_rate():
    rps, mbs, p99, whole, line = perf_summary(RECORDED)
    assert (rps, mbs, p99) == (182000.182, 17.36, 2912.0)
    assert whole == 131967.905405
    assert line.startswith("2000000 steady state records sent")


def test_the_progress_lines_are_not_taken_for_the_summary():
    # the progress lines have the same start but no percentiles; without a warm-up the whole run counts
    whole_only = "\n".join(RECORDED.splitlines()[:3])
    rps, mbs, p99, whole, line = perf_summary(whole_only)
    assert (rps, mbs, p99, whole) == (131967.905405, 12.59, 2895.0, 131967.905405)
    assert line.startswith("2500000 records sent")
