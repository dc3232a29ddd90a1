#!/usr/bin/python3
# Managed by groundwork.platform.postgresql
"""Keep etcd's leader off the host of the Patroni leader.

When etcd elects a new leader, its lessor extends every lease by a full TTL ("lessor promote"):
if the lost host held both the Patroni leader and the etcd leader, Patroni's leader key then
lives a fresh ttl after etcd's election instead of ttl after its last renewal, and the failover
takes several seconds longer. This script moves etcd's leadership (etcdctl move-leader) from the
member on this host to a healthy other member when this host runs the Patroni leader.

Runs as postgres, from Patroni's on_role_change hook (--role ROLE: only a new primary acts) and
from a systemd timer (asks the local Patroni REST API whether it is the primary). Idempotent:
it does nothing unless the etcd leader is the member on this host and this host is the primary.
Bounded: every etcdctl call has a dial and a command timeout, and a run that finds another run
holding the lock leaves. Logs to the journal (identifier patroni-etcd-leader-away) what it did:
a move, or why it could not; the timer's runs that find nothing to do log nothing.
Exit status: 0, or 1 when a move failed (or the configuration cannot be read).
"""
import argparse
import fcntl
import json
import os
import subprocess
import sys
import syslog
import urllib.error
import urllib.request

CONFIG = "/etc/patroni/etcd-leader-away.json"
IDENT = "patroni-etcd-leader-away"
PRIMARY_ROLES = ("primary", "master")


def plan(members, statuses, local):
    """What to do, from etcd's member list and the endpoint statuses that answered.

    members: the "members" of `etcdctl member list -w json` (ID, name, clientURLs, isLearner).
    statuses: the "Status" objects of `etcdctl endpoint status -w json` that answered.
    local: {"name": ..., "url": ...}, the etcd member on this host (by name or client URL).
    Returns {"action": "none"|"move"|"stuck", "reason": str, "leader": member, "local": member,
    "target": member}.
    """
    by_id = {m.get("ID"): m for m in members}
    mine = [m for m in members if m.get("name") == local.get("name")
            or (local.get("url") and local["url"] in m.get("clientURLs", []))]
    if not mine:
        return {"action": "none", "reason": "no etcd member runs on this host"}
    me = mine[0]
    # the leader as the members of the newest term see it
    live = [s for s in statuses if s.get("leader")]
    if not live:
        return {"action": "none", "reason": "no etcd member that answered knows a leader", "local": me}
    term = max(s.get("raftTerm", s.get("header", {}).get("raft_term", 0)) for s in live)
    current = [s for s in live if s.get("raftTerm", s.get("header", {}).get("raft_term", 0)) == term]
    leader_id = current[0]["leader"]
    leader = by_id.get(leader_id, {"ID": leader_id, "name": format(leader_id, "x")})
    if leader_id != me.get("ID"):
        return {"action": "none", "reason": f"etcd's leader is {leader.get('name')}, not on this host",
                "leader": leader, "local": me}
    # a healthy other member: it answered, follows the same leader, is a voting member
    candidates = []
    for s in current:
        mid = s.get("header", {}).get("member_id")
        m = by_id.get(mid)
        if m is None or mid == me.get("ID") or m.get("isLearner") or s.get("isLearner") or s.get("errors"):
            continue
        candidates.append((-int(s.get("raftAppliedIndex", s.get("raftIndex", 0))), m.get("name", ""), m))
    if not candidates:
        return {"action": "stuck", "reason": "no healthy other etcd member to hand the leadership to",
                "leader": leader, "local": me}
    target = sorted(candidates, key=lambda c: (c[0], c[1]))[0][2]
    return {"action": "move", "reason": "the Patroni leader and etcd's leader are both on this host",
            "leader": leader, "local": me, "target": target}


def log(priority, message):
    syslog.syslog(priority, message)
    if sys.stderr.isatty():
        print(message, file=sys.stderr)


