"""Keyword guard: category-tagged term lists matched whole-word over normalised text.

Shipped lists (``guards/data/terms``) plus the user's own ``terms`` by category, minus ``allow``.
Spans point at exactly the offending characters of the original text, so ``on_fail: redact`` cuts
"b.0.m.b" and nothing around it.
"""

from __future__ import annotations

from clauseguard.guards._base import Context, Guard
from clauseguard.guards._matcher import TermMatcher
from clauseguard.guards._params import Action, GuardSpec, KeywordParams
from clauseguard.guards._registry import register
from clauseguard.guards._terms import shipped_terms
from clauseguard.guards._verdict import Verdict
from clauseguard.guards.normalize import MAX_GAP

__all__ = ["REDACTION", "KeywordGuard"]

REDACTION = "[REDACTED]"


@register("keyword")
class KeywordGuard(Guard):
    """Blocks, redacts or flags listed terms."""

    params: KeywordParams

    def __init__(self, spec: GuardSpec) -> None:
        super().__init__(spec)
        terms: dict[str, list[str]] = {cat: list(shipped_terms(cat)) for cat in self.params.categories}
        for cat, own in self.params.terms.items():
            terms.setdefault(cat, []).extend(own)
        self.matcher = TermMatcher(terms, allow=self.params.allow,
                                   whole_words=self.params.match == "word")
        # A term spelled out with separators and marks spans more original characters than letters.
        self.stream_hold = (self.matcher.max_key_len + 2) * (MAX_GAP + 2)

    def check(self, content: str | bytes, context: Context) -> Verdict:
        if not isinstance(content, str):
            return Verdict.allow(content, self.id)
        redact = self.spec.on_fail is Action.REDACT
        findings = [
            self.finding(m.label, score=1.0, span=m.span, replacement=REDACTION if redact else None)
            for m in self.matcher.find(content)
        ]
        return self.verdict(content, findings)
