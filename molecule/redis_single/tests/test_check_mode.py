"""A converged host: `--check --diff` of the Redis and Sentinel roles reports no change and
does not fail (phase 1: after the other tests used the service)."""
import os
import pathlib
import re

import pytest
from gwtest import playbook

pytestmark = pytest.mark.phase(1)


def test_check_mode_reports_no_change():
    scenario = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    run = playbook(scenario / "converge.yml", "--check", "--diff", "--tags", "redis,redis_sentinel")
    recap = dict(re.findall(r"^(redis-single-\w+)\s+:\s+(ok=.*)$", run.stdout, re.M))
    assert run.returncode == 0 and len(recap) == 2, run.stdout[-3000:] + run.stderr[-2000:]
    for name, line in recap.items():
        assert " changed=0 " in f" {line} " and "failed=0" in line, (name, line)
