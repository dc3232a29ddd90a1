"""benchmarks/drill.py's reading of Patroni's journal in a leader race (`patroni_timeline`), which
docs/platform-report.md shows per failover. patroni-leader-race.journal is recorded on the lab:
`journalctl -u patroni -o short-unix` on lab-node1 from 6 s before to 21 s after `docker kill
lab-node3` in a `make drill` run, with 43 of its 44 tracebacks of HAProxy's GET checks left out
(1,677 lines; one is kept). The break's epoch is the drill's. The last test's lines are written
by hand, in the same format, for what that recording does not hold."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "benchmarks"))
from drill import patroni_timeline  # noqa: E402  pylint: disable=wrong-import-position

LINES = pathlib.Path(__file__).with_name("patroni-leader-race.journal").read_text(encoding="utf-8").splitlines()
# the break: `docker kill lab-node3` (the leader) at 04:35:58.54 UTC, drill run 20261206T042925
BREAK = 1796531758.54


def test_the_race_the_timeout_and_the_promotion_are_read_from_the_journal():
    got = patroni_timeline(LINES, BREAK, "lab-node3")
    # the request to lab-node3 failed at 04:36:18.326 after its 2-s connect timeout: the race
    # began at 04:36:16.326, when the leader key had expired; the promotion followed at .517
    assert got == {"race_began": 17.79, "lost_leader_given_up": 19.79, "promoted": 19.98}


def test_lines_before_the_break_and_requests_to_other_members_do_not_count():
    assert patroni_timeline(LINES, BREAK + 30, "lab-node3") == {}
    assert patroni_timeline(LINES, BREAK, "lab-node2") == {"promoted": 19.98}


def test_an_answering_member_marks_the_race_and_a_refused_request_names_no_timeout():
    lines = ["100.5 lab-node2 patroni[1]: 2026-12-06 00:00:00,500 INFO: Got response from lab-node3 "
             "http://10.0.0.4:8008/patroni: {\"state\": \"running\"}",
             "100.6 lab-node2 patroni[1]: 2026-12-06 00:00:00,600 WARNING: Request failed to lab-node1: GET "
             "http://10.0.0.2:8008/patroni (Connection refused)",
             "not a journal line"]
    assert patroni_timeline(lines, 90.0, "lab-node1") == {"race_began": 10.5, "lost_leader_given_up": 10.6}
