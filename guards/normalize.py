"""Text normalisation for term matching, with a map back to the original text.

Obfuscation tricks undone here: Unicode compatibility forms (fullwidth, mathematical letters, circled
letters) by NFKC; case by casefold; accents, combining marks and zero-width/format characters
removed; Latin letters with a stroke (ł, ø, đ, ħ) read without it, small capitals (ᴋɪʟʟ) and negative
circled and squared letters (🅚, 🅺) as the letters they are; Greek capitals that look like Latin
ones (Μ, Η, Ν, Υ, ...) mapped to those Latin letters before casefolding, in every word, so Greek words
in capitals are matched in Latin letters (matching only: the text is never changed); lower-case
Cyrillic and Greek look-alikes mapped to Latin (only inside words that are Latin or made only of
look-alikes, so real Russian or Greek text is left alone); leetspeak (``0->o 1->i 3->e 4->a
5->s 7->t @->a $->s``, only inside words that contain a letter, so "1945" stays "1945"); and words
spelled out letter by letter ("b o m b", "b.o.m.b", "b-o-m-b": three or more one-letter pieces
with at most :data:`MAX_GAP` separator characters between them, no line break).

The result has no separators at all. Instead :attr:`Normalized.boundary` says, for each position,
whether a word boundary lies there: 2 for a real one (a separator in the text), 1 for a soft one
(between spelled-out letters), 0 inside a word. Matchers use it for whole-word matching, so
"Scunthorpe" and "grape" do not match "cunt" and "rape", and "an al" does not match "anal".
:meth:`Normalized.original_span` maps normalised characters back to the original characters.

Speed matters: every output guard normalises each response, so no Python loop runs per character.
One ``str.translate`` folds the text and turns every character that cannot belong to a word into a
space (ASCII text takes CPython's fast ASCII path; mostly-ASCII text translates only its non-ASCII
runs); ``str.split`` then gives the word pieces, and a table of words already seen gives their leet
and look-alike forms. An offset map is built only when a character folds to more or fewer than one
character (NFKC expansions, removed marks and zero-width characters), and spelled-out letters are
looked for only where three one-letter pieces follow each other. :func:`normalize` keeps the last
few results, so the guards judging one response (keyword, disclaimer) normalise it once.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import accumulate, compress, count
from operator import add

__all__ = ["CONFUSABLES", "LEET", "MAX_GAP", "Normalized", "normalize"]

MAX_GAP = 3  # separator characters allowed between spelled-out letters

LEET: dict[str, str] = {
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "6": "g", "7": "t", "8": "b", "9": "g",
    "@": "a", "$": "s", "!": "i", "|": "i", "+": "t", "€": "e",
}

# Lower-case Cyrillic and Greek letters that look like Latin ones (input is casefolded first).
CONFUSABLES: dict[str, str] = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "з": "3", "и": "u", "к": "k", "м": "m", "н": "h", "о": "o",
    "п": "n", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j",
    "ԁ": "d", "ԛ": "q", "ԝ": "w", "ь": "b", "ү": "y", "һ": "h", "ӏ": "i",  # palochka: Ӏ is an I, ӏ an l (terms'
    # variants read l as i, so "i" matches both)
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "σ": "o", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "μ": "u", "ϲ": "c", "ј̇": "j",
}

# Letters that show nothing (the Hangul fillers, and the blank Braille pattern): slipped inside a word like
# zero-width characters ("ki\u3164ll"), they must vanish the same way, not split it.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")

# Upper-case Greek letters that look like Latin capitals. Casefolding would turn them into lower-case
# Greek letters that look like other Latin letters (Μ -> μ, read "u"; Η -> η, read "n"), so they are
# mapped first, in every word: a Greek word in capitals is matched in Latin letters (the text itself is
# not changed). Cyrillic capitals need no entry: their lower case looks like the same Latin letter.
_CAPITALS = str.maketrans({
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n", "Ο": "o",
    "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x", "Ϲ": "c", "Ϳ": "j",
})
# Latin letters with a stroke, which Unicode does not decompose into letter and mark; and the letters
# of "fancy text" that NFKC leaves alone: small capitals (ᴋɪʟʟ) and negative circled and squared
# letters (🅚🅘🅛🅛, 🅺🅸🅻🅻).
_STROKED = str.maketrans({
    "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŧ": "t", "ƀ": "b", "ɨ": "i",
    **dict(zip("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ", "abcdefghijklmnoprstuvwyz", strict=True)),
    **{chr(0x1F150 + i): chr(ord("a") + i) for i in range(26)},
    **{chr(0x1F170 + i): chr(ord("a") + i) for i in range(26)},
})

# Those so alike that a word made only of them is taken for a disguised Latin word.
_STRONG_LOOKALIKES = frozenset("аеорсухѕіјһԁԛԝӏοριχ")

_LEET_TABLE = str.maketrans(LEET)
_CONFUSABLE_TABLE = str.maketrans({k: v for k, v in CONFUSABLES.items() if len(k) == 1})
_CONFUSABLE_CHARS = frozenset(k for k in CONFUSABLES if len(k) == 1)

_LATIN = re.compile(r"[a-z]")

_LEET_SYMBOLS = frozenset(c for c in LEET if not c.isalnum())
# Leet symbols that are punctuation: a "!" with no letter, digit or other symbol after it, then a whole
# run of symbols with no letter, digit or symbol on either side. The rest belong to words ("$h!t",
# "@$$hole", "sh!+", "k!||", "p!$$"). They run over text whose separators are spaces: there ``\w`` is
# ``isalnum``.
_LONE_BANG = re.compile(r"!(?![\w@$|+€])")
# (The look-behind follows the first symbol so that the engine can skip to symbols; separators are
# spaces, never line breaks, so "." is any character. The look-ahead takes in the symbols too: the run
# must not end early, before a symbol that a letter follows.)
_LONE_SYMBOLS = re.compile(r"[@$|+€](?<![\w!@$|+€].)[!@$|+€]*(?![\w!@$|+€])")
# Three or more one-letter pieces a few spaces apart, in " " + the spaced text (the leading space lets
# the pattern start with a literal, which the regex engine finds fast). When folding changed lengths
# ("…" became "..."), the original gap may be shorter than the spaced one: any number of spaces then.
_SPELLED = re.compile(rf" \S(?: {{1,{MAX_GAP}}}\S){{2,}}(?!\S)")
_SPELLED_LOOSE = re.compile(r" \S(?: +\S){2,}(?!\S)")

_WORDS_LIMIT = 65536  # words remembered with their mapped form before starting afresh
_TABLE_LIMIT = 65536  # distinct non-ASCII characters remembered before the fold table starts afresh


def _word_char(c: str) -> str:
    return c if c.isalnum() or c in _LEET_SYMBOLS else " "


# ASCII text folds by one ``str.translate`` (which CPython runs fast for ASCII): lower case, and every
# character that cannot be part of a word becomes a space.
_ASCII_TABLE = {c: _word_char(chr(c).lower()) for c in range(128)}
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_SPARSE = 8  # at most one character in this many outside ASCII: fold those runs alone


class _FoldTable:
    """``str.translate`` table of every character seen so far (folded, separators as spaces), and
    those not folding one to one."""

    def __init__(self) -> None:
        self.table: dict[int, str] = dict(_ASCII_TABLE)
        self.uneven: set[str] = set()  # fold to zero or several characters
        self.marks: set[str] = set()  # combining marks: removed, but part of the character before

    def learn(self, chars: Iterable[str]) -> None:
        for ch in chars:
            if ord(ch) not in self.table:
                self._learn(ch)

    def _learn(self, ch: str) -> None:
        cat = unicodedata.category(ch)
        if cat in ("Mn", "Me"):
            folded = ""
            self.marks.add(ch)
        elif cat in ("Cf", "Cc", "Cs") or ch in _BLANK_LETTERS:  # zero-width, bidi and control characters vanish
            folded = ""
        else:
            folded = "".join(map(_word_char, _fold_char(ch)))
        if len(folded) != 1:
            self.uneven.add(ch)
        self.table[ord(ch)] = folded


_fold_table = _FoldTable()


def _fold_char(ch: str) -> str:
    folded = unicodedata.normalize("NFKC", ch).translate(_CAPITALS).casefold().translate(_STROKED)
    return "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))


def _table() -> _FoldTable:
    global _fold_table
    fold = _fold_table
    if len(fold.table) > _TABLE_LIMIT:  # a new table, so a thread still using the old one is unharmed
        fold = _fold_table = _FoldTable()
    return fold


def _fold(text: str) -> tuple[str, Offsets | None]:
    """Folded text with separators as spaces and, unless folding was one character for one, each
    folded character's original slice."""
    if text.isascii():
        return text.translate(_ASCII_TABLE), None
    fold = _table()
    if (len(text) - len(text.encode("ascii", "ignore"))) * _SPARSE < len(text):
        return _fold_sparse(text, fold)
    chars = set(text)
    fold.learn(chars)
    uneven = chars & fold.uneven
    return text.translate(fold.table), (_offsets(text, fold, uneven) if uneven else None)


