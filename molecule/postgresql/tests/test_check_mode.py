"""A converged host: `--check --diff` of the play reports no change and does not fail (phase 2:
last, after the other tests used the server and restored it)."""
import pathlib
import re

import pytest

from gwtest import playbook

pytestmark = pytest.mark.phase(2)
SCENARIO = pathlib.Path(__file__).resolve().parents[1]


def test_check_mode_reports_no_change():
    run = playbook(SCENARIO / "converge.yml", "--check", "--diff")
    out = run.stdout + run.stderr
    recap = dict(re.findall(r"^(pg-single)\s*:\s*(ok=.*)$", out, re.M))
    assert run.returncode == 0 and "pg-single" in recap, out[-4000:]
    assert " changed=0 " in f" {recap['pg-single']} " and "failed=0" in recap["pg-single"], [line for line in out.splitlines() if "changed:" in line][:20]
