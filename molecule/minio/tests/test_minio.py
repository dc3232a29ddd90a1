"""Verify the distributed MinIO deployment by using it: S3 through both nodes over verified TLS,
the role's user, policy, versioning, lifecycle, quota and metrics."""
import re
import uuid

from conftest import CLIENT_DIR, ROOT_USER, Client, secret, status

testinfra_hosts = ["ansible://minio-1", "ansible://minio-2"]


def test_pinned_binaries(host):
    assert "DEVELOPMENT.2026-02-12T20-18-48Z" in host.run("/usr/local/bin/minio --version").stdout
    assert "DEVELOPMENT.2025-11-06T16-25-29Z" in host.run("/usr/local/bin/mc --version").stdout


def test_service_account_files_and_sockets(host):
    env = host.file("/etc/default/minio")
    assert (env.user, env.group, env.mode) == ("root", "minio", 0o640)
    assert host.file("/etc/minio/tls/server.key").mode == 0o600
    assert host.service("minio").is_running and host.service("minio").is_enabled
    assert host.run("ps -o user= -C minio").stdout.split() == ["minio"]
    addr = host.run("ip -4 -o addr show dev eth0").stdout.split()[3].split("/")[0]
    listening = {s for s in host.socket.get_listening_sockets() if s.endswith((":9000", ":9001"))}
    # the private address (MinIO adds loopback for the API itself), never a wildcard
    assert {f"tcp://{addr}:9000", f"tcp://{addr}:9001"} <= listening <= {
        f"tcp://{addr}:9000", f"tcp://{addr}:9001", "tcp://127.0.0.1:9000"}, listening
    assert "MINIO_VOLUMES=\"https://minio-1:9000/var/lib/minio/disk1 https://minio-1:9000/var/lib/minio/disk2 " \
           "https://minio-2:9000/var/lib/minio/disk1 https://minio-2:9000/var/lib/minio/disk2\"" in env.content_string
    # the role's timeouts reach the server (the connection timeout shorter than the drive timeout)
    environ = host.run("tr '\\0' '\\n' < /proc/$(pgrep -x -o minio)/environ").stdout.split()
    assert {"MINIO_CONN_USER_TIMEOUT=2s", "MINIO_DRIVE_MAX_TIMEOUT=30s"} <= set(environ), environ


def test_object_written_through_node1_reads_back_through_node2(hosts, root_clients):
    h = hosts["minio-1"]
    key = f"app-data/roundtrip/{uuid.uuid4().hex}.bin"
    assert h.run("head -c 3145728 /dev/urandom > /root/obj.in").rc == 0
    root_clients["minio-1"].json("cp", "/root/obj.in", f"s3/{key}")
    out = root_clients["minio-2"].run("cat", f"s3/{key}", "> /root/obj.out")
    assert out.rc == 0, out.stdout
    assert h.run("cmp /root/obj.in /root/obj.out").rc == 0


def test_tls_is_verified_against_the_platform_ca(hosts, addresses):
    # the same request without the CA is refused by the client
    h = hosts["minio-1"]
    c = Client(h, addresses["minio-2"], ROOT_USER, secret("minio_root_password"), config_dir="/root/mc-noca")
    out = c.run("ls", "s3")
    assert out.rc != 0 and "certificate" in out.stdout + out.stderr, out.stdout
    assert "Verify return code: 0" in h.run(
        f"openssl s_client -connect {addresses['minio-2']}:9000 -CAfile {CLIENT_DIR}/certs/CAs/ca.crt </dev/null").stdout


def test_user_writes_its_bucket_and_is_denied_elsewhere(hosts, addresses):
    app = Client(hosts["minio-2"], addresses["minio-1"], "app", secret("minio_app_secret"))
    hosts["minio-2"].run(f"mkdir -p {CLIENT_DIR}/certs/CAs")
    assert app.run("pipe", "s3/app-data/by-app.txt", stdin="echo written-by-app").rc == 0
    assert app.run("cat", "s3/app-data/by-app.txt").stdout.strip() == "written-by-app"
    denied = app.run("pipe", "s3/other-data/by-app.txt", stdin="echo nope")
    assert denied.rc != 0 and re.search("Access Denied|Insufficient permissions", denied.stdout), denied.stdout
    denied = app.run("ls", "s3/other-data")
    assert denied.rc != 0 and re.search("Access Denied|Insufficient permissions", denied.stdout), denied.stdout
    wrong = Client(hosts["minio-2"], addresses["minio-1"], "app", "not-the-secret")
    assert "SignatureDoesNotMatch" in wrong.run("ls", "s3/app-data").stdout


def test_versioning_lifecycle_and_quota_as_configured(root_clients):
    c = root_clients["minio-2"]
    assert c.json("version", "info", "s3/app-data")[0]["versioning"]["status"] == "Enabled"
    assert c.json("version", "info", "s3/other-data")[0]["versioning"]["status"] == ""
    rules = c.json("ilm", "export", "s3/app-data")[0]["config"]["Rules"]
    assert rules == [{"ID": "groundwork-expiry", "Status": "Enabled", "Expiration": {"Days": 30},
                      "NoncurrentVersionExpiration": {"NoncurrentDays": 7}}]
    quota = c.json("quota", "info", "s3/app-data")[0]
    assert (quota["quota"], quota["type"]) == (1024 ** 3, "hard")
    # versioning really keeps the old version
    for body in ("one", "two"):
        assert c.run("pipe", "s3/app-data/versioned.txt", stdin=f"echo {body}").rc == 0
    versions = [v for v in c.json("ls", "--versions", "s3/app-data/versioned.txt") if v.get("key") == "versioned.txt"]
    assert len(versions) >= 2


def test_metrics_are_public_and_named_as_the_alert_rules_expect(hosts, addresses):
    h = hosts["minio-1"]
    for path in ("/minio/v2/metrics/cluster", "/minio/v2/metrics/node"):
        out = h.run(f"curl -fsS --max-time 10 --cacert {CLIENT_DIR}/certs/CAs/ca.crt https://{addresses['minio-2']}:9000{path}")
        assert out.rc == 0, out.stderr
        assert re.search(r"^minio_\w+", out.stdout, re.M)
    cluster = h.run(f"curl -fsS --max-time 10 --cacert {CLIENT_DIR}/certs/CAs/ca.crt "
                    f"https://{addresses['minio-1']}:9000/minio/v2/metrics/cluster").stdout
    assert re.search(r"^minio_cluster_nodes_online_total(\{[^}]*\})? 2$", cluster, re.M), cluster[:2000]
    assert re.search(r"^minio_cluster_nodes_offline_total(\{[^}]*\})? 0$", cluster, re.M)
    for name in ("minio_cluster_drive_offline_total", "minio_cluster_capacity_usable_free_bytes",
                 "minio_cluster_capacity_usable_total_bytes", "minio_s3_requests_total"):
        assert re.search(rf"^{name}[{{ ]", cluster, re.M), name
    assert status(h, addresses["minio-2"], "/minio/health/cluster") == "200"
