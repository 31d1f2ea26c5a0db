"""AI-disclosure guard (EU AI Act Art. 50): a notice on the first turn, a label on every output.

The verdict's metadata carries the machine-readable marker (``{"ai_generated": True, "standard":
"EU AI Act Art. 50", ...}``) so an API can put it in a header or a JSON field; images get theirs
from the image_mark guard, this guard only adds the metadata to them.

An answer whose visible text already ends with the label (a model repeating the one it saw) is not
labelled twice (``metadata["label_in_text"]``); a label in an HTML comment or other hidden markup does
not count. In a pipeline the notice opens the answer whatever the guards' order, and the label follows
what the guards before this one add: after a disclaimer added behind a repeated label, it comes again.
"""

from __future__ import annotations

from clauseguard.guards._base import Context, Guard
from clauseguard.guards._combine import LABEL_IN_TEXT
from clauseguard.guards._params import Action, DisclosureParams
from clauseguard.guards._registry import register
from clauseguard.guards._verdict import Verdict
from clauseguard.guards.disclaimer import visible_text

__all__ = ["STANDARD", "DisclosureGuard"]

STANDARD = "EU AI Act Art. 50"


@register("ai_disclosure")
class DisclosureGuard(Guard):
    """Labels output as AI-generated and tells the user, on the first turn, that they talk to an AI."""

    params: DisclosureParams
    stream_hold = 0
    stream_final = True

    def check(self, content: str | bytes, context: Context) -> Verdict:
        notice_due = bool(self.params.notice) and (context.turn == 0 or not self.params.first_turn_only)
        metadata = {"ai_generated": True, "standard": STANDARD, "label": self.params.label,
                    "notice_shown": notice_due and isinstance(content, str)}
        finding = self.finding("ai_disclosure", score=1.0, action=Action.LABEL)
        if not isinstance(content, str):
            return self.verdict(content, [finding], metadata=metadata)
        prefix = f"{self.params.notice}\n\n" if notice_due else ""
        label = f"[{self.params.label}]"
        # An answer that already ends with the label where a reader sees it is not labelled twice.
        shown = bool(self.params.label) and visible_text(content).rstrip().endswith(label)
        suffix = f"\n\n{label}" if self.params.label and not shown else ""
        if shown:
            metadata[LABEL_IN_TEXT] = True
        return self.verdict(content, [finding], prefix=prefix, suffix=suffix, metadata=metadata)
