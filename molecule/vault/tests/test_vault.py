"""The vault scenario: an OpenBao raft cluster used through its API with AppRole logins, the
encrypted init record, the loss of the active node, the unseal playbook, a rolling restart and
bad input."""
import json
import os
import pathlib
import re
import time
import uuid

import pytest
import yaml
from conftest import NODES, PASSWORD, RECORD, STATIC, STATIC_RECORD, Api, address, host_of, record
from gwtest import playbook, started, wait_for

SCENARIO = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
UNSEAL = SCENARIO.parents[1] / "playbooks" / "vault_unseal.yml"


def _roles(api):
    """node -> active / standby / sealed / other, from /v1/sys/health."""
    names = {200: "active", 429: "standby", 503: "sealed"}
    return {n: names.get(a.health(), "other") for n, a in api.items()}


def _one_active_two_standby(api):
    roles = _roles(api)
    return sorted(roles.values()) == ["active", "standby", "standby"] and roles


def _started(host):
    return started(host, "openbao")


# --- phase 0: steady state -----------------------------------------------------------------

def test_every_node_runs_as_openbao_with_a_hardened_unit(hosts):
    for h in hosts.values():
        svc = h.service("openbao")
        assert svc.is_running and svc.is_enabled
        assert h.process.filter(user="openbao", comm="bao")
        assert h.run("systemctl show -p ProtectSystem --value openbao").stdout.strip() == "strict"
        assert h.run("systemctl show -p CapabilityBoundingSet --value openbao").stdout.strip() == ""
        assert h.file("/etc/openbao/openbao.hcl").mode == 0o640
        assert h.file("/var/lib/openbao/raft").mode == 0o700


def test_one_active_node_two_standbys_and_three_raft_voters(api, admin_token):
    wait_for(lambda: _one_active_two_standby(api), 60, interval=2, what="one active node and two standbys",
             detail=lambda: _roles(api))
    status, out = api["vault-1"].call("GET", "/v1/sys/storage/raft/configuration", admin_token)
    assert status == 200, out
    servers = out["data"]["config"]["servers"]
    assert sorted(s["node_id"] for s in servers) == list(NODES)
    assert all(s["voter"] for s in servers)


def test_a_secret_written_through_one_node_is_read_through_another(api, admin_token):
    value = uuid.uuid4().hex
    writer = api["vault-2"].login("writer", admin_token)
    status, out = api["vault-2"].call("POST", "/v1/secret/data/app/db", writer, {"data": {"password": value}})
    assert status == 200, out
    reader = api["vault-3"].login("reader", admin_token)
    status, out = api["vault-3"].call("GET", "/v1/secret/data/app/db", reader)
    assert status == 200 and out["data"]["data"]["password"] == value, out
    # the reader's policy reads only; outside app/ nothing at all
    status, _ = api["vault-3"].call("POST", "/v1/secret/data/app/db", reader, {"data": {"password": "x"}})
    assert status == 403
    status, _ = api["vault-2"].call("POST", "/v1/secret/data/other/db", writer, {"data": {"password": "x"}})
    assert status == 403


def _issue(api, admin_token, name):
    issuer = api["vault-2"].login("issuer", admin_token)
    status, out = api["vault-2"].call("POST", "/v1/pki/issue/platform", issuer, {"common_name": name, "ttl": "1h"})
    assert status == 200, out
    return out["data"]


def _verifies(host, leaf, intermediate):
    host.run(f"cat > /root/leaf.pem <<'EOF'\n{leaf}\nEOF")
    host.run(f"cat > /root/chain.pem <<'EOF'\n{intermediate}\nEOF")
    check = host.run("openssl verify -CAfile /etc/openbao/tls/ca.crt -untrusted /root/chain.pem /root/leaf.pem")
    return check.rc == 0 and "OK" in check.stdout


