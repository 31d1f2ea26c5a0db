"""Disclaimer guard: when an output is about a sensitive topic, append (or prepend) its disclaimer.

Two detectors. ``lexical`` (the default, no extra needed): a shipped word list per topic
(``guards/data/topics``), matched whole-word over normalised text; one hit is enough, since a missing
disclaimer costs more than a superfluous one, and the score grows with the number of distinct words
found; a word inside an ordinary phrase of ``allow.txt`` ("my doctor friend", "technical debt") does
not count; and in a text that holds a word of ``technical.txt`` (a programming answer: "schema",
"Kubernetes", "DHCP"), an ambiguous word of ``weak.txt`` ("tenant", "lease", "crypto", "retire", "rash",
"election") counts only beside a second, different word of its topic. The lists are English: other
languages find little or nothing.
``embedding`` (the ``[ml]`` extra): the topic heads of :mod:`clauseguard.guards.topic`; a topic is
found when its score is at least 0.5. The model loads when the guard is built, not on the first request.

A topic whose disclaimer the text already carries where a reader sees it is skipped (models repeat
disclaimers they saw earlier in the chat); the verdict names it in ``metadata["disclaimers_present"]``,
so that a ``topic`` guard does not add its own text for it. Only the words count, not case, spacing or
Markdown ("> *This is general information*, **not medical advice**"); text a reader does not see (an
HTML comment, an element with attributes such as ``hidden`` or ``style``, a tag, an image's alt text, a
link's address) does not count, so a model told to hide the disclaimer cannot suppress the visible one.
A text given for several topics is added once.
"""

from __future__ import annotations

import re

from clauseguard.errors import GuardConfigError, GuardError
from clauseguard.guards._base import Context, Guard
from clauseguard.guards._fusion import too_long
from clauseguard.guards._matcher import TermMatcher
from clauseguard.guards._params import MAX_CHARS_KEYWORD, Action, DisclaimerParams, GuardSpec
from clauseguard.guards._registry import register
from clauseguard.guards._terms import topic_terms
from clauseguard.guards._verdict import Finding, Verdict
from clauseguard.guards.normalize import TextTooLong

__all__ = ["DEFAULT_TEXTS", "TOPIC_CATEGORY", "DisclaimerGuard", "carries", "fold_words", "visible_text"]

_TECHNICAL = "technical"  # the matcher's label for words of programming answers (not a topic)

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
            # allow.txt: ordinary phrases that hold a topic word ("my doctor friend"); those words do not count.
            # weak.txt: ambiguous words that, in a text with a word of technical.txt, count only beside a
            # second word of their topic ("each tenant gets its own schema").
            self.matcher = TermMatcher({**{t: topic_terms(t) for t in self.params.topics},
                                        _TECHNICAL: topic_terms("technical")}, allow=topic_terms("allow"))
            self.weak = frozenset(topic_terms("weak"))

    def _topic_scores(self, content: str) -> dict[str, float]:
        """``{topic: score}`` of the topics found in ``content``."""
        if self.matcher is None:
            from clauseguard.guards.topic import _pieces, detect_topics

            too_long([content], self.params.max_chars, "disclaimer guard's topic model", _pieces())
            scores = detect_topics([content], self.params.topics)[0]
            return {t: s for t, s in scores.items() if s >= 0.5}
        terms_by_topic: dict[str, set[str]] = {}
        try:  # as the keyword guard: a ligature such as U+FDFA folds to 18 letters, so length is counted folded
            matches = self.matcher.find(content, max_chars=MAX_CHARS_KEYWORD)
        except TextTooLong as err:
            raise GuardError(f"{err} characters, the longest text the disclaimer guard's word lists read; "
                             "not checked") from err
        for m in matches:
            terms_by_topic.setdefault(m.label, set()).add(m.term)
        technical = terms_by_topic.pop(_TECHNICAL, None) is not None
        return {t: min(1.0, 0.5 + 0.25 * (len(found) - 1)) for t, found in terms_by_topic.items()
                if len(found) > 1 or not technical or not found <= self.weak}

    def check(self, content: str | bytes, context: Context) -> Verdict:
        if not isinstance(content, str) or not content.strip():  # a stream's start: nothing to be about
            return Verdict.allow(content, self.id)
        scores = self._topic_scores(content)
        folded = fold_words(content) if scores else ""  # only an answer on a topic is searched for its disclaimer
        findings: list[Finding] = []
        texts: dict[str, str] = {}
        present: list[str] = []
        for topic in self.params.topics:  # in the configured order
            if topic not in scores:
                continue
            text = self.params.texts.get(topic, DEFAULT_TEXTS[topic])
            if carries(folded, text):
                present.append(topic)
                continue
            texts[topic] = text
            findings.append(self.finding(TOPIC_CATEGORY[topic], score=round(scores[topic], 4), key=topic,
                                         action=Action.DISCLAIM,
                                         message=self.spec.category_messages.get(topic) or text))
        # named by topic (_combine.DISCLAIMERS and PRESENT, not imported: it imports this module), so that
        # another guard disclaiming the same topic, or one the answer already carries, does not add it again
        metadata: dict[str, object] = {"disclaimers_present": present} if present else {}
        if not texts:
            return self.verdict(content, [], metadata=metadata) if metadata else Verdict.allow(content, self.id)
        metadata["disclaimers"] = texts
        block = "\n\n".join(dict.fromkeys(texts.values()))  # one text for several topics is added once
        if self.params.position == "prepend":
            return self.verdict(content, findings, prefix=block + "\n\n", metadata=metadata)
        return self.verdict(content, findings, suffix="\n\n" + block, metadata=metadata)


