"""Static checks of the vault role (roles/vault): the pin, and the configuration checker's
rewrites (the raft path to a scratch directory, the listeners to free loopback ports), run
with the script's own sed command on a configuration shaped like openbao.hcl.j2's."""
import pathlib
import re
import subprocess

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "vault"

CONFIG = '''storage "raft" {
  path = "/var/lib/openbao/raft"
  node_id = "vault-1"
  retry_join {
    leader_api_addr = "https://10.0.0.12:8200"
    leader_ca_cert_file = "/etc/openbao/tls/ca.crt"
  }
}
listener "tcp" {
  address = "10.0.0.11:8200"
  cluster_address = "10.0.0.11:8201"
  tls_cert_file = "/etc/openbao/tls/server.crt"
}
audit "file" "file" {
  options {
    file_path = "/var/log/openbao/audit.log"
  }
}
api_addr = "https://10.0.0.11:8200"
cluster_addr = "https://10.0.0.11:8201"
'''


def _load(path):
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_version_equals_the_mirror_pin():
    pins = _load(ROOT / "mirror" / "versions.yml")
    assert _load(ROLE / "defaults" / "main.yml")["vault_version"] == pins["mirror_openbao_version"]


def test_the_pinned_sha256_equals_the_mirror_pin():
    pins = _load(ROOT / "mirror" / "versions.yml")
    pinned = _load(ROLE / "vars" / "main.yml")["_vault_pinned_sha256"]
    assert pinned[pins["mirror_openbao_version"]] == pins["mirror_openbao_sha256"]
    # the default takes the pin (an empty vault_sha256), not the mirror's FILE.sha256
    assert _load(ROLE / "defaults" / "main.yml")["vault_sha256"] == ""
    assert ".sha256" not in str(_load(ROLE / "vars" / "main.yml")["_vault_checksum"])


def _sed_command():
    script = (ROLE / "templates" / "check-config.sh.j2").read_text()
    m = re.search(r"^(sed -e .*?) \"\$1\" > \"\$scratch/config.hcl\"$", script, re.M | re.S)
    assert m, "the checker's sed command was not found"
    return m.group(1).replace("\\\n", " ")


def test_the_checker_moves_storage_and_listeners_but_nothing_else(tmp_path):
    src = tmp_path / "in.hcl"
    src.write_text(CONFIG)
    out = subprocess.run(["sh", "-c", f'scratch=/scratch/x; {_sed_command()} "$1"', "sh", str(src)],
                         capture_output=True, text=True, check=True).stdout
    assert '  path = "/scratch/x"' in out
    assert '  address = "127.0.0.1:0"' in out and '  cluster_address = "127.0.0.1:0"' in out
    # what the node is and where its peers, TLS files and audit log are stays as it was
    for kept in ('leader_api_addr = "https://10.0.0.12:8200"', 'file_path = "/var/log/openbao/audit.log"',
                 'api_addr = "https://10.0.0.11:8200"', 'cluster_addr = "https://10.0.0.11:8201"',
                 'tls_cert_file = "/etc/openbao/tls/server.crt"', 'node_id = "vault-1"'):
        assert kept in out, kept
    assert len(out.splitlines()) == len(CONFIG.splitlines())
