"""Combining the verdicts of several guards on the same content into one.

Every guard judged the same original text, so all spans are in one coordinate system: redactions of
different guards are applied together (overlaps merge), then prefixes and suffixes (notices,
disclaimers) are added in guard order. Block wins over everything.

A verdict names the disclaimers it added in ``metadata["disclaimers"]`` (``{topic: text}``), so two
guards on one topic (a ``topic`` guard that disclaims and a ``disclaimer`` guard) add one disclaimer,
not two. The operator's own text wins over the shipped default, since it is the text their AI
Disclaimer cites; between two of a kind, the first guard's.
"""

from __future__ import annotations

from collections.abc import Mapping

from clauseguard.guards._base import apply_replacements
from clauseguard.guards._params import Action
from clauseguard.guards._verdict import Verdict, strongest
from clauseguard.guards.disclaimer import DEFAULT_TEXTS

__all__ = ["DISCLAIMERS", "addenda", "combine"]

DISCLAIMERS = "disclaimers"  # metadata key: {topic: text} of the disclaimers a verdict added


def combine(content: str | bytes, verdicts: list[Verdict]) -> Verdict:
    """One verdict for ``content`` from the verdicts of each guard that judged it."""
    findings = tuple(f for v in verdicts for f in v.findings)
    metadata: dict[str, object] = {}
    for v in verdicts:
        metadata.update(v.metadata)
    action = strongest([v.action for v in verdicts])
    if action is Action.BLOCK:
        return Verdict(allowed=False, action=action, output=None, findings=findings, metadata=metadata)
    parts, disclaimers = addenda(verdicts)
    if disclaimers:
        metadata[DISCLAIMERS] = disclaimers
    prefix = "".join(p for p, _ in parts)
    suffix = "".join(s for _, s in parts)
    output: str | bytes = content
    if isinstance(content, str):
        output = prefix + apply_replacements(content, findings) + suffix
    return Verdict(allowed=True, action=action, output=output, findings=findings, metadata=metadata,
                   prefix=prefix, suffix=suffix)


def addenda(verdicts: list[Verdict]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Each verdict's prefix and suffix with one disclaimer per topic, and the disclaimers kept."""
    kept: dict[str, tuple[int, str]] = {}
    for i, v in enumerate(verdicts):
        for topic, text in _disclaimers(v).items():
            if topic not in kept or (kept[topic][1] == DEFAULT_TEXTS.get(topic) != text):
                kept[topic] = (i, text)
    parts = []
    for i, v in enumerate(verdicts):
        prefix, suffix = v.prefix, v.suffix
        for topic, text in _disclaimers(v).items():
            if kept[topic][0] != i:
                prefix, suffix = _without(prefix, suffix, text)
        parts.append((prefix, suffix))
    return parts, {topic: text for topic, (_, text) in kept.items()}


def _disclaimers(verdict: Verdict) -> dict[str, str]:
    found = verdict.metadata.get(DISCLAIMERS)
    return dict(found) if isinstance(found, Mapping) else {}


def _without(prefix: str, suffix: str, text: str) -> tuple[str, str]:
    """``prefix`` and ``suffix`` less the disclaimer ``text`` (appended after, or prepended before, a
    blank line, as the disclaimer and topic guards add it)."""
    if "\n\n" + text in suffix:
        return prefix, suffix.replace("\n\n" + text, "", 1)
    return prefix.replace(text + "\n\n", "", 1), suffix
