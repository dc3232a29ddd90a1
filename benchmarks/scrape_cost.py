#!/usr/bin/env python3
"""Scrape cost as a share of CPU at the default intervals (15 s scrape and evaluation).

Against the converged molecule scenario `monitoring`: switches Prometheus on mon-prom to the
role's default intervals (reload), lets it run WINDOW seconds (default 180), then reads the
CPU seconds used over the window by Prometheus and by every exporter it scrapes
(process_cpu_seconds_total from each target, which counts the exporters' own work of
answering scrapes) and divides by the window times the machine's cores. Restores the
scenario's intervals afterwards.
    python3 benchmarks/scrape_cost.py [WINDOW]
Prints JSON and writes build/benchmarks/scrape_cost.json."""
import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[1]


def sh(command):
    return subprocess.run(["docker", "exec", "mon-prom", "sh", "-c", command], capture_output=True, text=True, check=True).stdout


def secret():
    found = subprocess.run(["sh", "-c", "ls -d $HOME/.ansible/tmp/molecule.*.monitoring/secrets 2>/dev/null | head -n1"],
                           capture_output=True, text=True).stdout.strip()
    return pathlib.Path(found, "prometheus_web_password").read_text().split()[0]


def query(q, password):
    addr = sh("ip -4 -o addr show dev eth0").split()[3].split("/")[0]
    out = sh(f"curl -fsS -u prometheus:{password} 'http://{addr}:9090/api/v1/query?query={urllib.parse.quote(q)}'")
    return json.loads(out)["data"]["result"]


def set_intervals(value, password):
    sh(f"sed -i -E 's/^(  (scrape_interval|evaluation_interval)): .*/\\1: {value}/' /etc/prometheus/prometheus.yml"
       f" && sed -i -E 's/^(  scrape_timeout): .*/\\1: {'10s' if value == '15s' else value}/' /etc/prometheus/prometheus.yml"
       " && systemctl reload prometheus")


def main():
    window = int(sys.argv[1]) if len(sys.argv) > 1 else 180
    password = secret()
    set_intervals("15s", password)
    try:
        time.sleep(window + 20)
        w = f"{window}s"
        per_job = {r["metric"]["job"]: float(r["value"][1]) for r in query(f"sum by (job) (increase(process_cpu_seconds_total[{w}]))", password)}
        samples = {r["metric"]["job"]: float(r["value"][1]) for r in query("sum by (job) (scrape_samples_scraped)", password)}
    finally:
        set_intervals("1s", password)
    cores = os.cpu_count()
    # the Alertmanagers are scraped but their CPU is alerting work, not scrape cost
    scrape = {j: s for j, s in per_job.items() if j != "alertmanager"}
    share = sum(scrape.values()) / (window * cores)
    result = {"metric": "scrape cost at 15s intervals, share of the machine's CPU",
              "window_s": window, "cores": cores, "cpu_seconds_by_job": {j: round(s, 3) for j, s in per_job.items()},
              "samples_per_scrape_by_job": samples,
              "share_percent": round(100 * share, 3), "floor_percent": 1.0}
    out = ROOT / "build" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / "scrape_cost.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
