"""A converged host: `--check --diff` of the Redis and Sentinel roles reports no change and
does not fail (run last, after the other tests used the service)."""
import os
import pathlib
import re
import subprocess
import sys


def test_check_mode_reports_no_change():
    scenario = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    playbook = pathlib.Path(sys.executable).parent / "ansible-playbook"
    run = subprocess.run(
        [str(playbook), "-i", os.environ["MOLECULE_INVENTORY_FILE"], "--check", "--diff",
         "--tags", "redis,redis_sentinel", str(scenario / "converge.yml")],
        capture_output=True, text=True, timeout=900, env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
    )
    recap = dict(re.findall(r"^(redis-single-\w+)\s+:\s+(ok=.*)$", run.stdout, re.M))
    assert run.returncode == 0 and len(recap) == 2, run.stdout[-3000:] + run.stderr[-2000:]
    for name, line in recap.items():
        assert " changed=0 " in f" {line} " and "failed=0" in line, (name, line)
