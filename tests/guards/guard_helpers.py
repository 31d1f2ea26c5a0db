"""Helpers shared by the guard tests (imported by name: tests/guards is on sys.path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clauseguard.guards import GuardSpec, create

FIXTURES = Path(__file__).parent / "fixtures"


def build(type_: str, *, stage: str = "input", on_fail: str = "block", **fields: Any):
    """A guard of ``type_`` built from a spec with ``fields``."""
    return create(GuardSpec(id=f"t-{type_}".replace("_", "-"), type=type_, stage=stage, on_fail=on_fail,
                            **fields))


