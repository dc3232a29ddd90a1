"""The postgresql role's etcd leader mover (roles/postgresql/files/patroni-etcd-leader-away): its
decision on etcdctl's JSON, and whole runs of main() over a stand-in etcdctl that answers from a
state file written here (the shapes of etcd 3.5's `member list -w json` and `endpoint status -w
json`, written by hand) and records the move-leader it is asked for."""
import importlib.machinery
import importlib.util
import json
import pathlib
import stat
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[3] / "roles/postgresql/files/patroni-etcd-leader-away.py"
_spec = importlib.util.spec_from_loader("patroni_etcd_leader_away",
                                        importlib.machinery.SourceFileLoader("patroni_etcd_leader_away", str(SCRIPT)))
mover = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mover)

# etcd member IDs are uint64 (JSON numbers above 2**63 included)
IDS = {"pg-1": 10276657743932975437, "pg-2": 3540587262183813451, "pg-3": 17237436991929493444}
URL = {n: f"https://10.0.0.{i}:2379" for i, n in enumerate(IDS, 1)}


def _members(learner=()):
    return [{"ID": IDS[n], "name": n, "peerURLs": [URL[n].replace("2379", "2380")], "clientURLs": [URL[n]],
             **({"isLearner": True} if n in learner else {})} for n in IDS]


def _status(name, leader, term=3, applied=100):
    return {"header": {"cluster_id": 1, "member_id": IDS[name], "revision": 50, "raft_term": term},
            "version": "3.5.16", "dbSize": 20480, "leader": IDS[leader], "raftIndex": applied, "raftTerm": term,
            "raftAppliedIndex": applied, "dbSizeInUse": 20480}


LOCAL = {"name": "pg-1", "url": URL["pg-1"]}


def test_leader_elsewhere_is_left_alone():
    d = mover.plan(_members(), [_status(n, "pg-2") for n in IDS], LOCAL)
    assert d["action"] == "none" and d["leader"]["name"] == "pg-2"


def test_leader_here_moves_to_the_most_caught_up_other_member():
    statuses = [_status("pg-1", "pg-1", applied=100), _status("pg-2", "pg-1", applied=98),
                _status("pg-3", "pg-1", applied=99)]
    d = mover.plan(_members(), statuses, LOCAL)
    assert d["action"] == "move" and d["target"]["name"] == "pg-3" and d["local"]["name"] == "pg-1"


def test_equal_members_are_chosen_by_name():
    d = mover.plan(_members(), [_status(n, "pg-1") for n in IDS], LOCAL)
    assert d["target"]["name"] == "pg-2"


def test_a_member_that_did_not_answer_or_is_a_learner_is_no_target():
    d = mover.plan(_members(learner=("pg-3",)), [_status("pg-1", "pg-1"), _status("pg-3", "pg-1")], LOCAL)
    assert d["action"] == "stuck"


def test_a_member_of_an_older_term_is_no_witness_nor_target():
    # pg-3 answers from term 2 still naming pg-2 leader; the newest term says pg-1
    statuses = [_status("pg-1", "pg-1", term=3), _status("pg-3", "pg-2", term=2), _status("pg-2", "pg-1", term=3)]
    d = mover.plan(_members(), statuses, LOCAL)
    assert d["action"] == "move" and d["target"]["name"] == "pg-2"


def test_the_local_member_is_found_by_its_client_url():
    d = mover.plan(_members(), [_status(n, "pg-1") for n in IDS], {"name": "other-name", "url": URL["pg-1"]})
    assert d["action"] == "move" and d["local"]["name"] == "pg-1"


def test_no_member_here_or_no_leader_is_nothing_to_do():
    assert mover.plan(_members(), [_status(n, "pg-1") for n in IDS], {"name": "app-1", "url": ""})["action"] == "none"
    assert mover.plan(_members(), [], LOCAL)["action"] == "none"


