#!/usr/bin/env python3
"""Redis benchmarks on the project's own test hosts (the molecule `redis` scenario's containers).

  profiles  redis-benchmark p50/p99 latency and throughput per profile (cache, session, queue):
            a throwaway server per profile on the loopback of one test host, with the settings
            of roles/redis/defaults/main.yml; then the deployed primary over the private
            network, as the application user (queue profile, replication, min-replicas 1).
  failover  time from the primary's loss (docker kill) to the first successful write through
            a Sentinel-aware client (redis-py), repeated; the old primary is started again and
            must rejoin as a replica before the next round. Prints the median.

Prerequisite: `molecule create -s redis && molecule converge -s redis` (the containers and
the secrets under the scenario's ephemeral directory). Every loop is bounded in count and time.
"""
import argparse
import glob
import os
import pathlib
import shlex
import statistics
import subprocess
import sys
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
NODES = ("redis-1", "redis-2", "redis-3")
MASTER = "redis"


def sh(*cmd, timeout=300, check=True):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=check)


def dexec(container, script, timeout=300):
    return sh("docker", "exec", container, "sh", "-c", script, timeout=timeout)


def address(name):
    return sh("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name).stdout.strip()


def secrets_dir(given):
    if given:
        return pathlib.Path(given)
    found = sorted(glob.glob(os.path.expanduser("~/.ansible/tmp/molecule.*.redis/secrets")))
    if not found:
        sys.exit("no secrets: run `molecule create -s redis && molecule converge -s redis` first, or pass --secrets")
    return pathlib.Path(found[-1])


def parse_csv(out):
    """redis-benchmark --csv: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"."""
    rows = []
    for line in out.splitlines():
        cols = [c.strip('"') for c in line.split(",")]
        if len(cols) >= 7 and cols[0] != "test":
            rows.append({"test": cols[0].split()[0], "rps": float(cols[1]), "p50": float(cols[4]), "p99": float(cols[6])})
    return rows


def bench_cmd(args, extra=""):
    return (f"timeout 300 redis-benchmark {extra} -n {args.requests} -c {args.clients} -P 1 -r 100000 "
            f"-t {args.tests} --csv")


def profiles(args):
    secrets = secrets_dir(args.secrets)
    defaults = yaml.safe_load((ROOT / "roles/redis/defaults/main.yml").read_text(encoding="utf-8"))
    host = args.host
    results = []
    for port, (name, settings) in enumerate(sorted(defaults["redis_profiles"].items()), start=7101):
        flags = []
        for key, value in settings.items():
            value = {True: "yes", False: "no"}.get(value, value)
            flags.append(f"--{key} {shlex.quote(str(value)) if value != '' else shlex.quote('')}")
        script = (
            f"d=$(mktemp -d) && redis-server --bind 127.0.0.1 --port {port} --dir $d --daemonize yes "
            f"--logfile $d/log --pidfile $d/pid --maxmemory 256mb {' '.join(flags)} && sleep 1 && "
            f"{bench_cmd(args, f'-h 127.0.0.1 -p {port}')}; rc=$?; "
            f"redis-cli -p {port} shutdown nosave >/dev/null 2>&1; rm -rf $d; exit $rc")
        out = dexec(host, script, timeout=600).stdout
        results += [dict(r, where=f"{name} (loopback, {host})") for r in parse_csv(out)]
    # the deployed group: from a replica to the primary, as the application user
    from redis.sentinel import Sentinel  # noqa: E402 (only this part needs redis-py)
    addrs = {n: address(n) for n in NODES}
    s = Sentinel([(a, 26379) for a in addrs.values()],
                 sentinel_kwargs={"password": (secrets / "redis_sentinel_password").read_text().strip()})
    primary_ip = s.discover_master(MASTER)[0]
    client = next(n for n, a in addrs.items() if a != primary_ip)
    app = (secrets / "redis_app_password").read_text().strip()
    out = dexec(client, bench_cmd(args, f"-h {primary_ip} -p 6379 --user app -a {shlex.quote(app)}"), timeout=600).stdout
    results += [dict(r, where=f"queue, deployed primary over the network from {client}") for r in parse_csv(out)]
    print(f"redis-benchmark -n {args.requests} -c {args.clients} -P 1 -r 100000; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    print("| profile / target | test | requests/s | p50 ms | p99 ms |")
    print("|---|---|---:|---:|---:|")
    for r in results:
        print(f"| {r['where']} | {r['test']} | {r['rps']:.0f} | {r['p50']:.3f} | {r['p99']:.3f} |")


def failover(args):
    import redis  # noqa: E402
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    from redis.sentinel import Sentinel

    secrets = secrets_dir(args.secrets)
    addrs = {n: address(n) for n in NODES}
    no_retry = {"retry": Retry(NoBackoff(), 0), "socket_timeout": 0.5, "socket_connect_timeout": 0.5}

    def sentinel():
        return Sentinel([(a, 26379) for a in addrs.values()],
                        sentinel_kwargs={"password": (secrets / "redis_sentinel_password").read_text().strip(), **no_retry},
                        username="app", password=(secrets / "redis_app_password").read_text().strip(), **no_retry)

    admin_pw = (secrets / "redis_admin_password").read_text().strip()
    durations = []
    for round_no in range(1, args.rounds + 1):
        s = sentinel()
        old_ip = s.discover_master(MASTER)[0]
        old = next(n for n, a in addrs.items() if a == old_ip)
        master = s.master_for(MASTER)
        master.set("bench:warm", round_no)
        sh("docker", "kill", old, timeout=60)
        t0 = time.monotonic()
        took = None
        while time.monotonic() - t0 < 60:
            try:
                master.set("bench:failover", round_no)
                took = time.monotonic() - t0
                break
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                time.sleep(0.05)
        new_ip = s.discover_master(MASTER)[0]
        print(f"round {round_no}: killed {old}, first write after "
              f"{'%.2f s' % took if took is not None else 'NO WRITE WITHIN 60 s'}, new primary {new_ip}", flush=True)
        if took is not None:
            durations.append(took)
        sh("docker", "start", old, timeout=60)
        node = redis.Redis(host=old_ip, username="admin", password=admin_pw, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                role = node.execute_command("ROLE")
                if role[0] == b"slave" and role[3] == b"connected":
                    break
            except redis.RedisError:
                pass
            time.sleep(1)
        else:
            sys.exit(f"{old} did not rejoin as a replica within 180 s")
        time.sleep(args.settle)  # let the Sentinels mark it up again before the next kill
    if durations:
        print(f"\nfailover, kill to first write through Sentinel: median {statistics.median(durations):.2f} s, "
              f"min {min(durations):.2f} s, max {max(durations):.2f} s over {len(durations)} rounds "
              f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["profiles", "failover"])
    parser.add_argument("--secrets", help="directory of the scenario's secrets (default: the redis scenario's)")
    parser.add_argument("--host", default="redis-2", help="test host for the loopback runs")
    parser.add_argument("--requests", type=int, default=100000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--tests", default="set,get,lpush,rpop,xadd")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--settle", type=int, default=10, help="seconds between failover rounds")
    args = parser.parse_args()
    args.rounds = max(1, min(args.rounds, 20))
    args.requests = max(1000, min(args.requests, 1000000))
    {"profiles": profiles, "failover": failover}[args.what](args)


if __name__ == "__main__":
    main()
