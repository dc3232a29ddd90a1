"""Each node, from inside: services, what listens where, who may do what, metrics."""
import re
import shlex

from redis_helpers import MASTER_NAME, secret, wait_for

testinfra_hosts = ["ansible://all"]


def _address(host):
    return host.run("ip -4 -o addr show dev eth0").stdout.split()[3].split("/")[0]


def _cli(host, *args, user="admin", password=None, port=6379, address=None):
    password = password if password is not None else secret(f"redis_{user}_password")
    auth = f"REDISCLI_AUTH={shlex.quote(password)} " if password else ""
    who = f"--user {user} " if user else ""
    cmd = (f"{auth}timeout 10 redis-cli --no-auth-warning {who}-h {address or _address(host)} -p {port} "
           + " ".join(shlex.quote(str(a)) for a in args))
    return host.run(cmd)


def _sentinel(host, *args):
    return _cli(host, *args, user=None, password=secret("redis_sentinel_password"), port=26379)


def _primary_address(host):
    return _sentinel(host, "SENTINEL", "get-master-addr-by-name", MASTER_NAME).stdout.split()[0]


def test_services_run_and_start_at_boot(host):
    for unit in ("redis-server", "redis-sentinel", "prometheus-redis-exporter"):
        assert host.service(unit).is_running, unit
        assert host.service(unit).is_enabled, unit


def test_listens_on_the_private_address_only(host):
    addr = _address(host)
    listening = host.socket.get_listening_sockets()
    for port in (6379, 26379, 9121):
        assert [s for s in listening if s.endswith(f":{port}")] == [f"tcp://{addr}:{port}"], port
    assert _cli(host, "PING", address="127.0.0.1").stdout.strip() != "PONG"


def test_unauthenticated_clients_are_refused(host):
    out = _cli(host, "PING", user=None, password="")
    assert "NOAUTH" in out.stdout + out.stderr
    out = _cli(host, "PING", user="default", password="guess-this-password")
    assert "PONG" not in out.stdout
    out = _cli(host, "PING", user=None, password="", port=26379)
    assert "NOAUTH" in out.stdout + out.stderr
    assert "off" in _cli(host, "ACL", "GETUSER", "default").stdout.split()


def test_application_user_is_denied_dangerous_commands(host):
    assert _cli(host, "PING", user="app").stdout.strip() == "PONG"
    for cmd in (["FLUSHALL"], ["CONFIG", "GET", "maxmemory"], ["KEYS", "*"], ["DEBUG", "SLEEP", "0"],
                ["SHUTDOWN", "NOSAVE"], ["REPLICAOF", "NO", "ONE"], ["ACL", "LIST"]):
        out = _cli(host, *cmd, user="app")
        # DEBUG is also switched off for everyone (enable-debug-command no)
        assert "NOPERM" in out.stdout + out.stderr or "DEBUG command not allowed" in out.stdout, (cmd, out.stdout)
    assert _cli(host, "PING").stdout.strip() == "PONG"


def test_queue_profile_and_limits(host):
    def get(name):
        return _cli(host, "CONFIG", "GET", name).stdout.split()[1]

    assert get("maxmemory-policy") == "noeviction"
    assert get("appendonly") == "yes"
    assert get("appendfsync") == "everysec"
    assert get("min-replicas-to-write") == "1"
    assert get("min-replicas-max-lag") == "10"
    assert get("protected-mode") == "yes"
    # 8 GB where the host has it (these hosts see more than 16 GB), else half the RAM
    mem_kb = int(host.file("/proc/meminfo").content_string.split()[1])
    expected = min(8192, mem_kb // 1024 // 2) * 1024 * 1024
    assert int(get("maxmemory")) == expected


def test_secrets_are_not_readable_or_in_clear(host):
    app_password = secret("redis_app_password")
    acl = host.file("/etc/redis/users.acl")
    assert acl.mode == 0o640 and acl.user == "redis"
    assert app_password not in acl.content_string
    assert re.search(r"^user app on #[0-9a-f]{64} ", acl.content_string, re.M)
    assert host.file("/etc/redis/groundwork-auth.conf").mode == 0o640
    assert host.file("/etc/redis/groundwork-sentinel.conf").mode == 0o600
    exporter = host.file("/etc/default/prometheus-redis-exporter")
    assert exporter.mode == 0o640 and exporter.group == "prometheus"
    assert app_password not in host.run("journalctl --no-pager -q").stdout


def test_kernel_settings_are_written_for_the_host(host):
    assert "vm.overcommit_memory=1" in host.file("/etc/sysctl.d/61-redis.conf").content_string
    assert "transparent_hugepage/enabled - - - - never" in host.file("/etc/tmpfiles.d/redis-thp.conf").content_string


def test_exporter_reports_queue_and_stream_lengths(host):
    primary = _primary_address(host)
    assert _cli(host, "LPUSH", "queue:jobs", "a", "b", "c", user="app", address=primary).rc == 0
    assert _cli(host, "XADD", "camera-frames", "*", "frame", "1", user="app", address=primary).rc == 0
    url = f"http://{_address(host)}:9121/metrics"

    def scraped():
        body = host.run(f"curl -fsS --max-time 5 {url}").stdout
        lists = re.search(r'^redis_key_size\{db="db0",key="queue:jobs"\} (\d+)', body, re.M)
        streams = re.search(r'^redis_stream_length\{db="db0",stream="camera-frames"\} (\d+)', body, re.M)
        return (body, lists, streams) if lists and streams else None
    # the exporter reads the keys on a scrape after the writes reached this node (a replica)
    body, lists, streams = wait_for(scraped, 90, 1, "queue:jobs and camera-frames lengths in the exporter's metrics")
    assert "\nredis_up 1" in body
    assert lists and int(lists.group(1)) >= 3, "no list length for queue:jobs"
    assert streams and int(streams.group(1)) >= 1, "no stream length for camera-frames"
    assert 'redis_stream_group_messages_pending{db="db0",group="processors",stream="camera-frames"}' in body


def test_sentinel_monitors_the_group_with_a_quorum(host):
    assert _sentinel(host, "SENTINEL", "CKQUORUM", MASTER_NAME).stdout.startswith("OK 3 usable Sentinels")
    master = _sentinel(host, "SENTINEL", "MASTER", MASTER_NAME).stdout.split()
    settings = dict(zip(master[0::2], master[1::2]))
    assert settings["quorum"] == "2"
    assert settings["down-after-milliseconds"] == "2000"
    assert settings["num-slaves"] == "2" and settings["num-other-sentinels"] == "2"
    conf = host.file("/etc/redis/sentinel.conf").content_string
    assert conf.startswith("# groundwork.platform.redis_sentinel: Sentinel owns this file")
