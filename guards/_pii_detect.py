"""Detectors of personal data and secrets: a candidate regex, then a validator that removes noise.

Each detector yields ``(entity, start, end, score)``. Validators do what a regex cannot: Luhn for
cards, mod-97 and per-country length for IBANs, :mod:`ipaddress` for IPs, SSA rules for SSNs,
digit counts for phone numbers, Shannon entropy for generic secrets.
"""

from __future__ import annotations

import ipaddress
import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator
from functools import cache, reduce
from operator import and_
from typing import NamedTuple

import regex

__all__ = ["DETECTORS", "PRIORITY", "Hit", "admissible", "detect", "resolve"]

Hit = tuple[str, int, int, float]

class _Scan(NamedTuple):
    """A candidate pattern and a cheap test that any match needs (a literal, or a short pattern the
    regex engine finds fast). Most texts fail the test, so most patterns never scan them."""

    pattern: re.Pattern[str]
    hint: Callable[[str], bool]

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.pattern.finditer(text) if self.hint(text) else iter(())


def _has(*needles: str) -> Callable[[str], bool]:
    return lambda text: any(n in text for n in needles)


# A hint that finds nothing scans the whole text (about 0.02 ms per 2 KB), so hints start with a digit
# (a letter first, IGNORECASE, is two to three times slower), spell repeats out (\d\d\d runs faster than
# \d{3} in Python's engine), and the two forms of an entity share one hint (_SSN_HINT, _NINO_HINT).
def _finds(pattern: str, flags: int = 0) -> Callable[[str], bool]:
    search = re.compile(pattern, flags).search
    return lambda text: search(text) is not None


_ASSIGN = re.compile(r"[:=]")
_SECRET_KEYWORD_ENDS = ("key", "secret", "token", "password", "passwd", "pass", "pwd")  # every keyword ends so


def _secret_words(text: str) -> bool:
    """A ``:`` or ``=`` after a keyword (then maybe a quote and spaces), as the generic secret pattern
    needs; case-insensitive. Outside ASCII, where case folding has surprises, the pattern always runs."""
    if not text.isascii():
        return True
    lower = text.lower()
    for m in _ASSIGN.finditer(lower):
        end = m.start()  # the spaces before the sign skipped one by one: slicing the text up to each
        while end and lower[end - 1].isspace():  # sign cost as much as the text (a log full of colons)
            end -= 1
        end -= lower[end - 1:end] in ("'", '"')
        if lower.endswith(_SECRET_KEYWORD_ENDS, 0, end):
            return True
    return False


# Invisible characters someone may slip inside an address to split it: the soft hyphen, the combining
# grapheme joiner, zero-width spaces and joiners, bidirectional marks, embeddings and isolates, invisible
# operators, the byte-order mark.
_ZW = "\u00ad\u034f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
# The local part may hold letters of any script with their combining marks (a decomposed "josé", the vowel
# signs of Devanagari), ``_`` and ``'`` (not first, so a quote around the address stays outside); the
# look-behinds keep a match from starting inside a longer local part (``o'brien``). With ``regex``: ``re``
# has no class for marks, and ``\w`` leaves them out.
_EMAIL = _Scan(regex.compile(
    rf"(?<![\w\p{{M}}.%+{_ZW}-])(?<![\w\p{{M}}]')[\w\p{{M}}.%+{_ZW}-][\w\p{{M}}.%+'{_ZW}-]{{0,127}}"
    rf"@[{_ZW}]*[^\W_](?:[\w\p{{M}}{_ZW}-]{{0,62}}\.)+(?:xn--[a-z0-9-]{{1,59}}|\p{{L}}[\p{{L}}\p{{M}}{_ZW}]{{1,23}})"
    rf"(?![\p{{M}}-]|_*[^\W_]|_*\p{{M}})", regex.IGNORECASE | regex.VERSION0), _has("@"))
# A US or international number may end in an extension (``x123``, ``ext. 123``); its digits are not counted.
_EXTENSION = r"(?P<ext>\s?(?:[xX]|[eE]xt\.?|[eE]xtension)\s?\d{1,6})?"
# Each group's digits are taken whole ("(?>...)"): a run of digits could otherwise be split into groups in
# thousands of ways, and "+" with 30 digits and a letter, 3,000 times over, took 24 s to fail.
_PHONE_INTL = _Scan(re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?(?>\d{1,5})\)?){1,6}" + _EXTENSION + r"(?![\w-])"),
                    _has("+"))
# The same, dialled with the international prefix "00" for "+" (as most of Europe writes it): its groups
# must be apart ("0044 20 7946 0958"), so a bare run of digits starting 00 is not taken for one.
_PHONE_00 = _Scan(re.compile(r"(?<![\w+])(?<!\d[ .-])00[1-9]\d{0,2}(?:[ .-]\(?\d{1,8}\)?){1,6}" + _EXTENSION
                             + r"(?![\w-])"), _has("00"))
