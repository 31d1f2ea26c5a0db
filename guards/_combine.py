"""Combining the verdicts of several guards on the same content into one.

Every guard judged the same original text, so all spans are in one coordinate system: redactions of
different guards are applied together (overlaps merge), then prefixes and suffixes (notices,
disclaimers) are added in guard order. Block wins over everything.
"""

from __future__ import annotations

from clauseguard.guards._base import apply_replacements
from clauseguard.guards._params import Action
from clauseguard.guards._verdict import Verdict, strongest

__all__ = ["combine"]


def combine(content: str | bytes, verdicts: list[Verdict]) -> Verdict:
    """One verdict for ``content`` from the verdicts of each guard that judged it."""
    findings = tuple(f for v in verdicts for f in v.findings)
    metadata: dict[str, object] = {}
    for v in verdicts:
        metadata.update(v.metadata)
    action = strongest([v.action for v in verdicts])
    if action is Action.BLOCK:
        return Verdict(allowed=False, action=action, output=None, findings=findings, metadata=metadata)
    prefix = "".join(v.prefix for v in verdicts)
    suffix = "".join(v.suffix for v in verdicts)
    output: str | bytes = content
    if isinstance(content, str):
        output = prefix + apply_replacements(content, findings) + suffix
    return Verdict(allowed=True, action=action, output=output, findings=findings, metadata=metadata,
                   prefix=prefix, suffix=suffix)