def _fold_sparse(text: str, fold: _FoldTable) -> tuple[str, Offsets | None]:
    """Mostly ASCII (curly quotes, dashes, an accent here and there): only the other runs are looked
    up character by character."""
    parts: list[str] = []
    uneven: set[str] = set()
    pos = 0
    for m in _NON_ASCII.finditer(text):
        run = m.group()
        fold.learn(run)
        uneven.update(fold.uneven.intersection(run))
        parts += [text[pos:m.start()].translate(_ASCII_TABLE), run.translate(fold.table)]
        pos = m.end()
    parts.append(text[pos:].translate(_ASCII_TABLE))
    return "".join(parts), (_offsets(text, fold, uneven) if uneven else None)


def _offsets(text: str, fold: _FoldTable, uneven: set[str]) -> tuple[list[int], list[int]]:
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for m in re.finditer("[" + "".join(sorted(map(re.escape, uneven))) + "]", text):
        i = m.start()
        starts.extend(range(pos, i))
        ends.extend(range(pos + 1, i + 1))
        ch = text[i]
        if ch in fold.marks:  # a combining mark belongs to the character before it
            if ends:
                ends[-1] = i + 1
        else:
            n = len(fold.table[ord(ch)])
            starts.extend([i] * n)
            ends.extend([i + 1] * n)
        pos = i + 1
    starts.extend(range(pos, len(text)))
    ends.extend(range(pos + 1, len(text) + 1))
    return starts, ends


