#!/usr/bin/env python3
"""End-to-end alert latency: from a real breach (redis-server stopped on mon-app) to the
notification's arrival at the webhook sink (mon-am2), median of N runs.

Run against the converged molecule scenario `monitoring` (its timings: scrape and
evaluation every 1 s, `for: 0s` on down alerts, group_wait 1 s):
    .venv/bin/molecule converge -s monitoring   # or: molecule test -s monitoring --destroy never
    python3 benchmarks/alert_latency.py [RUNS]
Both timestamps come from the same kernel clock (containers on this machine): the breach
time is taken in mon-app right before `systemctl stop`, the arrival time by the sink.
Prints JSON and writes build/benchmarks/alert_latency.json."""
import json
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def sh(container, command):
    return subprocess.run(["docker", "exec", container, "sh", "-c", command], capture_output=True, text=True, check=True).stdout


def records():
    return json.loads(sh("mon-am2", "curl -fsS http://127.0.0.1:9999/records"))


def wait(status, since, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        for r in records():
            if r["path"] == "webhook" and r["received"] >= since:
                if any(a["labels"]["alertname"] == "RedisDown" and a["status"] == status for a in r["body"]["alerts"]):
                    return r["received"]
        time.sleep(0.2)
    raise SystemExit(f"no RedisDown {status} notification within {timeout}s")


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    latencies = []
    for _ in range(runs):
        breach = float(sh("mon-app", "date +%s.%N && systemctl stop redis-server").split()[0])
        latencies.append(wait("firing", breach) - breach)
        restored = float(sh("mon-app", "date +%s.%N && systemctl start redis-server").split()[0])
        wait("resolved", restored)
        time.sleep(3)
    result = {"metric": "alert latency, breach to webhook arrival (s)", "runs": [round(x, 2) for x in latencies],
              "median_s": round(statistics.median(latencies), 2), "max_s": round(max(latencies), 2),
              "settings": "scrape/eval 1s, for 0s, group_wait 1s (molecule scenario monitoring)"}
    out = ROOT / "build" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / "alert_latency.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
