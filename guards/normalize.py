"""Text normalisation for term matching, with a map back to the original text.

Obfuscation tricks undone here: Unicode compatibility forms (fullwidth, mathematical letters, circled
letters) by NFKC; case by casefold; accents, combining marks and zero-width/format characters
removed, except the marks that spell in the Indic and South-East Asian scripts (vowel signs, viramas),
which are letters there ("कमीना" is not "कमाना"), but not after a Latin, Greek or Cyrillic letter,
where such a mark could only hide a term; Latin letters with a stroke (ł, ø, đ, ħ) read without it,
small capitals (ᴋɪʟʟ) and negative circled and squared letters (🅚, 🅺) as the letters they are;
Greek capitals that look like Latin ones (Μ, Η, Ν, Υ, ...) mapped to those Latin letters before
casefolding, in every word, so Greek words in capitals are matched in Latin letters (matching only:
the text is never changed); lower-case Cyrillic and Greek look-alikes mapped to Latin (only inside
words that are Latin or made only of look-alikes, so real Russian or Greek text is left alone);
leetspeak (``0->o 1->i 3->e 4->a 5->s 7->t @->a $->s``, only inside words that contain a letter, so
"1945" stays "1945"); and words spelled out letter by letter ("b o m b", "b.o.m.b", "b-o-m-b": three
or more one-letter pieces with at most :data:`MAX_GAP` separator characters between them, no line
break).

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
character (NFKC expansions, removed marks and zero-width characters), one entry per run of such
characters (:class:`Offsets`), and spelled-out letters are looked for only where three one-letter
pieces follow each other. :func:`normalize` keeps the last few results of texts up to
:data:`CACHE_CHARS` characters, so the guards judging one response (keyword, disclaimer) normalise it
once; with ``max_chars`` it refuses a text that folds to more characters than that before building the
offset map (:class:`TextTooLong`).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import accumulate, compress, count
from operator import add

__all__ = ["CACHE_CHARS", "CONFUSABLES", "LEET", "MAX_GAP", "Normalized", "Offsets", "TextTooLong", "normalize"]

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

CACHE_CHARS = 20_000  # longest text whose normalisation is kept for the next guard
_WORDS_LIMIT = 65536  # words remembered with their mapped form before starting afresh
_TABLE_LIMIT = 65536  # distinct non-ASCII characters remembered before the fold table starts afresh


# Blocks of the scripts whose combining marks spell (the vowel signs, viramas and nuktas of the Indic and
# South-East Asian scripts): their marks are letters, not accents. Dropped like accents, "कमीना" (a
# slur) read "कमन", the reading of "कमाना" (to earn); a spacing vowel sign split its word in two.
_SPELLING_BLOCKS = ((0x0900, 0x0DFF), (0x0E00, 0x0FFF), (0x1000, 0x109F), (0x1700, 0x18AF), (0x1900, 0x1AAF),
                    (0x1B00, 0x1C4F), (0xA800, 0xA9FF), (0xAA00, 0xAAFF), (0xABC0, 0xABFF), (0x11000, 0x11FFF))


def _spelling_mark(c: str) -> bool:
    """A spacing mark (any script), or a non-spacing one of a script whose marks spell."""
    cat = unicodedata.category(c)
    return cat == "Mc" or (cat == "Mn" and any(lo <= ord(c) <= hi for lo, hi in _SPELLING_BLOCKS))


def _word_char(c: str) -> str:
    return c if c.isalnum() or c in _LEET_SYMBOLS or _spelling_mark(c) else " "


# Letters of the scripts whose accents are folded away, and the accents (combining diacritical marks and
# their supplements) that may sit between such a letter and a spelling mark.
_FOLDED_SCRIPTS = "A-Za-z\u00c0-\u024f\u1e00-\u1eff\u0370-\u03ff\u1f00-\u1fff\u0400-\u052f"
_ACCENTS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"


def _ranges(codes: list[int]) -> str:
    """A character class body of ``codes`` as ranges (a class of a thousand single characters searched a
    100,000-character text in 50 ms; of ranges, in well under one)."""
    runs: list[list[int]] = []
    for c in codes:
        if runs and runs[-1][1] == c - 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in runs)


_SPELLING_MARKS = _ranges([c for lo, hi in _SPELLING_BLOCKS for c in range(lo, hi + 1) if _spelling_mark(chr(c))])
# A letter of those scripts at all: a quick test that almost every text fails (a class of blocks is
# searched ten times faster than one of the marks' own ranges).
_SPELLING_SCRIPT = re.compile("[" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in _SPELLING_BLOCKS) + "]")
# A spelling mark after a Latin, Greek or Cyrillic letter is no spelling but a disguise ("ki\u0940ll"):
# it is read as an accent, and dropped.
_MARK_AFTER_LATIN = re.compile(f"(?<=[{_FOLDED_SCRIPTS}])([{_ACCENTS}]*)([{_SPELLING_MARKS}]+)")


def _as_accents(text: str) -> str:
    """``text`` with each spelling mark that follows a Latin, Greek or Cyrillic letter (and its accents)
    replaced by an accent, which folding drops; one character for one, so offsets are unchanged."""
    if _SPELLING_SCRIPT.search(text) is None:
        return text
    return _MARK_AFTER_LATIN.sub(lambda m: m.group(1) + "\u0301" * len(m.group(2)), text)


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
        if cat in ("Mn", "Me") and not _spelling_mark(ch):
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
    return "".join(c for c in unicodedata.normalize("NFKD", folded)
                   if not unicodedata.combining(c) or _spelling_mark(c))


def _table() -> _FoldTable:
    global _fold_table
    fold = _fold_table
    if len(fold.table) > _TABLE_LIMIT:  # a new table, so a thread still using the old one is unharmed
        fold = _fold_table = _FoldTable()
    return fold


def _fold(text: str, max_chars: int | None = None) -> tuple[str, Offsets | None]:
    """Folded text with separators as spaces and, unless folding was one character for one, the map
    back to the original characters. A folded text longer than ``max_chars`` is :class:`TextTooLong`,
    found before the map is built."""
    if text.isascii():
        return text.translate(_ASCII_TABLE), None
    text = _as_accents(text)
    fold = _table()
    if (len(text) - len(text.encode("ascii", "ignore"))) * _SPARSE < len(text):
        return _fold_sparse(text, fold, max_chars)
    chars = set(text)
    fold.learn(chars)
    uneven = chars & fold.uneven
    folded = text.translate(fold.table)
    _check_length(folded, max_chars)
    return folded, (_offsets(text, fold, uneven) if uneven else None)


def _check_length(folded: str, max_chars: int | None) -> None:
    if max_chars is not None and len(folded) > max_chars:
        raise TextTooLong(len(folded), max_chars)


def _fold_sparse(text: str, fold: _FoldTable, max_chars: int | None = None) -> tuple[str, Offsets | None]:
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
    folded = "".join(parts)
    _check_length(folded, max_chars)
    return folded, (_offsets(text, fold, uneven) if uneven else None)


def _offsets(text: str, fold: _FoldTable, uneven: set[str]) -> Offsets:
    """The offset map of ``text``, one run of characters at a time (see :class:`Offsets`)."""
    seg, orig, width = array("I"), array("I"), array("I")
    ext, ext_end = array("I"), array("I")
    out = pos = 0  # folded and original position reached
    for m in re.finditer("([" + "".join(sorted(map(re.escape, uneven))) + "])\\1*", text):
        i, j = m.span()
        if i > pos:  # characters folding one for one
            _add_run(seg, orig, width, out, pos, 1)
            out += i - pos
        ch = text[i]
        if ch in fold.marks:  # combining marks belong to the character before them
            if out and ext and ext[-1] == out - 1:
                ext_end[-1] = j
            elif out:
                ext.append(out - 1)
                ext_end.append(j)
        elif n := len(fold.table[ord(ch)]):  # each of the run's characters folds to n characters
            _add_run(seg, orig, width, out, i, n)
            out += n * (j - i)
        pos = j
    if pos < len(text):
        _add_run(seg, orig, width, out, pos, 1)
    return Offsets(seg, orig, width, ext, ext_end)


def _add_run(seg: array[int], orig: array[int], width: array[int], out: int, pos: int, n: int) -> None:
    seg.append(out)
    orig.append(pos)
    width.append(n)


@dataclass(frozen=True)
class Offsets:
    """Where each folded character came from, when folding was not one character for one: kept as runs,
    not as two numbers per character (a megabyte of U+FDFA, eighteen letters each, made lists of 18
    million numbers). Run ``k`` starts at folded position ``seg[k]`` and original position ``orig[k]``;
    each of its original characters folded to ``width[k]`` characters. The folded characters at ``ext``
    reach in the original text to ``ext_end`` (the combining marks after them), not just past their own
    character."""

    seg: array[int]
    orig: array[int]
    width: array[int]
    ext: array[int]
    ext_end: array[int]

    def start(self, i: int) -> int:
        """Original start of folded character ``i``."""
        k = bisect_right(self.seg, i) - 1
        return self.orig[k] + (i - self.seg[k]) // self.width[k]

    def end(self, i: int) -> int:
        """Original end of folded character ``i``."""
        e = bisect_left(self.ext, i)
        return self.ext_end[e] if e < len(self.ext) and self.ext[e] == i else self.start(i) + 1


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
        return self.offsets.start(first), self.offsets.end(last)

    @cached_property
    def words(self) -> str:
        """The normalised words with one space between them ("Jews are v e r m i n" -> "jews are
        vermin"): the de-obfuscated reading that a model, not a term matcher, should see."""
        cuts = [m.start() + 1 for m in re.finditer(b"\x02", self.boundary[1:len(self.text)])]
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


def _spaced(text: str, max_chars: int | None = None) -> tuple[str, Offsets | None]:
    """``text`` folded, every character that is not part of a word a space; and the offset map."""
    spaced, offsets = _fold(text, max_chars)
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
        pattern, gap = _SPELLED_LOOSE, lambda a, b: text[offsets.end(a):offsets.start(b)]
    found: list[tuple[int, int]] = []
    for m in pattern.finditer(" " + spaced):
        letters = [m.start() - 1 + k for k, c in enumerate(m.group()) if c != " "]
        for run in _runs(letters, gap):
            start = run[0] - spaced.count(" ", 0, run[0])
            found.append((start, start + len(run)))
    return found


def _normalize(text: str, max_chars: int | None = None) -> Normalized:
    spaced, offsets = _spaced(text, max_chars)
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


class TextTooLong(ValueError):
    """A text longer, folded, than the caller's ``max_chars``: not normalised."""

    def __init__(self, length: int, max_chars: int) -> None:
        super().__init__(f"a text of {length:,} characters (counted after Unicode folding) is longer than "
                         f"{max_chars:,}")
        self.length = length
        self.max_chars = max_chars


def normalize(text: str, *, max_chars: int | None = None) -> Normalized:
    """Normalise ``text`` for matching; see the module docstring.

    The last few results for texts of up to :data:`CACHE_CHARS` characters are kept, so the guards
    that judge one response share one normalisation; a longer text is normalised afresh each time
    (kept, a megabyte of a ligature that folds to eighteen letters held a gigabyte per result).
    With ``max_chars``, a text longer than that is refused with :class:`TextTooLong` rather than
    normalised, counting its characters as folded: U+FDFA is eighteen.
    """
    if max_chars is not None and len(text) > max_chars:
        raise TextTooLong(len(text), max_chars)
    norm = _cached(text) if len(text) <= CACHE_CHARS else _normalize(text, max_chars)
    if max_chars is not None and len(norm.spaced) > max_chars:
        raise TextTooLong(len(norm.spaced), max_chars)
    return norm


@lru_cache(maxsize=8)
def _cached(text: str) -> Normalized:
    return _normalize(text)


normalize.cache_clear = _cached.cache_clear  # type: ignore[attr-defined]
normalize.cache_info = _cached.cache_info  # type: ignore[attr-defined]
