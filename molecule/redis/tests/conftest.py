"""Fixtures of the redis scenario's tests (helpers: redis_helpers.py, and the generic ones in
molecule/shared/gwtest.py)."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))
from gwtest import pytest_collection_modifyitems, pytest_configure  # noqa: E402,F401 (pytest hooks: the phase marker)
from redis_helpers import node_addresses  # noqa: E402


@pytest.fixture(scope="session")
def addresses():
    """Inventory name -> address, read once at the start (before any container is stopped)."""
    return node_addresses()