Offsets = tuple[list[int], list[int]]  # per folded character: its original start and end


class _Marks(dict[int, bytes]):
    """Boundary bytes of a word of each length: 2, then 0 for each further character."""

    def __missing__(self, length: int) -> bytes:
        self[length] = marks = b"\x02" + bytes(length - 1)
        return marks


_MARKS = _Marks()


@dataclass(frozen=True)
class Normalized:
    """Normalised text, its word boundaries, and where each normalised character came from."""

    text: str
    boundary: bytes  # len(text) + 1 entries: 0 none, 1 soft, 2 real
    # The folded text with separators as spaces (each word piece where it was), and the folded
    # text's offset map (None when folding was one character for one). Positions are worked out
    # from them only when a match needs its original span.
    spaced: str = field(repr=False, compare=False)
    offsets: Offsets | None = field(default=None, repr=False, compare=False)

    @cached_property
    def _pieces(self) -> tuple[list[int], list[int]]:
        """Start of each word piece in :attr:`text` and in the folded text."""
        lengths = list(map(len, self.spaced.split(" ")))
        folded = list(compress(map(add, accumulate(lengths, initial=0), count()), lengths))
        return list(accumulate(filter(None, lengths), initial=0)), folded

    def _folded_pos(self, i: int) -> int:
        out, folded = self._pieces
        k = bisect_right(out, i) - 1
        return folded[k] + i - out[k]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original ``(start, end)`` of normalised ``text[start:end]`` (``end > start``)."""
        first, last = self._folded_pos(start), self._folded_pos(end - 1)
        if self.offsets is None:
            return first, last + 1
        return self.offsets[0][first], self.offsets[1][last]

    @cached_property
    def words(self) -> str:
        """The normalised words with one space between them ("Jews are v e r m i n" -> "jews are
        vermin"): the de-obfuscated reading that a model, not a term matcher, should see."""
        cuts = [i for i in range(1, len(self.text)) if self.boundary[i] == 2]
        return " ".join(self.text[a:b] for a, b in zip([0, *cuts], [*cuts, len(self.text)], strict=True))

    @cached_property
    def starts(self) -> tuple[int, ...]:
        """Original start of each normalised character."""
        return tuple(self.original_span(i, i + 1)[0] for i in range(len(self.text)))

    @cached_property
    def ends(self) -> tuple[int, ...]:
        """Original end of each normalised character."""
        return tuple(self.original_span(i, i + 1)[1] for i in range(len(self.text)))


def _map_word(word: str) -> str:
    """Leet and look-alikes undone in one word (one character for one)."""
    if word.isascii():  # folded: a word with a letter differs from its upper case
        return word.translate(_LEET_TABLE) if word != word.upper() else word
    if any(map(str.isalpha, word)) and not word.isdigit():
        word = word.translate(_LEET_TABLE)
    if not _CONFUSABLE_CHARS.isdisjoint(word):
        latin = _LATIN.search(word) is not None
        if latin or all(c in _STRONG_LOOKALIKES or not c.isalpha() for c in word):
            word = word.translate(_CONFUSABLE_TABLE)
    return word


def _spaced(text: str) -> tuple[str, Offsets | None]:
    """``text`` folded, every character that is not part of a word a space; and the offset map."""
    spaced, offsets = _fold(text)
    if any(c in spaced for c in _LEET_SYMBOLS):
        spaced = _LONE_SYMBOLS.sub(_blank, _LONE_BANG.sub(" ", spaced))
    return spaced, offsets


def _blank(m: re.Match[str]) -> str:
    return " " * (m.end() - m.start())


def _close(gap: str) -> bool:
    return len(gap) <= MAX_GAP and "\n" not in gap


def _runs(letters: list[int], gap: Callable[[int, int], str]) -> list[list[int]]:
    """Consecutive one-letter pieces (folded positions) split where the original gap is too wide."""
    runs: list[list[int]] = []
    run = letters[:1]
    for prev, cur in itertools.pairwise(letters):
        if _close(gap(prev, cur)):
            run.append(cur)
            continue
        runs.append(run)
        run = [cur]
    runs.append(run)
    return [r for r in runs if len(r) >= 3]


def _spelled(text: str, spaced: str, offsets: Offsets | None) -> list[tuple[int, int]]:
    """Spelled-out words, as (start, end) in the normalised text: one-letter pieces close together,
    at most :data:`MAX_GAP` characters and no line break apart in the original text."""
    if offsets is None:
        pattern, gap = _SPELLED, lambda a, b: text[a + 1:b]
    else:
        starts, ends = offsets
        pattern, gap = _SPELLED_LOOSE, lambda a, b: text[ends[a]:starts[b]]
    found: list[tuple[int, int]] = []
    for m in pattern.finditer(" " + spaced):
        letters = [m.start() - 1 + k for k, c in enumerate(m.group()) if c != " "]
        for run in _runs(letters, gap):
            start = run[0] - spaced.count(" ", 0, run[0])
            found.append((start, start + len(run)))
    return found


def _normalize(text: str) -> Normalized:
    spaced, offsets = _spaced(text)
    pieces = spaced.split()
    marks = b"".join(map(_MARKS.__getitem__, map(len, pieces)))
    raw = "".join(pieces)
    plain = raw.isascii() and raw.isalpha()
    norm = Normalized(raw if plain else _mapped(pieces), marks + b"\x02", spaced, offsets)
    if b"\x02\x02\x02" not in marks:  # no three one-letter pieces in a row
        return norm
    runs = _spelled(text, spaced, offsets)
    return _joined(norm, raw, runs) if runs else norm


class _WordMap(dict[str, str]):
    """Each word seen and its mapped form (a few tens of thousands, then it starts afresh)."""

    def __missing__(self, word: str) -> str:
        if len(self) > _WORDS_LIMIT:
            self.clear()
        self[word] = mapped = _map_word(word)
        return mapped


_word_map = _WordMap()


def _mapped(words: list[str]) -> str:
    return "".join(map(_word_map.__getitem__, words))


def _joined(norm: Normalized, raw: str, runs: list[tuple[int, int]]) -> Normalized:
    """Spelled-out words joined: mapped as one word, with soft boundaries between their letters."""
    parts: list[str] = []
    boundary = bytearray(norm.boundary)
    pos = 0
    for start, end in runs:
        parts += [norm.text[pos:start], _map_word(raw[start:end])]
        boundary[start + 1:end] = b"\x01" * (end - start - 1)
        pos = end
    parts.append(norm.text[pos:])
    return Normalized("".join(parts), bytes(boundary), norm.spaced, norm.offsets)


@lru_cache(maxsize=8)
def normalize(text: str) -> Normalized:
    """Normalise ``text`` for matching; see the module docstring.

    The last few results are kept (a few texts, no more), so the guards that judge one response
    share one normalisation.
    """
    return _normalize(text)
