"""The guard protocol: ``check(content, context) -> Verdict`` and its async twin.

A guard is built from one :class:`~clauseguard.guards._params.GuardSpec` (one guards.yaml entry).
The base class turns the spec's clause ids and messages into findings, so every finding names the
clauses it enforces without each guard repeating that bookkeeping.
"""

from __future__ import annotations

import asyncio
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from clauseguard.guards._params import Action, GuardSpec, Stage
from clauseguard.guards._verdict import Finding, Verdict, strongest

__all__ = ["INPUT_CATEGORIES", "INPUT_SCORES", "REFUSALS", "TEXT_OFFSET", "Context", "Guard", "apply_replacements"]


@dataclass(frozen=True)
class Context:
    """Who and where: what a guard may need besides the content.

    ``user_key`` identifies the user (an account id) for rate limits; ``ip`` is used only when a rate
    limit is keyed by IP, and only pseudonymised. ``ip_group``, when set, is what such a rate limit counts
    instead: a pseudonym of the client's network (its IPv6 /64), made where ``ip`` was pseudonymised, since
    pseudonyms of single addresses cannot be grouped afterwards (the HTTP service sets both). ``turn`` is the
    0-based turn of the conversation.
    """

    user_key: str | None = None
    ip: str | None = None
    ip_group: str | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    turn: int = 0
    stage: Stage | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


def apply_replacements(text: str, findings: Iterable[Finding]) -> str:
    """Replace each finding's span by its replacement; overlapping spans merge (the first one's text).

    Spans are in ``text``'s own coordinates, so findings of several guards on the same text compose.
    """
    edits = sorted(
        (f.span[0], f.span[1], f.replacement)
        for f in findings
        if f.span is not None and f.replacement is not None
    )
    out: list[str] = []
    pos = 0
    for start, end, replacement in edits:
        if start < pos:  # overlaps the previous edit: widen it instead of cutting twice
            pos = max(pos, end)
            continue
        out.append(text[pos:start])
        out.append(replacement or "")
        pos = end
    out.append(text[pos:])
    return "".join(out)


WHOLE_TEXT = -1  # a stream_lookbehind: the guard sees the whole text so far each time (see Guard)
# Context.metadata key: the categories of the findings of the request's input check, which the pipeline
# gives its output stage (the support guard adds helplines to the answer to a prompt flagged for self-harm).
INPUT_CATEGORIES = "input_categories"
# and the highest score the classifiers gave each category of the request's input, below their thresholds too
INPUT_SCORES = "input_scores"
# A stream's guards are given windows of the answer: where the window starts in it, and the refusal clauses
# of the answer so far as (start, end) spans of it, which output guards leave out (guards/_refusals.py).
TEXT_OFFSET = "text_offset"
REFUSALS = "refusals"


class Guard(ABC):
    """Base of every guard.

    Subclasses implement :meth:`check`. ``stream_hold`` says how many trailing characters the streaming
    pipeline must hold back before this guard can judge a text prefix; None means the guard needs the
    whole text (the pipeline then releases nothing until the end). ``stream_lookbehind`` says how many
    characters before the released text the guard must see again for context (None: ``stream_hold``;
    ``WHOLE_TEXT``: all of it, for a guard whose matches may be of any length). Both count the characters
    that show: white space and characters that fold to nothing (zero-width, combining marks) come free.
    ``stream_step`` (characters that show; 0: every chunk) lets a guard that is costly to run judge a stream
    only once it has grown by that much since the guard last judged it; until then the text it has not
    judged is held, as its ``stream_hold`` says, behind the end of what it judged.
    ``stream_final`` guards never hold text back: they run once on the whole text at the end and may
    only add to it (labels, disclaimers).
    """

    type_name: ClassVar[str] = ""
    stream_hold: int | None = None
    stream_lookbehind: int | None = None
    stream_step: int = 0
    stream_final: ClassVar[bool] = False

    def __init__(self, spec: GuardSpec) -> None:
        self.spec = spec
        self.params = spec.typed_params()

    @property
    def id(self) -> str:
        return self.spec.id

    @abstractmethod
    def check(self, content: str | bytes, context: Context) -> Verdict:
        """Judge ``content``; never raise for bad content (raise only for a broken guard)."""

    async def acheck(self, content: str | bytes, context: Context) -> Verdict:
        """Async twin; by default runs :meth:`check` in a worker thread so the event loop stays free."""
        return await asyncio.to_thread(self.check, content, context)

    # -- helpers for subclasses ------------------------------------------------------------------

    def finding(self, category: str | None, *, score: float, span: tuple[int, int] | None = None,
                replacement: str | None = None, action: Action | None = None,
                message: str | None = None, key: str | None = None) -> Finding:
        """A finding carrying this guard's clause ids and message for ``key`` (default: ``category``).

        ``key`` is what the generator keyed ``category_clauses`` / ``category_messages`` by when it
        merged clauses into this guard: a category, a PII entity (``email``) or a topic (``medical``).
        """
        spec = self.spec
        key = key if key is not None else (category or "")
        clauses = spec.category_clauses.get(key, spec.clauses)
        text = message if message is not None else spec.category_messages.get(key, spec.message)
        return Finding(guard_id=spec.id, category=category, score=score, span=span,
                       clause_ids=tuple(clauses), message=text, action=action or spec.on_fail,
                       replacement=replacement)

    def verdict(self, content: str | bytes, findings: list[Finding], *, prefix: str = "",
                suffix: str = "", metadata: Mapping[str, Any] | None = None) -> Verdict:
        """The verdict for ``findings``: the strongest action wins; redactions are applied."""
        if not findings and not prefix and not suffix and not metadata:
            return Verdict.allow(content, self.id)
        action = strongest([f.action for f in findings])
        if action is Action.BLOCK:
            return Verdict(allowed=False, action=action, output=None, findings=tuple(findings),
                           guard_id=self.id, metadata=metadata or {})
        output = content
        if isinstance(content, str):
            output = prefix + apply_replacements(content, findings) + suffix
        return Verdict(allowed=True, action=action, output=output, findings=tuple(findings),
                       guard_id=self.id, metadata=metadata or {}, prefix=prefix, suffix=suffix)
