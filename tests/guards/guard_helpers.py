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




def tiny_clip_config() -> Any:
    """A CLIP configuration small enough to build at random in a test (the safety checker's shape)."""
    from transformers import CLIPConfig

    tiny = {"hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2}
    return CLIPConfig(text_config={**tiny, "vocab_size": 32, "max_position_embeddings": 8, "bos_token_id": 0,
                                   "eos_token_id": 1, "pad_token_id": 1},
                      vision_config={**tiny, "image_size": 32, "patch_size": 16}, projection_dim=4)


class FakeBackend:
    """A backend whose scores are given: text -> scores (0.0 for each category the table leaves out, as a
    real backend scores every category it knows)."""

    name = "fake"

    def __init__(self, table: dict[str, dict[str, float]]) -> None:
        self.table = table
        self.categories = frozenset(c for s in table.values() for c in s)
        self.batches: list[list[str]] = []

    def score(self, texts: list[str]) -> list[dict[str, float]]:
        self.batches.append(list(texts))
        return [dict.fromkeys(self.categories, 0.0) | self.table.get(t, {}) for t in texts]
