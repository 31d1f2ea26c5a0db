"""Fixtures for the guard tests."""

from __future__ import annotations

import pytest

from clauseguard.guards import Context


@pytest.fixture
def ctx() -> Context:
    return Context(user_key="u1", request_id="r1")
