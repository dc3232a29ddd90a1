"""Verify node_exporter (the baseline scenario) by scraping its real metrics endpoint."""
testinfra_hosts = ["ansible://all"]


def _own_address(host):
    return host.run("ip -4 -o addr show dev eth0").stdout.split()[3].split("/")[0]


def _scrape(host, addr):
    out = host.run(f"curl -fsS --max-time 5 http://{addr}:9100/metrics")
    assert out.rc == 0, out.stderr
    return out.stdout


def test_listens_on_the_private_address_only(host):
    addr = _own_address(host)
    sockets = [s for s in host.socket.get_listening_sockets() if s.endswith(":9100")]
    assert sockets == [f"tcp://{addr}:9100"]
    assert host.run("curl -fsS --max-time 3 http://127.0.0.1:9100/metrics").rc != 0


def test_metrics_endpoint_serves_node_metrics(host):
    body = _scrape(host, _own_address(host))
    assert "node_exporter_build_info" in body
    assert "node_cpu_seconds_total" in body
    assert 'node_systemd_unit_state{name="prometheus-node-exporter.service",state="active"' in body


def test_textfile_collector_reads_other_roles_metrics(host):
    host.run(
        "printf '# TYPE groundwork_probe gauge\\ngroundwork_probe 42\\n' "
        "> /var/lib/prometheus/node-exporter/probe.prom.tmp && "
        "mv /var/lib/prometheus/node-exporter/probe.prom.tmp /var/lib/prometheus/node-exporter/probe.prom"
    )
    body = _scrape(host, _own_address(host))
    host.run("rm -f /var/lib/prometheus/node-exporter/probe.prom")
    assert "\ngroundwork_probe 42" in body


def test_a_peer_can_scrape_it(host):
    me = host.run("hostname").stdout.strip()
    peer = "baseline-trixie" if me == "baseline-bookworm" else "baseline-bookworm"
    out = host.run(f"curl -fsS --max-time 5 http://{peer}:9100/metrics")
    assert out.rc == 0 and "node_exporter_build_info" in out.stdout