def test_the_pki_issues_certificates_that_chain_to_the_platform_ca(hosts, api, admin_token):
    data = _issue(api, admin_token, "db.groundwork.test")
    h = hosts["vault-3"]
    # the platform CA every host has verifies it, through the intermediate OpenBao holds
    assert _verifies(h, data["certificate"], data["issuing_ca"])
    assert "db.groundwork.test" in h.run("openssl x509 -in /root/leaf.pem -noout -subject").stdout
    # a name outside the role's domains is refused
    issuer = api["vault-2"].login("issuer", admin_token)
    status, out = api["vault-2"].call("POST", "/v1/pki/issue/platform", issuer, {"common_name": "evil.example.com"})
    assert status == 400, out


def test_generated_secrets_are_made_in_openbao_and_read_with_the_operators_approle(api, admin_token):
    # the reader's role id and secret id are the ones the inventory holds (the role registered them)
    secret_id = (PASSWORD.parent / "reader_secret_id").read_text().strip()
    status, out = api["vault-2"].call("POST", "/v1/auth/approle/login", body={"role_id": "scenario-reader", "secret_id": secret_id})
    assert status == 200 and out["auth"]["policies"] == ["app-read", "default"], out
    reader = out["auth"]["client_token"]
    status, out = api["vault-2"].call("GET", "/v1/secret/data/app/generated", reader)
    assert status == 200, out
    data = out["data"]["data"]
    assert sorted(data) == ["api_key", "password"]
    assert all(re.fullmatch(r"[A-Za-z0-9]{24}", v) for v in data.values()) and data["api_key"] != data["password"]
    # written once (the idempotence run before these tests left it alone)
    assert out["data"]["metadata"]["version"] == 1
    # the role's own token may read exactly the generated paths, no other secret
    assert api["vault-1"].call("GET", "/v1/secret/data/app/generated", admin_token)[0] == 200
    assert api["vault-1"].call("GET", "/v1/secret/data/app/db", admin_token)[0] == 403


def test_an_operator_logs_in_with_userpass_and_gets_only_its_policies(api):
    password = (PASSWORD.parent / "ops_password").read_text().strip()
    status, out = api["vault-3"].call("POST", "/v1/auth/userpass/login/ops", body={"password": password})
    assert status == 200, out
    assert out["auth"]["policies"] == ["app-read", "default"] and out["auth"]["lease_duration"] == 900, out["auth"]
    token = out["auth"]["client_token"]
    assert api["vault-3"].call("GET", "/v1/secret/data/app/generated", token)[0] == 200
    assert api["vault-3"].call("POST", "/v1/secret/data/app/generated", token, {"data": {"x": "y"}})[0] == 403
    status, _ = api["vault-3"].call("POST", "/v1/auth/userpass/login/ops", body={"password": password + "x"})
    assert status == 400


TLS_FROM_VAULT = SCENARIO / "tls_from_vault.yml"
PKI_DIR = "/etc/pki-client"


