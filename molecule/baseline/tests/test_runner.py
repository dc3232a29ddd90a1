"""The platform run the way AWX and Automation Controller run it: ansible_runner.run() on a copy of
the repository's private data directory (runner/, docs/runner.md) against the scenario's hosts.

A secret (an operator's TLS key, certificate and CA, installed through _common's tls_certificate
entry point) lives in an ansible-vault encrypted group_vars file of the inventory; the vault
password reaches ansible-playbook only through runner's env/passwords prompt answer. Neither the
key nor the vault password may appear in the job's command, events or artifacts."""
import json
import os
import pathlib
import shutil
import subprocess
import uuid

import ansible_runner
import pytest
import yaml

testinfra_hosts = ["ansible://all"]

ROOT = pathlib.Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
TLS_DIR = "/etc/groundwork-runner-test"
OPERATOR_PLAY = f"""---
- name: The whole platform, as runner/project/site.yml runs it
  ansible.builtin.import_playbook: site.yml

- name: An operator's certificate from the vault-encrypted inventory
  hosts: all
  tasks:
    - name: Install it with _common's tls_certificate
      ansible.builtin.include_role:
        name: groundwork.platform._common
        tasks_from: tls_certificate.yml
      vars:
        common_tls_dir: {TLS_DIR}
        common_tls_cert_content: "{{{{ runner_test_tls_cert }}}}"
        common_tls_key_content: "{{{{ runner_test_tls_key }}}}"
        common_tls_ca_content: "{{{{ runner_test_tls_cert }}}}"
"""


def _encrypted(path, data, vault_password, tmp):
    password_file = tmp / "vault-password"
    password_file.write_text(vault_password)
    path.write_text(yaml.safe_dump(data))
    subprocess.run(["ansible-vault", "encrypt", "--vault-password-file", str(password_file), str(path)],
                   check=True, capture_output=True)
    password_file.unlink()
    assert path.read_text().startswith("$ANSIBLE_VAULT;")


class Job(dict):
    """The job and its secrets; shown without them when a test fails."""

    def __repr__(self):
        return f"<runner job {self['result'].status}, rc {self['result'].rc}, {len(self['events'])} events>"


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runner")
    data_dir = tmp / "private"
    shutil.copytree(ROOT / "runner", data_dir, ignore=shutil.ignore_patterns(".gitignore"))
    # the inventory molecule wrote for this scenario (hosts, connection, group_vars/all with the
    # scenario's vars)
    shutil.copytree(pathlib.Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent, data_dir / "inventory")
    # the role variables of the scenario's converge, so that site.yml asks for what converge did
    # (runner passes env/extravars by path, as -e @file)
    converge = yaml.safe_load((pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml").read_text())
    role_vars = {k: v for role in converge[0]["roles"] for k, v in role.get("vars", {}).items()}
    assert role_vars
    (data_dir / "env" / "extravars").write_text(yaml.safe_dump(role_vars))
    # the secret: a throwaway key and self-signed certificate, kept only vault-encrypted
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem"), "-subj", "/CN=runner-test",
                    "-days", "2"], check=True, capture_output=True)
    key = (tmp / "key.pem").read_text()
    vault_password = uuid.uuid4().hex
    # group_vars/all becomes a directory: molecule's file in it, and the encrypted secrets beside
    # (Ansible reads only one of group_vars/all and all.yml)
    group_vars = data_dir / "inventory" / "group_vars"
    scenario_vars = (group_vars / "all").read_text()
    (group_vars / "all").unlink()
    (group_vars / "all").mkdir()
    (group_vars / "all" / "scenario.yml").write_text(scenario_vars)
    _encrypted(group_vars / "all" / "secrets.yml", {"runner_test_tls_key": key,
                                            "runner_test_tls_cert": (tmp / "cert.pem").read_text()}, vault_password, tmp)
    (tmp / "key.pem").unlink()
    # runner answers ansible-playbook's prompt (env/cmdline asks for the vault password)
    (data_dir / "env" / "passwords").write_text(json.dumps({r"^Vault password:\s*?$": vault_password}))
    (data_dir / "project" / "operator.yml").write_text(OPERATOR_PLAY)
    # the job sees what an operator's would: runner/env/envvars, not molecule's ANSIBLE_* settings
    molecule_env = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("ANSIBLE_")}
    try:
        result = ansible_runner.run(
            private_data_dir=str(data_dir), playbook="operator.yml", quiet=True,
            # where this checkout's collection is linked (an execution environment has it installed)
            envvars={"ANSIBLE_COLLECTIONS_PATH": str(ROOT / "build" / "collections")})
    finally:
        os.environ.update(molecule_env)
    return Job(result=result, events=list(result.events), key=key, vault_password=vault_password,
               artifacts=pathlib.Path(result.config.artifact_dir), command=result.config.command)


def test_the_job_succeeds_and_the_baseline_is_unchanged(job):
    result = job["result"]
    failed = [(e["event_data"].get("task"), e["event_data"].get("res", {}).get("msg"))
              for e in job["events"] if e["event"] in ("runner_on_failed", "runner_on_unreachable")]
    assert result.status == "successful" and result.rc == 0, (result.status, result.rc, failed)
    stats = [e for e in job["events"] if e["event"] == "playbook_on_stats"]
    assert len(stats) == 1 and not stats[0]["event_data"]["failures"]
    changed = {e["event_data"]["task"] for e in job["events"]
               if e["event"] == "runner_on_ok" and e["event_data"]["res"].get("changed")}
    # the converged baseline changes nothing; only the certificate play writes (once)
    assert changed and changed <= {"Create the TLS directory", "Install the operator's certificate, key and CA",
                                   "Record the request the files were issued for"}, changed
    hosts = {e["event_data"]["host"] for e in job["events"] if e["event"] == "runner_on_ok"}
    assert hosts == {"baseline-bookworm", "baseline-trixie"}


def test_no_secret_in_the_command_events_or_artifacts(job):
    secret_lines = [line for line in job["key"].splitlines() if line and not line.startswith("-----")]
    assert secret_lines
    texts = {"command": " ".join(job["command"]), "events": json.dumps(job["events"])}
    for path in job["artifacts"].rglob("*"):
        if path.is_file():
            texts[str(path.relative_to(job["artifacts"]))] = path.read_text(errors="replace")
    for where, text in texts.items():
        assert job["vault_password"] not in text, where
        for line in secret_lines:
            assert line not in text, f"a line of the TLS key is in {where}"


def test_the_secret_reached_the_host(job, host):
    assert job["result"].status == "successful"
    key = host.file(f"{TLS_DIR}/server.key")
    assert key.mode == 0o600
    assert key.content_string == job["key"]
