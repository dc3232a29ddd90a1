"""HAProxy on both Debian releases: config, stats, metrics, runtime API, every algorithm,
and the custom health checks, verified with real requests."""
from conftest import address, hits, runtime, server_status, stats_password, wait_status

testinfra_hosts = ["ansible://haproxy-lb", "ansible://haproxy-lb-bookworm"]


def test_live_config_is_valid_and_kept_in_history(host):
    assert host.run("haproxy -c -f /etc/haproxy/haproxy.cfg").rc == 0
    live = host.file("/etc/haproxy/haproxy.cfg")
    assert live.mode == 0o640 and live.group == "haproxy"
    kept = sorted(host.run("ls /etc/haproxy/history").stdout.split())
    assert kept and all(k.startswith("haproxy.cfg.") for k in kept)
    assert live.sha256sum in {host.file(f"/etc/haproxy/history/{k}").sha256sum for k in kept}
    # the stats password is only there as a crypt hash
    assert stats_password() not in live.content_string


def test_listens_on_the_private_address_only(host):
    addr = address(host)
    listening = host.socket.get_listening_sockets()
    for port in (8080, 8404, 8405):
        assert [s for s in listening if s.endswith(f":{port}")] == [f"tcp://{addr}:{port}"]
    assert host.run("curl -s --max-time 2 http://127.0.0.1:8080/").rc != 0


def test_stats_page_needs_the_password(host):
    url = f"http://{address(host)}:8404/stats"
    code = "curl -s -o /dev/null -w '%{http_code}' " + url
    assert host.run(code).stdout == "401"
    assert host.run(f"{code} -u admin:wrong-password").stdout == "401"
    page = host.run(f"curl -fsS -u admin:{stats_password()} '{url};csv'")
    assert page.rc == 0 and "be_rr,be1," in page.stdout


def test_prometheus_endpoint(host):
    body = host.check_output(f"curl -fsS http://{address(host)}:8405/metrics")
    assert 'haproxy_backend_active_servers{proxy="be_rr"} 3' in body
    assert 'haproxy_server_status{proxy="be_app",server="app1",state="UP"} 1' in body


def test_runtime_socket_is_admin_level(host):
    assert "Name: HAProxy" in runtime(host, "show info")
    # an admin-only command is accepted (empty answer) and undone
    assert runtime(host, "disable server be_tcp/be3").strip() == ""
    assert server_status(host, "be_tcp", "be3")[0] == "MAINT"
    assert runtime(host, "enable server be_tcp/be3").strip() == ""
    wait_status(host, "be_tcp", "be3", "UP")


def test_round_robin_spreads_evenly(host):
    assert hits(host, f"http://{address(host)}:8080/", 30) == {"be1": 10, "be2": 10, "be3": 10}


def test_static_weights(host):
    assert hits(host, f"http://{address(host)}:8080/static", 60) == {"be1": 30, "be2": 20, "be3": 10}


def test_source_hash_keeps_a_client_on_one_server(host):
    assert len(hits(host, f"http://{address(host)}:8080/source", 20)) == 1


def test_uri_hash_maps_each_uri_to_one_server(host):
    addr = address(host)
    servers = set()
    for n in range(12):
        seen = hits(host, f"http://{addr}:8080/uri/page{n}", 3)
        assert len(seen) == 1, f"/uri/page{n} went to {seen}"
        servers |= set(seen)
    assert len(servers) >= 2


def test_backup_server_idle_while_the_primary_is_up(host):
    assert hits(host, f"http://{address(host)}:8080/backup", 20) == {"be1": 20}


def test_tcp_mode_frontend(host):
    assert hits(host, f"http://{address(host)}:8083/", 30) == {"be1": 10, "be2": 10, "be3": 10}


def test_least_connections_avoids_the_busy_server(host):
    url = f"http://{address(host)}:8082/"
    out = host.run(
        f"curl -s --max-time 10 '{url}?sleep=4000' > /tmp/slow.out & sleep 1; "
        f"for i in $(seq 12); do curl -s --max-time 5 '{url}?sleep=0'; done > /tmp/fast.out; wait; "
        "cat /tmp/slow.out; echo ---; cat /tmp/fast.out"
    )
    busy, fast = out.stdout.split("---")
    fast = fast.split()
    assert busy.strip() in ("app1", "app2", "app3") and len(fast) == 12
    assert busy.strip() not in fast
    assert len(set(fast)) == 2


def test_servers_from_an_inventory_group(host):
    assert server_status(host, "be_group", "haproxy-web")[0] == "UP"
    assert hits(host, f"http://{address(host)}:8085/", 3) == {"be1": 3}


def test_agent_check_takes_a_server_out_and_back(host, web):
    try:
        # the time of the change, from the web host's clock (which the containers share)
        changed = float(web.check_output("echo down > /run/delay-app/app2.agent && date +%s.%N"))
        out_after = wait_status(host, "be_agent", "app2", "DOWN", timeout=60, since=changed)
        assert out_after < 5, f"app2 left the rotation only after {out_after:.1f}s"
    finally:
        web.run("rm -f /run/delay-app/app2.agent")
    wait_status(host, "be_agent", "app2", "UP", timeout=60)
    assert "app2" in hits(host, f"http://{address(host)}:8084/?sleep=0", 6)


def test_external_check(host):
    config = host.file("/etc/haproxy/haproxy.cfg").content_string
    if host.backend.get_hostname() != "haproxy-lb-bookworm":
        # configured on haproxy-lb-bookworm only; elsewhere the chroot stays on
        assert "chroot /var/lib/haproxy" in config and "external-check" not in config
        return
    assert "chroot /var/lib/haproxy" not in config and "insecure-fork-wanted" in config
    try:
        changed = float(host.check_output("touch /tmp/haproxy-fail-8082 && date +%s.%N"))
        out_after = wait_status(host, "be_ext", "be2", "DOWN", timeout=60, since=changed)
        assert out_after < 5, f"be2 left the rotation only after {out_after:.1f}s"
        assert "be2" not in hits(host, f"http://{address(host)}:8086/", 6)
    finally:
        host.run("rm -f /tmp/haproxy-fail-8082")
    wait_status(host, "be_ext", "be2", "UP", timeout=60)


def test_failover_notifier_runs(host):
    assert host.service("haproxy-failover-notifier").is_running
    assert host.file("/etc/default/haproxy-failover-notifier").mode == 0o600