def _tls_from_vault(url, token, directory=PKI_DIR):
    """Run tls_from_vault.yml on vault-3; an empty url makes it sign with the platform CA."""
    env = {"PKI_CLIENT_DIR": directory, "PKI_CLIENT_URL": url, "PKI_CLIENT_TOKEN": token}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return playbook(TLS_FROM_VAULT)
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def test_common_gets_a_host_certificate_from_the_pki_and_renews_it(hosts, api, admin_token):
    h = hosts["vault-3"]
    issuer = api["vault-3"].login("issuer", admin_token)

    # a token the PKI refuses: the run stops and says what to check, without the token
    res = _tls_from_vault(api["vault-1"].url, "s.not-a-token-5e1d")
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode != 0 and "did not sign vault-3's request" in out and "HTTP 403" in out, out[-3000:]
    assert "common_tls_vault_token" in out and "s.not-a-token-5e1d" not in out

    res = _tls_from_vault(api["vault-1"].url, issuer)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert issuer not in out and "PRIVATE KEY" not in out
    key = h.file(f"{PKI_DIR}/server.key")
    assert key.mode == 0o600 and key.user == "root"
    # the trust anchor is the platform CA (the one every host has), the chain goes through the
    # intermediate that OpenBao holds
    assert h.file(f"{PKI_DIR}/ca.crt").content_string == h.file("/etc/openbao/tls/ca.crt").content_string
    check = h.run(f"openssl verify -CAfile {PKI_DIR}/ca.crt -untrusted {PKI_DIR}/server.crt {PKI_DIR}/server.crt")
    assert check.rc == 0, check.stdout + check.stderr
    assert "OpenBao" in h.run(f"openssl crl2pkcs7 -nocrl -certfile {PKI_DIR}/server.crt | openssl pkcs7 -print_certs -noout").stdout

    def pubkey(what):
        return h.run(f"openssl {what} | openssl pkey -pubin -pubout -outform DER | sha256sum").stdout

    def serial():
        return h.run(f"openssl x509 -in {PKI_DIR}/server.crt -noout -serial").stdout

    key_pub = pubkey(f"pkey -in {PKI_DIR}/server.key -pubout")
    assert key_pub == pubkey(f"x509 -in {PKI_DIR}/server.crt -noout -pubkey")
    first = serial()

    res = _tls_from_vault(api["vault-1"].url, issuer)
    assert res.returncode == 0 and re.search(r"vault-3\s*:.*changed=0", res.stdout), res.stdout[-3000:]
    assert serial() == first

    # a certificate with less than a third of its life left is renewed on the next run: same key
    # on the host, a new certificate from the PKI
    h.run(f"sed -i 's/^validity .*/validity 1000 2000/' {PKI_DIR}/.groundwork-request")
    res = _tls_from_vault(api["vault-1"].url, issuer)
    assert res.returncode == 0 and re.search(r"vault-3\s*:.*changed=[1-9]", res.stdout), res.stdout[-3000:]
    assert serial() != first
    assert pubkey(f"x509 -in {PKI_DIR}/server.crt -noout -pubkey") == key_pub


def test_a_lost_platform_ca_stops_the_run_instead_of_reissuing_every_certificate(hosts):
    """The same task file without the PKI: the platform CA on the controller signs. A controller
    that has lost the CA (a new control node, an execution environment without its volume) must
    not make a new one behind the hosts' backs."""
    h = hosts["vault-3"]
    ca_dir = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ca"
    directory = "/etc/platform-ca-client"
    res = _tls_from_vault("", "", directory)
    assert res.returncode == 0, res.stdout[-3000:]
    first = h.file(f"{directory}/server.crt").content_string
    moved = ca_dir.with_name("ca.moved-by-test")
    ca_dir.rename(moved)
    try:
        res = _tls_from_vault("", "", directory)
        out = " ".join((res.stdout + res.stderr).split())
        assert res.returncode != 0 and f"has no CA key, but vault-3's {directory} holds a certificate" in out, out[-3000:]
        assert "common_tls_ca_recreate=true" in out
        assert not ca_dir.exists()  # no new CA was made
    finally:
        moved.rename(ca_dir)
    assert h.file(f"{directory}/server.crt").content_string == first


def test_the_role_token_is_scoped_and_the_root_token_is_revoked(api, admin_token):
    rec = record()
    assert rec["root_token"] == "" and len(rec["unseal_keys"]) == 5 and rec["threshold"] == 3
    status, out = api["vault-1"].call("GET", "/v1/auth/token/lookup-self", admin_token)
    assert status == 200 and out["data"]["policies"] == ["groundwork-admin"], out
    assert out["data"]["orphan"] is True and out["data"]["period"] > 0
    # the role's token cannot read secrets nor make a root token
    assert api["vault-1"].call("GET", "/v1/secret/data/app/db", admin_token)[0] == 403
    assert api["vault-1"].call("POST", "/v1/auth/token/create", admin_token, {"policies": ["root"]})[0] == 403