def etcdctl(conf, endpoints, *args):
    cmd = ["etcdctl", "--endpoints=" + ",".join(endpoints),
           f"--dial-timeout={conf.get('dial_timeout', 2)}s", f"--command-timeout={conf.get('command_timeout', 5)}s"]
    for opt in ("cacert", "cert", "key"):
        if conf.get(opt):
            cmd.append(f"--{opt}={conf[opt]}")
    return subprocess.Popen(cmd + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, ETCDCTL_API="3"))


def finish(proc, limit):
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return 124, out, "timed out"
    return proc.returncode, out, err.strip()


def statuses(conf, endpoints):
    """Each endpoint's status, asked of every endpoint at once (a lost member costs one dial timeout)."""
    limit = conf.get("dial_timeout", 2) + conf.get("command_timeout", 5) + 2
    procs = [etcdctl(conf, [ep], "endpoint", "status", "-w", "json") for ep in endpoints]
    out = []
    for proc in procs:
        rc, text, _err = finish(proc, limit)
        if rc == 0:
            try:
                out.extend(e["Status"] for e in json.loads(text) if "Status" in e)
            except (ValueError, KeyError, TypeError):
                pass
    return out


def is_primary(conf):
    try:
        with urllib.request.urlopen(conf["patroni_url"] + "/primary", timeout=5) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def run(conf, role, trigger):
    if role is not None:
        if role not in PRIMARY_ROLES:
            return 0
    elif not is_primary(conf):
        return 0
    limit = conf.get("dial_timeout", 2) + conf.get("command_timeout", 5) + 2
    rc, text, err = finish(etcdctl(conf, conf["endpoints"], "member", "list", "-w", "json"), limit)
    if rc != 0:
        log(syslog.LOG_WARNING, f"{trigger}: cannot list etcd's members: {err}")
        return 0
    try:
        members = json.loads(text).get("members", [])
    except ValueError:
        log(syslog.LOG_WARNING, f"{trigger}: etcdctl member list gave no JSON")
        return 0
    urls = sorted({u for m in members for u in m.get("clientURLs", [])}) or conf["endpoints"]
    decision = plan(members, statuses(conf, urls), conf.get("local", {}))
    if decision["action"] == "none":
        if role is not None:
            log(syslog.LOG_NOTICE, f"{trigger}: nothing to do: {decision['reason']}")
        return 0
    if decision["action"] == "stuck":
        log(syslog.LOG_WARNING, f"{trigger}: etcd's leader stays on this host: {decision['reason']}")
        return 0
    me, target = decision["local"], decision["target"]
    # move-leader talks to the leader itself: its own client URL, not a list with a lost member
    leader_url = me.get("clientURLs", [])[:1] or conf["endpoints"]
    rc, _out, err = finish(etcdctl(conf, leader_url, "move-leader", format(target["ID"], "x")), limit)
    if rc != 0:
        log(syslog.LOG_ERR, f"{trigger}: moving etcd's leadership from {me.get('name')} to {target.get('name')} failed: {err}")
        return 1
    log(syslog.LOG_NOTICE, f"{trigger}: moved etcd's leadership from {me.get('name')} to {target.get('name')} "
                           f"({decision['reason']})")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=CONFIG)
    parser.add_argument("--role", help="the role Patroni's on_role_change passed (else ask Patroni's REST API)")
    args = parser.parse_args(argv)
    syslog.openlog(IDENT, 0, syslog.LOG_DAEMON)
    trigger = "on_role_change" if args.role is not None else "timer"
    try:
        fh = open(args.config, encoding="utf-8")  # pylint: disable=consider-using-with
        conf = json.load(fh)
    except (OSError, ValueError) as exc:
        log(syslog.LOG_ERR, f"{trigger}: cannot read {args.config}: {exc}")
        return 1
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another run is at it
    try:
        return run(conf, args.role, trigger)
    finally:
        fh.close()


if __name__ == "__main__":
    sys.exit(main())
