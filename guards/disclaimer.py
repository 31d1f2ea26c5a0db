"""Disclaimer guard: when an output is about a sensitive topic, append (or prepend) its disclaimer.

Two detectors. ``lexical`` (the default, no extra needed): a shipped word list per topic
(``guards/data/topics``), matched whole-word over normalised text; one hit is enough, since a missing
disclaimer costs more than a superfluous one, and the score grows with the number of distinct words
found; a word inside an ordinary phrase of ``allow.txt`` ("my doctor friend") does not count.
``embedding`` (the ``[ml]`` extra): the topic heads of :mod:`clauseguard.guards.topic`; a topic is
found when its score is at least 0.5. The model loads when the guard is built, not on the first request.
A topic whose disclaimer the text already carries (case and spacing aside) is skipped: models repeat
disclaimers they saw earlier in the chat.
"""

from __future__ import annotations

from clauseguard.errors import GuardConfigError
from clauseguard.guards._base import Context, Guard
from clauseguard.guards._fusion import too_long
from clauseguard.guards._matcher import TermMatcher
from clauseguard.guards._params import Action, DisclaimerParams, GuardSpec
from clauseguard.guards._registry import register
from clauseguard.guards._terms import topic_terms
from clauseguard.guards._verdict import Finding, Verdict

__all__ = ["DEFAULT_TEXTS", "TOPIC_CATEGORY", "DisclaimerGuard"]

TOPIC_CATEGORY = {"medical": "S6", "legal": "S6", "financial": "S6", "elections": "S13"}

DEFAULT_TEXTS = {
    "medical": "This is general information, not medical advice. Consult a qualified health professional.",
    "legal": "This is general information, not legal advice. Consult a qualified lawyer.",
    "financial": "This is general information, not financial advice. Consult a qualified adviser.",
    "elections": "For official election information, consult your election authority.",
}


@register("disclaimer")
class DisclaimerGuard(Guard):
    """Adds the disclaimer of each topic found in the text."""

    params: DisclaimerParams
    stream_hold = 0
    stream_final = True

    def __init__(self, spec: GuardSpec) -> None:
        super().__init__(spec)
        unknown = sorted(set(self.params.texts) - set(TOPIC_CATEGORY))
        if unknown:
            raise GuardConfigError(f"texts for unknown topics {unknown}; topics: {sorted(TOPIC_CATEGORY)}",
                                   where=f"guard {spec.id!r} params.texts")
        if self.params.detector == "embedding":
            from clauseguard.guards.topic import get_detector

            get_detector()  # load the model now: a missing extra or model fails at build, not at a request
            self.matcher = None
        else:
            # allow.txt: ordinary phrases that hold a topic word ("my doctor friend"); those words do not count
            self.matcher = TermMatcher({t: topic_terms(t) for t in self.params.topics}, allow=topic_terms("allow"))

    def _topic_scores(self, content: str) -> dict[str, float]:
        """``{topic: score}`` of the topics found in ``content``."""
        if self.matcher is None:
            from clauseguard.guards.topic import _pieces, detect_topics

            too_long([content], self.params.max_chars, "disclaimer guard's topic model", _pieces())
            scores = detect_topics([content], self.params.topics)[0]
            return {t: s for t, s in scores.items() if s >= 0.5}
        terms_by_topic: dict[str, set[str]] = {}
        for m in self.matcher.find(content):
            terms_by_topic.setdefault(m.label, set()).add(m.term)
        return {t: min(1.0, 0.5 + 0.25 * (len(found) - 1)) for t, found in terms_by_topic.items()}

    def check(self, content: str | bytes, context: Context) -> Verdict:
        if not isinstance(content, str) or not content.strip():  # a stream's start: nothing to be about
            return Verdict.allow(content, self.id)
        scores = self._topic_scores(content)
        folded = _fold(content) if scores else ""  # only an answer on a topic is searched for its disclaimer
        findings: list[Finding] = []
        texts: dict[str, str] = {}
        for topic in self.params.topics:  # in the configured order
            if topic not in scores:
                continue
            text = self.params.texts.get(topic, DEFAULT_TEXTS[topic])
            if _fold(text) in folded:
                continue
            texts[topic] = text
            findings.append(self.finding(TOPIC_CATEGORY[topic], score=round(scores[topic], 4), key=topic,
                                         action=Action.DISCLAIM,
                                         message=self.spec.category_messages.get(topic) or text))
        if not texts:
            return Verdict.allow(content, self.id)
        block = "\n\n".join(texts.values())
        # named by topic (_combine.DISCLAIMERS, not imported: it imports this module), so that another
        # guard disclaiming the same topic does not add it twice
        metadata = {"disclaimers": texts}
        if self.params.position == "prepend":
            return self.verdict(content, findings, prefix=block + "\n\n", metadata=metadata)
        return self.verdict(content, findings, suffix="\n\n" + block, metadata=metadata)


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()