_PHONE_US = _Scan(re.compile(r"(?<![\w+])(?<!\d[ .-])(?:\+?1[ .-]?)?(?:\([2-9]\d{2}\)\s?|[2-9]\d{2}[ .-])"
                             r"[2-9]\d{2}[ .-]\d{4}" + _EXTENSION + r"(?![\w-])"), _finds(r"\d\d\d[ .-]\d{4}"))
_PHONE_NATIONAL = _Scan(re.compile(r"(?<![\w+])(?<!\d[ .-])\(?0[1-9]\d{0,3}\)?(?:[ /.-]\d{2,8}){1,4}(?![\w-])"),
                        _finds(r"0[1-9]\d{0,3}\)?[ /.-]\d\d"))
# A number with no separators ("4155550123", "07700900123") or one only after the area code is a phone
# number only where a word just before says so ("call me at", "Tel.", "my number is"): bare, it may as
# well be an order number, an amount or a timestamp. No digit, comma, semicolon, sentence end or word
# naming another kind of number ("call about order 4155550123") between.
_PHONE_BARE = _Scan(re.compile(r"(?<![\w+$\u20ac\u00a3#./:-])(?<!\d[ .-])"
                               r"(?:(?:1[ .-]?)?[2-9]\d{2}[ .-]?[2-9]\d{6}|0[1-9]\d{8,9})(?![\w-]|[.,/:]\d)"),
                    _finds(r"\d\d\d\d\d\d\d"))
_PHONE_CUE = re.compile(r"(?i)\b(?:phone|telephone|tel|ph|mobile|mob|cell|cellphone|ring|sms|whatsapp|"
                        r"call (?:me|us|him|her|them|at)|text (?:me|us|him|her|them)|"
                        r"fax|dial|reach|contact|(?:my|his|her|your|our|their|contact) (?:phone |mobile |cell )?"
                        r"(?:number|no|#))\b(?:(?!(?:order|invoice|account|acct|ref|reference|ticket|case|tracking|"
                        r"transaction|booking|confirmation|serial|id)\b)(?:[^\d\n,;.!?]|\.(?!\s+[A-Z]))){0,24}\Z")
# A date ("05.03.2024 14", "05/03/2024 09") or a number a time goes on from ("... 14:30") is no phone number.
_DATE = re.compile(r"\(?\d{1,4}([./-])\d{1,2}\1\d{2,4}(?![\d./-])")
_TIME_AFTER = re.compile(r":\d\d")
_CUE_WINDOW = 64  # characters before a bare number searched for a cue
# A card candidate is 13 to 19 digits, each group after one space or hyphen; it starts after no word
# character, ``+`` (an international phone number) or hyphen and ends before none of a word character or
# a hyphen. Every candidate lies inside a run of 13 digits or more joined by single separators.
_CARD_RUN = re.compile(r"\d(?=(?:[ -]?\d){12})\d*(?:[ -]\d+)*")
_NO_CARD_BEFORE = re.compile(r"[\w+-]")
_NO_CARD_AFTER = re.compile(r"[\w-]")
_IBAN = _Scan(re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}", re.IGNORECASE),
              _finds(r"\d\d(?<=(?<![A-Za-z0-9])[A-Z]{2}\d\d)(?: ?[A-Z0-9]){11}", re.IGNORECASE))
_IPV4 = _Scan(re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)"), _finds(r"\.\d{1,3}\.\d{1,3}\.\d"))
_IPV6 = _Scan(re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?"
                         r"(?![\w:(<])"), _finds(r":[0-9A-Fa-f]{0,4}:"))
_SSN = re.compile(r"(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-])")
# Nine digits in a row are an SSN only where a word just before says so ("my SSN is 123456789").
_SSN_BARE = re.compile(r"(?<![\w+$\u20ac\u00a3#./:-])(\d{3})(\d{2})(\d{4})(?![\w-]|[.,/:]\d)")
_SSN_HINT = _finds(r"\d\d[- ]?\d\d[- ]?\d\d\d\d")  # what either form needs: one scan of each text
_SSN_CUE = re.compile(r"(?i)\b(?:(?:ssn|ss no|social security(?: number| no)?)\b|ss#)"
                      r"(?:[^\d\n,;.!?]|\.(?!\s+[A-Z])){0,24}\Z")
# UK National Insurance numbers (HMRC's format): two prefix letters (D, F, I, Q, U, V never; O never second;
# BG, GB, KN, NK, NT, TN, ZZ never issued), six digits and a suffix A-D. Written in pairs ("QQ 12 34 56 C")
# it is one; written together ("QQ123456C") it may as well be a part number, so only after a word that says
# so ("NI number", "NINO", "national insurance").
_NINO_BODY = r"(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
_NINO = re.compile(r"(?<![\w-])" + _NINO_BODY + r" \d\d \d\d \d\d ?[A-D](?![\w-])", re.IGNORECASE)
_NINO_BARE = re.compile(r"(?<![\w-])" + _NINO_BODY + r"\d{6}[A-D](?![\w-])", re.IGNORECASE)
_NINO_HINT = _finds(r"\d\d ?\d\d ?\d\d ?[A-Da-d]")  # what either form needs
_NINO_CUE = re.compile(r"(?i)\b(?:nino|ni(?: number| no)|national insurance(?: number| no)?)\b"
                       r"(?:[^\d\n,;.!?]|\.(?!\s+[A-Z])){0,24}\Z")

