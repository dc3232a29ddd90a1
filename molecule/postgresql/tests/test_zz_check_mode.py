"""A converged host: `--check --diff` of the play reports no change and does not fail (run last,
after the other tests used the server and restored it)."""
import os
import re
import subprocess

SCENARIO = os.environ["MOLECULE_SCENARIO_DIRECTORY"]


def test_check_mode_reports_no_change():
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", ANSIBLE_NOCOLOR="1")
    run = subprocess.run(["ansible-playbook", "-i", os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]), "--check", "--diff",
                          os.path.join(SCENARIO, "converge.yml")],
                         env=env, capture_output=True, text=True, timeout=900, check=False)
    out = run.stdout + run.stderr
    recap = dict(re.findall(r"^(pg-single)\s*:\s*(ok=.*)$", out, re.M))
    assert run.returncode == 0 and "pg-single" in recap, out[-4000:]
    assert " changed=0 " in f" {recap['pg-single']} " and "failed=0" in recap["pg-single"], [line for line in out.splitlines() if "changed:" in line][:20]
