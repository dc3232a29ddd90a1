"""Failover, weights, reloads, overrides, rejected configs and rollback on haproxy-lb,
with real requests. The tests run in order and each leaves HAProxy as it found it."""
import json
import time

from conftest import ROOT, SCENARIO, address, hits, playbook, runtime, server_status, wait_served, wait_status

testinfra_hosts = ["ansible://haproxy-lb"]


def _loop(host, url, count, name):
    """Start `count` sequential requests in the background (bounded by `timeout`)."""
    host.run(
        f"setsid timeout 120 sh -c 'for i in $(seq {count}); do "
        f"curl -s -o /dev/null -w \"%{{http_code}}\\n\" --max-time 5 {url}; done > /tmp/{name}.codes; "
        f"touch /tmp/{name}.done' >/dev/null 2>&1 < /dev/null &"
    )


def _codes(host, name, timeout=120):
    start = time.monotonic()
    while not host.file(f"/tmp/{name}.done").exists:
        assert time.monotonic() - start < timeout, f"request loop {name} did not finish"
        time.sleep(0.5)
    codes = host.file(f"/tmp/{name}.codes").content_string.split()
    host.run(f"rm -f /tmp/{name}.codes /tmp/{name}.done")
    return codes


def _webhook_events(web):
    lines = web.file("/var/lib/webhook-sink/events.jsonl")
    return [json.loads(line) for line in lines.content_string.splitlines()] if lines.exists else []


def test_weights_module_follows_response_times(host):
    addr = address(host)
    assert {server_status(host, "be_app", s)[1] for s in ("app1", "app2", "app3")} == {1}
    runtime(host, "clear counters all")
    assert set(hits(host, f"http://{addr}:8081/", 60)) == {"app1", "app2", "app3"}
    result = host.ansible(
        "groundwork.platform.haproxy_weights",
        "backends=be_app smoothing=1 max_step=100 dead_band=0 min_weight=1 max_weight=100",
        check=False,
    )
    assert result["changed"], result
    weights = {s: server_status(host, "be_app", s)[1] for s in ("app1", "app2", "app3")}
    assert weights == result["weights"]["be_app"]
    # 5, 25 and 60 ms backends: the fastest gets the most weight
    assert weights["app1"] == 100 and weights["app1"] > weights["app2"] > weights["app3"]
    # and the traffic follows the new weights (weighted round-robin is deterministic)
    total = sum(weights.values())
    seen = hits(host, f"http://{addr}:8081/?sleep=0", total)
    for s, w in weights.items():
        assert abs(seen[s] - w) <= max(3, w * 0.15), (seen, weights)
    for s in ("app1", "app2", "app3"):
        runtime(host, f"set server be_app/{s} weight 1")


def test_killed_backend_is_out_fast_without_failed_requests(host, web):
    addr = address(host)
    before = len(_webhook_events(web))
    _loop(host, f"http://{addr}:8080/", 400, "kill")
    time.sleep(1)
    web.run("systemctl kill --signal=SIGKILL nginx-be@be2")
    try:
        out_after = wait_status(host, "be_rr", "be2", "DOWN", timeout=10)
        assert out_after < 5, f"be2 left the rotation only after {out_after:.1f}s"
        codes = _codes(host, "kill")
        assert len(codes) == 400 and set(codes) == {"200"}, f"failed requests: {[c for c in codes if c != '200']}"
        assert "be2" not in hits(host, f"http://{addr}:8080/", 9)
        # HAProxy's view, as the failover_check module reads it
        view = host.ansible(
            "groundwork.platform.failover_check",
            json.dumps({"members": [{"name": f"be{n}", "host": "haproxy-web", "port": 8080 + n} for n in (1, 2, 3)],
                        "haproxy": {"socket": "/run/haproxy/admin.sock", "backend": "be_rr"}, "fail_on": []}),
            check=False,
        )
        assert view["members"]["be2"]["state"] == "down", view["members"]["be2"]
        assert view["members"]["be1"]["state"] == "healthy"
    finally:
        web.run("systemctl start nginx-be@be2")
    back_after = wait_status(host, "be_rr", "be2", "UP", timeout=10)
    assert back_after < 5
    # back in rotation (after the 2 s slow start)
    wait_served(host, f"http://{addr}:8080/", "be2")
    # the failover was logged and POSTed to the webhook
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        events = [e for e in _webhook_events(web)[before:] if e["host"] == "haproxy-lb" and e["backend"] == "be_rr"]
        if {"server_down", "server_up"} <= {e["event"] for e in events if e["server"] == "be2"}:
            break
        time.sleep(0.5)
    assert {"server_down", "server_up"} <= {e["event"] for e in events if e["server"] == "be2"}, events
    log = host.file("/var/log/haproxy/failover.log").content_string
    assert '"event": "server_down", "backend": "be_rr", "server": "be2"' in log


