"""plugins/action/check_input.py, run by ansible-playbook on localhost with the project's config."""
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[4]

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    port: {port}
    name: ok
    secret: "{secret}"
    auth: true
  tasks:
    - name: The checks under test
      groundwork.platform.check_input:
        checks:
          - name: ports
            that:
              - port | int > 0
              - port | int < 65536
            msg: "myrole_port must be 1-65535 (got {{{{ port }}}})."
          - name: a message that renders only when its check fails
            that: name == 'ok'
            msg: "name is {{{{ no_such_variable }}}}"
          - name: secret
            that: secret | length >= 12
            msg: "the secret must be set (12 characters or more)."
            when: auth | bool
          - name: skipped
            that: false
            msg: never
            when: port == 1
      register: result
      ignore_errors: true

    - name: Keep the result
      ansible.builtin.copy:
        content: "{{{{ result | to_json }}}}"
        dest: "{out}"
        mode: "0600"
"""


def run(tmp_path, text):
    book = tmp_path / "play.yml"
    book.write_text(text)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(ROOT / "build" / "collections"),
               ANSIBLE_NOCOLOR="1")
    playbook = str(pathlib.Path(sys.executable).parent / "ansible-playbook")
    return subprocess.run([playbook, "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}", str(book)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)


def checks(tmp_path, port, secret):
    out = tmp_path / "result.json"
    proc = run(tmp_path, PLAYBOOK.format(port=port, secret=secret, out=out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def test_every_check_holds(tmp_path):
    result = checks(tmp_path, 5432, "a-long-enough-secret")[0]
    assert not result.get("failed")
    assert result["evaluated"] == 3  # the check whose `when` is false is not evaluated
    assert result["msg"] == "3 checks passed"


def test_every_failing_check_is_reported_by_name_without_the_secret(tmp_path):
    result, stdout = checks(tmp_path, 70000, "tiny-pw")
    assert result["failed"] is True
    assert [(f["name"], f["assertion"]) for f in result["failed_checks"]] == [
        ("ports", "port | int < 65536"), ("secret", "secret | length >= 12")]
    assert result["msg"] == ("myrole_port must be 1-65535 (got 70000). [failed: port | int < 65536] "
                             "the secret must be set (12 characters or more). [failed: secret | length >= 12]")
    # the message of a passing check is never rendered (it names an undefined variable)
    assert "no_such_variable" not in json.dumps(result)
    assert "tiny-pw" not in json.dumps(result) and "tiny-pw" not in stdout


def test_a_malformed_check_is_refused_with_its_index(tmp_path):
    proc = run(tmp_path, """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: A check without a message
      groundwork.platform.check_input:
        checks:
          - that: true
            msg: fine
          - that: true
""")
    assert proc.returncode != 0
    assert "checks[1] must have `that` and `msg`" in proc.stdout, proc.stdout[-3000:]


def test_an_expression_that_errors_fails_the_task(tmp_path):
    """A check whose expression cannot be evaluated fails the task; it does not pass silently."""
    proc = run(tmp_path, PLAYBOOK.format(port="'abc'", secret="a-long-enough-secret", out=tmp_path / "r.json").replace(
        "port | int > 0", "port > 0 and port.nope"))
    result = json.loads((tmp_path / "r.json").read_text())
    assert proc.returncode == 0
    assert result["failed"] is True, result
