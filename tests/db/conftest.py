"""Fixtures more than one module of tests/db uses."""

from __future__ import annotations

import pytest

from tests import gate_world


@pytest.fixture
def world() -> dict[str, dict[str, str]]:
    """The gate's world (tests/gate_world.py): each kind's setting values by label."""
    return gate_world.build_world()