_SECRETS: tuple[tuple[_Scan, float], ...] = (
    (_Scan(re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])"), _has("AKIA", "ASIA")), 1.0),
    (_Scan(re.compile(r"(?<!\w)gh[pousr]_[A-Za-z0-9]{36,255}(?!\w)"), _finds(r"gh[pousr]_")), 1.0),
    (_Scan(re.compile(r"(?<!\w)github_pat_[A-Za-z0-9_]{60,255}(?!\w)"), _has("github_pat_")), 1.0),
    (_Scan(re.compile(r"(?<![\w-])sk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_-]{20,}(?![\w-])"), _has("sk-")), 0.95),
    (_Scan(re.compile(r"(?<![\w-])xox[abposr]-[A-Za-z0-9-]{10,}(?![\w-])"), _finds(r"xox[abposr]-")), 1.0),
    (_Scan(re.compile(r"(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])"), _has("AIza")), 1.0),
    (_Scan(re.compile(r"(?<![\w-])[sr]k_(?:live|test)_[A-Za-z0-9]{16,}(?![\w-])"), _finds(r"k_(?:live|test)_")), 1.0),
    (_Scan(re.compile(r"(?<![\w-])hf_[A-Za-z0-9]{30,}(?![\w-])"), _has("hf_")), 1.0),
    (_Scan(re.compile(r"(?<![\w-])glpat-[A-Za-z0-9_-]{20,}(?![\w-])"), _has("glpat-")), 1.0),
    # PEM and PGP private keys; a block whose END line is missing (cut off) is taken to the end of the text.
    (_Scan(re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
                      r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)", re.DOTALL),
           _has("-----BEGIN ")), 1.0),
    (_Scan(re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}(?![\w-])"),
           _has("eyJ")), 0.95),
    (_Scan(re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{20,}"),
           _has("hooks.slack.com")), 1.0),
    (_Scan(re.compile(r"(?<![\w-])whsec_[A-Za-z0-9+/=]{24,}(?![\w-])"), _has("whsec_")), 1.0),
)
# Secrets that are part of something else, redacted alone: the password in a URL ("postgres://app:Xk9...@db"),
# the token after "Bearer" (an Authorization header pasted into a chat).
_SECRET_PARTS: tuple[_Scan, ...] = (
    _Scan(re.compile(r"(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@\[\]]{1,128}:([^\s/@]{1,256})@[^\s/@]"), _has("://")),
    _Scan(re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{16,}=*)(?![\w.~+/=-])"), _finds(r"(?i)bearer\s")),
)
# A keyword, maybe ending a longer name (``DB_PASSWORD``, ``aws_secret_access_key``, ``--client-secret``);
# the value runs to a space or a quote, whatever symbols it holds; unquoted, it also stops at a backtick,
# ``)``, ``>``, ``;`` or a ``]`` that nothing a secret holds follows (Markdown's closing code span or link,
# the end of a statement), and closing ``.,:;`` are trimmed (_GENERIC_TRAILING): they end the sentence.
_GENERIC_SECRET = _Scan(re.compile(
    r"(?i)(?<![A-Za-z0-9])(?<![A-Za-z0-9][_-])(?:[A-Za-z0-9]+[_-])*"
    r"(?:(?:api|access|secret|private|client|signing|encryption|master)[_-]?key|apikey|secret|token|password|passwd"
    r"|pass|pwd)"
    r"(?![\w-])[\"']?\s*[:=]\s*(?:\"([^\s\"]{16,})|'([^\s']{16,})"
    r"|((?:[^\s\"'`)\]>;]|\](?=[\w#$!%&*+/=?@^~-])){16,}))"), _secret_words)
_GENERIC_TRAILING = ".,:;"
# Values that are code or a placeholder, not a secret: a dotted name or a call (``process.env.CLIENT_SECRET``,
# ``settings.API_KEY``, ``localStorage.getItem(``, ``jwt.sign(payload,``), whose names hold no digits but a
# version-like tail, as code's do (a Discord token's dotted base64 parts hold digits throughout); an
# environment variable's name (``CLIENT_SECRET``, ``$API_TOKEN``, ``${API_TOKEN}``, ``%API_KEY%``); a template
# slot (``<your-token>``, ``{{ token }}``); ``YOUR_ACCESS_TOKEN_HERE``.
_CODE_NAME = r"[A-Za-z_$][A-Za-z_$]*\d{0,2}"
_CODE_VALUE = re.compile(
    rf"{_CODE_NAME}(?:(?:\??\.|::|->){_CODE_NAME})+(?:[(\[,;)\]].*)?"  # a dotted name, maybe called
    rf"|{_CODE_NAME}\(.*"  # a call
    r"|[$%]?\{?[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\}?%?"  # an environment variable's name
    r"|[$%]\{.*|<.*|\{\{.*|\[.*"  # a template's slot
    r"|(?i:(?:your|my|insert|enter|replace|put)[_-].*|.*[_-]here)", re.DOTALL)


