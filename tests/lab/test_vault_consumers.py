"""On the lab (`make lab`), the roles that use OpenBao: run by hand, not in CI (the lab is not).

    .venv/bin/python -m pytest -p no:cacheprovider -v tests/lab

- PostgreSQL (5432), PgBouncer (6432), Redis (6379) and Sentinel (26379) on lab-node1..3 serve a
  certificate that OpenBao's PKI signed (issuer: the intermediate), which verifies against the
  platform CA with the node's name;
- the PostgreSQL application user logs in through PgBouncer, over verified TLS, with the
  password that OpenBao holds, and the Redis `app` ACL user with its password from OpenBao;
  neither password is in a file on the controller;
- a certificate with a third of its life left is renewed by a rerun (same key, new serial) and
  PostgreSQL and PgBouncer serve the new one without a restart.
"""
import json
import os
import pathlib
import re
import subprocess

import hvac
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECRETS = ROOT / "build" / "lab-secrets"
NODES = ("lab-node1", "lab-node2", "lab-node3")
CA = "/etc/postgresql-tls/ca.crt"


@pytest.fixture(scope="module", autouse=True)
def lab_is_up():
    up = subprocess.run(["docker", "inspect", "lab-node1"], capture_output=True, check=False).returncode == 0
    assert up, "these tests check the lab: bring it up first (make lab)"


def dexec(node, script, env=None, timeout=120):
    cmd = ["docker", "exec"]
    for key, value in (env or {}).items():
        cmd += ["-e", f"{key}={value}"]
    return subprocess.run(cmd + [node, "sh", "-c", script], capture_output=True, text=True, timeout=timeout, check=False)


def address(node):
    out = subprocess.run(["docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", node],
                         capture_output=True, text=True, check=True).stdout
    return next(iter(json.loads(out).values()))["IPAddress"]


@pytest.fixture(scope="module")
def vault():
    client = hvac.Client(url=f"https://{address('lab-node1')}:8200", verify=str(SECRETS / "ca" / "ca.crt"))
    client.auth.approle.login(role_id="groundwork-lab-platform",
                              secret_id=(SECRETS / "vault_platform_secret_id").read_text().strip())
    return client


def kv(vault, path):
    return vault.secrets.kv.v2.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)["data"]["data"]


def served(node, port):
    """(verify result line, issuer, serial) of the certificate a node serves on a PostgreSQL port."""
    out = dexec(node, f"out=$(openssl s_client -starttls postgres -connect {node}:{port} -CAfile {CA} -verify_hostname {node} "
                      f"</dev/null 2>&1); echo \"$out\" | grep 'Verify return code'; "
                      f"echo \"$out\" | sed -n '/BEGIN CERT/,/END CERT/p' | openssl x509 -noout -issuer -serial").stdout
    found = [re.search(pattern, out) for pattern in (r"Verify return code: .*", r"issuer=(.*)", r"serial=(\w+)")]
    return tuple(m and m.group(m.lastindex or 0) for m in found)


@pytest.mark.parametrize("port", [5432, 6432], ids=["postgresql", "pgbouncer"])
def test_postgresql_and_pgbouncer_serve_certificates_from_the_pki(port):
    for node in NODES:
        verify, issuer, serial = served(node, port)
        assert verify == "Verify return code: 0 (ok)", (node, port, verify)
        assert "OpenBao" in issuer and serial, (node, port, issuer)
        key = dexec(node, "stat -c '%U %a' /etc/postgresql-tls/server.key").stdout.split()
        assert key == ["postgres", "600"], (node, key)


@pytest.mark.parametrize("port, directory", [(6379, "tls"), (26379, "sentinel-tls")], ids=["redis", "sentinel"])
def test_redis_and_sentinel_serve_certificates_from_the_pki(port, directory):
    for node in NODES:
        out = dexec(node, f"out=$(openssl s_client -connect {node}:{port} -CAfile /etc/redis/{directory}/ca.crt -verify_hostname {node} "
                          f"</dev/null 2>&1); echo \"$out\" | grep 'Verify return code'; "
                          f"echo \"$out\" | sed -n '/BEGIN CERT/,/END CERT/p' | openssl x509 -noout -issuer").stdout
        assert "Verify return code: 0 (ok)" in out and "OpenBao" in out, (node, port, out)
        assert dexec(node, f"stat -c '%U %a' /etc/redis/{directory}/server.key").stdout.split() == ["redis", "600"]


