"""Failover, weights, reloads, overrides, rejected configs and rollback on haproxy-lb,
with real requests. Destructive: they run after the steady-state checks (phase 1), in file
order; each starts from a known state (servers_ready: every nginx backend running and its
servers ready and UP) and puts back what it changed."""
import json

import pytest

from conftest import (ROOT, SCENARIO, address, hits, playbook, runtime, server_status, wait_all_up, wait_for, wait_served,
                      wait_status)

testinfra_hosts = ["ansible://haproxy-lb"]
pytestmark = [pytest.mark.phase(1), pytest.mark.usefixtures("servers_ready")]


def _loop(host, url, count, name):
    """Start `count` sequential requests in the background (bounded by `timeout`)."""
    host.run(
        f"rm -f /tmp/{name}.codes /tmp/{name}.done; setsid timeout 300 sh -c 'for i in $(seq {count}); do "
        f"curl -s -o /dev/null -w \"%{{http_code}}\\n\" --max-time 5 {url}; done > /tmp/{name}.codes; "
        f"touch /tmp/{name}.done' >/dev/null 2>&1 < /dev/null &"
    )


def _loop_until_stopped(host, url, name):
    """Start sequential requests in the background until /tmp/NAME.stop exists (at most 300 s)."""
    host.run(
        f"rm -f /tmp/{name}.codes /tmp/{name}.done /tmp/{name}.stop; setsid timeout 300 sh -c 'while [ ! -e /tmp/{name}.stop ]; do "
        f"curl -s -o /dev/null -w \"%{{http_code}}\\n\" --max-time 5 {url}; done > /tmp/{name}.codes; "
        f"touch /tmp/{name}.done' >/dev/null 2>&1 < /dev/null &"
    )


def _codes(host, name, timeout=360):
    wait_for(lambda: host.file(f"/tmp/{name}.done").exists, timeout, 0.5, f"request loop {name} finished")
    codes = host.file(f"/tmp/{name}.codes").content_string.split()
    host.run(f"rm -f /tmp/{name}.codes /tmp/{name}.done /tmp/{name}.stop")
    return codes


def _answered(host, name):
    """How many requests of the loop have been answered so far."""
    return int(host.run(f"cat /tmp/{name}.codes 2>/dev/null | wc -l").stdout.strip() or 0)


def _more_answers(host, name):
    """Wait until the loop has answered more requests than it has now (it is running)."""
    answered = _answered(host, name)
    wait_for(lambda: _answered(host, name) > answered, 60, 0.2, f"more answers from the request loop {name}")


def _server(pb, *assignments):
    """The server override playbook on haproxy-lb, with -e NAME=VALUE for each assignment."""
    return playbook(pb, *[arg for a in assignments for arg in ("-e", a)], limit="haproxy-lb")


def _webhook_events(web):
    lines = web.file("/var/lib/webhook-sink/events.jsonl")
    return [json.loads(line) for line in lines.content_string.splitlines()] if lines.exists else []


def test_weights_module_follows_response_times(host):
    addr = address(host)
    assert {server_status(host, "be_app", s)[1] for s in ("app1", "app2", "app3")} == {1}
    wait_all_up(host, {"be_app": ("app1", "app2", "app3")})
    try:
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
    finally:
        runtime(host, "; ".join(f"set server be_app/{s} weight 1" for s in ("app1", "app2", "app3")))


def test_killed_backend_is_out_fast_without_failed_requests(host, web):
    addr = address(host)
    before = len(_webhook_events(web))
    _loop(host, f"http://{addr}:8080/", 400, "kill")
    _more_answers(host, "kill")
    # the time of the kill, from the web host's clock (which the containers share)
    killed = float(web.check_output("systemctl kill --signal=SIGKILL nginx-be@be2 && date +%s.%N"))
    try:
        out_after = wait_status(host, "be_rr", "be2", "DOWN", timeout=60, since=killed)
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
        started = float(web.check_output("systemctl start nginx-be@be2 && date +%s.%N"))
    back_after = wait_status(host, "be_rr", "be2", "UP", timeout=60, since=started)
    assert back_after < 5, f"be2 was back only after {back_after:.1f}s"
    # back in rotation (after the 2 s slow start)
    wait_served(host, f"http://{addr}:8080/", "be2")

    # the failover was logged and POSTed to the webhook
    def be2_events():
        events = [e for e in _webhook_events(web)[before:] if e["host"] == "haproxy-lb" and e["backend"] == "be_rr"]
        return {"server_down", "server_up"} <= {e["event"] for e in events if e["server"] == "be2"}
    wait_for(be2_events, 60, 0.5, "server_down and server_up of be_rr/be2 at the webhook",
             detail=lambda: _webhook_events(web)[before:])
    log = host.file("/var/log/haproxy/failover.log").content_string
    assert '"event": "server_down", "backend": "be_rr", "server": "be2"' in log