def test_backup_server_takes_over(host, web):
    addr = address(host)
    web.run("systemctl kill --signal=SIGKILL nginx-be@be1")
    try:
        wait_status(host, "be_backup", "be1", "DOWN", timeout=10)
        assert hits(host, f"http://{addr}:8080/backup", 6) == {"be2": 6}
    finally:
        web.run("systemctl start nginx-be@be1")
    wait_status(host, "be_backup", "be1", "UP", timeout=10)
    wait_status(host, "be_rr", "be1", "UP", timeout=10)
    assert hits(host, f"http://{addr}:8080/backup", 6) == {"be1": 6}


def test_seamless_reload_loses_no_request(host):
    _loop(host, f"http://{address(host)}:8080/", 300, "reload")
    for _ in range(3):
        time.sleep(0.7)
        assert host.run("systemctl reload haproxy").rc == 0
    codes = _codes(host, "reload")
    assert len(codes) == 300 and set(codes) == {"200"}, f"failed requests: {[c for c in codes if c != '200']}"


def test_server_override_playbook(host):
    addr = address(host)
    pb = ROOT / "playbooks" / "haproxy_server.yml"
    run = playbook(pb, "haproxy-lb", "haproxy_server_backend=be_rr", "haproxy_server_name=be3", "haproxy_server_state=disabled")
    assert run.returncode == 0, run.stdout + run.stderr
    assert server_status(host, "be_rr", "be3")[0] == "MAINT"
    assert "be3" not in hits(host, f"http://{addr}:8080/", 9)
    # a runtime state survives a reload
    host.run("systemctl reload haproxy")
    time.sleep(2)
    assert server_status(host, "be_rr", "be3")[0] == "MAINT"
    run = playbook(pb, "haproxy-lb", "haproxy_server_backend=be_rr", "haproxy_server_name=be3", "haproxy_server_state=drain")
    assert run.returncode == 0, run.stdout + run.stderr
    assert server_status(host, "be_rr", "be3")[0] == "DRAIN"
    assert "be3" not in hits(host, f"http://{addr}:8080/", 9)
    run = playbook(pb, "haproxy-lb", "haproxy_server_backend=be_rr", "haproxy_server_name=be3", "haproxy_server_state=enabled")
    assert run.returncode == 0, run.stdout + run.stderr
    wait_status(host, "be_rr", "be3", "UP")
    wait_served(host, f"http://{addr}:8080/", "be3")
    # each runtime change was logged as a failover event
    events = [json.loads(line) for line in host.file("/var/log/haproxy/failover.log").content_string.splitlines()]
    be3 = [e["state"] for e in events if e["backend"] == "be_rr" and e["server"] == "be3"]
    assert {"MAINT", "DRAIN"} <= set(be3) and be3[-1] == "UP", be3
    bad = playbook(pb, "haproxy-lb", "haproxy_server_backend=be_rr", "haproxy_server_name=nope", "haproxy_server_state=drain")
    assert bad.returncode != 0


def test_bad_config_is_rejected_and_the_old_one_keeps_serving(host):
    before = host.file("/etc/haproxy/haproxy.cfg").sha256sum
    kept = host.run("ls /etc/haproxy/history").stdout.split()
    run = playbook(SCENARIO / "reconfigure.yml", "haproxy-lb", "scn_change=bad")
    assert run.returncode != 0
    output = " ".join((run.stdout + run.stderr).split())
    assert "Write the configuration (checked with haproxy -c first)" in output
    assert "unknown keyword 'not-a-haproxy-keyword'" in output
    assert host.file("/etc/haproxy/haproxy.cfg").sha256sum == before
    assert host.run("ls /etc/haproxy/history").stdout.split() == kept
    assert set(hits(host, f"http://{address(host)}:8080/", 9)) == {"be1", "be2", "be3"}


def test_rollback_playbook_restores_the_previous_config(host):
    addr = address(host)
    before = host.file("/etc/haproxy/haproxy.cfg").sha256sum
    run = playbook(SCENARIO / "reconfigure.yml", "haproxy-lb", "scn_change=extra")
    assert run.returncode == 0, run.stdout + run.stderr
    assert set(hits(host, f"http://{addr}:8090/", 9)) == {"be1", "be2", "be3"}
    kept = sorted(host.run("ls /etc/haproxy/history").stdout.split())
    assert host.file(f"/etc/haproxy/history/{kept[-1]}").sha256sum != before
    run = playbook(ROOT / "playbooks" / "haproxy_rollback.yml", "haproxy-lb")
    assert run.returncode == 0, run.stdout + run.stderr
    assert host.file("/etc/haproxy/haproxy.cfg").sha256sum == before
    assert host.run(f"curl -s --max-time 2 http://{addr}:8090/").rc != 0
    assert set(hits(host, f"http://{addr}:8080/", 9)) == {"be1", "be2", "be3"}
    # a name that is not kept is refused, and nothing changes
    bad = playbook(ROOT / "playbooks" / "haproxy_rollback.yml", "haproxy-lb", "haproxy_rollback_to=19990101T000000Z")
    assert bad.returncode != 0 and "No kept configuration matches" in " ".join((bad.stdout + bad.stderr).split())
    assert host.file("/etc/haproxy/haproxy.cfg").sha256sum == before
