#!/usr/bin/env python3
"""OpenBao benchmarks on the lab (`make lab`: lab-node1..3, one raft cluster, static seal).

  kv        KV v2 write and read latency (p50/p99) and rate from a client on this machine
            (the controller), over TLS verified against the lab's platform CA, as the AppRole
            "benchmark" (a policy on secret/data/benchmark/* only). One client, then
            --threads clients at once; through the active node and through a standby (which
            forwards to the active node).
  failover  time from killing the active node's OpenBao (SIGKILL, or --kill host: docker kill
            of its container, then start) until a write succeeds again, for a client that
            knows the three addresses and tries them in turn (1 s connect timeout); repeated
            --rounds times; the killed node must be back as an unsealed standby before the next
            round. Prints the median.

Traffic goes only to the lab's containers; every loop is bounded in count and in time.
"""
import argparse
import concurrent.futures
import json
import pathlib
import statistics
import subprocess
import sys
import threading
import time

import requests
import urllib3

ROOT = pathlib.Path(__file__).resolve().parents[1]
SECRETS = ROOT / "build" / "lab-secrets"
NODES = ("lab-node1", "lab-node2", "lab-node3")
ROLE_ID = "groundwork-lab-benchmark"


def sh(*cmd, timeout=120, check=True):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=check)


def address(name):
    return sh("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name).stdout.strip()


class Cluster:
    def __init__(self):
        self.ca = str(SECRETS / "ca" / "ca.crt")
        self.urls = {n: f"https://{address(n)}:8200" for n in NODES}
        self.token = None

    def session(self):
        s = requests.Session()
        # no proxy or CA bundle from the environment (it would override verify): the lab's CA only
        s.trust_env = False
        s.verify = self.ca
        return s

    def health(self, node, session=None):
        try:
            return (session or requests).get(self.urls[node] + "/v1/sys/health", verify=self.ca, timeout=2).status_code
        except requests.RequestException:
            return 0

    def active(self):
        found = [n for n in NODES if self.health(n) == 200]
        return found[0] if len(found) == 1 else None

    def standbys(self):
        return [n for n in NODES if self.health(n) == 429]

    def login(self):
        secret_id = (SECRETS / "vault_benchmark_secret_id").read_text().strip()
        out = requests.post(self.urls[NODES[0]] + "/v1/auth/approle/login", verify=self.ca, timeout=10,
                            json={"role_id": ROLE_ID, "secret_id": secret_id})
        out.raise_for_status()
        self.token = out.json()["auth"]["client_token"]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def kv_run(cluster, node, op, ops, threads, deadline_s):
    """`ops` requests of `op` (write/read) through `node`, split over `threads` clients."""
    url = cluster.urls[node] + "/v1/secret/data/benchmark/k"
    headers = {"X-Vault-Token": cluster.token}
    per_thread = max(1, ops // threads)
    stop_at = time.monotonic() + deadline_s

    def client(index):
        s = cluster.session()
        latencies, errors = [], 0
        for i in range(per_thread):
            if time.monotonic() > stop_at:
                break
            key = f"{url}{(index * per_thread + i) % 200}"
            start = time.perf_counter()
            try:
                if op == "write":
                    r = s.post(key, headers=headers, json={"data": {"v": "x" * 64, "i": i}}, timeout=5)
                else:
                    r = s.get(key, headers=headers, timeout=5)
                ok = r.status_code == 200
            except requests.RequestException:
                ok = False
            latencies.append(time.perf_counter() - start)
            errors += not ok
        return latencies, errors

    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(client, range(threads)))
    elapsed = time.perf_counter() - began
    latencies = [x for lat, _ in results for x in lat]
    errors = sum(e for _, e in results)
    return {"node": node, "op": op, "threads": threads, "ops": len(latencies), "errors": errors,
            "rate": round(len(latencies) / elapsed, 1),
            "p50_ms": round(percentile(latencies, 50) * 1000, 2), "p99_ms": round(percentile(latencies, 99) * 1000, 2)}


def kv(cluster, args):
    active = cluster.active()
    standby = cluster.standbys()[0]
    # the keys exist before they are read
    kv_run(cluster, active, "write", 200, 1, 60)
    rows = []
    for threads in args.threads:
        for node, via in ((active, "active"), (standby, "standby")):
            for op in ("write", "read"):
                row = kv_run(cluster, node, op, args.ops, threads, args.max_seconds)
                row["via"] = via
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def failover(cluster, args):
    times, failed_writes = [], []
    for rnd in range(args.rounds):
        active = wait(cluster.active, 120, "one active node")
        wait(lambda: len(cluster.standbys()) == 2, 120, "two standbys")
        order = [active] + [n for n in NODES if n != active]
        stop = threading.Event()
        killed_at = [None]
        recovered = [None]
        failures = [0]

        def writer():
            s = cluster.session()
            i = 0
            end = time.monotonic() + 120
            while not stop.is_set() and time.monotonic() < end:
                i += 1
                ok = False
                began = time.monotonic()
                for node in order:  # the client's address list, the old active first
                    try:
                        r = s.post(cluster.urls[node] + "/v1/secret/data/benchmark/failover",
                                   headers={"X-Vault-Token": cluster.token},
                                   json={"data": {"i": i}}, timeout=(1, 3))
                        if r.status_code == 200:
                            ok = True
                            break
                    except requests.RequestException:
                        pass
                # only attempts begun once the process is gone count (one in flight may succeed)
                if killed_at[0] is not None and began >= killed_at[0]:
                    if ok:
                        recovered[0] = time.monotonic()
                        return
                    failures[0] += 1
                time.sleep(0.05)

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        time.sleep(2)
        if args.kill == "host":
            sh("docker", "kill", active)
        else:
            sh("docker", "exec", active, "systemctl", "kill", "-s", "KILL", "openbao")
        # the kill has returned: the process (or the host) is gone from here on
        killed_at[0] = time.monotonic()
        thread.join(130)
        stop.set()
        if recovered[0] is None:
            sys.exit(f"round {rnd + 1}: no write succeeded within 120 s of the kill")
        took = recovered[0] - killed_at[0]
        times.append(took)
        failed_writes.append(failures[0])
        print(json.dumps({"round": rnd + 1, "killed": active, "kill": args.kill,
                          "seconds_to_first_write": round(took, 2), "failed_attempts": failures[0]}), flush=True)
        if args.kill == "host":
            sh("docker", "start", active)
        # the static seal unseals it; it comes back as a standby
        wait(lambda: cluster.health(active) == 429, 180, f"{active} back as an unsealed standby")
    summary = {"kill": args.kill, "rounds": args.rounds, "median_s": round(statistics.median(times), 2),
               "min_s": round(min(times), 2), "max_s": round(max(times), 2)}
    print(json.dumps(summary), flush=True)
    return summary


def wait(check, seconds, what):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(1)
    sys.exit(f"timed out waiting for {what}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["kv", "failover", "all"])
    parser.add_argument("--ops", type=int, default=2000, help="requests per measurement (default 2000)")
    parser.add_argument("--threads", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8],
                        help="client counts, comma-separated (default 1,8)")
    parser.add_argument("--max-seconds", type=float, default=120, help="cap per measurement (default 120)")
    parser.add_argument("--rounds", type=int, default=5, help="failover rounds (default 5)")
    parser.add_argument("--kill", choices=["process", "host"], default="process")
    args = parser.parse_args()
    urllib3.disable_warnings()
    cluster = Cluster()
    cluster.login()
    if args.what in ("kv", "all"):
        kv(cluster, args)
    if args.what in ("failover", "all"):
        failover(cluster, args)


if __name__ == "__main__":
    main()
