"""The redis_single scenario's tests use the generic helpers of molecule/shared/gwtest.py."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))
from gwtest import pytest_collection_modifyitems, pytest_configure  # noqa: E402,F401 (pytest hooks: the phase marker)
