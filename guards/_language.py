"""Which language a text is in, when it is surely not one a guard's models read.

The classifier's shipped backends read English only (MiniLM and every training set are English): a
request in German or Chinese gets low scores because the heads cannot read it, not because it is safe.
:class:`LanguageCheck` says when a text is in another language, so the guard can flag or block what it
could not judge instead of passing it as judged.

It runs py3langid (BSD-3-Clause; a naive Bayes model over byte n-grams of 140 languages, shipped inside
its wheel, loaded once per process) on each window of the text, and calls a window foreign only when it
is sure, so that English with names, loanwords, slang, code or hashes is not:

- a window mostly in a script other than Latin (Cyrillic, Arabic, Chinese, ...) with at least
  ``MIN_LETTERS`` letters is foreign unless its most likely language is one the guard reads;
- a Latin-script window needs ``MIN_WORDS`` words, a most likely language the guard does not read with
  probability at least ``MIN_PROBABILITY``, and at most ``MAX_READ_PROBABILITY`` for the languages it
  reads together; ``zxx`` (no language: hashes, hex dumps) is never foreign.

Shorter windows ("Danke schön", "Merci") are not judged: too little to tell a language from a name.
Measured on 12,342 English texts (the eval sets, Davidson tweets, Jigsaw, toxic spans, GPTFuzz answers,
RealToxicityPrompts; ``docs/developers/classifier.md``): every text called foreign was in fact in
another language.
"""

from __future__ import annotations

import functools
import itertools
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
NO_LANGUAGE = "zxx"
_WIDEN = 20
_WORD = regex.compile(r"[\p{L}\p{M}]+")
# Runs of printable ASCII that are no words of a language: with digits (hashes, ids, versions), @handles,
# #tags, paths and addresses, markup and entities, code (a_b, a=b, a.b()). Judged run by run (a script
# without spaces keeps its own words around "10" or a link), in linear time.
_ASCII_RUN = regex.compile(r"[!-~]+")
# A link's words are no language's. The scheme is bounded, or a long run of letters would be scanned again
# from each of its letters (quadratic: 100,000 took a minute).
_URL = regex.compile(r"(?:\b[a-z][a-z0-9+.-]{0,31}://|\bwww\.)\S+", regex.IGNORECASE)
# A sentence, so that one in another language inside English is judged on its own too.
_SENTENCE = regex.compile(r"[^.!?。！？\n]+[.!?。！？]*")
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
        """``(language, probability)`` of the first window or sentence of ``text`` surely in a language not
        in ``reads``; None when each is in one of them, too short to tell, or of no language."""
        text = _URL.sub(" ", text)
        sentences = _SENTENCE.findall(text)
        for part in itertools.chain(windows(text), sentences if len(sentences) > 1 else ()):
            found = self._window(part, reads)
            if found is not None:
                return found
        return None

    def _window(self, text: str, reads: frozenset[str]) -> tuple[str, float] | None:
        words = [word for word in _WORD.findall(_ASCII_RUN.sub(_no_code, text)) if len(word) > 1]
        latin, letters = _latin_share(words)
        if letters < 2 or (latin >= 0.5 and letters < MIN_LETTERS):
            return None
        # the words alone: digits, symbols, hashes and pasted alphabets are no language's
        ranked = self._model.rank(" ".join(words))
        top, p_top = ranked[0]
        if top in reads or top == NO_LANGUAGE:
            return None
        if latin < 0.5:  # mostly another script: not English whatever the model's confidence
            return top, float(p_top)
        if len(words) < MIN_WORDS:
            return None
        # Related languages share the probability (Spanish with Galician, Aragonese, Extremaduran), so a
        # window the model gives no chance of being read is foreign however the rest is shared out.
        p_read = sum(p for lang, p in ranked if lang in reads)
        if p_read > MAX_READ_PROBABILITY or (p_top < MIN_PROBABILITY and p_read > SURE_READ_PROBABILITY):
            return None
        return top, float(p_top)


@functools.cache
def get_language_check() -> LanguageCheck:
    """The process-wide language check (its model loads once)."""
    return LanguageCheck()
