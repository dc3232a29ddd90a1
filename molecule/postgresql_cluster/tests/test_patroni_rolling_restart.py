"""A rerun of the play that changes a setting needing a restart: Patroni restarts the members
one at a time, replicas first, each back and caught up before the next, and the primary stays
where it is. The same run's TimescaleDB report is checked too, and then `--check --diff` on the
converged cluster. Runs last (phase 3): it leaves max_locks_per_transaction changed."""
import json
import re

import pytest

from conftest import NODES, SCENARIO, TRANSIENT, leader, local_sql, members, playbook, wait_for

testinfra_hosts = ["ansible://pgc-1"]
pytestmark = pytest.mark.phase(3)


def _started(node):
    return float(local_sql(node, "SELECT extract(epoch FROM pg_postmaster_start_time())"))


@pytest.fixture(scope="module")
def rerun():
    primary = leader()[0]
    new = str(int(local_sql(primary, "SHOW max_locks_per_transaction")) + 32)
    before = {n: _started(n) for n in NODES}
    res = playbook(SCENARIO / "converge.yml", "-e", json.dumps({"postgresql_parameters": {"max_locks_per_transaction": new}}))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    return {"primary": primary, "new": new, "before": before, "out": out,
            "extra": json.dumps({"postgresql_parameters": {"max_locks_per_transaction": new}})}


def test_a_restart_setting_rolls_replicas_first_one_at_a_time(host, rerun):
    primary, new, out = rerun["primary"], rerun["new"], rerun["out"]
    # the play restarted each member once, replicas first, and waited for each to be back
    # and caught up before it restarted the next
    steps = re.findall(r"^TASK \[[^\]]*: (Restart through Patroni the member|Wait until it runs and has caught up,) (pgc-\d)\]",
                       out, re.M)
    restarted = [node for kind, node in steps if kind.startswith("Restart")]
    assert sorted(restarted) == NODES, steps
    assert restarted[-1] == primary, steps
    expected = []
    for n in restarted:
        expected += [("Restart through Patroni the member", n), ("Wait until it runs and has caught up,", n)]
    assert steps == expected, steps

    # every server runs the new value, none still pending, and started again in that order
    after = {n: _started(n) for n in NODES}
    for n in NODES:
        assert local_sql(n, "SHOW max_locks_per_transaction") == new, n
        assert local_sql(n, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0", n
        assert after[n] > rerun["before"][n], n
    assert sorted(NODES, key=after.get) == restarted

    # a planned restart is not a failover: same primary, replicas streaming again
    assert leader() == [primary]
    # the replicas reconnect to the restarted primary on their own schedule
    wait_for(lambda: all(m["State"] in ("running", "streaming") for m in members()), 120, 2,
             "every member running or streaming", ignore=TRANSIENT, detail=members)


def test_the_apache_edition_names_the_continuous_aggregates_it_does_not_create(host, rerun):
    # Debian's build refuses continuous aggregates: the converge did not fail on the one the
    # scenario defines, created nothing, and its report names it
    report = " ".join(re.sub(r"\\\n\s*", "", rerun["out"]).split())
    assert "TimescaleDB edition 'apache'" in report, report[-3000:]
    assert "continuous aggregates not created: camera_metrics_hourly" in report, report[-3000:]
    assert local_sql(rerun["primary"], "SELECT to_regclass('public.camera_metrics_hourly') IS NULL", db="appdb") == "t"


def test_check_mode_on_the_converged_cluster_reports_no_change(host, rerun):
    res = playbook(SCENARIO / "converge.yml", "--check", "--diff", "-e", rerun["extra"])
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    recap = re.findall(r"^(pgc-[a-z0-9]+)\s*:\s*ok=\d+\s+changed=(\d+)", out, re.M)
    assert len(recap) == 4, out[-2000:]
    assert all(changed == "0" for _, changed in recap), [line for line in out.splitlines() if "changed:" in line][:20]