_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)  # an unclosed comment hides the rest: count nothing after it
_HIDING = re.compile(r"<(script|style|template|noscript|title|textarea)\b.*?(?:</\1\s*>|\Z)", re.S | re.I)
_OPEN_WITH_ATTRIBUTES = re.compile(r"<([a-z][\w-]*)\s[^<>]*>", re.I)
_CLOSE = re.compile(r"</([a-z][\w-]*)")
_TAG = re.compile(r"</?[a-z][\w-]*(?:\s[^<>]*)?/?>", re.I)
_TAG_LEFT = re.compile(r"<[a-z/!?]", re.I)
_IMAGE = re.compile(r"!\[[^\[\]]*\]\([^()]*\)")  # alt text shows only when the image does not
_LINK_TARGET = re.compile(r"\]\([^()]*\)")  # a link's address and title: the link text shows
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\[\]\n]+\]:.*$", re.M)  # "[x]: url 'title'" and "[//]: # (comment)"
_WORD = re.compile(r"[^\W_]+")


def visible_text(text: str) -> str:
    """``text`` less what a reader of the rendered Markdown or HTML may not see. What may be hidden is
    dropped, so a disclaimer written there is not taken as shown (at worst one is added twice)."""
    text = _drop_attributed(_HIDING.sub(" ", _COMMENT.sub(" ", text)))
    text = _TAG.sub(" ", text)
    left = _TAG_LEFT.search(text)  # markup this reading cannot parse: what follows it may be hidden
    text = text[:left.start()] if left else text
    return _LINK_DEFINITION.sub(" ", _LINK_TARGET.sub("] ", _IMAGE.sub(" ", text)))


def _drop_attributed(text: str) -> str:
    """``text`` less each element with attributes (``hidden``, ``style``, ``class`` ... may hide it), up
    to its last closing tag, so a nested element of the same name cannot end it early."""
    lower, pieces, pos = text.lower(), [], 0
    last_close = {m.group(1): m.start() for m in _CLOSE.finditer(lower)}  # one pass: linear in the text
    for match in _OPEN_WITH_ATTRIBUTES.finditer(text):
        if match.start() < pos:
            continue
        close = last_close.get(match.group(1).lower(), -1)
        end = match.end() if close < match.end() else (lower.find(">", close) + 1 or len(text))
        pieces.append(text[pos:match.start()] + " ")
        pos = end
    return "".join(pieces) + text[pos:]


def fold_words(text: str) -> str:
    """The visible words of ``text``, lower-cased and one space apart: no case, spacing, punctuation or Markdown."""
    return " ".join(_WORD.findall(visible_text(text).casefold()))


def carries(folded: str, disclaimer: str) -> bool:
    """Whether a text whose :func:`fold_words` is ``folded`` shows ``disclaimer`` (whole words)."""
    needle = fold_words(disclaimer)
    return bool(needle) and f" {needle} " in f" {folded} "