def test_the_init_record_is_encrypted_on_the_controller_only(hosts):
    text = RECORD.read_text()
    assert text.startswith("$ANSIBLE_VAULT;")
    assert oct(RECORD.stat().st_mode & 0o777) == "0o600"
    rec = record()
    keys = rec["unseal_keys"]
    for h in hosts.values():
        # no key on a node's disk (the raft data is encrypted by the barrier, the rest is config)
        out = h.run(f"grep -rlF -- {keys[0]!r} /etc /var/lib/openbao /var/log /root /tmp 2>/dev/null")
        assert out.stdout.strip() == "", out.stdout
        # nor a key or the role's token in the journal (a module logs its arguments there unless
        # the task is no_log: the token travels in the uri tasks' headers)
        for secret_value in (keys[0], rec["admin_token"]):
            out = h.run(f"journalctl --no-pager -o cat | grep -cF -- {secret_value!r}")
            assert out.stdout.strip() == "0", f"a secret is in the journal of {h}"


def test_audit_log_records_requests_without_secrets(hosts, api, admin_token):
    api["vault-1"].call("GET", "/v1/sys/mounts", admin_token)
    active = [n for n, r in _roles(api).items() if r == "active"][0]
    log = hosts[active].file("/var/log/openbao/audit.log")
    assert log.exists and log.mode == 0o600
    assert "sys/mounts" in log.content_string
    assert admin_token not in log.content_string


def test_metrics_give_the_alert_rules_names(hosts, api):
    names = ("vault_core_unsealed", "vault_core_active", "vault_autopilot_healthy", "vault_autopilot_node_healthy")
    for n, a in api.items():
        text = hosts[n].run(f"curl -s --max-time 10 --cacert /etc/openbao/tls/ca.crt '{a.url}/v1/sys/metrics?format=prometheus'").stdout
        for name in names[:2]:
            assert re.search(rf"^{name}\{{", text, re.M), (n, name)
    active = [n for n, r in _roles(api).items() if r == "active"][0]
    text = hosts[active].run(f"curl -s --max-time 10 --cacert /etc/openbao/tls/ca.crt '{api[active].url}/v1/sys/metrics?format=prometheus'").stdout
    assert re.search(r"^vault_autopilot_healthy 1$", text, re.M), text[:2000]
    for n in NODES:
        assert re.search(rf'^vault_autopilot_node_healthy\{{node_id="{n}"\}} 1$', text, re.M), n


def _changed_tasks(output):
    """{task name: [hosts reported changed]} from ansible-playbook's plain output."""
    changed, task = {}, None
    for line in output.splitlines():
        head = re.match(r"TASK \[(?:[^\]:]+ : )?([^\]]+)\]", line)
        if head:
            task = head.group(1).strip()
        hit = re.match(r"changed: \[([^\]]+)\]", line.strip())
        if hit and task:
            changed.setdefault(task, []).append(hit.group(1).split(" -> ")[0])
    return changed


def _declared_policies():
    """vault_policies as the scenario's inventory (molecule.yml) declares them."""
    inventory = yaml.safe_load((SCENARIO / "molecule.yml").read_text())
    return inventory["provisioner"]["inventory"]["group_vars"]["all"]["vault_policies"]


# --- phase 1: losing the active node; the unseal playbook ------------------------------------

@pytest.mark.phase(1)
def test_a_killed_active_node_fails_over_and_the_unseal_playbook_brings_it_back(hosts, api, admin_token):
    value = uuid.uuid4().hex
    writer = api["vault-1"].login("writer", admin_token)
    assert api["vault-1"].call("POST", "/v1/secret/data/app/failover", writer, {"data": {"v": value}})[0] == 200
    active = wait_for(lambda: [n for n, r in _roles(api).items() if r == "active"], 30, what="the active node")[0]
    hosts[active].run("systemctl kill -s KILL openbao")
    killed = time.monotonic()
    others = [n for n in NODES if n != active]
    new = wait_for(lambda: [n for n in others if api[n].health() == 200], 60, interval=1, what="a new active node")[0]
    # a write through the remaining standby's address succeeds (it forwards to the new active node)
    standby = [n for n in others if n != new][0]
    wait_for(lambda: api[standby].call("POST", "/v1/secret/data/app/failover-after", writer, {"data": {"v": value}})[0] == 200,
             60, interval=0.5, what=f"a write through {standby}")
    print(f"writes back through the standby {standby} {time.monotonic() - killed:.1f} s after the active node was killed")
    reader = api[new].login("reader", admin_token)
    status, out = api[new].call("GET", "/v1/secret/data/app/failover", reader)
    assert status == 200 and out["data"]["data"]["v"] == value
    # systemd starts the killed node again; with the Shamir seal it waits sealed
    wait_for(lambda: api[active].health() == 503, 60, interval=2, what=f"{active} back, sealed")
    res = playbook(UNSEAL)
    assert res.returncode == 0, res.stdout[-3000:]
    for key in record()["unseal_keys"]:
        assert key not in res.stdout + res.stderr
    assert PASSWORD.read_text().strip() not in res.stdout + res.stderr
    wait_for(lambda: _one_active_two_standby(api), 60, interval=2, what="the node back as a standby",
             detail=lambda: _roles(api))
    # an unseal run when nothing is sealed changes nothing
    res = playbook(UNSEAL)
    assert res.returncode == 0 and re.search(r"changed=0", res.stdout), res.stdout[-2000:]


