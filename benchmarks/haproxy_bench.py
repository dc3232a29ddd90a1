#!/usr/bin/env python3
"""HAProxy benchmarks on the molecule scenario `haproxy` (docker network molecule-haproxy).

    .venv/bin/python benchmarks/haproxy_bench.py [--converge] [--destroy] [--duration 10]

--converge runs `molecule converge -s haproxy` first (creates the hosts when missing).
Load comes from wrk (Debian's package) on haproxy-lb-bookworm, against HAProxy on
haproxy-lb (trixie) and the nginx backends on haproxy-web; nothing leaves the test
network. Every load run is bounded (wrk -d, timeouts). Measures:

1. requests/s and latency: one nginx backend direct, HAProxy in front of that one backend,
   HAProxy round-robin over three backends (same wrk settings, side by side);
2. one backend SIGKILLed during a run: failed requests (wrk errors + non-2xx), HAProxy's
   retries/redispatches, seconds until the server is out of rotation and back in;
3. seconds until a runtime weight change (weight 0) takes effect for new requests;
4. failed requests during a run with several seamless reloads.

Writes build/bench/haproxy.json and prints a Markdown summary.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LB, CLIENT, WEB = "haproxy-lb", "haproxy-lb-bookworm", "haproxy-web"
SOCKET = "/run/haproxy/admin.sock"


def sh(container, command, timeout=120, check=True):
    out = subprocess.run(["docker", "exec", container, "sh", "-c", command],
                         capture_output=True, text=True, timeout=timeout, check=False)
    if check and out.returncode != 0:
        sys.exit(f"{container}: `{command}` failed: {out.stderr}{out.stdout}")
    return out.stdout


def ip(container):
    return subprocess.check_output(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container],
        text=True).strip()


def runtime(command):
    return sh(LB, f"echo '{command}' | socat -t 2 stdio UNIX-CONNECT:{SOCKET}")


def stat(backend, server):
    lines = runtime("show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(header, line.split(",")))
        if row["pxname"] == backend and row["svname"] == server:
            return row
    raise KeyError(f"{backend}/{server}")


def wrk(url, duration, connections, threads=2):
    out = sh(CLIENT, f"wrk -t{threads} -c{connections} -d{duration}s --timeout 5s --latency {url}",
             timeout=duration + 60)
    result = {"url": url, "duration_s": duration, "connections": connections, "threads": threads}
    result["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    result["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["socket_errors"] = sum(int(x) for x in errors.groups()) if errors else 0
    result["failed"] = result["non_2xx"] + result["socket_errors"]
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        if m:
            scale = {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
            result[f"p{pct}_ms"] = round(float(m.group(1)) * scale, 3)
    return result


def wrk_async(url, duration, connections):
    box = {}
    thread = threading.Thread(target=lambda: box.update(wrk(url, duration, connections)))
    thread.start()
    return thread, box


def wait_state(backend, server, prefix, timeout=15):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if stat(backend, server)["status"].startswith(prefix):
            return round(time.monotonic() - start, 2)
        time.sleep(0.05)
    return None


def bench_kill(lb_ip, duration, connections):
    runtime("clear counters all")
    thread, box = wrk_async(f"http://{lb_ip}:8080/", duration, connections)
    time.sleep(duration / 4)
    sh(WEB, "systemctl kill --signal=SIGKILL nginx-be@be2")
    out_s = wait_state("be_rr", "be2", "DOWN")
    time.sleep(duration / 4)
    sh(WEB, "systemctl start nginx-be@be2")
    back_s = wait_state("be_rr", "be2", "UP")
    thread.join()
    backend = stat("be_rr", "BACKEND")
    return dict(box, out_of_rotation_s=out_s, back_in_rotation_s=back_s,
                haproxy_retries=int(backend["wretr"] or 0), haproxy_redispatches=int(backend["wredis"] or 0),
                haproxy_5xx=int(backend["hrsp_5xx"] or 0))


WEIGHT_PROBE = r'''
import http.client, sys, time
conn = http.client.HTTPConnection(sys.argv[1], 8080, timeout=5)
end = time.time() + float(sys.argv[2])
while time.time() < end:
    conn.request("GET", "/")
    body = conn.getresponse().read().decode().strip()
    print("%.6f %s" % (time.time(), body))
'''


def bench_weight(lb_ip):
    """Seconds from `set server be_rr/be1 weight 0` until be1 gets no new request."""
    results = []
    for _ in range(5):
        box = {}
        probe = threading.Thread(target=lambda: box.update(out=sh(
            CLIENT, f"python3 -c '{WEIGHT_PROBE}' {lb_ip} 2.0", timeout=30)))
        probe.start()
        time.sleep(0.8)
        t0 = float(sh(LB, f"date +%s.%N; echo 'set server be_rr/be1 weight 0' | socat -t 2 stdio "
                          f"UNIX-CONNECT:{SOCKET} >/dev/null").split()[0])
        probe.join()
        runtime("set server be_rr/be1 weight 1")
        rows = [line.split() for line in box["out"].splitlines()]
        after = [(float(t), s) for t, s in rows if float(t) > t0]
        last_be1 = max((t for t, s in after if s == "be1"), default=t0)
        results.append(round((last_be1 - t0) * 1000, 2))
        time.sleep(0.5)
    return {"effect_ms_runs": results, "effect_ms_max": max(results),
            "note": "time from the runtime command until the last response still served by be1"}


def bench_reload(lb_ip, duration, connections, reloads=4):
    thread, box = wrk_async(f"http://{lb_ip}:8080/", duration, connections)
    step = duration / (reloads + 1)
    for _ in range(reloads):
        time.sleep(step)
        sh(LB, "systemctl reload haproxy")
    thread.join()
    return dict(box, reloads=reloads)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--converge", action="store_true", help="molecule converge -s haproxy first")
    parser.add_argument("--destroy", action="store_true", help="molecule destroy -s haproxy at the end")
    parser.add_argument("--duration", type=int, default=10, help="seconds per throughput run (default 10)")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    env = dict(os.environ, PATH=f"{ROOT}/.venv/bin:{os.environ['PATH']}",
               ANSIBLE_COLLECTIONS_PATH=f"{ROOT}/build/collections", ANSIBLE_CONFIG=f"{ROOT}/ansible.cfg")
    if args.converge:
        subprocess.run(["molecule", "converge", "-s", "haproxy"], cwd=ROOT, env=env, check=True)
    try:
        sh(CLIENT, "command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null",
           timeout=300)
        lb_ip, web_ip = ip(LB), ip(WEB)
        d, c = args.duration, args.connections
        results = {
            "haproxy_version": sh(LB, "haproxy -v | head -1").strip(),
            "cpus": os.cpu_count(),
            "direct_one_backend": wrk(f"http://{web_ip}:8081/", d, c),
            "haproxy_one_backend": wrk(f"http://{lb_ip}:8080/backup", d, c),
            "haproxy_three_backends": wrk(f"http://{lb_ip}:8080/", d, c),
            "kill_one_backend": bench_kill(lb_ip, 2 * d, c),
            "weight_change": bench_weight(lb_ip),
            "seamless_reload": bench_reload(lb_ip, 2 * d, c),
        }
    finally:
        if args.destroy:
            subprocess.run(["molecule", "destroy", "-s", "haproxy"], cwd=ROOT, env=env, check=False)
    out = ROOT / "build" / "bench" / "haproxy.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    r = results
    print(f"\n{r['haproxy_version']}, {r['cpus']} CPUs shared by wrk, HAProxy and nginx; "
          f"wrk -t2 -c{c} -d{d}s")
    print("| run | req/s | p50 ms | p99 ms | failed |\n|---|---|---|---|---|")
    for key in ("direct_one_backend", "haproxy_one_backend", "haproxy_three_backends"):
        x = r[key]
        print(f"| {key} | {x['rps']:.0f} | {x.get('p50_ms')} | {x.get('p99_ms')} | {x['failed']} |")
    k = r["kill_one_backend"]
    print(f"\nkill: {k['requests']} requests, {k['failed']} failed (non-2xx {k['non_2xx']}, socket "
          f"{k['socket_errors']}), HAProxy retries {k['haproxy_retries']} redispatches "
          f"{k['haproxy_redispatches']}; out of rotation after {k['out_of_rotation_s']} s, back after "
          f"{k['back_in_rotation_s']} s")
    w = r["weight_change"]
    print(f"weight change effective after {w['effect_ms_runs']} ms (max {w['effect_ms_max']})")
    s = r["seamless_reload"]
    print(f"reload: {s['reloads']} reloads during {s['requests']} requests, {s['failed']} failed")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