def test_backup_server_takes_over(host, web):
    addr = address(host)
    web.run("systemctl kill --signal=SIGKILL nginx-be@be1")
    try:
        wait_status(host, "be_backup", "be1", "DOWN", timeout=60)
        assert hits(host, f"http://{addr}:8080/backup", 6) == {"be2": 6}
    finally:
        web.run("systemctl start nginx-be@be1")
    wait_status(host, "be_backup", "be1", "UP", timeout=60)
    wait_status(host, "be_rr", "be1", "UP", timeout=60)
    assert hits(host, f"http://{addr}:8080/backup", 6) == {"be1": 6}


def test_seamless_reload_loses_no_request(host):
    _loop_until_stopped(host, f"http://{address(host)}:8080/", "reload")
    # three reloads while the requests run: requests answered before, between and after them
    for _ in range(3):
        _more_answers(host, "reload")
        assert host.run("systemctl reload haproxy").rc == 0
    _more_answers(host, "reload")
    host.run("touch /tmp/reload.stop")
    codes = _codes(host, "reload")
    assert len(codes) >= 4 and set(codes) == {"200"}, f"failed requests: {[c for c in codes if c != '200']}"


def _worker_pid(host):
    """The pid of the HAProxy worker that answers on the runtime socket."""
    info = runtime(host, "show info")
    return next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("Pid:"))


def test_server_override_playbook(host):
    addr = address(host)
    pb = ROOT / "playbooks" / "haproxy_server.yml"
    target = ("haproxy_server_backend=be_rr", "haproxy_server_name=be3")
    try:
        run = _server(pb, *target, "haproxy_server_state=disabled")
        assert run.returncode == 0, run.stdout + run.stderr
        assert server_status(host, "be_rr", "be3")[0] == "MAINT"  # the playbook waited for it
        assert "be3" not in hits(host, f"http://{addr}:8080/", 9)
        # a runtime state survives a reload: once the new worker answers, be3 is still in maintenance
        old_worker = _worker_pid(host)
        assert host.run("systemctl reload haproxy").rc == 0
        wait_for(lambda: _worker_pid(host) != old_worker, 60, 0.5, "the reloaded worker on the runtime socket",
                 ignore=(AssertionError, StopIteration))
        assert server_status(host, "be_rr", "be3")[0] == "MAINT"
        run = _server(pb, *target, "haproxy_server_state=drain")
        assert run.returncode == 0, run.stdout + run.stderr
        # leaving maintenance, the health checks start again: "DRAIN 1/2" until they pass
        wait_status(host, "be_rr", "be3", "DRAIN", exact=True)
        assert "be3" not in hits(host, f"http://{addr}:8080/", 9)
        run = _server(pb, *target, "haproxy_server_state=enabled")
        assert run.returncode == 0, run.stdout + run.stderr
        wait_status(host, "be_rr", "be3", "UP", exact=True)
        wait_served(host, f"http://{addr}:8080/", "be3")
    finally:
        # whatever failed above, be3 goes back into rotation for the next tests
        runtime(host, "set server be_rr/be3 state ready")

    # each runtime change was logged as a failover event (the notifier follows the journal)
    def be3_states():
        events = [json.loads(line) for line in host.file("/var/log/haproxy/failover.log").content_string.splitlines()]
        return [e["state"] for e in events if e["backend"] == "be_rr" and e["server"] == "be3"]
    wait_for(lambda: {"MAINT", "DRAIN"} <= set(be3_states()) and be3_states()[-1] == "UP", 60, 1,
             "MAINT, DRAIN and then UP of be_rr/be3 in the failover log", detail=be3_states)
    bad = _server(pb, "haproxy_server_backend=be_rr", "haproxy_server_name=nope", "haproxy_server_state=drain")
    assert bad.returncode != 0


def test_bad_config_is_rejected_and_the_old_one_keeps_serving(host):
    before = host.file("/etc/haproxy/haproxy.cfg").sha256sum
    kept = host.run("ls /etc/haproxy/history").stdout.split()
    run = playbook(SCENARIO / "reconfigure.yml", "-e", "scn_change=bad", limit="haproxy-lb")
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
    run = playbook(SCENARIO / "reconfigure.yml", "-e", "scn_change=extra", limit="haproxy-lb")
    assert run.returncode == 0, run.stdout + run.stderr
    assert set(hits(host, f"http://{addr}:8090/", 9)) == {"be1", "be2", "be3"}
    kept = sorted(host.run("ls /etc/haproxy/history").stdout.split())
    assert host.file(f"/etc/haproxy/history/{kept[-1]}").sha256sum != before
    run = playbook(ROOT / "playbooks" / "haproxy_rollback.yml", limit="haproxy-lb")
    assert run.returncode == 0, run.stdout + run.stderr
    assert host.file("/etc/haproxy/haproxy.cfg").sha256sum == before
    assert host.run(f"curl -s --max-time 2 http://{addr}:8090/").rc != 0
    assert set(hits(host, f"http://{addr}:8080/", 9)) == {"be1", "be2", "be3"}
    # a name that is not kept is refused, and nothing changes
    bad = playbook(ROOT / "playbooks" / "haproxy_rollback.yml", "-e", "haproxy_rollback_to=19990101T000000Z",
                   limit="haproxy-lb")
    assert bad.returncode != 0 and "No kept configuration matches" in " ".join((bad.stdout + bad.stderr).split())
    assert host.file("/etc/haproxy/haproxy.cfg").sha256sum == before