@pytest.mark.phase(1)
def test_under_the_static_seal_a_killed_or_restarted_node_unseals_itself():
    host = host_of(STATIC)
    node = Api(host, address(host))
    rec = record(STATIC_RECORD)
    # the init gave recovery keys (for generate-root), no unseal keys; the root token is gone
    assert rec["seal"] == "static" and len(rec["recovery_keys"]) == 5 and rec["unseal_keys"] == [], \
        {k: len(v) if isinstance(v, list) else bool(v) for k, v in rec.items()}
    assert rec["root_token"] == ""
    assert node.health() == 200
    status, out = node.call("GET", "/v1/sys/seal-status")
    assert status == 200 and out["type"] == "static" and out["sealed"] is False, out
    # nothing of the record on the node's disk (the static key is: README.md says what it trusts)
    for secret_value in (rec["recovery_keys"][0], rec["admin_token"]):
        out = host.run(f"grep -rlF -- {secret_value!r} /etc /var/lib/openbao /var/log /root /tmp 2>/dev/null")
        assert out.stdout.strip() == "", out.stdout
    for how in ("systemctl kill -s KILL openbao", "systemctl restart openbao"):
        before = started(host, "openbao")
        assert host.run(how).rc == 0
        # systemd starts a killed node again; nobody unseals it
        wait_for(lambda: started(host, "openbao") not in (before, "ExecMainStartTimestampMonotonic=0\n"), 60, interval=1, what=f"openbao started again after {how!r}")
        wait_for(lambda: node.health() == 200, 60, interval=1, what=f"vault-static active and unsealed after {how!r}",
                 detail=lambda: node.call("GET", "/v1/sys/seal-status"))
        status, out = node.call("GET", "/v1/sys/seal-status")
        assert out["sealed"] is False, out
    # and it answers with its state intact: the role's token still works
    assert node.call("GET", "/v1/auth/token/lookup-self", rec["admin_token"])[0] == 200


# --- phase 2: a configuration change rolls; bad input stops before any change ---------------

def _default_issuer(api):
    status, out = api["vault-1"].call("GET", "/v1/pki/issuer/default/json")
    assert status == 200, out
    return out["data"]["issuer_id"], out["data"]["certificate"]


@pytest.mark.phase(2)
def test_check_mode_predicts_the_writes_a_run_would_make_and_sends_none(api, admin_token):
    # one policy more than the inventory declares, and an intermediate due for renewal
    # (vault_pki_renew_percent 100: due on every run, the lever for a rotation now)
    issuer = _default_issuer(api)[0]
    policies = {"check-only": 'path "secret/data/check/*" { capabilities = ["read"] }'}
    res = playbook(SCENARIO / "converge.yml", "--tags", "vault", "--check", "-e", "vault_pki_renew_percent=100",
                   "-e", json.dumps({"vault_policies": {**_declared_policies(), **policies}}))
    assert res.returncode == 0, res.stdout[-3000:]
    # each write is reported (vault-1 writes for the Shamir cluster, vault-static for its own)
    assert _changed_tasks(res.stdout) == {
        "Write the policies that differ": ["vault-1", "vault-static"],
        "Make the intermediate's key and signing request inside OpenBao": ["vault-1"],
    }, _changed_tasks(res.stdout)
    assert api["vault-1"].call("GET", "/v1/sys/policies/acl/check-only", admin_token)[0] == 404
    assert _default_issuer(api)[0] == issuer


