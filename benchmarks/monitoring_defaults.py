#!/usr/bin/env python3
"""Alert latency and scrape cost with the shipped monitoring defaults, beside the previous
defaults, measured in one run on the molecule scenario `monitoring` (mon-prom: Prometheus and
an Alertmanager; mon-am2: the second Alertmanager and the notification sink, a real webhook
receiver; mon-app: Redis and its exporter).

For each mode the scenario is converged with that mode's timings (extra vars over the
scenario's test timings), then:
  cost      the CPU seconds Prometheus, the blackbox exporter and every exporter it scrapes used
            over WINDOW seconds (process_cpu_seconds_total of each target: the exporters' own
            work of answering scrapes), divided by the window times the machine's cores;
  latency   RUNS times: redis-server stopped on mon-app; the time until Prometheus shows a
            critical alert about it firing (polled every 0.25 s) and until the first critical
            notification about it reaches the webhook; Redis started again, and the resolved
            notification awaited before the next run.
Modes:
  previous  the role defaults before the liveness probes: 15 s scrape and evaluation, `for: 1m`
            on down alerts, `group_wait: 30s` for every alert;
  shipped   today's defaults: the same 15 s metrics, plus the liveness probes (2 s, `for: 3s`)
            and `group_wait: 5s` for critical alerts.
Both modes set group_interval to 10 s (only the bench: it bounds the wait for the resolved
notification between runs; a new group's first notification waits group_wait only). The
scenario's own timings are converged back at the end.

    .venv/bin/molecule converge -s monitoring      # once (or: molecule test --destroy never)
    python3 benchmarks/monitoring_defaults.py [--runs 5] [--window 120]
Timestamps come from one kernel clock (containers on this machine): the break time is taken
in mon-app right before `systemctl stop`, the arrival time by the sink. Prints JSON and writes
build/benchmarks/monitoring_defaults.json. Traffic stays on the scenario's containers; every
wait is bounded.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import tempfile
import time
import urllib.parse

from _results import save

ROOT = pathlib.Path(__file__).resolve().parents[1]
COMMON = {"prometheus_scrape_interval": "15s", "prometheus_scrape_timeout": "10s", "prometheus_evaluation_interval": "15s",
          "prometheus_alert_for": {"down": "1m", "short": "5m", "long": "15m"}, "prometheus_escalation_after": "15m",
          "alertmanager_group_wait": "30s", "alertmanager_group_interval": "10s", "alertmanager_critical_group_interval": "10s"}
MODES = {
    "previous": dict(COMMON, prometheus_liveness_enabled=False, alertmanager_critical_group_wait="30s"),
    "shipped": dict(COMMON, prometheus_liveness_enabled=True, alertmanager_critical_group_wait="5s"),
}
REDIS_ALERTS = ("ServiceDown", "RedisDown")


def sh(container, command, check=True):
    return subprocess.run(["docker", "exec", container, "sh", "-c", command], capture_output=True, text=True, check=check).stdout


def converge(extra):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(extra, f)
    try:
        args = ["-e", f"@{f.name}"] if extra else []
        subprocess.run(["bash", "-c", "source scripts/lib.sh && use_project_env && use_mitogen && "
                        "molecule converge -s monitoring -- \"$@\" >/dev/null 2>&1", "converge", *args], cwd=ROOT, check=True)
    finally:
        os.unlink(f.name)


def password():
    found = subprocess.run(["sh", "-c", "ls -d $HOME/.ansible/tmp/molecule.*.monitoring/secrets 2>/dev/null | head -n1"],
                           capture_output=True, text=True).stdout.strip()
    return pathlib.Path(found, "prometheus_web_password").read_text().split()[0]


def prom(path):
    addr = sh("mon-prom", "ip -4 -o addr show dev eth0").split()[3].split("/")[0]
    return json.loads(sh("mon-prom", f"curl -fsS --max-time 5 -u prometheus:{password()} 'http://{addr}:9090{path}'"))["data"]


def about_redis(labels):
    return (labels.get("alertname") in REDIS_ALERTS and labels.get("instance") == "mon-app"
            and labels.get("severity") == "critical" and labels.get("service", "redis") == "redis")


def notified(status, since):
    records = json.loads(sh("mon-am2", "curl -fsS --max-time 5 http://127.0.0.1:9999/records"))
    return [r["received"] for r in records if r["path"] == "webhook" and r["received"] >= since
            for a in r["body"]["alerts"] if a["status"] == status and about_redis(a["labels"])]


def latency_run(timeout=300):
    breach = float(sh("mon-app", "date +%s.%N && systemctl stop redis-server").split()[0])
    fired = arrived = None
    end = time.time() + timeout
    try:
        while arrived is None and time.time() < end:
            if fired is None and any(a["state"] == "firing" and about_redis(a["labels"]) for a in prom("/api/v1/alerts")["alerts"]):
                fired = time.time()
            hits = notified("firing", breach)
            arrived = min(hits) if hits else None
            time.sleep(0.25)
    finally:
        restored = float(sh("mon-app", "date +%s.%N && systemctl start redis-server").split()[0])
    if arrived is None:
        raise SystemExit(f"no critical Redis notification within {timeout} s")
    end = time.time() + 120
    while not notified("resolved", restored) and time.time() < end:
        time.sleep(1)
    time.sleep(5)
    return {"fired_s": round((fired or arrived) - breach, 2), "notified_s": round(arrived - breach, 2)}


def scrape_cost(window):
    time.sleep(30)  # every target scraped at the new intervals
    time.sleep(window)
    used = {r["metric"]["job"]: float(r["value"][1])
            for r in prom("/api/v1/query?query=" + urllib.parse.quote(f"sum by (job) (increase(process_cpu_seconds_total[{window}s]))"))["result"]}
    # the Alertmanagers are scraped but their CPU is alerting work, not metric collection
    collection = {job: round(s, 3) for job, s in used.items() if job != "alertmanager"}
    cores = os.cpu_count()
    return {"cpu_seconds_by_job": collection, "share_percent": round(100 * sum(collection.values()) / (window * cores), 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--window", type=int, default=120)
    args = parser.parse_args()
    result = {"runs": args.runs, "window_s": args.window, "cores": os.cpu_count(), "modes": {}}
    try:
        for mode, extra in MODES.items():
            converge(extra)
            cost = scrape_cost(args.window)
            runs = [latency_run() for _ in range(args.runs)]
            result["modes"][mode] = dict(cost, settings=extra, runs=runs,
                                         fired_median_s=statistics.median(r["fired_s"] for r in runs),
                                         notified_median_s=statistics.median(r["notified_s"] for r in runs))
            print(json.dumps({mode: result["modes"][mode]}), flush=True)
    finally:
        converge({})
    save("monitoring_defaults", result)


if __name__ == "__main__":
    main()
