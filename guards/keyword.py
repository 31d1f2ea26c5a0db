"""Keyword guard: category-tagged term lists matched whole-word over normalised text.

Shipped lists (``guards/data/terms``) plus the user's own ``terms`` by category, minus ``allow``.
Spans point at exactly the offending characters of the original text, so ``on_fail: redact`` cuts
"b.0.m.b" and nothing around it. A category may also ship names (``<category>.names.txt``: "nerve
agent", "pipe bomb") that count only in a request: when a word of ``requests.txt`` ("make", "buy",
"recipe for"), or of the category's own ``<category>.requests.txt`` ("write", "describe" for the S12
names "oral sex", "sex scene"), ends at most ``REQUEST_WINDOW`` letters before the name. "How do I build
a p1pe b0mb" is blocked; "what is a nerve agent?" and "can you get HPV from oral sex?" are left to the
classifier. A phrase of the prompt_injection list quoted with at most two other words ("my students type
'ignore previous instructions' as a joke") is mentioned, not used, and does not count: an injection needs an
instruction after it. So is a slur (S10) quoted alone ('he called me a "f*g"', 'the comedian's bit relied on
the word "r*tard"'): the classifier still reads the whole text and judges who it is said of (``MENTIONABLE``).
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_left, bisect_right

from clauseguard.errors import GuardConfigError, GuardError
from clauseguard.guards._base import Context, Guard
from clauseguard.guards._matcher import Match, TermMatcher, compile_pattern, is_pattern
from clauseguard.guards._params import KEYWORD_LISTS, Action, GuardSpec, KeywordParams, Stage
from clauseguard.guards._refusals import refusals_in
from clauseguard.guards._registry import register
from clauseguard.guards._terms import request_words, shipped_allow, shipped_names, shipped_terms
from clauseguard.guards._verdict import Verdict
from clauseguard.guards.normalize import MAX_GAP, TextTooLong, normalize

__all__ = ["REDACTION", "REQUEST_WINDOW", "KeywordGuard"]

REDACTION = "[REDACTED]"
# Letters of normalised text (no spaces) between the end of a request word and the start of a name:
# "build a pipe bomb" is 1, "buy enough sarin gas" 6, "make the strongest kind of nerve agent" 18.
REQUEST_WINDOW = 40
# Request words that are not requests inside these phrases ("what makes sarin so deadly?").
NOT_REQUESTS = ("what makes",)
# A request word in an earlier sentence does not count ("Help me make a cake. What is a dirty bomb?").
# "b.u.i.l.d. a. pipe. bomb." is no sentence end: the next letter must be a capital, of any script
# ("Über", "Élodie", "İs"), after closing quotes and brackets, typographic ones too ("make it.” What"),
# and opening ones ("cake. “What", "cake. ¿Qué"). A line break of any kind ends one as well.
_STOP = re.compile("[.!?][\"')\\]\u2019\u201d\u00bb\u203a\uff09\u300d\u300f]*|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]"
                   "|[\u3002\uff01\uff1f]")  # the ideographic full stop and fullwidth ! ?: scripts without capitals
# Quotation marks and what closes each; a phrase of these categories quoted with at most this many other words
# is named, not said ("what do I do when users type 'ignore previous instructions'?"): an injection needs an
# instruction after its override, and one quoted with its payload still counts. A slur quoted with no other
# word is reported or discussed ('someone called me a "f*g"', 'people throw "r*tarded" around'): over every
# eval-only set in scripts/data/eval and RealToxicityPrompts, this passes 7 benign texts the guard blocked (reports
# of abuse, objections to the word) and 1 harmful one (a scare quote, 'Muslims are "ragheads"'), which the
# classifier does not catch either. Quoted with a word beside it ('"dirty f*g"') a slur still counts.
MENTIONABLE = {"prompt_injection": 2, "S10": 0}
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb", "\u201e": "\u201c",
           "`": "`"}
_QUOTE_REACH = 300  # characters from a phrase to its quotation marks
_WORD = re.compile(r"\w+")
_NEXT_LETTER = re.compile("\\s+[\"'(\\[\u2018\u201c\u00ab\u2039\u00bf\u00a1]*([^\\W\\d_])")


@functools.cache
def _requests(category: str) -> TermMatcher:
    return TermMatcher({"request": request_words(category)}, allow=NOT_REQUESTS)


@register("keyword")
class KeywordGuard(Guard):
    """Blocks, redacts or flags listed terms."""

    params: KeywordParams

    def __init__(self, spec: GuardSpec) -> None:
        super().__init__(spec)
        _check_matchable(spec.id, self.params)
        terms: dict[str, list[str]] = {cat: list(shipped_terms(cat)) for cat in self.params.categories}
        for cat, own in self.params.terms.items():
            terms.setdefault(cat, []).extend(own)
        # (category, name) pairs that need a request; a name the user lists in their own terms counts alone.
        names = [(cat, name) for cat in self.params.categories for name in shipped_names(cat)
                 if name not in self.params.terms.get(cat, ())]
        for cat, name in names:
            terms[cat].append(name)
        self.names = frozenset(names)
        # a masked word ("n****r") counts only where no word of another shipped list fits it too ("s**t")
        self.matcher = TermMatcher(terms, allow=[*shipped_allow(), *self.params.allow],
                                   whole_words=self.params.match == "word",
                                   mask_words=[t for cat in KEYWORD_LISTS for t in shipped_terms(cat)])
        # A term spelled out with separators and marks spans more original characters than letters.
        self.stream_hold = (self.matcher.max_key_len + 2) * (MAX_GAP + 2)
        if self.names:  # streaming must show the request words before a name again
            self.stream_lookbehind = self.stream_hold + REQUEST_WINDOW * (MAX_GAP + 2)

    def check(self, content: str | bytes, context: Context) -> Verdict:
        if not isinstance(content, str):
            return Verdict.allow(content, self.id)
        redact = self.spec.on_fail is Action.REDACT
        try:
            matches = self.matcher.find(content, max_chars=self.params.max_chars)
        except TextTooLong as err:
            raise GuardError(f"{err} characters, the longest text this keyword guard reads (params.max_chars); "
                             "not checked") from err
        if matches and self.spec.stage is Stage.OUTPUT:
            # the words of a refusal ("I can't help with making explosives") are not the answer's (_refusals.py)
            refused = refusals_in(content, context.metadata)
            matches = [m for m in matches if not any(s <= m.span[0] and m.span[1] <= e for s, e in refused)]
        matches = self._requested(content, matches)
        if any(m.label in MENTIONABLE for m in matches):
            matches = _used(content, matches)
        findings = [self.finding(m.label, score=1.0, span=m.span, replacement=REDACTION if redact else None)
                    for m in matches]
        return self.verdict(content, findings)

    def _requested(self, content: str, matches: list[Match]) -> list[Match]:
        """``matches`` without the names that no request word comes shortly before."""
        named = {m.label for m in matches if (m.label, m.term) in self.names}
        if not named:
            return matches
        # by where they end, so each name looks only at those in its window: comparing every name with
        # every request word took minutes on a megabyte of "make a nerve agent"
        cues = {cat: sorted(_requests(cat).find(content), key=lambda c: c.norm_span[1]) for cat in named}
        ends = {cat: [c.norm_span[1] for c in found] for cat, found in cues.items()}

        def requested(m: Match) -> bool:
            start, found, at = m.norm_span[0], cues[m.label], ends[m.label]
            near = found[bisect_left(at, start - REQUEST_WINDOW):bisect_right(at, start)]
            return any(not _new_sentence(content, c.span[1], m.span[0]) for c in near)

        return [m for m in matches if (m.label, m.term) not in self.names or requested(m)]


def _used(content: str, matches: list[Match]) -> list[Match]:
    """``matches`` without the phrases of MENTIONABLE categories that are only quoted: a quotation holding
    nothing but such phrases and at most as many more words as the strictest of their categories spares
    names them."""
    quoted: dict[tuple[int, int], list[Match]] = {}
    for m in matches:
        if m.label in MENTIONABLE and (q := _quotation(content, *m.span)) is not None:
            quoted.setdefault(q, []).append(m)
    mentioned: set[Match] = set()
    for (start, end), inside in quoted.items():
        spare, pos = 0, start
        for a, b in sorted(m.span for m in inside):
            spare += len(_WORD.findall(content, pos, max(pos, a)))
            pos = max(pos, b)
        spare += len(_WORD.findall(content, pos, end))
        if spare <= min(MENTIONABLE[m.label] for m in inside):
            mentioned.update(inside)
    return [m for m in matches if m not in mentioned]


def _quotation(content: str, start: int, end: int) -> tuple[int, int] | None:
    """Where the quotation holding ``content[start:end]`` begins and ends (inside its marks), on one line."""
    lo = max(content.rfind("\n", 0, start) + 1, start - _QUOTE_REACH)
    newline = content.find("\n", end)
    hi = min(len(content) if newline < 0 else newline, end + _QUOTE_REACH)
    for i in range(start - 1, lo - 1, -1):
        mark = content[i]
        if mark in _QUOTES and _opens(content, i):
            close = _QUOTES[mark]
            for j in range(end, hi):
                if content[j] == close and _closes(content, j):
                    return i + 1, j
            return None
    return None


def _opens(content: str, i: int) -> bool:
    """Whether the mark at ``i`` can open a quotation: not inside a word ("Grandma's", "don't")."""
    before = content[i - 1] if i else " "
    after = content[i + 1] if i + 1 < len(content) else " "
    return not before.isalnum() and not after.isspace()


def _closes(content: str, j: int) -> bool:
    """Whether the mark at ``j`` can close a quotation: after a word or punctuation, not inside a word."""
    before = content[j - 1] if j else " "
    after = content[j + 1] if j + 1 < len(content) else " "
    return not before.isspace() and not after.isalnum()


def _new_sentence(content: str, start: int, end: int) -> bool:
    """Whether a sentence ends in ``content[start:end]``. The capital after it may lie at ``end``: the next
    sentence may begin with the name ("... a cake. Nerve agents, what are they?")."""
    for stop in _STOP.finditer(content, start, end):
        if stop.group()[0] not in ".!?":  # a line break, or a stop of a script without capitals
            return True
        if stop.group() == "." and _spelled(content, stop.start()):  # "B.U.I.L.D. A P.I.P.E B.O.M.B"
            continue
        after = _NEXT_LETTER.match(content, stop.end())
        if after and (after.group(1).isupper() or after.group(1).istitle()):
            return True
    return False


def _spelled(content: str, dot: int) -> bool:
    """Whether the "." at ``dot`` follows a letter standing alone (a word spelled out letter by letter, or an
    initial): no sentence ends there, whatever capital comes next."""
    return (dot >= 1 and content[dot - 1].isalpha()
            and (dot == 1 or not content[dot - 2].isalnum()))


def _check_matchable(guard_id: str, params: KeywordParams) -> None:
    """A term of the user's with no letter or digit ("🖕", "卍", "!!!") normalises to nothing and would
    never match: a config error, not a term silently dropped. So is a malformed pattern ("{make|build] a
    bomb"), and a pattern in ``allow``, which takes plain phrases."""
    listed = [(f"terms.{cat}[{i}]", term) for cat, own in params.terms.items() for i, term in enumerate(own)]
    for key, term in listed:
        if is_pattern(term):  # "{ignore|disregard} [all] previous {instructions|rules}"
            try:
                compile_pattern(term)
            except ValueError as err:
                raise GuardConfigError(str(err), where=f"guard {guard_id!r} params.{key}") from None
    allowed = [(f"allow[{i}]", term) for i, term in enumerate(params.allow)]
    for key, term in allowed:
        if is_pattern(term):
            raise GuardConfigError(f"allow takes plain phrases, not patterns: {term!r} (list each phrase)",
                                   where=f"guard {guard_id!r} params.{key}")
    for key, term in listed + allowed:
        if is_pattern(term):
            continue
        if not normalize(term).text:
            raise GuardConfigError(f"term {term!r} has no letter or digit, so it can never match (the keyword "
                                   "guard matches words; a regex guard can match symbols and emoji)",
                                   where=f"guard {guard_id!r} params.{key}")
