"""tests/unit: pure code only. The network is refused for every test in this folder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _pure(no_network):
    """Any connection attempt fails the test (the fixture lives in tests/conftest.py)."""
