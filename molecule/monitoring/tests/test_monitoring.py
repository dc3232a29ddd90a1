"""Verify the monitoring stack end to end by using it: Prometheus scrapes every target and
loads the rules; real breaches (a queue over its limit, a stopped Redis, hosts going down)
produce notifications that arrive at the SMTP sink and at the HTTP stand-ins for Slack,
PagerDuty and a webhook; grouping, cluster deduplication and inhibition hold back the
duplicates. The tests run in file order and restore what they stop."""
import json
import os
import pathlib
import re
import shlex
import subprocess
import time

import pytest
import testinfra
import yaml

from gwtest import assert_never, secret, wait_for

SCENARIO = pathlib.Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]
INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
testinfra_hosts = ["ansible://mon-prom"]


def _seconds(duration):
    """Seconds of a Prometheus/Alertmanager duration: 500ms, 2s, 1m, 1h30m..."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|[smhd])", str(duration))
    assert parts and "".join(n + u for n, u in parts) == str(duration), f"not a duration: {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


# The scenario's own timings (molecule.yml's group_vars), from which every wait below is bounded.
_VARS = yaml.safe_load((SCENARIO / "molecule.yml").read_text(encoding="utf-8"))["provisioner"]["inventory"]["group_vars"]["all"]
SCRAPE = _seconds(_VARS["prometheus_scrape_interval"]) + _seconds(_VARS["prometheus_scrape_timeout"])
EVALUATION = _seconds(_VARS["prometheus_evaluation_interval"])
FOR = {name: _seconds(value) for name, value in _VARS["prometheus_alert_for"].items()}
ESCALATION = _seconds(_VARS["prometheus_escalation_after"])
# the liveness probes keep the role's defaults: a probe and an evaluation every interval, then for:
_DEFAULTS = yaml.safe_load((ROOT / "roles/prometheus/defaults/main.yml").read_text(encoding="utf-8"))
LIVENESS = 2 * _seconds(_DEFAULTS["prometheus_liveness_interval"]) + _seconds(_DEFAULTS["prometheus_liveness_for"])
# a group's first notification after group_wait; an alert that joins it later, after group_interval;
# the second Alertmanager of the cluster waits up to its position times the peer timeout
DISPATCH = (_seconds(_VARS["alertmanager_group_wait"]) + _seconds(_VARS["alertmanager_group_interval"])
            + 2 * _seconds(_VARS["alertmanager_cluster_peer_timeout"]))
# Two scenarios share two CPU cores: each step may take many times its nominal time, and every
# poll of the sinks is a round trip to a container (seconds, under load).
LOAD_FACTOR = 10
ROUND_TRIPS = 30


def query_bound():
    """From a change on a host to Prometheus showing it (a scrape, then a rule evaluation)."""
    return LOAD_FACTOR * (SCRAPE + EVALUATION) + ROUND_TRIPS


def notification_bound(*fors):
    """From a change on a host to the notification at the sinks: a scrape, a rule evaluation, the
    rules' `for:` durations (`fors`, one more evaluation each), and Alertmanager's dispatch."""
    return LOAD_FACTOR * (SCRAPE + EVALUATION + sum(f + EVALUATION for f in fors) + DISPATCH) + ROUND_TRIPS


def _host(name):
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=INVENTORY)


PROM, AM2, APP = _host("mon-prom"), _host("mon-am2"), _host("mon-app")


def _addr(host):
    return host.run("ip -4 -o addr show dev eth0").stdout.split()[3].split("/")[0]


def _get(host, url, user, secret_name):
    out = host.run(f"curl -fsS --max-time 5 -u {shlex.quote(user + ':' + secret(secret_name))} {shlex.quote(url)}")
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)


def prom(path):
    return _get(PROM, f"http://{_addr(PROM)}:9090{path}", "prometheus", "prometheus_web_password")


def am(host, path):
    return _get(host, f"http://{_addr(host)}:9093{path}", "alertmanager", "alertmanager_web_password")


def records():
    out = AM2.run("curl -fsS --max-time 5 http://127.0.0.1:9999/records")
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)


def alerts_in(rec):
    """(alertname, status, labels) of every alert a record carries, whatever its format."""
    body = rec["body"]
    if rec["path"] == "webhook":
        return [(a["labels"]["alertname"], a["status"], a["labels"]) for a in body["alerts"]]
    if rec["path"] == "pagerduty":
        details = body["payload"]["custom_details"]
        return [(details.get("firing", "") and "EscalatedCritical", body["event_action"], details)]
    if rec["path"] == "slack":
        return [(a.get("title", ""), "", a) for a in body["attachments"]]
    return [(body["subject"], "", body)]


def webhook_alerts(name, status="firing", since=0):
    return [(r, labels) for r in records() if r["path"] == "webhook" and r["received"] >= since
            for alertname, st, labels in alerts_in(r) if alertname == name and st == status]


def test_every_target_is_up():
    def all_up():
        targets = prom("/api/v1/targets")["data"]["activeTargets"]
        return targets if targets and all(t["health"] == "up" for t in targets) else None
    targets = wait_for(all_up, query_bound(), 1, "every target up", detail=lambda: [
        (t["labels"], t["health"], t["lastError"]) for t in prom("/api/v1/targets")["data"]["activeTargets"]])
    jobs = {}
    for t in targets:
        jobs.setdefault(t["labels"]["job"], set()).add(t["labels"]["instance"])
    assert jobs == {
        "prometheus": {"mon-prom"},
        "alertmanager": {"mon-prom", "mon-am2"},
        "node": {"mon-prom", "mon-am2", "mon-app"},
        "redis": {"mon-app"},
        "blackbox": {"mon-prom"},
        "liveness": {"mon-prom", "mon-am2", "mon-app"},
    }  # no GPU on mon-app: no gpu job; groups absent from the inventory: no job
    # one liveness probe per published service endpoint (exporters other than node_exporter are not probed)
    probes = {(t["labels"]["service"], t["labels"]["instance"], t["scrapeUrl"].split("module=")[1].split("&")[0])
              for t in targets if t["labels"]["job"] == "liveness"}
    assert probes == {
        ("node_exporter", "mon-prom", "tcp_connect"), ("node_exporter", "mon-am2", "tcp_connect"),
        ("node_exporter", "mon-app", "tcp_connect"), ("redis", "mon-app", "tcp_connect"),
        ("alertmanager", "mon-prom", "tcp_connect"), ("alertmanager", "mon-am2", "tcp_connect"),
    }
    answers = prom("/api/v1/query?query=probe_success")["data"]["result"]
    assert len(answers) == len(probes) and all(r["value"][1] == "1" for r in answers), answers


def test_the_prober_listens_on_loopback_and_keeps_the_journal_quiet():
    listeners = PROM.run("ss -ltnH 'sport = :9115'").stdout.split("\n")
    assert [line.split()[3] for line in listeners if line.strip()] == ["127.0.0.1:9115"], listeners
    # 6 probes every 2 s: a log line per successful probe would be hundreds a minute (a failed
    # probe is logged, as an error; the tests below fail some on purpose)
    log = PROM.run("journalctl _PID=$(systemctl show -p MainPID --value prometheus-blackbox-exporter) --since -60s -o cat --no-pager")
    assert not [line for line in log.stdout.splitlines() if "succeeded" in line or "Successfully" in line], log.stdout[-2000:]


def test_no_series_from_a_default_configuration():
    # Debian starts Prometheus on its default configuration (localhost:9090, localhost:9100)
    # as soon as the package is installed; the roles keep it from starting before theirs
    series = {(r["metric"]["job"], r["metric"]["instance"]) for r in prom("/api/v1/query?query=up")["data"]["result"]}
    assert not [s for s in series if s[1].startswith("localhost")], series
    # mon-am2 has the prometheus package for promtool only: its server stays off
    assert not AM2.service("prometheus").is_running
    assert not AM2.service("prometheus").is_enabled


# Alerts about the machine the test hosts share with the other lane (their node_exporters see its
# CPU, memory and disks), not about the platform: a loaded CI machine may fire them legitimately.
MACHINE_ALERTS = ("HostCpuSaturated", "HostMemoryLow", "HostDiskAlmostFull", "HostDiskFullIn4Hours")


def test_a_healthy_platform_is_silent_but_for_the_heartbeat():
    """Nothing is broken yet: the Watchdog reaches the dead man's switch (and no other receiver),
    and no other alert fires or is even pending, for longer than the longest `for:`."""
    def heartbeats():
        return [r for r in records() if r["path"] == "deadmansswitch"
                and [a for a in r["body"]["alerts"] if a["labels"]["alertname"] == "Watchdog" and a["status"] == "firing"]]
    beats = wait_for(heartbeats, notification_bound(), 1, "the Watchdog at the dead man's switch", detail=records)
    assert beats[0]["body"]["receiver"] == "deadmansswitch"

    def noise():
        return [(a["labels"]["alertname"], a["labels"].get("instance"), a["state"])
                for a in prom("/api/v1/alerts")["data"]["alerts"]
                if a["labels"]["alertname"] not in ("Watchdog",) + MACHINE_ALERTS]
    assert_never(noise, 2 * (max(FOR.values()) + 2 * EVALUATION), 1, "an alert on a healthy platform")
    # the heartbeat keeps coming (every alertmanager_deadmansswitch_interval) and goes nowhere else
    wait_for(lambda: len(heartbeats()) > len(beats), notification_bound(), 1, "a second heartbeat", detail=records)
    assert not [r["path"] for r in records() if r["path"] != "deadmansswitch" and "Watchdog" in json.dumps(r["body"])]


def test_rules_are_loaded_and_evaluate():
    groups = prom("/api/v1/rules")["data"]["groups"]
    names = {g["name"] for g in groups}
    for component in ["node", "prometheus", "alertmanager", "postgresql", "pgbouncer", "etcd", "redis", "haproxy",
                      "kafka", "minio", "vault", "gpu", "queues", "escalation"]:
        assert any(n.startswith(component) for n in names), f"no rule group for {component}: {names}"
    # every rule has been evaluated once (health "unknown" until then)
    def evaluated():
        rules = [r for g in prom("/api/v1/rules")["data"]["groups"] for r in g["rules"]]
        return rules if all(r.get("health") in ("ok", "err") for r in rules) else None
    rules = wait_for(evaluated, query_bound(), 1, "every rule evaluated")
    broken = [(r["name"], r.get("lastError")) for r in rules if r.get("health") == "err"]
    assert not broken


def test_rule_unit_tests_pass_with_the_deployed_promtool(tmp_path):
    subprocess.run([str(ROOT / ".venv/bin/python"), str(ROOT / "tests/promtool/render.py"),
                    str(tmp_path / "build/promtool/rules")], check=True, capture_output=True)
    (tmp_path / "tests").mkdir()
    subprocess.run(["cp", "-r", str(ROOT / "tests/promtool"), str(tmp_path / "tests/")], check=True)
    PROM.run("rm -rf /root/promtool")
    subprocess.run(["docker", "cp", str(tmp_path), "mon-prom:/root/promtool"], check=True)
    out = PROM.run("cd /root/promtool && promtool check rules build/promtool/rules/*.yml && promtool test rules tests/promtool/*_test.yml")
    assert out.rc == 0, out.stdout + out.stderr
    assert out.stdout.count("SUCCESS") >= 16


def test_alertmanagers_form_one_cluster():
    for host in (PROM, AM2):
        status = am(host, "/api/v2/status")
        assert status["cluster"]["status"] == "ready"
        assert len(status["cluster"]["peers"]) == 2


def test_consoles_show_live_data():
    # a target restarted by an earlier converge may take a scrape or two to be up again
    def page():
        out = PROM.run(f"curl -fsS -u prometheus:{secret('prometheus_web_password')} http://{_addr(PROM)}:9090/consoles/index.html")
        return out if out.rc == 0 and 'data-job="node"' in out.stdout and "3 / 3" in out.stdout else None
    wait_for(page, max(60, query_bound()), 1, "console index showing 3 / 3 node targets up")


def test_queue_over_its_limit_notifies():
    since = time.time()
    APP.run("redis-cli del jobs && redis-cli rpush jobs " + " ".join(str(i) for i in range(60)))
    found = wait_for(lambda: webhook_alerts("QueueDepthHigh", since=since), notification_bound(FOR["short"]), 1,
                     "QueueDepthHigh at the webhook", detail=records)
    labels = found[0][1]
    assert labels["queue"] == "jobs" and labels["system"] == "redis" and labels["severity"] == "warning"
    slack = wait_for(lambda: [r for r in records() if r["path"] == "slack" and r["received"] >= since
                              and "QueueDepthHigh" in json.dumps(r["body"])], notification_bound(), 1,
                     "QueueDepthHigh at Slack", detail=records)
    assert slack[0]["body"]["channel"] == "#alerts"
    console = PROM.run(f"curl -fsS -u prometheus:{secret('prometheus_web_password')} http://{_addr(PROM)}:9090/consoles/queues.html")
    assert 'data-queue="jobs"' in console.stdout and '<td class="num depth">60</td>' in console.stdout
    APP.run("redis-cli del jobs")
    wait_for(lambda: webhook_alerts("QueueDepthHigh", status="resolved", since=since), notification_bound(), 1,
             "QueueDepthHigh resolved at the webhook", detail=records)


def test_stopped_service_reaches_email_slack_webhook_and_pages():
    """The fast path: the liveness probe of Redis fails, ServiceDown reaches every receiver and is
    escalated; the slower RedisDown (redis_exporter's view, prometheus_alert_for.down) that follows
    is held back by it, so the outage is notified once."""
    since = time.time()
    APP.run("systemctl stop redis-server")
    try:
        hook = wait_for(lambda: [(r, a) for r, a in webhook_alerts("ServiceDown", since=since) if a["service"] == "redis"],
                        notification_bound(LIVENESS), 1, "ServiceDown of redis at the webhook", detail=records)
        assert hook[0][1]["severity"] == "critical" and hook[0][1]["team"] == "database" and hook[0][1]["instance"] == "mon-app"
        mail = wait_for(lambda: [r for r in records() if r["path"] == "smtp" and r["received"] >= since
                                 and "ServiceDown" in r["body"]["subject"]], notification_bound(), 1,
                        "ServiceDown by email", detail=records)
        assert mail[0]["body"]["to"] == ["<oncall@example.test>"]
        wait_for(lambda: [r for r in records() if r["path"] == "slack" and r["received"] >= since
                          and "ServiceDown" in json.dumps(r["body"])], notification_bound(), 1,
                 "ServiceDown at Slack", detail=records)
        # RedisDown fires too, after prometheus_alert_for.down, and Alertmanager holds it back
        def held_back():
            alerts = am(PROM, "/api/v2/alerts?filter=alertname%3D%22RedisDown%22")
            return [a for a in alerts if a["labels"].get("instance") == "mon-app" and a["status"]["state"] == "suppressed"]
        held = wait_for(held_back, notification_bound(FOR["down"]), 1, "RedisDown held back by ServiceDown")
        assert held[0]["labels"]["service"] == "redis" and held[0]["status"]["inhibitedBy"]
        # unresolved for prometheus_escalation_after (5 s here): escalated, and PagerDuty is paged
        page = wait_for(lambda: [r for r in records() if r["path"] == "pagerduty" and r["received"] >= since
                                 and "ServiceDown" in json.dumps(r["body"])], notification_bound(LIVENESS, ESCALATION), 1,
                        "ServiceDown escalated to PagerDuty", detail=records)
        body = page[0]["body"]
        assert body["event_action"] == "trigger" and body["routing_key"] == secret("pagerduty_key")
        assert "ServiceDown on mon-app is unresolved" in body["payload"]["summary"]
        assert not webhook_alerts("RedisDown", since=since), "RedisDown was notified beside ServiceDown"
    finally:
        APP.run("systemctl start redis-server")
    wait_for(lambda: [(r, a) for r, a in webhook_alerts("ServiceDown", status="resolved", since=since) if a["service"] == "redis"],
             notification_bound(), 1, "ServiceDown resolved at the webhook", detail=records)


def test_grouping_dedup_and_inhibition_hold_back_duplicates():
    since = time.time()
    for host in (APP, AM2):
        host.run("systemctl stop prometheus-node-exporter")
    try:
        def both():
            # one notification carries both hosts' HostDown, firing, and no other host's firing
            # (a HostDown of another host that resolved meanwhile may ride along as resolved)
            hits = [r for r, _ in webhook_alerts("HostDown", since=since)]
            return [r for r in hits if {a["labels"]["instance"] for a in r["body"]["alerts"]
                                        if a["status"] == "firing"} == {"mon-app", "mon-am2"}]
        # under load the two HostDown alerts can start in different evaluations: the group's
        # next notification (after group_interval) then carries both
        wait_for(both, notification_bound(LIVENESS), 1, "one notification with both hosts' HostDown",
                 detail=records)
        # inhibition: with HostDown firing on mon-app, its redis exporter going down is held back
        APP.run("systemctl stop prometheus-redis-exporter")
        def suppressed():
            alerts = am(PROM, "/api/v2/alerts?filter=alertname%3D%22TargetDown%22")
            return [a for a in alerts if a["labels"].get("instance") == "mon-app" and a["status"]["state"] == "suppressed"]
        held = wait_for(suppressed, notification_bound(FOR["down"]), 1, "TargetDown of mon-app suppressed in Alertmanager")
        assert held[0]["status"]["inhibitedBy"]
        # watched for longer than Alertmanager would take to notify it (group_wait, group_interval,
        # the second member's peer timeouts), on a loaded machine
        assert_never(lambda: webhook_alerts("TargetDown", since=since), LOAD_FACTOR * DISPATCH, 1,
                     "an inhibited alert was notified")
        # the two Alertmanagers both got every alert, but each state of the HostDown group was
        # notified once: a notification is its group and each alert's fingerprint and status (a
        # group is notified again, legitimately, when one of its alerts resolves or fires again).
        # Only this test's group: an alert of the loaded machine itself (HostCpuSaturated) may
        # flap meanwhile and is notified again each time it does
        keys = [(r["body"]["groupKey"], tuple(sorted((a["fingerprint"], a["status"]) for a in r["body"]["alerts"])))
                for r in records() if r["path"] == "webhook" and r["received"] >= since and r["body"]["status"] == "firing"
                and r["body"].get("groupLabels", {}).get("alertname") == "HostDown"]
        assert keys, "no HostDown notification recorded"
        assert len(keys) == len(set(keys)), f"duplicate notifications: {keys}"
    finally:
        APP.run("systemctl start prometheus-redis-exporter prometheus-node-exporter")
        AM2.run("systemctl start prometheus-node-exporter")


def test_gpu_less_host_skipped_the_gpu_exporter():
    assert not APP.service("nvidia-gpu-exporter").is_running
    assert not APP.file("/usr/local/lib/groundwork-nvidia-gpu-exporter").exists


def _chromium(url, *args):
    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if subprocess.run(
        ["sh", "-c", f"command -v {b}"], capture_output=True).returncode == 0), None)
    assert browser, "chromium is not installed on the controller: apt-get install -y --no-install-recommends chromium"
    profile = subprocess.run(["mktemp", "-d"], capture_output=True, text=True, check=True).stdout.strip()
    try:
        return subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,900", *args, url],
            capture_output=True, text=True, timeout=90)
    finally:
        subprocess.run(["rm", "-rf", profile])


@pytest.mark.parametrize("page,marker", [("queues", 'data-queue="jobs"'), ("index", 'data-job="redis"')])
def test_console_pages_in_a_real_browser(page, marker):
    """Headless Chromium on the controller loads the console page from the container and
    sees live values; the screenshot is kept under build/screenshots/."""
    if page == "queues":
        APP.run("redis-cli del jobs && redis-cli rpush jobs " + " ".join(str(i) for i in range(17)))
        # the value itself (a "17" anywhere in the answer could be a timestamp's digits)
        wait_for(lambda: [r for r in prom('/api/v1/query?query=groundwork:queue_depth%7Bqueue%3D%22jobs%22%7D')["data"]["result"]
                          if r["value"][1] == "17"], query_bound(), 1, "queue depth 17 in Prometheus")
    else:
        def all_up():
            ups = prom("/api/v1/query?query=up")["data"]["result"]
            return ups and all(r["value"][1] == "1" for r in ups)
        wait_for(all_up, query_bound(), 1, "every target up in Prometheus")
    ip = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "mon-prom"],
                        capture_output=True, text=True, check=True).stdout.strip()
    url = f"http://prometheus:{secret('prometheus_web_password')}@{ip}:9090/consoles/{page}.html"
    dom = _chromium(url, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert marker in dom.stdout, dom.stdout[:3000]
    if page == "queues":
        assert '<td class="num depth">17</td>' in dom.stdout
    else:
        assert "3 / 3" in dom.stdout
    shots = ROOT / "build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    png = shots / f"monitoring-{page}.png"
    png.unlink(missing_ok=True)
    shot = _chromium(url, f"--screenshot={png}")
    assert shot.returncode == 0 and png.exists() and png.stat().st_size > 10000, shot.stderr[-2000:]
    if page == "queues":
        APP.run("redis-cli del jobs")
