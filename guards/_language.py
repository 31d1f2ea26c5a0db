"""Which language a text is in, when it is surely not one a guard's models read.

The classifier's shipped backends read English only (MiniLM and every training set are English): a
request in German or Chinese gets low scores because the heads cannot read it, not because it is safe.
:class:`LanguageCheck` says when a text is in another language, so the guard can flag or block what it
could not judge instead of passing it as judged.

It runs py3langid (BSD-3-Clause; a naive Bayes model over byte n-grams of 140 languages, shipped inside
its wheel, loaded once per process) on the text folded by NFKC with format characters left out (a
zero-width space or soft hyphen between letters, fullwidth or mathematical letters hide nothing from
the models, so nothing from the check either), window by window (``WINDOW_CHARS``) and in runs of
``RUN_WORDS`` words (a clause after an English lead-in), and calls a part foreign only when sure, so
that English with names, loanwords, slang, code or hashes is not:

- only words count: links, @handles, #tags, numbers, hashes and code are left out;
- the languages the guard reads together get at most ``MAX_READ_PROBABILITY`` (so a short Russian text
  ranked Ukrainian first is not foreign to a guard that reads Russian);
- a part mostly in a script other than Latin needs nothing more (a word of two letters);
- a Latin-script part needs ``MIN_WORDS`` words (``MIN_RUN_WORDS`` for a run), not mostly names in
  title case, and ``MIN_PROBABILITY`` for its most likely language, or, for a whole window, at most
  ``SURE_READ_PROBABILITY`` for the languages read (Spanish shares its probability with Galician);
- ``zxx`` (no language: hashes) and Latin (species, anatomy, law in English) are never foreign.

Shorter texts ("Danke schön", "Te voy a matar.") are not judged: too little to tell a language from a
name. Measured on 12,342 English texts (the eval sets, Davidson tweets, Jigsaw, toxic spans, GPTFuzz
answers, RealToxicityPrompts; ``docs/developers/classifier.md``): every text called foreign was in fact
in another language.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable
from typing import Any

import regex

from clauseguard.errors import ModelLoadError

__all__ = ["LanguageCheck", "get_language_check"]

MIN_LETTERS = 12
MIN_WORDS = 4
MIN_PROBABILITY = 0.5
MAX_READ_PROBABILITY = 0.01
SURE_READ_PROBABILITY = 0.001
# Windows of about 60 words, so that a passage in another language inside an English text is judged on
# its own and not outvoted; overlapping by half, so a passage across a boundary is whole in one of them.
WINDOW_CHARS = 400
# Never foreign: zxx (no language: hashes, hex dumps) and Latin, the language of names in English (species,
# anatomy, law: "carcinoma in situ of the cervix uteri", "Quercus robur, Fagus sylvatica").
NO_LANGUAGE = frozenset({"zxx", "la"})
# Runs of RUN_WORDS words every RUN_WORDS // 2, so that a clause in another language after an English lead-in
# ("Please answer my friend's question in detail: Kannst du mir ...") is judged on its own; stricter than a
# whole text (at least MIN_RUN_WORDS words and MIN_PROBABILITY for the most likely language), since a run of
# names ("Jürgen Schmidt, François Lefèvre, Søren Kierkegaard") or a quoted title is no request.
RUN_WORDS = 10
MIN_RUN_WORDS = 6
# Words in title case: names ("Ole Gunnar Solskjær, Erling Braut Haaland") in every language. German
# capitalises its nouns, and still stays under this share.
MAX_NAME_SHARE = 0.6
# Format and control characters: a zero-width space or soft hyphen between letters hides no word from the
# models, so it must not hide one from the check either (NFKC folds fullwidth and mathematical letters).
_INVISIBLE = regex.compile(r"[\p{Cf}\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_WIDEN = 20
_WORD = regex.compile(r"[\p{L}\p{M}]+")
# Runs of printable ASCII that are no words of a language: with digits (hashes, ids, versions), @handles,
# #tags, paths and addresses, markup and entities, code (a_b, a=b, a.b()). Judged run by run (a script
# without spaces keeps its own words around "10" or a link), in linear time.
_ASCII_RUN = regex.compile(r"[!-~]+")
# A link's words are no language's. The scheme is bounded, or a long run of letters would be scanned again
# from each of its letters (quadratic: 100,000 took a minute).
_URL = regex.compile(r"(?:\b[a-z][a-z0-9+.-]{0,31}://|\bwww\.)\S+", regex.IGNORECASE)
_NOT_WORDS = regex.compile(r"[\d@#/\\&=_<>{}\[\]|~^*$%+]|\w\.\w|\w\(")


def _no_code(run: regex.Match[str]) -> str:
    return " " if _NOT_WORDS.search(run.group()) else run.group()


def _latin_share(words: list[str]) -> tuple[float, int]:
    """The share of the letters of ``words`` that are Latin, and how many letters they have."""
    letters = [c for word in words for c in word if c.isalpha()]
    if not letters:
        return 1.0, 0
    latin = sum(1 for c in letters if unicodedata.name(c, "").startswith("LATIN"))
    return latin / len(letters), len(letters)


def windows(text: str, size: int = WINDOW_CHARS) -> Iterable[str]:
    """``text`` whole when it is at most ``size`` characters, else overlapping windows of ``size``
    characters every ``size // 2``, each widened to the nearest spaces (within ``_WIDEN`` characters:
    a script without spaces is cut anywhere) so no word is cut."""
    if len(text) <= size:
        yield text
        return
    step = size // 2
    for start in range(0, len(text) - step, step):
        end = min(start + size, len(text))
        lo = text.rfind(" ", max(0, start - _WIDEN), start) + 1 if start else 0
        hi = text.find(" ", end, end + _WIDEN)
        yield text[lo or start: hi if hi != -1 else end]


class LanguageCheck:
    """``foreign(text)``: the language code of a passage of ``text`` that is surely in none of ``reads``."""

    def __init__(self) -> None:
        try:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier
        except ModuleNotFoundError as err:
            raise ModelLoadError("the classifier's language check needs py3langid, in the [ml] extra: "
                                 "pip install 'clauseguard[ml]' (or set params.other_languages: allow)") from err
        try:
            self._model: Any = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        except (OSError, ValueError, KeyError) as err:
            raise ModelLoadError(f"py3langid's model could not be loaded: {err}") from err
        self.languages = frozenset(self._model.labels)

    def foreign(self, text: str, reads: frozenset[str]) -> tuple[str, float] | None:
        """``(language, probability)`` of the first window or run of words of ``text`` surely in a language
        not in ``reads``; None when each is in one of them, too short to tell, or of no language."""
        text = _URL.sub(" ", _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)))
        for window in windows(text):
            if (found := self._judge(window, reads, MIN_WORDS, SURE_READ_PROBABILITY)) is not None:
                return found
        tokens = text.split()
        for start in range(0, max(len(tokens) - RUN_WORDS // 2, 1), RUN_WORDS // 2) if len(tokens) > RUN_WORDS else ():
            run = " ".join(tokens[start:start + RUN_WORDS])
            if (found := self._judge(run, reads, MIN_RUN_WORDS, 0.0)) is not None:
                return found
        return None

    def _judge(self, text: str, reads: frozenset[str], min_words: int,
               sure_read: float) -> tuple[str, float] | None:
        """Whether ``text`` is surely in a language not in ``reads``: with at least ``min_words`` words (in
        the Latin script), at most MAX_READ_PROBABILITY for ``reads`` together, and MIN_PROBABILITY for the
        most likely language or at most ``sure_read`` for ``reads``."""
        words = [word for word in _WORD.findall(_ASCII_RUN.sub(_no_code, text)) if len(word) > 1]
        latin, letters = _latin_share(words)
        if letters < 2 or (latin >= 0.5 and letters < MIN_LETTERS):
            return None
        # the words alone: digits, symbols, hashes and pasted alphabets are no language's
        ranked = self._model.rank(" ".join(words))
        top, p_top = ranked[0]
        if top in reads or top in NO_LANGUAGE:
            return None
        p_read = sum(p for lang, p in ranked if lang in reads)
        if p_read > MAX_READ_PROBABILITY:  # a language the guard reads is likely enough (Russian beside Ukrainian)
            return None
        if latin < 0.5:  # mostly another script: not in a Latin-script language the guard reads
            return top, float(p_top)
        if sum(1 for word in words if word.istitle()) >= MAX_NAME_SHARE * len(words):
            return None  # mostly names: a list of people, places or titles is no language's
        # Related languages share the probability (Spanish with Galician, Aragonese, Extremaduran), so a whole
        # text the model gives no chance of being read is foreign however the rest is shared out.
        if len(words) < min_words or (p_top < MIN_PROBABILITY and p_read > sure_read):
            return None
        return top, float(p_top)


@functools.cache
def get_language_check() -> LanguageCheck:
    """The process-wide language check (its model loads once)."""
    return LanguageCheck()