_SECRET_SYMBOLS = frozenset("!#%&*+/=@^~|?")  # in passwords and base64, seldom in code's names


def _random_looking(value: str) -> bool:
    """A secret's value is no code or placeholder, is spread out (Shannon entropy: 3.5 bits a character,
    or 3 where letters and digits mix, as in hex, whose 16 symbols give a short key less), and mixes
    letters with digits or symbols, or upper and lower case throughout (camelCase has a capital a word)."""
    if _CODE_VALUE.fullmatch(value):
        return False
    letters = sum(c.isalpha() for c in value)
    bits = entropy(value)
    if letters and any(c.isdigit() for c in value):
        return bits >= 3.0
    if bits < 3.5:
        return False
    if letters and not _SECRET_SYMBOLS.isdisjoint(value):
        return True
    upper = sum(c.isupper() for c in value)
    return letters >= 16 and 0.3 <= upper / letters <= 0.7

# Length of the IBAN of each country (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "BI": 27, "DJ": 27, "FK": 18, "HN": 28, "LY": 25, "MN": 20, "NI": 28, "OM": 23, "RU": 33, "SD": 18,
    "SO": 23, "YE": 30,
}

# Issuer prefixes and the card lengths each issues (Visa, Mastercard, Amex, Diners, JCB, Discover, UnionPay;
# then Maestro, which covers Elo's and Verve's ranges too, Mir, RuPay and Troy).
_CARD_BRANDS: tuple[tuple[re.Pattern[str], frozenset[int]], ...] = (
    (re.compile(r"50|5[6-8]|6[37]"), frozenset(range(13, 20))),
    (re.compile(r"220[0-4]"), frozenset({16, 17, 18, 19})),
    (re.compile(r"60|65|8[12]|508"), frozenset({16})),
    (re.compile(r"9792"), frozenset({16})),
    (re.compile(r"4"), frozenset({13, 16, 19})),
    (re.compile(r"5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)"), frozenset({16})),
    (re.compile(r"3[47]"), frozenset({15})),
    (re.compile(r"3(?:0[0-5]|[689])"), frozenset({14, 16, 17, 18, 19})),
    (re.compile(r"35"), frozenset({16, 17, 18, 19})),
    (re.compile(r"6(?:011|5|4[4-9])"), frozenset({16, 17, 18, 19})),
    (re.compile(r"62"), frozenset({16, 17, 18, 19})),
)


_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a digit doubled, its digits summed


def luhn(digits: str) -> bool:
    """The Luhn check of payment card numbers: every second digit from the right doubled."""
    total = sum(map(int, digits[::-2])) + sum(_LUHN_DOUBLED[int(ch)] for ch in digits[-2::-2])
    return total % 10 == 0


# Letters as 10-35, in a table indexed by code point (read faster than a dict); str.translate leaves the
# characters past "Z" as they are.
_IBAN_LETTERS = tuple(str(c - 55) if c >= ord("A") else chr(c) for c in range(ord("Z") + 1))


def iban_valid(compact: str) -> bool:
    """Country length and the ISO 13616 mod-97 check."""
    compact = compact.upper()
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    # Letters count as 10-35. Digits of other scripts count as their value; other letters (the Kelvin sign
    # K, which the case-blind search takes for a K) are in no IBAN.
    if not rearranged.isascii() and not all(c.isdecimal() or "A" <= c <= "Z" for c in rearranged):
        return False
    return int(rearranged.translate(_IBAN_LETTERS)) % 97 == 1


def _ascii_digits(text: str) -> str:
    """``text`` with digits of any script as ASCII digits (``\\d`` takes them all: "٦٦٦" is 666); the
    same length, so spans stay those of the original."""
    return text if text.isascii() else "".join(str(int(c)) if c.isdecimal() else c for c in text)


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """SSA rules: no area 000, 666 or 9xx; no group 00; no serial 0000. The pattern's ``\\d`` takes digits
    of any script; they count as their value ("٦٦٦" is area 666), as in cards and IBANs."""
    area, group, serial = _ascii_digits(area), _ascii_digits(group), _ascii_digits(serial)
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _emails(text: str) -> Iterator[Hit]:
    """An address may end before ``_`` (Markdown's ``_jane@corp.com_``, ``__jane@corp.com__``); underscores
    opening it that as many close are that emphasis, not the local part's."""
    for m in _EMAIL.finditer(text):
        start = m.start()
        opening = len(m.group()) - len(m.group().lstrip("_"))
        if opening and text.startswith("_" * opening, m.end()):
            start += opening
        yield "email", start, m.end(), 0.95


