"""Support guard: when the prompt was found to be about self-harm (or another of its categories), the
answer carries where to find help.

The AUP's self-harm clause promises that the service points people who are struggling to those who can
help; the input classifier only flags such a prompt, so that they can talk about it. This guard, at the
output stage, adds its ``text`` (the helplines of the product's jurisdictions) to the answer to a prompt
whose findings name one of ``categories``. The pipeline remembers the categories of each request's input
findings by ``Context.request_id`` and gives them to the output stage as ``context.metadata
["input_categories"]`` (and the classifiers' scores of each category, below their thresholds too, as
``["input_scores"]``: with ``min_score`` a score that high is enough, since a superfluous helpline costs
less than a missing one), so pass the output check the context of its input check; a service that checks
input and output in separate processes can set those keys itself. Like the
disclaimer, it runs once on the whole of a stream and adds its text at the end.
"""

from __future__ import annotations

from clauseguard.guards._base import INPUT_CATEGORIES, INPUT_SCORES, Context, Guard
from clauseguard.guards._params import Action, SupportParams
from clauseguard.guards._registry import register
from clauseguard.guards._verdict import Verdict

__all__ = ["SupportGuard"]


@register("support")
class SupportGuard(Guard):
    """Adds ``text`` to the answer when the prompt's findings name one of ``categories``."""

    params: SupportParams
    stream_hold = 0
    stream_final = True

    def check(self, content: str | bytes, context: Context) -> Verdict:
        flagged = set(context.metadata.get(INPUT_CATEGORIES, ()))
        scores = context.metadata.get(INPUT_SCORES) or {}
        low = self.params.min_score
        found = [c for c in self.params.categories
                 if c in flagged or (low is not None and float(scores.get(c, 0.0)) >= low)]
        if not found or not isinstance(content, str) or not content.strip():  # a stream's start: nothing yet
            return Verdict.allow(content, self.id)
        message = self.spec.category_messages.get(found[0]) or self.spec.message or self.params.text
        finding = self.finding(found[0], score=1.0, action=Action.DISCLAIM, message=message)
        if self.params.position == "prepend":
            return self.verdict(content, [finding], prefix=self.params.text + "\n\n")
        return self.verdict(content, [finding], suffix="\n\n" + self.params.text)
