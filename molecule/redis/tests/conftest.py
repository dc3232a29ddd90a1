"""Fixtures of the redis scenario's tests (helpers: redis_helpers.py)."""
import pytest

from redis_helpers import node_addresses


@pytest.fixture(scope="session")
def addresses():
    """Inventory name -> address, read once at the start (before any container is stopped)."""
    return node_addresses()