def _phones(text: str) -> Iterator[Hit]:
    for pattern, low, high, score in ((_PHONE_INTL, 8, 15, 0.85), (_PHONE_00, 10, 17, 0.85),
                                      (_PHONE_US, 10, 11, 0.8), (_PHONE_NATIONAL, 9, 12, 0.7)):
        for m in pattern.finditer(text):
            number = m.group()[:m.start("ext") - m.start()] if m.groupdict().get("ext") else m.group()
            digits = sum(c.isdigit() for c in number)
            if low <= digits <= high and not _DATE.match(number) and not _TIME_AFTER.match(text, m.end()):
                yield "phone", m.start(), m.end(), score
    for m in _PHONE_BARE.finditer(text):
        if _PHONE_CUE.search(text, max(0, m.start() - _CUE_WINDOW), m.start()):
            yield "phone", m.start(), m.end(), 0.6


# Cards are found in byte lanes: the digits of the text's runs, laid end to end, are cells, and an int
# holds one byte per cell, so one addition, shift or ``&`` of such ints takes a step for every cell at once,
# in C, and ``bytes.translate`` maps every cell through a table. Python sees only the cells where a card
# starts. (A regex search from each digit group, then the candidate's digits read again in Python, took
# 6 s for 1 MB of "4 4 4 ...", where every digit starts a candidate.)
_CARD_LENGTHS = range(13, 20)  # a card of L digits is bit L - 13 of a lane
_CARD_GAP = "0" * 20  # after a run: its end cell, then padding; no candidate reads into the next run
_NOT_A_CELL = bytes.maketrans(b"0123456789 -", bytes(10) + b"\xff\xff")  # 0xff: a separator, deleted
_CLASS_OF_NEXT = bytes.maketrans(b"0123456789 -", bytes(10) + b"\x01\x02")
_DIGIT_VALUE = bytes.maketrans(b"0123456789", bytes(range(10)))
_DIGIT_DOUBLED = bytes.maketrans(b"0123456789", bytes(_LUHN_DOUBLED))
_IS_NONZERO = bytes([0] + [1] * 255)
_IS_ONE = bytes([0, 1] + [0] * 254)
_IS_TENS = bytes(int(v % 10 == 0) for v in range(256))
_IS_ZERO = bytes([1] + [0] * 255)
_IS_TWO = bytes([0, 0, 1] + [0] * 253)
# How issuers print a card: unbroken, or in these groups (13 to 16 digits as 4-4-4-1 to 4-4-4-4; 19 as
# 4-4-4-4-3; Amex's 15 as 4-6-5, Diners' 14 as 4-6-4). Other groupings ("4 2 6 1 3 5 ...", a list of
# small numbers) are no card.
_CARD_GROUPS = ((4, 4, 4, 1), (4, 4, 4, 2), (4, 4, 4, 3), (4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 6, 5), (4, 6, 4))
_NONZERO_CELL = re.compile(rb"[^\x00]")


def _lanes(cells: bytes) -> int:
    return int.from_bytes(cells, "little")


def _cells(lanes: int, size: int) -> bytes:
    return lanes.to_bytes(size, "little")


@cache
def _brand_tables() -> tuple[bytes, tuple[tuple[bytes, bytes], ...]]:
    """Translate tables for the lengths (lane bits) a card may have by its first four digits, read as two
    pairs, ``10 * d0 + d1`` and ``10 * d2 + d3``: ``common`` maps the first pair to the lengths of every
    card it begins; each first pair whose lengths depend on the next two digits (22, 27, 30, 50, 60, 97 ...) has a
    table picking it out (0xff) and one mapping the second pair to its lengths."""
    common = bytearray(256)
    special = []
    for first in range(100):
        bits = [sum(1 << (length - 13) for length in frozenset().union(
            *(lengths for brand, lengths in _CARD_BRANDS if brand.match(f"{first:02}{second:02}"))))
            for second in range(100)]
        common[first] = reduce(and_, bits)
        if any(b != common[first] for b in bits):
            special.append((bytes(0xFF if v == first else 0 for v in range(256)), bytes(bits) + bytes(156)))
    return bytes(common), tuple(special)


