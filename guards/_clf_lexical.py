"""Lexical backend: alt-profanity-check's linear model over word tf-idf -> ``profanity``.

It scores profanity only. It was trained on Davidson et al. tweets and Wikipedia/Jigsaw comments,
so it is never evaluated on those sets (see guards/data/heads/MODEL_CARD.md). Its tf-idf features are
scaled to unit length, so every benign word dilutes a profane one: a profane sentence after five
benign ones scored 0.03. A text longer than WINDOW_WORDS is scored whole and in overlapping windows of
that many words, and keeps the highest. Measured with 40 words: a profane sentence after 15 benign ones
(this repo's benign sets) caught 88% (8% whole), those benign texts flagged no more often; in
``bench/bench_classifier.py`` (bench/README.md), Civil Comments (toxic-leaning negatives) AUROC
0.632 -> 0.615 with false positives 37% -> 46%, and GPTFuzz answers AUROC 0.629 -> 0.747.
"""

from __future__ import annotations

import functools
from typing import Any

from clauseguard.errors import ModelLoadError
from clauseguard.guards._clf_embedding import chunks
from clauseguard.guards._fusion import Scores

__all__ = ["LexicalBackend", "get_lexical"]

WINDOW_WORDS = 40  # about a tweet or a short comment, which the model was trained on
OVERLAP_WORDS = 20


class LexicalBackend:
    """``profanity`` from alt-profanity-check's ``predict_prob``, the highest of a long text's windows."""

    name = "lexical"
    categories = frozenset({"profanity"})
    languages = frozenset({"en"})  # English tweets and comments, English stop words

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
        pieces = [[t, *chunks(t, WINDOW_WORDS, OVERLAP_WORDS)] if len(t.split()) > WINDOW_WORDS else [t] for t in texts]
        probs = iter(self._predict([p for ps in pieces for p in ps]))
        return [{"profanity": max(float(next(probs)) for _ in ps)} for ps in pieces]


@functools.cache
def get_lexical() -> LexicalBackend:
    """The process-wide lexical backend (its model loads once)."""
    return LexicalBackend()
