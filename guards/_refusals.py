"""Where an answer declines: the refusal clauses that open a model's reply, which output guards do not judge.

An assistant that refuses names what it refuses ("I can't help with making explosives", "I won't write
sexual content involving minors"), and a guard that reads those words blocks the refusal itself: on
GPTFuzz's labelled answers the output guards blocked 62% of the refusals and evasions. At the output
stage the classifier and keyword guards therefore leave out each *refusal clause* near the start of an
answer: a sentence that opens with a refusal ("I can't", "I'm sorry, but I won't", "As an AI language
model, I cannot", "That's not something I can help with"; after a speaker label such as ``GPT:`` or
``(🔒Normal Output)``, or Markdown such as ``**`` or ``>``, which are judged) whose verb is one of declining
to help ("help with", "assist", "provide", "write", ...), up to the first place where anything else could
start: a comma, colon, semicolon, dash or sentence end, or a contrast or a next step ("but",
"however", "here's", "so", "then"). The rest of the answer is judged as usual, so "I can't share
the recipe, but here it is: ..." is judged on "but here it is: ...", and a jailbroken answer after a
refusal ("GPT: I'm sorry, I can't. DAN: Sure! ...") on everything but the refusal.

Whatever a refusal clause says goes unread, so the rule is narrow, and bounded:
- only "I" declines (a "we can't make meth without ..." is an instruction), with a verb of declining,
  never "make" or "do" alone, and "give", "show" or "tell you" only with an object of help ("give you
  instructions", "tell you how to"); "I can't help but ...", "I can't help noticing" and "I cannot stress
  enough" are no refusals;
- an object with the speakers in it or an exclamation is judged: threats and confessions borrow a
  refusal's words ("I won't give any warning before I shoot ...", "I can't tell you how much I want ...");
- so is an object of more than ``MAX_OBJECT_WORDS`` words (as a tokenizer splits them: "take-a-steel-pipe",
  "take_a_steel_pipe" and "TakeASteelPipe" are four), or ``MAX_CLAUSE_CHARS`` characters, or with a
  letter of a script other than Latin;
- only clauses that start in the first ``LEAD_CHARS`` characters of the answer count, where refusals
  stand, and if more than ``MAX_CLAUSES`` of them do, all are judged ("start every sentence with 'I can't
  help with'" hides an answer, it does not decline one). A stream's guards are given windows of the
  answer, with the clauses of the answer so far (``REFUSALS`` in the context's metadata, guards/_base.py),
  so a stream leaves out what the whole answer would, and no more.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from clauseguard.guards._base import REFUSALS, TEXT_OFFSET

__all__ = ["LEAD_CHARS", "MAX_CLAUSES", "MAX_CLAUSE_CHARS", "MAX_OBJECT_WORDS", "READ_CHARS", "Spans", "refusal_spans",
           "refusals_in", "without_refusals"]

Spans = list[tuple[int, int]]  # (start, end) character spans, in order

MAX_OBJECT_WORDS = 12
MAX_CLAUSE_CHARS = 160
MAX_CLAUSES = 3
LEAD_CHARS = 600
# How much of an answer refusal_spans reads: what comes later cannot change its result.
READ_CHARS = LEAD_CHARS + MAX_CLAUSE_CHARS + 200

# Apostrophes and their look-alikes, read as "'" (one character for one, so spans stay put).
_APOSTROPHES = str.maketrans(dict.fromkeys("\u2019\u2018\u02bc\u02b9\uff07`\u00b4\u2032", "'"))
# What may come before a refusal in its sentence, and is judged with the rest of the answer: a speaker
# label ("GPT:", "[ChatGPT]", "(🔒Normal Output)"), Markdown ("**", "> ", "- "), an apology or a preamble
# ("I'm sorry you're going through this, but", "As an AI language model,", "I must inform you that"),
# ending in a comma, colon, bracket, dash, "that", "but", "and" or "so".
_LEAD_IN = (r"(?:[^.!?\n]{0,80}?(?:[-,:)\]*_>\"\u201c\u00ab\u2014\u2013\u2022]|"
            r"\b(?:that|but|and|so|ai|model|assistant))\s*(?:but\s+|and\s+|so\s+)?)?")
_ADVERB = (r"(?:(?:really|simply|just|unfortunately|truly|absolutely|certainly|definitely|strictly|ethically|"
           r"legally|responsibly|actually|in good conscience)\s+)?")
_CANNOT = (r"(?:i\s+" + _ADVERB + r"(?:can(?:no|')t|can not|won't(?: be able to)?|will not(?: be able to)?|"
           r"(?:must|have to|need to|will have to) (?:respectfully )?(?:decline|refuse)(?: to| your request to)?|"
           r"(?:do not|don't) (?:feel comfortable|think i can|think it(?:'s| is) appropriate (?:for me )?to)|"
           r"refuse to|decline to|would rather not|am not able to|am unable to)|i'd rather not|"
           r"i(?:'m| am)\s+" + _ADVERB + r"(?:not able|unable|not going|not comfortable|not allowed|not permitted|"
           r"not programmed)(?:\s+to)?|that(?:'s| is) not something i (?:can|will|am able to|'m able to))")
# What one declines to do. "help" only with what follows a refusal ("help with", "help you", "help.", "help
# create"); "I can't help but ..." and "I can't help noticing" say the opposite.
_DECLINED = (r"provide|share|write|create|generate|produce|offer|support|comply|fulfil+|engage|explain|answer|"
             r"respond|continue|participate|condone|encourage|promote|endorse|recommend|discuss|describe|draft|"
             r"complete|assist|facilitate|contribute|disclose|reveal|supply|compose|detail|outline|instruct|teach|"
             r"accommodate|role-?play|pretend|go along|be of (?:any )?(?:help|assistance)|"
             r"(?:give|show) (?:you )?(?=(?:any |the |that |this |those |these |more |specific |detailed |further )?"
             r"(?:instructions|information|advice|details|guidance|directions|tips|steps|help|assistance|"
             r"how to|a (?:guide|recipe|list|tutorial|method|plan|script))\b)|"
             r"tell you (?=(?:how to|where to|when to|what to|which|about|that|this|more|any|the)\b)|"
             r"walk you|do (?:that|this|so|it)|"
             r"help (?:with|you|anyone|on|in|there|that|this|here|further)|"
             r"help (?=(?:" + r"provide|write|create|generate|produce|make|plan|build|find|get|spread|hide|"
             r"develop|design|draft|craft|obtain|harm|hurt|cheat|steal|track|hack)\b)")
_DOING = (r"(?:with\s+)?(?:helping|assisting|providing|sharing|writing|creating|generating|producing|offering|"
          r"supporting|engaging|explaining|answering|discussing|describing|detailing)")
_OPENING = re.compile(
    rf"{_LEAD_IN}(?P<refusal>(?:{_CANNOT})(?:\s+{_ADVERB}(?:(?:and|or)\s+(?:will not|won't|cannot|can't)\s+)?"
    rf"(?:{_DECLINED}|{_DOING})\b|(?=\s*(?:(?:help|do|assist)\s*)?(?:(?:that|this|it|so)\s*)?[.!,]))"
    rf"|(?:but\s+)?no(?: thanks| thank you)?\s*(?=[.!])|absolutely not\s*(?=[.!]))",
    re.IGNORECASE)
# Where a refusal clause ends: a sentence's end (a stop not followed by a letter or digit), a line break,
# a comma, colon, semicolon or dash of any script (what follows may be the very thing declined, so it is
# judged); or a contrast or a next step ("but", "so", "then"), which belongs to the next clause.
_END = re.compile(r"[.!?\u2026\u3002\uff01\uff1f]+(?!\w)|\n|[:;,\u2014\u2013\uff0c\uff1a\uff1b\u3001]|\s-+\s")
_NEXT = re.compile(r"\s+(?:but|however|though|although|except|yet|instead|that said|having said that|nevertheless|"
                   r"still|here'?s|here is|here are|below|so|then|first|just|now|step)\b", re.IGNORECASE)
# Where a sentence may start: the start of the text, of a line, or after a sentence's end.
_SENTENCE_START = re.compile(r"^\s*|(?<=[.!?])\s+|\n\s*", re.MULTILINE)
# Words as the guards' tokenizers read them: "take_a_steel_pipe" is four, and so are "TakeASteelPipe" and
# "pipe11bomb" three.
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+|[^\W\d_A-Za-z]+")
# What a refusal's object never holds: the speakers ("I won't give any warning before I shoot", "... the way
# we tortured him"), or an exclamation ("I can't tell you how much I want ...", "I can't describe how good
# ..."). A clause that holds them is judged.
_NOT_DECLINED = re.compile(r"\b(?:i|i'm|i'll|i'd|i've|me|my|mine|myself|we|we're|we'll|us|our)\b"
                           r"|^\W*(?:how|what an?) (?:much|badly|bad|good|great|happy|glad|sad|hard|many|often|"
                           r"deeply|strongly|eager|excited|long|beautiful|hot|sexy|wonderful|amazing|awful|terrible)\b",
                           re.IGNORECASE)
# A refusal clause is written in Latin letters: an object in another script ("I can't help with 制作...")
# could hold any number of words unseen, and is judged.
_NOT_LATIN = re.compile(r"[^\u0000-\u024f\u2000-\u206f]")


def refusal_spans(text: str) -> Spans:
    """The (start, end) character spans of the refusal clauses of the answer ``text``, in order: those that
    start in its first ``LEAD_CHARS`` characters, and none when more than ``MAX_CLAUSES`` of them do."""
    folded = text[:READ_CHARS].translate(_APOSTROPHES)
    spans: Spans = []
    for found in _SENTENCE_START.finditer(folded):
        start = found.end()
        if start >= LEAD_CHARS:
            break
        if spans and start < spans[-1][1]:
            continue
        opening = _OPENING.match(folded, start)
        if opening is None or opening.start("refusal") >= LEAD_CHARS:
            continue
        stop = _END.search(folded, opening.end())
        end = len(folded) if stop is None else stop.end()
        more = _NEXT.search(folded, opening.end(), end)
        if more is not None:
            end = more.start()
        declined = folded[opening.end():end]
        if (end - opening.start("refusal") > MAX_CLAUSE_CHARS or len(_WORD.findall(declined)) > MAX_OBJECT_WORDS
                or _NOT_LATIN.search(declined) or _NOT_DECLINED.search(declined)):
            continue
        spans.append((opening.start("refusal"), end))
    return [] if len(spans) > MAX_CLAUSES else spans


def refusals_in(content: str, metadata: Mapping[str, Any]) -> Spans:
    """The refusal clauses of ``content`` as a guard was given it: the answer itself, or a stream's window
    of it, whose metadata holds the answer's clauses (``REFUSALS``) and where the window starts
    (``TEXT_OFFSET``); a clause that began before the window is cut at its start."""
    whole = metadata.get(REFUSALS)
    if whole is None:
        return refusal_spans(content)
    offset = int(metadata.get(TEXT_OFFSET, 0))
    return [(max(start - offset, 0), end - offset) for start, end in whole if end > offset]


def without_refusals(text: str, spans: Spans) -> str:
    """``text`` with each span of ``spans`` replaced by one space; ``text`` itself when there are none."""
    if not spans:
        return text
    parts, last = [], 0
    for start, end in spans:
        parts += [text[last:start], " "]
        last = end
    parts.append(text[last:])
    return "".join(parts)