# One run changes a setting and renews the intermediate (two changes, to keep the scenario short).
@pytest.mark.phase(2)
def test_a_change_rolls_one_node_at_a_time_and_a_due_intermediate_is_renewed(hosts, api, admin_token):
    before = {n: _started(h) for n, h in hosts.items()}
    status, generated = api["vault-1"].call("GET", "/v1/secret/data/app/generated", api["vault-1"].login("reader", admin_token))
    assert status == 200, generated
    generated = generated["data"]
    old_id, old_cert = _default_issuer(api)
    old_leaf = _issue(api, admin_token, "old.groundwork.test")

    res = playbook(SCENARIO / "converge.yml", "--tags", "vault", "-e", "vault_log_level=debug",
                   "-e", "vault_pki_renew_percent=100")
    assert res.returncode == 0, res.stdout[-3000:]
    assert all(_started(h) != before[n] for n, h in hosts.items())
    assert all('log_level = "debug"' in h.file("/etc/openbao/openbao.hcl").content_string for h in hosts.values())
    assert _one_active_two_standby(api), _roles(api)
    # the restarts went one at a time: each node was unsealed before the next restarted
    steps = re.findall(r"TASK \[[^\]]*(Restart OpenBao on|Wait until unsealed, active or standby,) (vault-\d)", res.stdout)
    restarts = [i for i, (what, _node) in enumerate(steps) if what.startswith("Restart")]
    assert len(restarts) == 3, steps
    assert all(steps[i + 1] == ("Wait until unsealed, active or standby,", steps[i][1]) for i in restarts), steps

    # the renewal: a new default issuer; what the old one issued still verifies, the old one is kept
    assert "Make the new intermediate the default issuer" in _changed_tasks(res.stdout)
    new_id, new_cert = _default_issuer(api)
    assert new_id != old_id and new_cert != old_cert
    new_leaf = _issue(api, admin_token, "new.groundwork.test")
    assert new_leaf["issuing_ca"].strip() == new_cert.strip()
    h = hosts["vault-3"]
    assert _verifies(h, new_leaf["certificate"], new_leaf["issuing_ca"])
    assert _verifies(h, old_leaf["certificate"], old_leaf["issuing_ca"])
    status, out = api["vault-1"].call("GET", f"/v1/pki/issuer/{old_id}/json")
    assert status == 200 and out["data"]["certificate"].strip() == old_cert.strip()

    # back to the declared settings: the log level rolls back, the new intermediate is not due
    res = playbook(SCENARIO / "converge.yml", "--tags", "vault")
    assert res.returncode == 0, res.stdout[-3000:]
    assert "Make the intermediate's key and signing request inside OpenBao" not in _changed_tasks(res.stdout)
    assert _default_issuer(api)[0] == new_id
    # the generated secrets are never made again: after the two runs, the same version
    reader = api["vault-1"].login("reader", admin_token)
    assert api["vault-1"].call("GET", "/v1/secret/data/app/generated", reader)[1]["data"] == generated


