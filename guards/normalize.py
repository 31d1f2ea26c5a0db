"""Text normalisation for term matching, with a map back to the original text.

Obfuscation tricks undone here: Unicode compatibility forms (fullwidth, mathematical letters, circled
letters) by NFKC; case by casefold; accents, combining marks and zero-width/format characters
removed; Cyrillic and Greek look-alikes mapped to Latin (only inside words that are Latin or made
only of look-alikes, so real Russian or Greek text is left alone); leetspeak (``0->o 1->i 3->e 4->a
5->s 7->t @->a $->s``, only inside words that contain a letter, so "1945" stays "1945"); and words
spelled out letter by letter ("b o m b", "b.o.m.b", "b-o-m-b": three or more one-letter pieces
with at most :data:`MAX_GAP` separator characters between them, no line break).

The result has no separators at all. Instead :attr:`Normalized.boundary` says, for each position,
whether a word boundary lies there: 2 for a real one (a separator in the text), 1 for a soft one
(between spelled-out letters), 0 inside a word. Matchers use it for whole-word matching, so
"Scunthorpe" and "grape" do not match "cunt" and "rape", and "an al" does not match "anal".
``starts``/``ends`` map each normalised character back to the original characters it came from.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["CONFUSABLES", "LEET", "MAX_GAP", "Normalized", "normalize"]

MAX_GAP = 3  # separator characters allowed between spelled-out letters

LEET: dict[str, str] = {
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "6": "g", "7": "t", "8": "b", "9": "g",
    "@": "a", "$": "s", "!": "i", "|": "i", "+": "t", "€": "e",
}
_LEET_SYMBOLS = frozenset(c for c in LEET if not c.isalnum())

# Lower-case Cyrillic and Greek letters that look like Latin ones (input is casefolded first).
CONFUSABLES: dict[str, str] = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "з": "3", "и": "u", "к": "k", "м": "m", "н": "h", "о": "o",
    "п": "n", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j",
    "ԁ": "d", "ԛ": "q", "ԝ": "w", "ь": "b", "ү": "y", "һ": "h", "ӏ": "l",
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "σ": "o", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "μ": "u", "ϲ": "c", "ј̇": "j",
}

# Those so alike that a word made only of them is taken for a disguised Latin word.
_STRONG_LOOKALIKES = frozenset("аеорсухѕіјһԁԛԝӏοριχ")

_W, _L, _S = 0, 1, 2  # kinds of folded characters: word, leet symbol, separator


@dataclass(frozen=True)
class Normalized:
    """Normalised text; ``starts[i]:ends[i]`` is the original slice that gave character ``i``."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    boundary: bytes  # len(text) + 1 entries: 0 none, 1 soft, 2 real

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original ``(start, end)`` of normalised ``text[start:end]`` (``end > start``)."""
        return self.starts[start], self.ends[end - 1]


@lru_cache(maxsize=65536)
def _fold(ch: str) -> str:
    folded = unicodedata.normalize("NFKC", ch).casefold()
    return "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))


def _fold_all(text: str) -> tuple[list[str], list[int], list[int]]:
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, ch in enumerate(text):
        if ch.isascii():
            chars.append(ch.lower())
            starts.append(i)
            ends.append(i + 1)
            continue
        cat = unicodedata.category(ch)
        if cat in ("Mn", "Me"):  # a combining mark belongs to the character before it
            if ends:
                ends[-1] = i + 1
            continue
        if cat in ("Cf", "Cc", "Cs"):  # zero-width, bidi and control characters vanish
            continue
        for c in _fold(ch):
            chars.append(c)
            starts.append(i)
            ends.append(i + 1)
    return chars, starts, ends


def _kinds(chars: list[str]) -> list[int]:
    kinds = [_W if c.isalnum() else _L if c in _LEET_SYMBOLS else _S for c in chars]
    for j, kind in enumerate(kinds):
        if kind != _L:
            continue
        prev_w = j > 0 and kinds[j - 1] == _W
        next_w = j + 1 < len(kinds) and chars[j + 1].isalnum()
        word = next_w if chars[j] == "!" else (prev_w or next_w)  # a trailing "!" is punctuation
        kinds[j] = _W if word else _S
    return kinds


def _tokens(kinds: list[int]) -> list[tuple[int, int]]:
    tokens: list[tuple[int, int]] = []
    start = None
    for j, kind in enumerate([*kinds, _S]):
        if kind == _W and start is None:
            start = j
        elif kind != _W and start is not None:
            tokens.append((start, j))
            start = None
    return tokens


def _groups(text: str, tokens: list[tuple[int, int]], starts: list[int], ends: list[int]
            ) -> list[list[tuple[int, int]]]:
    """Tokens grouped into words: runs of 3+ one-letter tokens close together become one word."""
    def joinable(a: tuple[int, int], b: tuple[int, int]) -> bool:
        gap = text[ends[a[1] - 1]:starts[b[0]]]
        return a[1] - a[0] == 1 and b[1] - b[0] == 1 and len(gap) <= MAX_GAP and "\n" not in gap

    groups: list[list[tuple[int, int]]] = []
    run: list[tuple[int, int]] = []
    for token in tokens:
        if run and joinable(run[-1], token):
            run.append(token)
            continue
        groups.extend([run] if len(run) >= 3 else [[t] for t in run])
        run = [token]
    groups.extend([run] if len(run) >= 3 else [[t] for t in run])
    return groups


def _map_word(word: str) -> str:
    if any(c.isalpha() for c in word):
        word = "".join(LEET.get(c, c) for c in word)
    if any(c in CONFUSABLES for c in word):
        latin = any("a" <= c <= "z" for c in word)
        only_lookalikes = all(c in _STRONG_LOOKALIKES or not c.isalpha() for c in word)
        if latin or only_lookalikes:
            word = "".join(CONFUSABLES.get(c, c) for c in word)
    return word


def normalize(text: str) -> Normalized:
    """Normalise ``text`` for matching; see the module docstring."""
    chars, starts, ends = _fold_all(text)
    tokens = _tokens(_kinds(chars))
    out_chars: list[str] = []
    out_starts: list[int] = []
    out_ends: list[int] = []
    soft: list[int] = []
    real: list[int] = []
    for group in _groups(text, tokens, starts, ends):
        real.append(len(out_chars))
        begin = len(out_chars)
        for n, (a, b) in enumerate(group):
            if n:
                soft.append(len(out_chars))
            out_chars.extend(chars[a:b])
            out_starts.extend(starts[a:b])
            out_ends.extend(ends[a:b])
        out_chars[begin:] = _map_word("".join(out_chars[begin:]))  # one character for one
    boundary = bytearray(len(out_chars) + 1)
    for p in soft:
        boundary[p] = 1
    for p in real:
        boundary[p] = 2
    boundary[len(out_chars)] = 2
    return Normalized("".join(out_chars), tuple(out_starts), tuple(out_ends), bytes(boundary))
