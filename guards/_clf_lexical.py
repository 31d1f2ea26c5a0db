"""Lexical backend: alt-profanity-check's linear model over character n-grams -> ``profanity``.

It scores profanity only. It was trained on Davidson et al. tweets and Wikipedia/Jigsaw comments,
so it is never evaluated on those sets (see guards/data/heads/MODEL_CARD.md).
"""

from __future__ import annotations

import functools
from typing import Any

from clauseguard.errors import ModelLoadError
from clauseguard.guards._fusion import Scores

__all__ = ["LexicalBackend", "get_lexical"]


class LexicalBackend:
    """``profanity`` from alt-profanity-check's ``predict_prob``."""

    name = "lexical"
    categories = frozenset({"profanity"})

    def __init__(self) -> None:
        try:
            import profanity_check
        except ModuleNotFoundError as err:
            raise ModelLoadError("the lexical backend needs the [ml] extra: "
                                 "pip install 'clauseguard[ml]' (alt-profanity-check)") from err
        self._predict: Any = profanity_check.predict_prob

    def score(self, texts: list[str]) -> list[Scores]:
        if not texts:
            return []
        return [{"profanity": float(p)} for p in self._predict(list(texts))]


@functools.cache
def get_lexical() -> LexicalBackend:
    """The process-wide lexical backend (its model loads once)."""
    return LexicalBackend()
