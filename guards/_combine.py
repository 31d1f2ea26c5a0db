"""Combining the verdicts of several guards on the same content into one.

Every guard judged the same original text, so all spans are in one coordinate system: redactions of
different guards are applied together (overlaps merge), then prefixes and suffixes (notices,
disclaimers) are added in guard order, except that the ``ai_disclosure`` notice always opens the answer
(the generated configuration puts that guard last, so its ``[AI-generated]`` label ends it). Block wins
over everything.

A verdict names the disclaimers it added in ``metadata["disclaimers"]`` (``{topic: text}``), so two
guards on one topic (a ``topic`` guard that disclaims and a ``disclaimer`` guard) add one disclaimer,
not two. The operator's own text wins over the shipped default, since it is the text their AI
Disclaimer cites; between two of a kind, the first guard's. A topic whose disclaimer a guard found
already shown in the answer (``metadata["disclaimers_present"]``, a list of topics) gets none from any
guard, and one text given for several topics is added once.
"""

from __future__ import annotations

from collections.abc import Mapping

from clauseguard.guards._base import apply_replacements
from clauseguard.guards._params import Action
from clauseguard.guards._verdict import Verdict, strongest
from clauseguard.guards.disclaimer import DEFAULT_TEXTS

__all__ = ["DISCLAIMERS", "LABEL_IN_TEXT", "PRESENT", "addenda", "combine"]

DISCLAIMERS = "disclaimers"  # metadata key: {topic: text} of the disclaimers a verdict added
PRESENT = "disclaimers_present"  # metadata key: [topic] whose disclaimer the answer already shows
LABEL_IN_TEXT = "label_in_text"  # metadata key of ai_disclosure: the answer already ends with its label


def combine(content: str | bytes, verdicts: list[Verdict]) -> Verdict:
    """One verdict for ``content`` from the verdicts of each guard that judged it."""
    findings = tuple(f for v in verdicts for f in v.findings)
    metadata: dict[str, object] = {}
    for v in verdicts:
        metadata.update(v.metadata)
    action = strongest([v.action for v in verdicts])
    if action is Action.BLOCK:
        return Verdict(allowed=False, action=action, output=None, findings=findings, metadata=metadata)
    parts, disclaimers = addenda(verdicts, prefixes_lead=True)
    metadata.pop(DISCLAIMERS, None)  # a guard's own list may name one left out as already shown
    if disclaimers:
        metadata[DISCLAIMERS] = disclaimers
    prefix = "".join(p for p, _ in parts)
    suffix = "".join(s for _, s in parts)
    output: str | bytes = content
    if isinstance(content, str):
        output = prefix + apply_replacements(content, findings) + suffix
    return Verdict(allowed=True, action=action, output=output, findings=findings, metadata=metadata,
                   prefix=prefix, suffix=suffix)


def addenda(verdicts: list[Verdict], *, prefixes_lead: bool = False) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The prefixes and suffixes to add, in order, with one disclaimer per topic, and the disclaimers kept.

    The ``ai_disclosure`` notice comes first. ``prefixes_lead``: the prefixes will
    stand before the text (``check_output``), not after it (a stream, where the text is already out).
    """
    kept = _kept(verdicts)
    shown: dict[str, int] = {}  # each text kept, and the first verdict that adds it
    for i, text in kept.values():
        shown[text] = min(shown.get(text, i), i)
    notice, parts = "", []
    for i, v in enumerate(verdicts):
        prefix, suffix = v.prefix, v.suffix
        for text in dict.fromkeys(_disclaimers(v).values()):
            if shown.get(text) != i:
                prefix, suffix = _without(prefix, suffix, text)
        if _is_disclosure(v):
            notice, prefix = notice + prefix, ""
            # An answer that already ends with the label (a model repeating it) gets it again after what
            # the guards before this one add behind the text, so that the label still follows them.
            if v.metadata.get(LABEL_IN_TEXT) and any(s or (p and not prefixes_lead) for p, s in parts):
                suffix = f"\n\n[{v.metadata['label']}]"
        parts.append((prefix, suffix))
    return [(notice, ""), *parts], {topic: text for topic, (_, text) in kept.items()}


def _kept(verdicts: list[Verdict]) -> dict[str, tuple[int, str]]:
    """``{topic: (verdict index, text)}``: the disclaimer each topic gets, none for one already shown."""
    present = {t for v in verdicts for t in _topics(v.metadata.get(PRESENT))}
    kept: dict[str, tuple[int, str]] = {}
    for i, v in enumerate(verdicts):
        for topic, text in _disclaimers(v).items():
            if topic not in kept or (kept[topic][1] == DEFAULT_TEXTS.get(topic) != text):
                kept[topic] = (i, text)
    return {topic: it for topic, it in kept.items() if topic not in present}


def _is_disclosure(verdict: Verdict) -> bool:
    """The ai_disclosure guard's verdict (its prefix is the notice, its suffix the label)."""
    return verdict.metadata.get("ai_generated") is True and "notice_shown" in verdict.metadata


def _disclaimers(verdict: Verdict) -> dict[str, str]:
    found = verdict.metadata.get(DISCLAIMERS)
    return dict(found) if isinstance(found, Mapping) else {}


def _topics(found: object) -> list[str]:
    return [t for t in found if isinstance(t, str)] if isinstance(found, list | tuple) else []


def _without(prefix: str, suffix: str, text: str) -> tuple[str, str]:
    """``prefix`` and ``suffix`` less the disclaimer ``text`` (appended after, or prepended before, a
    blank line, as the disclaimer and topic guards add it)."""
    if "\n\n" + text in suffix:
        return prefix, suffix.replace("\n\n" + text, "", 1)
    return prefix.replace(text + "\n\n", "", 1), suffix
