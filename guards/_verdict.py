"""What a guard decides: :class:`Finding` (one thing found) and :class:`Verdict` (the decision).

Both are frozen so a verdict can be logged, cached and compared without fear that a later guard
changed it. Scores are validated here, once, at construction: every guard's score is in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from clauseguard.guards._params import Action
from clauseguard.guards._taxonomy import CATEGORIES

__all__ = ["ACTION_RANK", "Finding", "Verdict", "strongest"]

# Which action wins when verdicts combine: block beats redact beats disclaim beats label beats flag.
ACTION_RANK: dict[Action, int] = {
    Action.ALLOW: 0,
    Action.FLAG: 1,
    Action.LABEL: 2,
    Action.DISCLAIM: 3,
    Action.REDACT: 4,
    Action.BLOCK: 5,
}


def strongest(actions: list[Action]) -> Action:
    """The action that wins among ``actions`` (allow when empty)."""
    return max(actions, key=ACTION_RANK.__getitem__, default=Action.ALLOW)


@dataclass(frozen=True)
class Finding:
    """One thing a guard found.

    ``category`` is a canonical id from ``_taxonomy.CATEGORIES``, or None for an operational finding
    (a guard that failed or timed out, content too large, a rate limit) that is about no content
    category. ``span`` is ``(start, end)`` in the ORIGINAL text given to the pipeline, or None when the
    finding is about the whole content. ``replacement`` is what a redaction puts in place of the span.
    """

    guard_id: str
    category: str | None
    score: float
    span: tuple[int, int] | None = None
    clause_ids: tuple[str, ...] = ()
    message: str = ""
    action: Action = Action.FLAG
    replacement: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.score, int | float) or not 0.0 <= float(self.score) <= 1.0:
            raise ValueError(f"score must be a number in [0, 1], got {self.score!r}")
        if self.category is not None and self.category not in CATEGORIES:
            raise ValueError(f"unknown category {self.category!r}; known: {sorted(CATEGORIES)}")
        if self.span is not None:
            start, end = self.span
            if not 0 <= start <= end:
                raise ValueError(f"span must satisfy 0 <= start <= end, got {self.span!r}")
        object.__setattr__(self, "action", Action(self.action))
        object.__setattr__(self, "clause_ids", tuple(self.clause_ids))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the replacement text is left out: it may be a hash of personal data)."""
        return {
            "guard_id": self.guard_id,
            "category": self.category,
            "score": round(float(self.score), 4),
            "span": list(self.span) if self.span is not None else None,
            "clause_ids": list(self.clause_ids),
            "message": self.message,
            "action": self.action.value,
        }


@dataclass(frozen=True)
class Verdict:
    """The decision on one piece of content.

    ``output`` is the content to pass on (transformed by redactions, notices, disclaimers); None when
    blocked. ``prefix`` and ``suffix`` are the texts this verdict added around the content (a notice, a
    disclaimer), kept apart so a pipeline can compose verdicts of several guards. ``metadata`` carries
    machine-readable labels such as ``{"ai_generated": True}``.
    """

    allowed: bool
    action: Action
    output: str | bytes | None
    findings: tuple[Finding, ...] = ()
    guard_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    prefix: str = ""
    suffix: str = ""

    def __post_init__(self) -> None:
        action = Action(self.action)
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "findings", tuple(self.findings))
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))
        if self.allowed == (action is Action.BLOCK):
            raise ValueError(f"allowed={self.allowed} contradicts action={action.value}")

    @classmethod
    def allow(cls, content: str | bytes, guard_id: str | None = None) -> Verdict:
        """Nothing found: pass the content on unchanged."""
        return cls(allowed=True, action=Action.ALLOW, output=content, guard_id=guard_id)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; bytes output is reported by length only."""
        out: Any = self.output
        if isinstance(out, bytes):
            out = {"bytes": len(out)}
        return {
            "allowed": self.allowed,
            "action": self.action.value,
            "output": out,
            "findings": [f.to_dict() for f in self.findings],
            "guard_id": self.guard_id,
            "metadata": dict(self.metadata),
        }
