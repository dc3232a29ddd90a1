"""The etcd role's membership: three members bootstrap a cluster (phase 0), two new hosts join
the running cluster one at a time without the others restarting (phase 1), and a member whose
disk was lost is replaced by a rerun, the cluster's data coming back to it (phase 2)."""
import re

import pytest
from conftest import SCENARIO, etcdctl, healthy, members, playbook, sh, wait_for

testinfra_hosts = ["ansible://etcd-1"]

THREE = ["etcd-1", "etcd-2", "etcd-3"]
FIVE = THREE + ["etcd-4", "etcd-5"]
MARKER = "/var/lib/etcd/.groundwork-bootstrapped"


def grow():
    return playbook(SCENARIO / "grow.yml", "--tags", "etcd", timeout=900)


def recap_changed(res, node):
    found = re.search(rf"^{re.escape(node)}\s*:.*?changed=(\d+)", res.stdout, re.M)
    assert found, res.stdout[-2000:]
    return int(found.group(1))


def started_at(node):
    return sh(node, "systemctl show -p ExecMainStartTimestampMonotonic etcd").stdout.strip()


def test_three_members_bootstrapped_over_tls(host):
    assert sorted(members()) == THREE
    assert all(m["started"] and m["peer"].startswith("https://") for m in members().values())
    assert healthy() == 3
    for node in THREE:
        line = sh(node, f"cat {MARKER}").stdout.strip()
        assert line.count("=https://") == 3 and "\n" not in line, line
    # the two hosts of the grown group are not members yet
    assert all(sh(n, f"test -e {MARKER}").returncode != 0 for n in ["etcd-4", "etcd-5"])


@pytest.mark.phase(1)
def test_two_new_hosts_join_the_running_cluster_and_the_others_keep_running(host):
    assert etcdctl("etcd-1", "put /grown before").returncode == 0
    before = {n: (started_at(n), sh(n, "md5sum /etc/default/etcd").stdout) for n in THREE}
    res = grow()
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    found = members()
    assert sorted(found) == FIVE, found
    assert all(m["started"] for m in found.values()), found
    assert wait_for(lambda: healthy() == 5, 60, what="five healthy members")
    # the three members were neither restarted nor reconfigured
    assert {n: (started_at(n), sh(n, "md5sum /etc/default/etcd").stdout) for n in THREE} == before
    for node in ["etcd-4", "etcd-5"]:
        env = sh(node, "cat /etc/default/etcd").stdout
        assert 'ETCD_INITIAL_CLUSTER_STATE="existing"' in env, env
        assert sh(node, f"cat {MARKER}").stdout.split("\n")[1] == "existing"
        # the new member holds the cluster's data: a local (serializable) read
        assert etcdctl(node, "get /grown --print-value-only --consistency=s").stdout.strip() == "before"
    # etcd-4 joined first: the membership etcd-4 started with does not name etcd-5
    assert "etcd-5=" not in sh("etcd-4", f"head -1 {MARKER}").stdout
    assert "etcd-4=" in sh("etcd-5", f"head -1 {MARKER}").stdout
    again = grow()
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    assert [recap_changed(again, n) for n in FIVE] == [0] * 5, again.stdout[-3000:]


@pytest.mark.phase(2)
def test_a_member_whose_disk_was_lost_is_replaced_and_gets_the_data_back(host):
    old = members()["etcd-2"]["id"]
    assert sh("etcd-2", f"systemctl stop etcd && rm -rf /var/lib/etcd/default {MARKER}").returncode == 0
    assert wait_for(lambda: healthy() == 4, 60, what="four healthy members")
    assert etcdctl("etcd-1", "put /replaced while-etcd-2-was-gone").returncode == 0
    res = grow()
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    found = members()
    assert sorted(found) == FIVE and found["etcd-2"]["id"] != old, found
    assert all(m["started"] for m in found.values()), found
    assert wait_for(lambda: healthy() == 5, 60, what="five healthy members")
    assert etcdctl("etcd-2", "get /replaced --print-value-only --consistency=s").stdout.strip() == "while-etcd-2-was-gone"
    assert sh("etcd-2", f"sed -n 2p {MARKER}").stdout.strip() == "existing"
    # only etcd-2 changed
    assert [recap_changed(res, n) for n in FIVE if n != "etcd-2"] == [0] * 4, res.stdout[-3000:]
    again = grow()
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    assert [recap_changed(again, n) for n in FIVE] == [0] * 5, again.stdout[-3000:]
