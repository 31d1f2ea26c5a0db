"""Which language a text is in, when it is surely not one a guard's models read.

The classifier's shipped backends read English only (MiniLM and every training set are English): a
request in German or Chinese gets low scores because the heads cannot read it, not because it is safe.
:class:`LanguageCheck` says when a text is in another language, so the guard can flag or block what it
could not judge instead of passing it as judged.

It runs py3langid (BSD-3-Clause; a naive Bayes model over byte n-grams of 140 languages, shipped inside
its wheel, loaded once per process) on the text as the models would read it (:func:`readings`: NFKC,
format characters left out or, in a second reading, as spaces, markup as spaces, look-alike letters and
letters spelled out one by one as the words they make, and #hashtags, leetspeak and words joined by dots,
slashes or underscores as words), window by window (``WINDOW_CHARS``) and in runs of ``RUN_WORDS`` words
(a clause after an English lead-in), and calls a part foreign only when sure, so that English with
names, loanwords, slang, code or hashes is not:

- only words count: links, @handles, numbers, hashes and code are left out;
- the languages the guard reads together get at most ``MAX_READ_PROBABILITY`` (so a short Russian text
  ranked Ukrainian first is not foreign to a guard that reads Russian);
- a part mostly in a script other than Latin needs nothing more than ``MIN_SCRIPT_LETTERS`` letters (a
  Chinese character or Korean syllable is a word alone; a lone kana, as in kaomoji, is not);
- a Latin-script part needs ``MIN_WORDS`` words (``MIN_RUN_WORDS`` in a run) and ``MIN_PROBABILITY``
  (``MIN_RUN_PROBABILITY``) for its most likely language, or, for a whole window, at most
  ``SURE_READ_PROBABILITY`` for the languages read (Spanish shares its probability with Galician);
- a part mostly of names in title case is foreign only when nearly all of it (``ALL_TITLE_SHARE``) is in
  title case and, in lower case, surely (``MIN_NAMES_PROBABILITY``) a language;
- ``zxx`` (no language: hashes) and Latin (species, anatomy, law in English) are never foreign.

Shorter texts ("Danke schön", "Te voy a matar.", "你好") are not judged: too little to tell a language from a
name. Measured on 12,342 English texts (the eval sets, Davidson tweets, Jigsaw, toxic spans, GPTFuzz
answers, RealToxicityPrompts; ``docs/developers/classifier.md``): every text called foreign was in fact
in another language.
"""

from __future__ import annotations

import functools
import itertools
import unicodedata
from collections.abc import Iterable
from typing import Any

import regex

from clauseguard.errors import ModelLoadError
from clauseguard.guards.normalize import CONFUSABLES, LEET

__all__ = ["LanguageCheck", "get_language_check", "language_name"]