def _card_groupings(classes: bytes, cut: int, size: int) -> dict[int, int]:
    """For each card length, the cells where a card of that length may start by its grouping: unbroken,
    or in one of _CARD_GROUPS and not a slice of a list of such groups (a group of exactly four digits
    just before or after it, joined by the separator between its own groups: "1234 5678 9012 3456 7890")."""
    nosep = _lanes(classes.translate(_IS_ZERO))
    space, hyphen = _lanes(classes.translate(_IS_ONE)), _lanes(classes.translate(_IS_TWO))
    unbroken = [0, _lanes(b"\x01" * size)]  # [w]: no separator before cells k + 1 .. k + w - 1
    for width in range(1, 19):
        unbroken.append(unbroken[width] & (nosep >> (8 * width)))

    def group(width: int) -> int:  # a group of exactly `width` digits from cell k
        return unbroken[width] & (cut >> (8 * width))

    def same_separator(offset: int) -> int:  # the separator before cell k + offset is that before k + 4
        return (space >> (8 * offset) & space >> 32) | (hyphen >> (8 * offset) & hyphen >> 32)

    four = group(4) & cut
    listed_before = (four << 32) & same_separator(0)
    allowed = {length: unbroken[length] for length in _CARD_LENGTHS}
    for widths in _CARD_GROUPS:
        offset = 0
        lane = unbroken[widths[-1]] >> (8 * (sum(widths) - widths[-1]))
        for width in widths[:-1]:
            lane &= group(width) >> (8 * offset)
            offset += width
        length = offset + widths[-1]
        listed_after = (four >> (8 * length)) & same_separator(length)
        allowed[length] |= lane & ~(listed_before | listed_after)
    return allowed


def _cards(text: str) -> Iterator[Hit]:
    """A candidate runs as far as it can (into an expiry date or a CVV, say); its card is its longest
    prefix, cut between digit groups, of a length the issuer of its first digits gives, grouped as issuers
    print cards (_card_groupings), passing Luhn. A
    candidate with no card may have swallowed a number before one (``ref 2 4111...``), so one starts
    after every space, bar those inside a card found. Digits of any script count as their value."""
    runs = list(_CARD_RUN.finditer(text))
    if not runs:
        return
    # A cell's class is the character before its digit: 0 a digit, 1 a space, 2 a hyphen; before a run's
    # first digit 1 where a candidate may start there, before the cell after its last digit 1 where one
    # may end there.
    first_cells, size, layout = [], 0, []
    for run in runs:
        group = run.group()
        layout += ("-" if run.start() and _NO_CARD_BEFORE.match(text, run.start() - 1) else " ", group,
                   "-" if _NO_CARD_AFTER.match(text, run.end()) else " ", _CARD_GAP)
        first_cells.append(size)
        size += len(group) - group.count(" ") - group.count("-") + len(_CARD_GAP)
    chars = _ascii_digits("".join(layout)).encode("ascii")
    digits = chars.translate(None, b" -")
    classes = _cells(_lanes(chars.translate(_NOT_A_CELL)) | (_lanes(chars.translate(_CLASS_OF_NEXT)) << 8),
                     len(chars)).translate(None, b"\xff")
    cut = _lanes(classes.translate(_IS_NONZERO))  # a card may end before the cell
    opening = _lanes(classes.translate(_IS_ONE))  # a candidate may start at the cell, or end before it
    values = _lanes(digits.translate(_DIGIT_VALUE))
    # Byte k of sums: the Luhn sum of the `length` digits from cell k (19 digits sum to less than 256).
    doubled, sums, passes = _lanes(digits.translate(_DIGIT_DOUBLED)), values, {}
    for length in range(2, 20):
        sums = (doubled if length % 2 == 0 else values) + (sums >> 8)
        if length in _CARD_LENGTHS:
            passes[length] = _lanes(_cells(sums, size).translate(_IS_TENS))
    # The lengths that pass Luhn, are cut after, and end before a candidate's end (reach: one within 19).
    grouped = _card_groupings(classes, cut, size)
    found, reach = 0, 0
    for length in reversed(_CARD_LENGTHS):
        reach |= opening >> (8 * length)
        found |= (passes[length] & (cut >> (8 * length)) & reach & grouped[length]) << (length - 13)
    # ... that the issuer gives: byte k of pairs is 10 * d[k] + d[k + 1].
    common, special = _brand_tables()
    pairs = _cells(values * 10 + (values >> 8), size)
    brand = _lanes(pairs.translate(common))
    for picks, lengths in special:
        brand |= _lanes(pairs.translate(picks)) & _lanes(pairs[2:].translate(lengths))
    starts = _cells(found & brand & (opening * 0x7F), size)
    # The separators before a digit move it on in the text: counted from its run's start, once.
    found_to, run_index, counted_to, separators = 0, -1, 0, 0
    for cell in (m.start() for m in _NONZERO_CELL.finditer(starts)):
        if cell < found_to:
            continue  # inside the card found before
        if (index := bisect_right(first_cells, cell) - 1) != run_index:
            run_index, counted_to, separators = index, first_cells[index], 0
        separators += cell - counted_to - classes.count(0, counted_to + 1, cell + 1)
        counted_to = cell
        last = cell + 12 + starts[cell].bit_length() - 1  # the card's last digit (of the longest length)
        separators_to_last = separators + last - cell - classes.count(0, cell + 1, last + 1)
        at = runs[run_index].start() - first_cells[run_index]  # a cell's index in the text, less separators
        yield "credit_card", at + cell + separators, at + last + separators_to_last + 1, 1.0
        found_to = last + 1


