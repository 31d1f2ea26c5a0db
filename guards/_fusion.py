"""The backend interface of the classifier guard, and how scores of several backends combine.

A backend scores a batch of texts: ``score(texts) -> [{category: score in [0, 1]}]``, one dict per
text, holding only the categories it knows. Every backend puts its decision point at 0.5 (the
embedding heads are rescaled so their calibrated threshold lands there), so one threshold per
category means the same whichever backend produced the score.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, Protocol, runtime_checkable

from clauseguard.errors import GuardError

__all__ = ["DEFAULT_THRESHOLD", "Backend", "Scores", "fuse", "resolve_thresholds", "too_long", "unit_score"]

Scores = dict[str, float]
DEFAULT_THRESHOLD = 0.5


@runtime_checkable
class Backend(Protocol):
    """A batched scorer of categories. One may also declare ``languages``, the ISO 639 codes of what it
    reads (the classifier guard flags a text in another language); one that does not reads any."""

    name: str
    categories: frozenset[str]

    def score(self, texts: list[str]) -> list[Scores]:
        """One dict per text: category -> score in [0, 1]."""
        ...


def unit_score(value: float, source: str) -> float:
    """``value`` clipped to [0, 1]; a model that returns NaN or infinity is broken, and a GuardError (which
    the pipeline turns into a block) is safer than ``max(0.0, nan)``, which is 0.0: "safe"."""
    value = float(value)
    if not math.isfinite(value):
        raise GuardError(f"{source} returned a score of {value}, not a number between 0 and 1")
    return min(1.0, max(0.0, value))


# English runs about four characters to a word piece; Chinese, Japanese, emoji and runs of punctuation one.
# With a limit in characters alone, 100,000 of those held a worker 47 s (English: 10 s), so a text of more
# than max_chars / CHARS_PER_PIECE word pieces is refused too.
CHARS_PER_PIECE = 3


def too_long(texts: Sequence[str], max_chars: int | None, guard: str,
             pieces: Callable[[str], int] | None = None) -> None:
    """A GuardError (the guard's on_error applies: block by default) when a text is longer than the
    models are let read: ``params.max_chars``, which bounds how long one check can hold a worker; with
    ``pieces`` (a text's word-piece count), also a text of more than ``max_chars // CHARS_PER_PIECE``
    pieces. Only texts long enough to hold that many are counted (no character is more than 3 pieces)."""
    if max_chars is None:
        return
    longest = max((len(t) for t in texts), default=0)
    if longest > max_chars:
        raise GuardError(f"a text of {longest:,} characters is longer than this {guard} reads "
                         f"(params.max_chars: {max_chars:,}); not checked")
    budget = max_chars // CHARS_PER_PIECE
    for text in texts if pieces is not None else ():
        if len(text) * 3 > budget and (n := pieces(text)) > budget:
            raise GuardError(f"a text of {n:,} word pieces is longer than this {guard} reads (params.max_chars: "
                             f"{max_chars:,} characters, {budget:,} pieces); not checked")


def fuse(per_backend: Sequence[Sequence[Mapping[str, float]]], how: Literal["max", "mean"]) -> list[Scores]:
    """Combine, text by text, the scores of several backends.

    ``mean`` averages over the backends that know a category (a backend that cannot score S9 does not
    pull S9 down); ``max`` keeps the most alarmed backend.
    """
    if not per_backend:
        return []
    out: list[Scores] = []
    for row in zip(*per_backend, strict=True):
        seen: dict[str, list[float]] = {}
        for scores in row:
            for cat, value in scores.items():
                seen.setdefault(cat, []).append(unit_score(value, f"a backend's {cat} score"))
        out.append({c: max(v) if how == "max" else sum(v) / len(v) for c, v in seen.items()})
    return out


def resolve_thresholds(categories: Sequence[str], overrides: Mapping[str, float]) -> dict[str, float]:
    """Per category: the user's own threshold, else their ``default``, else the shipped 0.5."""
    default = overrides.get("default", DEFAULT_THRESHOLD)
    return {c: float(overrides.get(c, default)) for c in categories}
