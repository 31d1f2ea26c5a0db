"""One Aho-Corasick automaton over normalised text for many labelled term lists.

Terms are normalised exactly like the text (see :mod:`normalize`), so "b0mb" in a list and "B O M B"
in a text meet as "bomb". Because a "1" in the text may stand for "i" or "l", each term gets variants
with its "l"s read as "i"; a term also matches its plural in "s" on the last word ("heart attacks").
Matches are whole-word by default, and a match may only cross a real word boundary where the term
itself has one ("pipe bomb" matches "pipe-bomb" and "pipebomb"; "anal" does not match "an al").
Allow-listed terms hide the matches inside them, and a match whose last words begin one ("make a bomb" in
"make a bomb shelter", where "bomb shelter" is listed): the match ends inside an ordinary compound. An
allow-listed phrase does not run across a sentence end ("build a bomb. Shelter...").
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import ahocorasick

from clauseguard.guards.normalize import normalize

__all__ = ["Match", "TermMatcher"]

# An allow-listed phrase stands within one sentence: "build a bomb. Shelter..." is no "bomb shelter".
_SENTENCE_END = re.compile(r"[.!?;]\s|\n")
_MAX_L_VARIANTS = 6  # terms with more "l"s get only the all-"i" variant ("i'll kill you" has four)


class Match(NamedTuple):
    """A term found: its label (a category), the listed term, and original/normalised spans.

    A named tuple, not a dataclass: a profane text yields many, and building them is the cost."""

    label: str
    term: str
    span: tuple[int, int]
    norm_span: tuple[int, int]


@dataclass(frozen=True)
class _Entry:
    label: str
    term: str
    breaks: frozenset[int]
    allow: bool


def _key(term: str) -> tuple[str, frozenset[int]]:
    norm = normalize(term)
    breaks = frozenset(p for p in range(1, len(norm.text)) if norm.boundary[p] == 2)
    return norm.text, breaks


def _variants(key: str, breaks: frozenset[int]) -> set[str]:
    ls = [i for i, c in enumerate(key) if c == "l"]
    keys = {key, key.replace("l", "i")}
    if len(ls) <= _MAX_L_VARIANTS:
        for combo in itertools.product("li", repeat=len(ls)):
            chars = list(key)
            for i, c in zip(ls, combo, strict=True):
                chars[i] = c
            keys.add("".join(chars))
    if key[-1:].isalpha() and not key.endswith("s"):  # the plural of the last word, one word or many
        keys |= {k + "s" for k in keys}
    return keys


class TermMatcher:
    """Finds labelled terms in texts. Build once; :meth:`find` is thread-safe."""

    def __init__(self, terms: Mapping[str, Iterable[str]], *, allow: Iterable[str] = (),
                 whole_words: bool = True) -> None:
        self.whole_words = whole_words
        self._automaton = ahocorasick.Automaton()
        table: dict[str, list[_Entry]] = {}
        for label, words in terms.items():
            for term in words:
                self._add(table, term, label, allow=False)
        for term in allow:
            self._add(table, term, "", allow=True)
        for key, entries in table.items():
            self._automaton.add_word(key, (len(key), tuple(entries)))
        self.max_key_len = max((len(k) for k in table), default=0)
        self.size = len(table)
        if table:
            self._automaton.make_automaton()

    @staticmethod
    def _add(table: dict[str, list[_Entry]], term: str, label: str, *, allow: bool) -> None:
        key, breaks = _key(term)
        if not key:
            return
        entry = _Entry(label, term, breaks, allow)
        for variant in _variants(key, breaks):
            table.setdefault(variant, []).append(entry)

    @staticmethod
    def _crosses_ok(boundary: bytes, start: int, end: int, entry: _Entry) -> bool:
        """A match may cross a real word boundary only where the term itself has one."""
        return all(boundary[p] != 2 or (p - start) in entry.breaks for p in range(start + 1, end))

    def find(self, text: str, *, max_chars: int | None = None) -> list[Match]:
        """Every listed term in ``text`` (not inside an allow-listed term), in order of position. A text
        longer than ``max_chars`` once folded raises :class:`~clauseguard.guards.normalize.TextTooLong`."""
        if not self.size:
            return []
        norm = normalize(text, max_chars=max_chars)  # shared with the other guards judging the same text
        b = norm.boundary
        whole = self.whole_words
        hits: list[Match] = []
        allowed: list[tuple[int, int]] = []
        for last, (length, entries) in self._automaton.iter(norm.text):
            start, end = last + 1 - length, last + 1
            if whole and not (b[start] and b[end]):
                continue
            crosses = whole and 2 in b[start + 1:end]
            labels: set[str] = set()  # several listed terms may share one key: one match per label
            for entry in entries:
                if entry.label in labels or (crosses and not self._crosses_ok(b, start, end, entry)):
                    continue
                if entry.allow:
                    if not (crosses and _SENTENCE_END.search(text, *norm.original_span(start, end))):
                        allowed.append((start, end))
                    continue
                if not labels:
                    span = norm.original_span(start, end)
                labels.add(entry.label)
                hits.append(Match(entry.label, entry.term, span, (start, end)))
        if allowed:
            hits = _outside(hits, allowed)
        return _dedupe(hits)


def _outside(hits: list[Match], allowed: list[tuple[int, int]]) -> list[Match]:
    """The ``hits`` not hidden by an ``allowed`` span. A span hides a hit it holds, and a hit whose end it
    crosses from inside: "bomb shelter" hides "make a bomb" in "make a bomb shelter". Of the spans starting
    at or before a hit, the one reaching furthest decides; the spans starting inside a hit are few, and each
    is read (comparing every hit with every span took 30 s on 200,000 characters)."""
    ordered = sorted(allowed)
    starts = [a for a, _ in ordered]
    reach = list(itertools.accumulate((e for _, e in ordered), max))
    kept = []
    for hit in hits:
        start, end = hit.norm_span
        i = bisect.bisect_right(starts, start)
        if i and reach[i - 1] >= end:
            continue
        j = bisect.bisect_left(starts, end, lo=i)
        if not any(e > end for _, e in ordered[i:j]):
            kept.append(hit)
    return kept


def _dedupe(hits: Iterable[Match]) -> list[Match]:
    seen: set[tuple[str, tuple[int, int]]] = set()
    out: list[Match] = []
    for hit in sorted(hits, key=lambda h: (h.span, h.label)):
        if (hit.label, hit.span) not in seen:
            seen.add((hit.label, hit.span))
            out.append(hit)
    return out