# Where a candidate starts (the country code and check digits of the pattern above), every start found in
# one pass: a search from each start read its whole candidate, and after a candidate that is no IBAN
# searched again from the next character (1 MB of "DE44 DE44 ...": over a second).
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])(?=([A-Z]{2})\d\d)", re.IGNORECASE)
# The rest of a candidate, cut at each country's length (the candidate may run on into the next words).
_IBAN_REST = {length: re.compile(rf"(?: ?[A-Z0-9]){{{length - 4}}}", re.IGNORECASE)
              for length in set(IBAN_LENGTHS.values())}


def _ibans(text: str) -> Iterator[Hit]:
    if not _IBAN.hint(text):
        return
    # After a candidate that is no IBAN the next start is tried, not the first after the candidate: it may
    # have run into the next IBAN.
    found_to = 0
    for m in _IBAN_START.finditer(text):
        start = m.start()
        if start < found_to:
            continue
        length = IBAN_LENGTHS.get(m.group(1).upper())
        rest = _IBAN_REST[length].match(text, start + 4) if length else None
        if rest and iban_valid(text[start:rest.end()].replace(" ", "")):
            yield "iban", start, rest.end(), 1.0
            found_to = rest.end()


# Addresses that point at no one: unspecified, loopback, the documentation ranges (RFC 5737, RFC 3849).
_NOBODYS = (ipaddress.ip_network("0.0.0.0/32"), ipaddress.ip_network("127.0.0.0/8"),
            ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("198.51.100.0/24"),
            ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("::/127"),
            ipaddress.ip_network("2001:db8::/32"))
_PREFIX_AFTER = re.compile(r"/\d{1,3}(?!\d)")  # "10.0.0.0/8": a network, not a host
_NUMBER_CUE = re.compile(r"(?i)\b(?:version|ver|v|release|oid)\.?:?\s*\Z")  # "version 1.2.3.4", "OID 1.3.6.1"


def _a_host(address: ipaddress.IPv4Address | ipaddress.IPv6Address, text: str, start: int, end: int) -> bool:
    """Not an address that points at no one, a netmask, a network (``/8`` after it) or a version number."""
    if any(address in network for network in _NOBODYS) or _PREFIX_AFTER.match(text, end):
        return False
    if address.version == 4:
        value = int(address)
        inverse = ~value & 0xFFFFFFFF
        if value and inverse & (inverse + 1) == 0:  # ones, then zeros: a netmask (255.255.255.0)
            return False
        return _NUMBER_CUE.search(text, max(0, start - 12), start) is None
    return True


def _ips(text: str) -> Iterator[Hit]:
    for m in _IPV4.finditer(text):
        try:
            address = ipaddress.IPv4Address(_ascii_digits(m.group()))  # it refuses digits of other scripts
        except ValueError:
            continue
        if _a_host(address, text, m.start(), m.end()):
            yield "ip_address", m.start(), m.end(), 0.9
    for m in _IPV6.finditer(text):
        candidate = m.group()
        groups = sum(1 for part in candidate.split(":") if part)
        # Two groups of hex letters alone are a scope path ("Add::add", "Face::bad"): a digit or three groups.
        if groups < 2 or (groups < 3 and not any(c.isdigit() for c in candidate)):
            continue
        try:
            address6 = ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        if _a_host(address6, text, m.start(), m.end()):
            yield "ip_address", m.start(), m.end(), 0.9


def _ssns(text: str) -> Iterator[Hit]:
    if not _SSN_HINT(text):
        return
    for m in _SSN.finditer(text):
        if ssn_valid(m.group(1), m.group(3), m.group(4)):
            yield "us_ssn", m.start(), m.end(), 0.9
    for m in _SSN_BARE.finditer(text):
        if ssn_valid(*m.groups()) and _SSN_CUE.search(text, max(0, m.start() - _CUE_WINDOW), m.start()):
            yield "us_ssn", m.start(), m.end(), 0.7


def _ninos(text: str) -> Iterator[Hit]:
    if not _NINO_HINT(text):
        return
    for m in _NINO.finditer(text):
        yield "uk_nino", m.start(), m.end(), 0.85
    for m in _NINO_BARE.finditer(text):
        if _NINO_CUE.search(text, max(0, m.start() - _CUE_WINDOW), m.start()):
            yield "uk_nino", m.start(), m.end(), 0.7