def test_the_application_passwords_come_from_openbao(vault):
    assert not (SECRETS / "metrics_writer_password").exists() and not (SECRETS / "redis_app_password").exists()
    password = kv(vault, "platform/postgresql")["metrics_writer_password"]
    for node in NODES:
        out = dexec(node, f"psql 'host={node} port=6432 dbname=metrics user=metrics_writer sslmode=verify-full "
                          f"sslrootcert={CA}' -XAtc 'select ssl from pg_stat_ssl where pid = pg_backend_pid()'",
                    env={"PGPASSWORD": password})
        assert out.returncode == 0 and out.stdout.strip() == "t", (node, out.stderr)
    wrong = dexec(NODES[0], f"psql 'host={NODES[0]} port=6432 dbname=metrics user=metrics_writer sslmode=require' -Xc 'select 1'",
                  env={"PGPASSWORD": "not-the-password"})
    assert wrong.returncode != 0 and "authentication failed" in wrong.stderr, wrong.stderr
    app = kv(vault, "platform/redis")["app_password"]
    for node in NODES:
        out = dexec(node, f"redis-cli --tls --cacert /etc/redis/tls/ca.crt --no-auth-warning --user app --pass \"$P\" -h {node} ping",
                    env={"P": app})
        assert out.stdout.strip() == "PONG", (node, out.stdout, out.stderr)


def test_a_rerun_renews_a_certificate_near_its_end_without_a_restart():
    node = "lab-node2"
    before = {port: served(node, port)[2] for port in (5432, 6432)}
    key = dexec(node, "sha256sum /etc/postgresql-tls/server.key").stdout
    started = {unit: dexec(node, f"systemctl show -p ExecMainStartTimestampMonotonic {unit}").stdout for unit in ("patroni", "pgbouncer")}
    dexec(node, "sed -i 's/^validity .*/validity 1000 2000/' /etc/postgresql-tls/.groundwork-request")
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false")
    res = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "inventories/lab", "playbooks/site.yml",
                          "--tags", "postgresql,pgbouncer"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=900, check=False)
    assert res.returncode == 0, res.stdout[-3000:]
    # only that node's certificate was due: the others changed nothing
    assert re.search(rf"{node}\s*:.*changed=[1-9]", res.stdout), res.stdout[-2000:]
    assert all(re.search(rf"{other}\s*:.*changed=0", res.stdout) for other in NODES if other != node), res.stdout[-2000:]
    after = {port: served(node, port) for port in (5432, 6432)}
    for port in (5432, 6432):
        assert after[port][0] == "Verify return code: 0 (ok)" and after[port][2] != before[port], (port, before, after)
    assert after[5432][2] == after[6432][2]
    assert dexec(node, "sha256sum /etc/postgresql-tls/server.key").stdout == key
    assert {unit: dexec(node, f"systemctl show -p ExecMainStartTimestampMonotonic {unit}").stdout
            for unit in ("patroni", "pgbouncer")} == started


def test_openbao_snapshots_are_copied_to_minio():
    saved = {}
    for node in NODES:
        out = dexec(node, "systemctl start openbao-snapshot.service && journalctl -u openbao-snapshot.service -n 3 --no-pager -o cat")
        assert out.returncode == 0, (node, out.stdout, out.stderr)
        copied = re.search(r"copied to https://lab-node1:9000/openbao-snapshots/(openbao/openbao-\w+\.snap)", out.stdout)
        if copied:
            size = dexec(node, f"stat -c %s /var/backups/openbao/{copied.group(1).split('/')[-1]}").stdout.strip()
            saved[node] = (copied.group(1), int(size))
    assert len(saved) == 1, saved  # the active node, and only it
    key, size = next(iter(saved.values()))
    root = (SECRETS / "minio_root_password").read_text().strip()
    listing = dexec("lab-node1", f"/usr/local/bin/mc --config-dir /etc/minio/mc --json stat lab/openbao-snapshots/{key}",
                    env={"MC_HOST_lab": f"https://groundwork-admin:{root}@lab-node1:9000"})
    assert listing.returncode == 0 and json.loads(listing.stdout)["size"] == size, listing.stdout + listing.stderr