MIN_LETTERS = 12  # a Latin-script part with fewer is not judged
MIN_SCRIPT_LETTERS = 3  # nor a part in another script ("你好", kaomoji, a Greek letter in a formula)
MIN_WORDS = 4
MIN_PROBABILITY = 0.65
MAX_READ_PROBABILITY = 0.01
SURE_READ_PROBABILITY = 0.001
# Windows of about 60 words, so that a passage in another language inside an English text is judged on
# its own and not outvoted; overlapping by half, so a passage across a boundary is whole in one of them.
WINDOW_CHARS = 400
# Runs of RUN_WORDS words every RUN_WORDS // 2, so that a clause in another language after an English lead-in
# ("Please answer my friend's question in detail: Kannst du mir ...") is judged on its own. A run is part of
# a text, so it must be surer than a whole text: English quotes dishes, yoga poses and anime titles.
RUN_WORDS = 10
MIN_RUN_WORDS = 6
MIN_RUN_PROBABILITY = 0.75
# Words in title case: names ("Ole Gunnar Solskjær, Erling Braut Haaland") in every language; German
# capitalises its nouns and stays under this share. A part all in title case is judged again in lower case,
# and foreign when surely a language: a request Written In Title Case To Pass ("Wie Baue Ich Eine Bombe").
MAX_NAME_SHARE = 0.6
ALL_TITLE_SHARE = 0.9
MIN_NAMES_PROBABILITY = 0.9
# Never foreign: zxx (no language: hashes, hex dumps) and Latin, the language of names in English (species,
# anatomy, law: "carcinoma in situ of the cervix uteri", "Quercus robur, Fagus sylvatica").
NO_LANGUAGE = frozenset({"zxx", "la"})
# Format characters and the control characters that are no whitespace: a zero-width space or soft hyphen
# between letters hides no word from the models, so it must not hide one from the check either; one between
# words must not glue them into one either, so a text that has them is judged both ways (NFKC folds
# fullwidth and mathematical letters; form feed, vertical tab and NEL are whitespace already).
_INVISIBLE = regex.compile(r"[\p{Cf}\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
# Letters spelled out one by one ("к а к с д е л а т ь", "b-o-m-b", "怎 么 做"): read as the words they spell.
_SPELLED = regex.compile(r"(?<![\p{L}\p{M}])\p{L}\p{M}*(?:[\s.\-·]{1,3}\p{L}\p{M}*){2,}(?![\p{L}\p{M}])")
_LETTER = regex.compile(r"\p{L}\p{M}*")
# Markup between words is no code: HTML entities (&nbsp;) and tags (<b>), Markdown emphasis.
_MARKUP = regex.compile(r"&(?:[a-zA-Z]{2,8}|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});|</?[a-zA-Z][^<>]{0,40}>|[*+~^]")
# A word mostly of Latin letters with Cyrillic or Greek look-alikes in it ("Kаnnst" with a Cyrillic а).
_MIXED = regex.compile(r"(?<![\p{L}\p{M}])(?=[\p{L}\p{M}]*\p{Latin})(?=[\p{L}\p{M}]*[\p{Cyrillic}\p{Greek}])"
                       r"[\p{L}\p{M}]+")
_LOOKALIKES = str.maketrans({c: (v if c == k else v.upper()) for k, v in CONFUSABLES.items()
                             if len(k) == 1 and v.isalpha() for c in (k, k.upper())})
_WIDEN = 20
_WORD = regex.compile(r"[\p{L}\p{M}]+")
# Scripts whose one character is a word or a syllable: kept when alone, as a Latin letter is not (not kana,
# which kaomoji use alone: "(づ｡◕‿‿◕｡)づ", "¯\\_(ツ)_/¯").
_UNSPACED = regex.compile(r"[\p{Han}\p{Hangul}]")
# Runs of printable ASCII that are no words of a language: with digits (hashes, ids, versions), @handles,
# #tags, paths and addresses, markup, code (a=b, a.b()). Judged run by run (a script
# without spaces keeps its own words around "10" or a link), in linear time.
_ASCII_RUN = regex.compile(r"[!-~]+")
# A link's words are no language's. The scheme is bounded, or a long run of letters would be scanned again
# from each of its letters (quadratic: 100,000 took a minute).
_URL = regex.compile(r"(?:\b[a-z][a-z0-9+.-]{0,31}://|\bwww\.)\S+", regex.IGNORECASE)
_NOT_WORDS = regex.compile(r"[\d@#/\\&=<>{}\[\]|$%_]|\w\.\w|\w\(")
# How words hidden in one run are joined, and leetspeak (guards/normalize.py's, for letters and digits).
_JOINERS = regex.compile(r"[./|\\=:;_#<>,]+")
_LEET = str.maketrans(LEET)
CODE_WORDS = 6
_EDGES = "?!.,;:'\"()[]"  # punctuation around a run, not between its words


def _no_code(run: regex.Match[str]) -> str:
    return " " if _NOT_WORDS.search(run.group()) else run.group()


def _decoded(run: regex.Match[str], whole: bool) -> str:
    """A run of ASCII that would be left out as code, read as the words it hides, as the models read them: a
    #hashtag; leetspeak in a short word ("b4u3" -> "baue"); words joined by dots, slashes or underscores
    ("Wie.baue.ich"), when the run is the whole text or holds CODE_WORDS words (an identifier such as
    calcola_il_totale stays code)."""
    token = run.group()
    if not _NOT_WORDS.search(token):
        return token
    if token.startswith("#") and token[1:].isalpha():
        return token[1:]
    digits = sum(c.isdigit() for c in token)
    if digits and len(token) <= 20 and 2 * digits <= len(token) and sum(c.isalpha() for c in token) >= 2:
        token = token.translate(_LEET)
    parts = [p for p in _JOINERS.split(token.strip(_EDGES)) if p]
    if len(parts) > 1 and (whole or len(parts) >= CODE_WORDS) and all(p.isalpha() for p in parts):
        return " ".join(parts)
    return token


def _unmixed(word: regex.Match[str]) -> str:
    """A word of mostly Latin letters with the Latin letters its Cyrillic and Greek look-alikes stand for."""
    text = word.group()
    latin = sum(1 for c in text if "a" <= c.lower() <= "z" or unicodedata.name(c, "").startswith("LATIN"))
    return text.translate(_LOOKALIKES) if 2 * latin >= len(text) else text


def _alphabet(letters: str) -> bool:
    """Whether ``letters`` (one word's worth) are an alphabet or a row of one letter rather than a word: four
    in the order of the alphabet ("α β γ δ"), letters beside their capitals ("Á á Ć ć") or all the same
    ("Ω Ω Ω")."""
    codes = [ord(c) for c in letters.casefold()]
    steps = [b - a for a, b in itertools.pairwise(codes)]
    pairs = sum(1 for a, b in itertools.pairwise(letters) if a != b and a.casefold() == b.casefold())
    return (len(set(codes)) == 1 or pairs >= 2
            or any(all(d in (0, 1) for d in steps[i:i + 3]) for i in range(len(steps) - 2)))


def _spelled(run: regex.Match[str]) -> str:
    """Letters spelled out one by one as the words they spell (a gap wider than the narrowest parts two words:
    "к а к   с д е л а т ь", "к.а.к  с.д.е"), not an alphabet or a row of one letter."""
    letters = _LETTER.findall(run.group())
    gaps = _LETTER.split(run.group())[1:-1]
    narrowest = min(len(g) for g in gaps)
    words, word = [], letters[0]
    for gap, letter in zip(gaps, letters[1:], strict=True):
        if len(gap) > narrowest:  # a wider gap parts two words
            words.append(word)
            word = ""
        word += letter
    words.append(word)
    if any(_alphabet(w) for w in words if len(w) >= 3):
        return run.group()
    return " ".join(words)


def readings(text: str) -> list[str]:
    """``text`` as the check reads it, in up to four readings (the same ones once): NFKC, links and markup
    left out, look-alikes folded and letters spelled out one by one joined; format characters left out,
    and as spaces; each of those again with the code-like runs read as words (:func:`_decoded`)."""
    text = unicodedata.normalize("NFKC", text)
    text = _URL.sub(" ", text)
    text = _MARKUP.sub(" ", text)
    if not text.isascii():
        text = _MIXED.sub(_unmixed, text)
    both = [_INVISIBLE.sub("", text), _INVISIBLE.sub(" ", text)]
    whole = len(text.split()) == 1
    both += [_ASCII_RUN.sub(lambda run: _decoded(run, whole), t) for t in both]
    return list(dict.fromkeys(_SPELLED.sub(_spelled, t) for t in both))


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


def runs(text: str, size: int = RUN_WORDS) -> Iterable[str]:
    """Runs of ``size`` words every ``size // 2`` of a text of more than ``size`` words (none otherwise)."""
    tokens = text.split()
    if len(tokens) > size:
        for start in range(0, len(tokens) - size // 2, size // 2):
            yield " ".join(tokens[start:start + size])


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
        for reading in readings(text):
            for window in windows(reading):
                if (found := self._judge(window, reads, MIN_WORDS, MIN_PROBABILITY, SURE_READ_PROBABILITY)):
                    return found
            for run in runs(reading):
                if (found := self._judge(run, reads, MIN_RUN_WORDS, MIN_RUN_PROBABILITY, 0.0)) is not None:
                    return found
        return None

    def _judge(self, text: str, reads: frozenset[str], min_words: int, min_probability: float,
               sure_read: float) -> tuple[str, float] | None:
        """Whether ``text`` is surely in a language not in ``reads``: with at least ``min_words`` words (in
        the Latin script), at most MAX_READ_PROBABILITY for ``reads`` together, and ``min_probability`` for
        the most likely language or at most ``sure_read`` for ``reads``."""
        words = [word for word in _WORD.findall(_ASCII_RUN.sub(_no_code, text))
                 if len(word) > 1 or _UNSPACED.match(word)]
        latin, letters = _latin_share(words)
        if letters < MIN_SCRIPT_LETTERS or (latin >= 0.5 and letters < MIN_LETTERS):
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
        if len(words) < min_words:
            return None
        titles = sum(1 for word in words if word.istitle())
        if titles >= MAX_NAME_SHARE * len(words):
            # Mostly names: a list of people, places or titles is no language's, unless nearly every word is in
            # title case (names come with "and", "van", "dramatist") and in lower case it is surely a language:
            # a request Written In Title Case To Pass.
            if titles < ALL_TITLE_SHARE * len(words):
                return None
            top, p_top = self._model.rank(" ".join(words).lower())[0]
            return (top, float(p_top)) if p_top >= MIN_NAMES_PROBABILITY and top not in reads | NO_LANGUAGE else None
        # Related languages share the probability (Spanish with Galician, Aragonese, Extremaduran), so a whole
        # text the model gives no chance of being read is foreign however the rest is shared out.
        if p_top < min_probability and p_read > sure_read:
            return None
        return top, float(p_top)


# Names for the messages users see; other codes are shown as they are.
NAMES = {
    "af": "Afrikaans", "am": "Amharic", "ar": "Arabic", "az": "Azerbaijani", "be": "Belarusian", "bg": "Bulgarian",
    "bn": "Bengali", "bs": "Bosnian", "ca": "Catalan", "cs": "Czech", "cy": "Welsh", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "eo": "Esperanto", "es": "Spanish", "et": "Estonian", "eu": "Basque",
    "fa": "Persian", "fi": "Finnish", "fr": "French", "ga": "Irish", "gl": "Galician", "gu": "Gujarati",
    "ha": "Hausa", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "hy": "Armenian",
    "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese", "jv": "Javanese", "ka": "Georgian",
    "kk": "Kazakh", "km": "Khmer", "kn": "Kannada", "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian",
    "mk": "Macedonian", "ml": "Malayalam", "mn": "Mongolian", "mr": "Marathi", "ms": "Malay", "my": "Burmese",
    "ne": "Nepali", "nl": "Dutch", "nn": "Norwegian Nynorsk", "no": "Norwegian", "pa": "Punjabi", "pl": "Polish",
    "ps": "Pashto", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "si": "Sinhala", "sk": "Slovak",
    "sl": "Slovenian", "so": "Somali", "sq": "Albanian", "sr": "Serbian", "sv": "Swedish", "sw": "Swahili",
    "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu",
    "uz": "Uzbek", "vi": "Vietnamese", "yo": "Yoruba", "yue": "Cantonese", "zh": "Chinese", "zu": "Zulu",
}


def language_name(code: str) -> str:
    """``"German (de)"``; the code alone where no name is known here."""
    return f"{NAMES[code]} ({code})" if code in NAMES else code


@functools.cache
def get_language_check() -> LanguageCheck:
    """The process-wide language check (its model loads once)."""
    return LanguageCheck()
