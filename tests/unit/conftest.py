"""Hypothesis settings for the unit tests.

`make test` (and CI) draws the property tests' examples from a fixed seed (`derandomize`), so
that a run's result does not depend on the draw; `HYPOTHESIS_PROFILE=explore` draws new
examples each run, to look for cases the fixed draw misses (a case found that way becomes a
plain test, as in test_failover.py)."""
import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