def _secrets(text: str) -> Iterator[Hit]:
    for pattern, score in _SECRETS:
        for m in pattern.finditer(text):
            yield "secret", m.start(), m.end(), score
    for scan in _SECRET_PARTS:
        for m in scan.finditer(text):
            if not _hashed_already(text, m.start(1), m.end(1)):
                yield "secret", m.start(1), m.end(1), 0.95
    for m in _GENERIC_SECRET.finditer(text):
        group = m.lastindex or 1
        after = _AFTER_HASHED.match(text, m.end(group)).end()  # the value may stop before the "]"
        if _hashed_already(text, m.start(group), after) or (
                m.start() and _hashed_already(text, m.start() - 1, after)):
            continue  # "password=[SECRET:…]" or "[SECRET:…]" itself: hashed already
        end = m.end(group)
        if group == 3:  # unquoted: closing punctuation ends the sentence
            end -= len(m.group(group)) - len(m.group(group).rstrip(_GENERIC_TRAILING))
        value = text[m.start(group):end]
        hashed = _HASHED.match(value)  # "[SECRET:…]Xk9#…": what follows the pseudonym is judged
        if _random_looking(value[hashed.end():] if hashed else value):
            yield "secret", m.start(group), end, 0.8


DETECTORS: dict[str, Callable[[str], Iterator[Hit]]] = {
    "email": _emails, "phone": _phones, "credit_card": _cards, "iban": _ibans,
    "ip_address": _ips, "us_ssn": _ssns, "uk_nino": _ninos, "secret": _secrets,
}

# What ``mode: hash`` puts in place of a value (pii._hashed). The generic secret pattern took it for a
# secret: as the value after "password=" (always), or "[SECRET:…]" itself as keyword, colon and 17
# characters (often), so a second check of the redacted text (a chat's earlier messages are checked
# again) hashed the hash, and equal values no longer linked.
_HASHED = re.compile(r"\[(?:" + "|".join(map(str.upper, DETECTORS)) + r"):[0-9a-f]{16}\]")
# Only a value that is the pseudonym, perhaps with closing punctuation, is left alone: a value that merely
# begins with one ("password=[SECRET:…]Xk9#mQ2$…") holds more, and that more may be a secret.
_AFTER_HASHED = re.compile(r"[.,;:!?)\]}>]*")


def _hashed_already(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is a pseudonym of ``mode: hash`` and nothing but closing punctuation."""
    hashed = _HASHED.match(text, start, end)
    return hashed is not None and _AFTER_HASHED.fullmatch(text, hashed.end(), end) is not None

# When two hits overlap, the more specific entity wins.
PRIORITY = ("secret", "iban", "credit_card", "us_ssn", "uk_nino", "email", "ip_address", "phone")


# No-break, narrow, thin and other spaces that separate digit groups (French, Swiss and typeset text),
# each read as a plain space; one character for one, so spans stay those of the original text.
_SPACES = str.maketrans(dict.fromkeys("\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
                                      "\u2009\u200a\u202f\u205f\u3000", " "))


def detect(text: str, entities: list[str] | tuple[str, ...]) -> list[Hit]:
    """Non-overlapping hits of ``entities`` in ``text``, in order of position."""
    text = text.translate(_SPACES)
    return resolve([hit for entity in entities for hit in DETECTORS[entity](text)])


_BARE_DIGITS = re.compile(r"\d+")


def admissible(text: str, hit: Hit) -> bool:
    """Whether a hit of another detector (presidio's) passes the rules the builtin detectors keep for
    numbers: a phone number has 8 digits or more, is no date or time, and written without separators
    only after a word that says so ("call me at"); nine digits in a row are an SSN only after "SSN";
    an IP address is a host's (not loopback, a documentation range, a netmask, a network or a version)."""
    entity, start, end, _ = hit
    value = text[start:end]
    if entity == "phone":
        if sum(c.isdigit() for c in value) < 8 or _DATE.match(value) or _TIME_AFTER.match(text, end):
            return False
        return not _BARE_DIGITS.fullmatch(value) or _cue(_PHONE_CUE, text, start)
    if entity == "us_ssn" and _BARE_DIGITS.fullmatch(value):
        return _cue(_SSN_CUE, text, start)
    if entity == "ip_address":
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return True  # a form ipaddress does not read: presidio's word stands
        return _a_host(address, text, start, end)
    return True


def _cue(cue: re.Pattern[str], text: str, start: int) -> bool:
    return cue.search(text, max(0, start - _CUE_WINDOW), start) is not None


def resolve(hits: list[Hit]) -> list[Hit]:
    """The hits that do not overlap, in order of position: of two that do, the more specific entity
    (PRIORITY), then the longer, wins."""
    hits = sorted(hits, key=lambda h: (PRIORITY.index(h[0]), -(h[2] - h[1]), h[1]))
    # The hits kept do not overlap, so in order of start their ends are in order too: a new hit need
    # only be compared with the kept hits either side of it (a text full of numbers has many hits).
    kept: list[Hit] = []
    starts: list[int] = []
    for hit in hits:
        i = bisect_right(starts, hit[1])
        if (i == 0 or kept[i - 1][2] <= hit[1]) and (i == len(kept) or hit[2] <= kept[i][1]):
            kept.insert(i, hit)
            starts.insert(i, hit[1])
    return kept
