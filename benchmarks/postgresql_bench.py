#!/usr/bin/env python3
"""PostgreSQL tier benchmark on running test hosts (the postgresql_cluster scenario or the lab).

  benchmarks/postgresql_bench.py --nodes pgc-1,pgc-2,pgc-3 --app-password-file FILE [--runs 3] [--endpoint pgc-svc:5000]

1. pgbench (initialised at --scale), select-only simple queries (-S), the same client load through PgBouncer (6432) and
   direct (5432), one after the other in one run; TPS and p50/p99 latency from per-transaction logs.
2. Unplanned failover: `docker kill` the primary's host; seconds until the first successful write
   through the stable endpoint: HAProxy's primary frontend with --endpoint HOST:PORT, else PgBouncer
   through the libpq multi-host list (median of --runs). The host is started again and rejoins.
3. Planned switchover: `patronictl switchover`; seconds until the first successful write (median).
Prints a Markdown table and writes JSON with --json.
"""
import argparse
import json
import statistics
import subprocess
import time


def sh(node, cmd, timeout=600):
    return subprocess.run(["docker", "exec", node, "sh", "-c", cmd], capture_output=True, text=True, timeout=timeout, check=False)


def members(nodes):
    for n in nodes:
        out = sh(n, "patronictl -c /etc/patroni/config.yml list -f json", timeout=20)
        if out.returncode == 0:
            return json.loads(out.stdout)
    raise RuntimeError("no member answers")


def leader(nodes):
    return [m["Member"] for m in members(nodes) if m["Role"] == "Leader"][0]


def healthy(nodes):
    try:
        ms = members(nodes)
    except RuntimeError:
        return False
    return len(ms) == len(nodes) and all(m["State"] in ("running", "streaming") for m in ms)


def wait(pred, timeout, interval=0.5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(interval)
    return False


def percentile(values, p):
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(p / 100.0 * len(values) + 0.5)) - 1))
    return values[k]


USER = {"name": "app"}


def pgbench(client, hosts, port, password, clients, seconds, db):
    env = f"PGPASSWORD='{password}' PGTARGETSESSIONATTRS=read-write"
    sh(client, "rm -rf /tmp/pgb && mkdir -p /tmp/pgb")
    out = sh(client, f"cd /tmp/pgb && {env} pgbench -n -S -h {hosts} -p {port} -U {USER['name']} -c {clients} -j 2 -T {seconds} "
                     f"--log --log-prefix=/tmp/pgb/log {db}")
    if out.returncode != 0:
        raise RuntimeError(out.stdout + out.stderr)
    tps = float([line for line in out.stdout.splitlines() if line.startswith("tps")][0].split("=")[1].split()[0])
    lat = sh(client, "cat /tmp/pgb/log*").stdout.split("\n")
    us = [int(line.split()[2]) for line in lat if line.strip()]
    return {"tps": round(tps), "p50_ms": round(percentile(us, 50) / 1000, 3), "p99_ms": round(percentile(us, 99) / 1000, 3),
            "transactions": len(us)}


ENDPOINT = {}


def write_ok(client, hosts, password):
    host, port = (ENDPOINT["host"], ENDPOINT["port"]) if ENDPOINT else (hosts, 6432)
    dsn = f"host={host} port={port} dbname=appdb user=app target_session_attrs=read-write connect_timeout=2"
    return sh(client, f"PGPASSWORD='{password}' psql -X -At '{dsn}' -c \"INSERT INTO events (note) VALUES ('bench')\"",
              timeout=15).returncode == 0


def failover(nodes, password):
    old = leader(nodes)
    client = [n for n in nodes if n != old][0]
    hosts = ",".join(nodes)
    subprocess.run(["docker", "kill", old], check=True, capture_output=True)
    t0 = time.monotonic()
    ok = wait(lambda: write_ok(client, hosts, password), 180, 0.2)
    took = time.monotonic() - t0
    subprocess.run(["docker", "start", old], check=True, capture_output=True)
    if not ok:
        raise RuntimeError("no write within 180 s")
    wait(lambda: healthy(nodes), 240, 2)
    return took


def switchover(nodes, password):
    old = leader(nodes)
    client = [n for n in nodes if n != old][0]
    hosts = ",".join(nodes)
    t0 = time.monotonic()
    out = sh(old, f"patronictl -c /etc/patroni/config.yml switchover --leader {old} --force")
    if out.returncode != 0:
        raise RuntimeError(out.stdout + out.stderr)
    ok = wait(lambda: write_ok(client, hosts, password), 120, 0.2)
    took = time.monotonic() - t0
    if not ok:
        raise RuntimeError("no write within 120 s")
    wait(lambda: healthy(nodes), 120, 2)
    return took


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", required=True)
    ap.add_argument("--app-password-file", required=True)
    ap.add_argument("--db", default="appdb")
    ap.add_argument("--user", default="app", help="database user for pgbench (the failover writes use app/appdb)")
    ap.add_argument("--latency-only", action="store_true", help="pgbench only: no failover or switchover")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--endpoint", help="HOST:PORT of HAProxy's primary frontend, for the failover and switchover writes")
    ap.add_argument("--json")
    args = ap.parse_args()
    nodes = args.nodes.split(",")
    USER["name"] = args.user
    if args.endpoint:
        host, port = args.endpoint.rsplit(":", 1)
        ENDPOINT.update(host=host, port=int(port))
    password = open(args.app_password_file, encoding="utf-8").read().split()[0]
    primary = leader(nodes)
    client = [n for n in nodes if n != primary][0]
    res = {"clients": args.clients, "seconds": args.seconds, "scale": args.scale, "endpoint": args.endpoint or "pgbouncer multi-host"}
    init = sh(client, f"PGPASSWORD='{password}' PGTARGETSESSIONATTRS=read-write pgbench -i -q -s {args.scale} "
                      f"-h {','.join(nodes)} -p 5432 -U {args.user} {args.db}")
    if init.returncode != 0:
        raise RuntimeError(init.stdout + init.stderr)
    res["pgbouncer"] = pgbench(client, ",".join(nodes), 6432, password, args.clients, args.seconds, args.db)
    res["direct"] = pgbench(client, ",".join(nodes), 5432, password, args.clients, args.seconds, args.db)
    print(f"{args.clients} clients, {args.seconds} s per path\n| path | TPS | p50 ms | p99 ms |\n|---|---|---|---|")
    for k in ("pgbouncer", "direct"):
        print(f"| {k} | {res[k]['tps']} | {res[k]['p50_ms']} | {res[k]['p99_ms']} |")
    if not args.latency_only:
        res["failover_s"] = [round(failover(nodes, password), 1) for _ in range(args.runs)]
        res["switchover_s"] = [round(switchover(nodes, password), 1) for _ in range(args.runs)]
        print(f"unplanned failover to first write: median {statistics.median(res['failover_s'])} s {res['failover_s']}")
        print(f"switchover to first write: median {statistics.median(res['switchover_s'])} s {res['switchover_s']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