@pytest.mark.phase(2)
@pytest.mark.parametrize("extra, expected", [
    ('{"vault_seal": "kms"}', "vault_seal must be one of: shamir, static"),
    ('{"vault_key_threshold": 9}', "vault_key_threshold must be between 1 and vault_key_shares"),
    ('{"vault_seal": "static", "vault_static_seal_key": "not-a-key-7f3a"}', "vault_static_seal_key must be 32 random bytes"),
    ('{"vault_policies": {"root": "path \\"*\\" {}"}}', "the names in vault_policies may not be root"),
    ('{"vault_kv_generated": [{"mount": "nokv", "path": "app/x", "fields": ["a"]}]}', "the mount of every entry of vault_kv_generated must be one of vault_kv_mounts"),
    ('{"vault_version": "2.9.9"}', "vault_sha256 must be set for vault_version '2.9.9'"),
    ('{"vault_policies": {"app-read": "path \\"secret/*\\" { capabilities = [\\"read\\"]"}}', "vault_policies app-read do not parse"),
    ('{"vault_tls_enabled": false, "vault_listen_address": "8.8.8.8"}', "is a public address and vault_tls_enabled is false"),
], ids=["unknown-seal", "threshold-above-shares", "short-static-key", "policy-named-root", "generated-on-unknown-mount",
        "unpinned-version", "policy-does-not-parse", "public-listener-without-tls"])
def test_bad_input_stops_before_any_change(hosts, extra, expected):
    before = {n: _started(h) for n, h in hosts.items()}
    res = playbook(SCENARIO / "converge.yml", "--tags", "vault", "-e", extra)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert expected in " ".join(out.split()), out[-3000:]
    for n in NODES:
        assert re.search(rf"{n}\s*:.*changed=0", out), out[-2000:]
    assert {n: _started(h) for n, h in hosts.items()} == before
    assert "not-a-key-7f3a" not in out


# --- phase 3: snapshots and the restore ------------------------------------------------------

RESTORE = SCENARIO.parents[1] / "playbooks" / "vault_restore.yml"


@pytest.mark.phase(3)
def test_a_snapshot_restored_brings_the_secrets_back(hosts, api, admin_token):
    writer = api["vault-1"].login("writer", admin_token)
    reader = api["vault-1"].login("reader", admin_token)

    def read():
        status, out = api["vault-1"].call("GET", "/v1/secret/data/app/restore", reader)
        return status, out and out.get("data", {}).get("data", {}).get("v")

    assert api["vault-1"].call("POST", "/v1/secret/data/app/restore", writer, {"data": {"v": "before"}})[0] == 200
    # the timer's service on every node: only the active node saves
    for h in hosts.values():
        assert h.run("systemctl start openbao-snapshot.service").rc == 0
        assert h.service("openbao-snapshot.timer").is_enabled
    saved = {n: h.run("ls /var/backups/openbao/").stdout.split() for n, h in hosts.items()}
    holders = [n for n, files in saved.items() if any(f.endswith(".snap") for f in files)]
    assert len(holders) == 1, saved
    node = holders[0]
    snap = "/var/backups/openbao/" + [f for f in saved[node] if f.endswith(".snap")][0]
    assert hosts[node].file(snap).size > 0 and hosts[node].file(snap).user == "openbao"
    assert hosts[node].file(snap).mode == 0o600 or hosts[node].file("/var/backups/openbao").mode == 0o700

    # the data changes after the snapshot
    assert api["vault-1"].call("POST", "/v1/secret/data/app/restore", writer, {"data": {"v": "after"}})[0] == 200
    assert read() == (200, "after")

    # without the confirmation nothing happens
    res = playbook(RESTORE, "-e", f"vault_restore_snapshot={snap}", "-e", f"vault_restore_host={node}")
    assert res.returncode != 0 and "vault_restore_confirm" in res.stdout + res.stderr, res.stdout[-2000:]
    assert read() == (200, "after")

    res = playbook(RESTORE, "-e", f"vault_restore_snapshot={snap}", "-e", f"vault_restore_host={node}",
                   "-e", "vault_restore_confirm=restore")
    assert res.returncode == 0, res.stdout[-3000:]
    assert admin_token not in res.stdout + res.stderr
    wait_for(lambda: _one_active_two_standby(api), 60, interval=2, what="the cluster after the restore",
             detail=lambda: _roles(api))
    reader = api["vault-1"].login("reader", admin_token)
    assert wait_for(lambda: read() == (200, "before"), 30, interval=2, what="the restored secret", detail=read)
    # the state before the restore was saved first
    assert hosts[node].run("ls /var/backups/openbao/ | grep -c '^openbao-before-restore-.*\\.snap$'").stdout.strip() == "1"