FAKE_ETCDCTL = """#!{python}
import json, sys
state = json.load(open({state!r}))
args = sys.argv[1:]
eps = [a.split("=", 1)[1] for a in args if a.startswith("--endpoints=")][0].split(",")
with open({calls!r}, "a") as fh:
    fh.write(json.dumps(args) + "\\n")
if "member" in args:
    print(json.dumps({{"header": {{}}, "members": state["members"]}}))
elif "status" in args:
    out = [{{"Endpoint": ep, "Status": state["status"][ep]}} for ep in eps if ep in state["status"]]
    if not out:
        sys.stderr.write("context deadline exceeded\\n")
        sys.exit(1)
    print(json.dumps(out))
elif "move-leader" in args:
    sys.exit(state.get("move_rc", 0))
"""


@pytest.fixture()
def world(tmp_path, monkeypatch):
    state, calls = tmp_path / "state.json", tmp_path / "calls"
    fake = tmp_path / "bin" / "etcdctl"
    fake.parent.mkdir()
    fake.write_text(FAKE_ETCDCTL.format(python=sys.executable, state=str(state), calls=str(calls)))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    conf = tmp_path / "conf.json"
    conf.write_text(json.dumps({"endpoints": list(URL.values()), "cacert": "/etc/patroni/tls/ca.crt",
                                "cert": "/etc/patroni/tls/server.crt", "key": "/etc/patroni/tls/server.key",
                                "local": LOCAL, "patroni_url": "http://127.0.0.1:1", "dial_timeout": 1,
                                "command_timeout": 2}))
    logged = []
    monkeypatch.setattr(mover, "log", lambda prio, msg: logged.append((prio, msg)))

    def setup(leader, answering=tuple(IDS), move_rc=0):
        state.write_text(json.dumps({"members": _members(), "move_rc": move_rc,
                                     "status": {URL[n]: _status(n, leader) for n in answering}}))

    def moves():
        lines = calls.read_text().splitlines() if calls.exists() else []
        return [json.loads(line) for line in lines if "move-leader" in line]
    return {"conf": str(conf), "setup": setup, "moves": moves, "logged": logged}


def test_main_as_new_primary_moves_the_leader_with_the_tls_settings(world):
    world["setup"]("pg-1")
    assert mover.main(["--config", world["conf"], "--role", "primary"]) == 0
    (move,) = world["moves"]()
    # asked of the leader's own endpoint, with Patroni's client certificate, the target's ID in hex
    assert f"--endpoints={URL['pg-1']}" in move and move[-1] == format(IDS["pg-2"], "x")
    assert "--cert=/etc/patroni/tls/server.crt" in move and "--cacert=/etc/patroni/tls/ca.crt" in move
    assert any("moved etcd's leadership from pg-1 to pg-2" in m for _prio, m in world["logged"])


def test_main_with_a_lost_member_moves_to_the_one_that_answers(world):
    world["setup"]("pg-1", answering=("pg-1", "pg-3"))
    assert mover.main(["--config", world["conf"], "--role", "master"]) == 0
    assert world["moves"]()[0][-1] == format(IDS["pg-3"], "x")


def test_main_leaves_a_leader_elsewhere_and_says_so_on_a_role_change(world):
    world["setup"]("pg-2")
    assert mover.main(["--config", world["conf"], "--role", "primary"]) == 0
    assert world["moves"]() == [] and "nothing to do" in world["logged"][-1][1]


def test_main_as_a_replica_does_nothing(world):
    world["setup"]("pg-1")
    assert mover.main(["--config", world["conf"], "--role", "replica"]) == 0
    assert world["moves"]() == [] and world["logged"] == []


def test_main_from_the_timer_asks_patroni_and_does_nothing_on_a_replica(world, monkeypatch):
    world["setup"]("pg-1")
    monkeypatch.setattr(mover, "is_primary", lambda conf: False)
    assert mover.main(["--config", world["conf"]]) == 0 and world["moves"]() == []
    monkeypatch.setattr(mover, "is_primary", lambda conf: True)
    assert mover.main(["--config", world["conf"]]) == 0 and len(world["moves"]()) == 1


def test_main_reports_a_failed_move(world):
    world["setup"]("pg-1", move_rc=1)
    assert mover.main(["--config", world["conf"], "--role", "primary"]) == 1
    assert "failed" in world["logged"][-1][1]


def test_main_without_its_settings_fails(tmp_path, world):
    assert mover.main(["--config", str(tmp_path / "missing.json"), "--role", "primary"]) == 1
