"""_common's tls_certificate.yml: a converged host costs one check, and any drift is issued again.

Runs the task file on its own (tls_certificate.yml beside the scenario) into /etc/gw-tls-test,
signed by the scenario's platform CA, and checks the files on minio-1 after each run.
"""
import json
import os
import pathlib
import re

import pytest

from gwtest import playbook

testinfra_hosts = ["ansible://minio-1"]

PLAY = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "tls_certificate.yml"
DIR = "/etc/gw-tls-test"


def run(sans=()):
    out = playbook(PLAY, "-e", json.dumps({"tls_test_sans": list(sans)}))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    changed = re.findall(r"TLS_CHANGED=(True|False)", out.stdout)
    assert changed, out.stdout[-3000:]
    return changed[-1] == "True", out.stdout


def verified(host):
    """The certificate verifies against the installed CA, for TLS servers and clients."""
    out = host.run(f"openssl verify -CAfile {DIR}/ca.crt -purpose sslserver {DIR}/server.crt")
    return out.rc == 0 and out.stdout.strip().endswith(": OK")


def names(host):
    return host.run(f"openssl x509 -in {DIR}/server.crt -noout -ext subjectAltName").stdout


def key_matches(host):
    cert = host.run(f"openssl x509 -in {DIR}/server.crt -noout -pubkey").stdout
    key = host.run(f"openssl pkey -in {DIR}/server.key -pubout").stdout
    return bool(cert) and cert == key


@pytest.fixture(scope="module")
def issued(host):
    host.run(f"rm -rf {DIR}")
    changed, _ = run()
    return changed


def test_first_run_issues_a_verified_certificate(host, issued):
    assert issued
    assert verified(host) and key_matches(host)
    assert "DNS:minio-1" in names(host)
    key = host.file(f"{DIR}/server.key")
    assert (key.user, key.group, key.mode) == ("nobody", "nogroup", 0o600)


def test_a_rerun_changes_nothing_and_skips_the_signing(host, issued):
    before = host.run(f"sha256sum {DIR}/server.crt {DIR}/server.key").stdout
    changed, output = run()
    assert not changed
    assert "Sign this host's certificate" not in output
    assert host.run(f"sha256sum {DIR}/server.crt {DIR}/server.key").stdout == before


def test_a_changed_certificate_file_is_issued_again(host, issued):
    assert host.run(f"cp {DIR}/ca.crt {DIR}/server.crt").rc == 0
    changed, _ = run()
    assert changed
    assert verified(host) and key_matches(host)


def test_a_key_readable_by_others_is_locked_again(host, issued):
    assert host.run(f"chmod 0644 {DIR}/server.key").rc == 0
    changed, output = run()
    assert "Generate this host's key" in output
    assert host.file(f"{DIR}/server.key").mode == 0o600
    assert changed
    assert verified(host) and key_matches(host)


def test_another_name_is_signed_in(host, issued):
    changed, _ = run(["DNS:extra.example.test"])
    assert changed
    assert "DNS:extra.example.test" in names(host)
    assert verified(host) and key_matches(host)
    assert run(["DNS:extra.example.test"])[0] is False
