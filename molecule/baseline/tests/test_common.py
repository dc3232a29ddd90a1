"""Verify the common role (the baseline scenario) on a real test host."""
import re

import pytest

testinfra_hosts = ["ansible://all"]


def test_baseline_packages_installed(host):
    for pkg in ("ca-certificates", "curl", "acl", "systemd-timesyncd", "python3-apt"):
        assert host.package(pkg).is_installed, pkg


def test_apt_uses_the_proxy_and_it_works(host):
    # the scenario's proxy: apt-cacher-ng on the docker network's gateway (.config/molecule/config.yml)
    gateway = host.run("ip -4 route show default").stdout.split()[2]
    proxy = f"http://{gateway}:3142"
    conf = host.file("/etc/apt/apt.conf.d/01groundwork-proxy")
    assert conf.exists
    assert f'Acquire::http::Proxy "{proxy}";' in conf.content_string
    # apt itself reads it (no other file overrides it)
    assert host.run("apt-config dump Acquire::http::Proxy").stdout.strip() == f'Acquire::http::Proxy "{proxy}";'
    # A real download now, into a new directory, with apt's HTTP debug output: through a proxy
    # apt sends the absolute URL ("GET http://host/path", direct it sends "GET /path") and the
    # answer comes from apt-cacher-ng. Without the proxy configuration both would be missing.
    out = host.run("d=$(mktemp -d) || exit 1; cd \"$d\" && apt-get -o Debug::Acquire::http=true download hostname 2>&1"
                   " && ls; rc=$?; cd / && rm -rf \"$d\"; exit $rc")
    assert out.rc == 0, out.stdout
    assert re.search(r"^GET http://\S+/pool/\S+/hostname_\S+\.deb HTTP/1\.[01]\r?$", out.stdout, re.M), out.stdout
    assert re.search(r"^Server: Debian Apt-Cacher NG/", out.stdout, re.M | re.I), out.stdout
    assert re.search(r"^hostname_\S+\.deb$", out.stdout, re.M), out.stdout


def test_every_inventory_host_resolves_to_its_address(host):
    block = host.file("/etc/hosts").content_string
    assert "groundwork.platform inventory hosts" in block
    own = host.run("ip -4 -o addr show dev eth0").stdout.split()[3].split("/")[0]
    me = host.run("hostname").stdout.strip()
    assert host.run(f"getent hosts {me}").stdout.split()[0] == own
    peers = {"baseline-bookworm", "baseline-trixie"} - {me}
    for peer in peers:
        addr = host.run(f"getent hosts {peer}").stdout.split()[0]
        assert addr != own and addr.count(".") == 3


def test_sysctl_file_written(host):
    content = host.file("/etc/sysctl.d/60-groundwork.conf").content_string
    assert "vm.swappiness=10" in content
    assert "net.ipv4.ip_local_port_range=10240 65000" in content


def test_limits_file(host):
    content = host.file("/etc/security/limits.d/60-groundwork.conf").content_string
    assert "nofile" in content and "65536" in content


def test_service_account_is_unprivileged(host):
    user = host.user("gwtest")
    assert user.exists
    assert user.shell == "/usr/sbin/nologin"
    assert user.uid < 1000
    assert user.group == "gwtest"
    assert host.file("/var/lib/gwtest").is_directory


@pytest.mark.parametrize("unit", ["systemd-timesyncd"])
def test_timesync_enabled(host, unit):
    assert host.service(unit).is_enabled
