"""Bad input stops the role at its checks with a message naming the variable (issue 16's holes),
and what argument_specs accepts passes: a boolean given as a string on the command line, a bare
address in postgresql_allowed_networks."""
import json
import pathlib
import re

import pytest
from gwtest import playbook

SCENARIO = pathlib.Path(__file__).resolve().parents[1]
VALIDATE = SCENARIO / "validate.yml"


def _run(*extra):
    res = playbook(VALIDATE, *extra, timeout=300)
    return res, " ".join((res.stdout + res.stderr).split())


def _hba(address):
    return {"postgresql_hba_rules": [{"type": "host", "database": "all", "user": "all", "address": address, "method": "scram-sha-256"}]}


@pytest.mark.parametrize("extra, expected", [
    ({"postgresql_users": [{"name": "app", "password": ""}]}, "a postgresql_users entry with a password needs a non-empty one"),
    ({"postgresql_users": [{"name": "app", "password": "   "}]}, "a postgresql_users entry with a password needs a non-empty one"),
    ({"postgresql_users": [{"name": "app", "password": None}]}, "a postgresql_users entry with a password needs a non-empty one"),
    (_hba("10.0.0.0/33"), "postgresql_hba_rules entry"),
    (_hba("10.0.0.5"), "postgresql_hba_rules entry"),
    (_hba("300.1.2.3/32"), "postgresql_hba_rules entry"),
    ({"postgresql_exporter_port": 70000}, "postgresql_exporter_port must be a port 1-65535"),
    ({"postgresql_etcd_port": "abc"}, "argument 'postgresql_etcd_port' is of type str and we were unable to convert to int"),
    ({"postgresql_exporter_port": 0}, "postgresql_exporter_port must be a port 1-65535"),
    ({"postgresql_allowed_networks": ["10.0.0.0/33"]}, "postgresql_allowed_networks must be IP addresses or CIDR networks"),
    ({"postgresql_allowed_networks": ["not-an-address"]}, "postgresql_allowed_networks must be IP addresses or CIDR networks"),
    ({"postgresql_timescaledb": "maybe"}, "argument 'postgresql_timescaledb' is of type str and we were unable to convert to bool"),
], ids=["empty-password", "blank-password", "null-password", "hba-prefix-33", "hba-bare-address", "hba-bad-octet",
        "exporter-port-range", "etcd-port-format", "exporter-port-zero", "network-prefix-33", "network-not-an-address",
        "timescaledb-not-a-boolean"])
def test_bad_input_is_stopped_with_the_variable_named(extra, expected):
    res, out = _run("-e", json.dumps(extra))
    assert res.returncode != 0
    assert expected in out, out[-3000:]
    assert re.search(r"pg-single\s*:.*changed=0.*failed=1", res.stdout), res.stdout[-2000:]


def test_what_argument_specs_accepts_passes():
    res, out = _run("-e", "postgresql_timescaledb=false", "-e", "postgresql_synchronous_mode=true",
                    "-e", json.dumps({"postgresql_allowed_networks": ["10.0.0.5/32", "10.0.0.6", "fd00::7", "10.1.0.0/16"],
                                      "postgresql_hba_rules": [{"type": "hostssl", "database": "all", "user": "app",
                                                                "address": address, "method": "scram-sha-256"}
                                                               for address in ("samenet", "app.example.com", "10.2.0.0/16")]}))
    assert res.returncode == 0, out[-3000:]
    for line in ("host all all 10.0.0.5/32 scram-sha-256", "host all all 10.0.0.6/32 scram-sha-256",
                 "host all all fd00::7/128 scram-sha-256", "hostssl all app app.example.com scram-sha-256",
                 "hostssl all app samenet scram-sha-256"):
        assert line in out, (line, out[-3000:])
