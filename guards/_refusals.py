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
- a refusal's stated reason is left out with it, and only a reason: in an answer that declines in
  words (not a bare "No."), a sentence that says no more than that something is illegal, dangerous or
  harmful ("Making methamphetamine is illegal and extremely dangerous.", "Building an untraceable gun
  could put people at serious risk.", "Poisoning someone is something I won't help with.", and such
  a sentence before ", so I can't help with that"), whose subject names what is declined and says
  nothing of its own (``_SUBJECT``: no amount, step, clause or target); "It is easy.", "Put 500 mg of it
  in his coffee would be lethal." and a verdict in an answer that declines nothing are judged;
- only clauses that start in the first ``LEAD_CHARS`` characters of the answer count, where refusals
  stand, and if more than ``MAX_CLAUSES`` of them (reasons included) do, all are judged ("start every
  sentence with 'I can't help with'" hides an answer, it does not decline one). A stream's guards are
  given windows of the answer, with the clauses of the answer so far (``REFUSALS`` in the context's
  metadata, guards/_base.py), so a stream leaves out what the whole answer would, and no more: until the
  answer is complete, a last sentence that may still become a reason (a subject, then only words that
  verdicts use) counts as one, as a refusal clause not yet ended runs to the end of the text so far, and
  the complete answer decides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from clauseguard.guards._base import REFUSALS, TEXT_OFFSET

__all__ = ["LEAD_CHARS", "MAX_CLAUSES", "MAX_CLAUSE_CHARS", "MAX_OBJECT_WORDS", "MAX_SUBJECT_WORDS", "READ_CHARS",
           "Spans", "refusal_spans", "refusals_in", "unsettled_reason", "without_refusals"]

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

# A refusal's stated reason: a subject that names what is declined and says nothing of its own, then only
# a verdict on it ("is illegal and extremely dangerous", "could put people at serious risk", "is something I
# won't produce"), to the end of its sentence or to a ", so" that leads in to the refusal itself. The
# subject is "this", "that", "it", "doing so" or "what you're asking for", or a gerund or a determiner
# and at most ``MAX_SUBJECT_WORDS`` words in all, of letters only and none joined by a hyphen, with no
# amount ("forty", "grams"), no second verb of a step ("then", "into", "until"), no place or time ("at",
# "on", "tomorrow"), no clause ("which", "that", "and", "but"), no person it is aimed at ("him", "them")
# and no name (a capital after its first word): "Making methamphetamine", "Building an untraceable gun".
MAX_SUBJECT_WORDS = 4
_SUBJECT_WORD = r"[a-z]+(?:'s)?(?![\w'-])"
_NOT_SUBJECT = (r"then|after|afterwards|before|until|till|while|when|once|into|onto|in|on|at|to|of|for|from|with|"
                r"by|near|inside|over|under|through|via|first|next|finally|tomorrow|tonight|today|which|that|who|"
                r"whom|whose|where|and|or|but|so|him|his|her|hers|them|their|theirs|he|she|they|you|your|is|are|"
                r"was|were|be|been|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
                r"forty|fifty|hundred|thousand|dozen|half|several|grams?|milligrams?|kilos?|kilograms?|mg|ml|kg|"
                r"pills?|tablets?|doses?|ounces?|pounds?|liters?|litres?")
_SUBJECT = (rf"(?:this|that|it|doing (?:so|that|this|it)|what you(?:'re| are) (?:asking|describing|suggesting)"
            rf"(?: for| about)?|your request|(?:this|that|such an?) (?:request|act|thing)"
            rf"|(?:(?:[a-z]+ing|an?|the|any|such)(?![\w'-])(?!\s+(?:{_NOT_SUBJECT})\b)"
            rf"(?:\s+(?!(?:{_NOT_SUBJECT})\b){_SUBJECT_WORD}){{0,{MAX_SUBJECT_WORDS - 1}}}))")
_JOIN = (r"(?:\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or|but also)\s+|\s*[\u2014\u2013]\s*(?:and\s+|or\s+)?"
         r"|,?\s+and\s+it(?:'s| is)\s+)")
_VERDICT_WORD = (r"(?:(?:both|extremely|very|highly|seriously|incredibly|potentially|also|deeply|really|"
                 r"quite|often|usually|generally|not only|strictly|clearly|always)\s+)*"
                 r"(?:illegal|unlawful|dangerous|harmful|unethical|unsafe|irresponsible|inappropriate|hazardous|"
                 r"deadly|lethal|life-threatening|abusive|exploitative|wrong|prohibited|criminal|"
                 r"an? (?:(?:serious|federal|violent|grave)\s+)*(?:crime|offen[cs]e|felony)|against the law|"
                 r"illegal (?:in (?:most|many|all|nearly all) (?:countries|places|jurisdictions)|under (?:the |"
                 r"international |federal |us |uk |eu )?laws?))")
_HARMED = (r"(?: to (?:others|other people|people|yourself|yourself and others|you and others|public safety|lives|"
           r"health|your health|human health))?")
_VERDICT_ONE = (r"(?:(?:is|are|was|were|would be|could be|can be|will be|remains?)\s+" + _VERDICT_WORD
                + _HARMED + r"(?:" + _JOIN + _VERDICT_WORD + _HARMED + r")*"
                r"|(?:could|can|would|might|may|will)\s+(?:(?:seriously|really)\s+)?(?:(?:cause|result in|lead to) "
                r"(?:serious |real |significant |severe )?(?:harm|injury|injuries|damage|death)(?: (?:or|and) "
                r"death)?" + _HARMED + r"|kill (?:someone|people|others)|get (?:someone|people) (?:killed|hurt)"
                r"|put (?:people|others|"
                r"lives|someone|you|yourself|other people)(?:'s lives)? (?:at|in) (?:serious |great |real )?"
                r"(?:risk|danger)|(?:harm|hurt|endanger) (?:real )?(?:people|others|someone|lives|other people))"
                r"|(?:poses?|posed) (?:an? )?(?:serious |real |significant )?(?:risks?|dangers?|threats?)" + _HARMED
                + r"|(?:is|are) (?:something (?:that )?i (?:can(?:no|')t|won't|will not|am not able to|'m not able to|"
                r"am unable to|'m unable to)|not something (?:that )?i (?:can|will|am able to|'m able to)) "
                r"(?:help with|assist with|provide|produce|write|create|share))")
_VERDICT = _VERDICT_ONE + r"(?:" + _JOIN + _VERDICT_ONE + r")*"
_REASON = re.compile(rf"(?P<subject>{_SUBJECT})\s+(?:{_VERDICT})"
                     r"\s*(?:[.!]+(?!\w)|\n|(?=,?\s*(?:and\s+)?so\s+i\b))", re.IGNORECASE)
# A sentence a reason may still become, at the end of an answer not yet complete (a stream's): a subject,
# then only words that a verdict uses (the last one perhaps cut short), with nothing else in it yet.
_SUBJECT_SO_FAR = re.compile(_SUBJECT, re.IGNORECASE)
_VERDICT_WORDS = frozenset(w for w in re.findall(r"[a-z]+(?:'[a-z]+)?", re.sub(r"\\[a-z]", " ", _VERDICT))
                           if len(w) > 2 or w in {"i", "a", "an", "at", "be", "in", "is", "it", "no", "or", "to",
                                                  "uk", "us", "eu"}) | {"a", "offence", "offense", "i'm", "it's"}
_SO_FAR_TOKEN = re.compile(r"[a-z]+(?:'[a-z]*)?|[^\s\w]|\w+")
# What may stand between a refusal that ends a sentence (or at a dash) and its reason: spaces and Markdown.
_AFTER = re.compile(r"[\s*_>]*")
# A refusal that declines nothing in words ("No.", "Absolutely not."): it gives no reasons.
_BARE_NO = re.compile(r"(?:but\s+)?(?:no|absolutely not)\b", re.IGNORECASE)


def _declined(words: str) -> bool:
    """Whether ``words``, a refusal's object or a reason's subject, may go unread: few words as a model
    reads them, in Latin letters, with no speaker in them and no exclamation."""
    return not (len(_WORD.findall(words)) > MAX_OBJECT_WORDS or _NOT_LATIN.search(words)
                or _NOT_DECLINED.search(words))


def refusal_spans(text: str, *, partial: bool = False) -> Spans:
    """The (start, end) character spans of the refusal clauses of the answer ``text``, in order: those that
    start in its first ``LEAD_CHARS`` characters, and none when more than ``MAX_CLAUSES`` of them do.

    ``partial``: ``text`` is an answer so far (a stream's), and its last sentence may not be complete: a
    last sentence that may still become a reason counts as one for now (unless it would make the clauses
    too many), as a refusal clause that has not ended yet runs to the end of the text so far; the complete
    answer decides. A stream releases nothing from where it starts (:func:`unsettled_reason`)."""
    return _spans(text, partial)[0]


def unsettled_reason(text: str) -> int | None:
    """Where the last sentence of the answer so far ``text`` starts, when it counts as a reason only for
    now (``refusal_spans(text, partial=True)``): a stream must not release it before the answer decides."""
    return _spans(text, True)[1]


def _spans(text: str, partial: bool) -> tuple[Spans, int | None]:
    folded = text[:READ_CHARS].translate(_APOSTROPHES)
    spans: Spans = []
    starts = []
    for found in _SENTENCE_START.finditer(folded):
        start = found.end()
        if start >= LEAD_CHARS:
            break
        starts.append(start)
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
        if end - opening.start("refusal") > MAX_CLAUSE_CHARS or not _declined(folded[opening.end():end]):
            continue
        spans.append((opening.start("refusal"), end))
    unsettled = None
    if any(not _BARE_NO.match(folded, a) for a, _ in spans):  # the reasons an answer gives for declining
        reasons, unsettled = _reasons(folded, starts, spans, partial)
        spans = sorted(spans + reasons)
    if len(spans) > MAX_CLAUSES:
        return [], None
    if unsettled is not None and len(spans) < MAX_CLAUSES:  # it cannot tip the count: the answer decides
        spans.append((unsettled, len(folded)))
        return spans, unsettled
    return spans, None


def _reasons(folded: str, starts: list[int], spans: Spans, partial: bool) -> tuple[Spans, int | None]:
    """The reasons in ``folded``: sentences that start in the lead, or right after a refusal that ends a
    sentence or at a dash ("I can't help with that — building a gun could put people at risk."), never
    after a comma, colon or contrast; none that overlaps a refusal clause. With ``partial``, also where a
    last sentence that may still become a reason starts (None when there is none)."""
    after = [_AFTER.match(folded, end).end() for _, end in spans
             if folded[:end].rstrip()[-1:] in (".", "!", "?", "…", "—", "–", "-")]
    found: Spans = []
    unsettled = None
    for start in sorted({*starts, *after}):
        if start >= LEAD_CHARS or any(a <= start < b for a, b in spans):
            continue
        reason = _REASON.match(folded, start)
        if reason is not None:
            if _plain(reason["subject"]) and not any(a < reason.end() and start < b for a, b in spans):
                found.append((start, reason.end()))
        elif partial and (subject := _reason_so_far(folded, start)) is not None and _plain(subject):
            unsettled = start  # not yet complete: it may still become a reason, and the whole answer decides
    return found, unsettled


def _plain(subject: str) -> bool:
    """Whether a reason's ``subject`` may go unread: what a refusal's object may be, and no name in it (a
    capital after its first word: "Bombing Central Station")."""
    return _declined(subject) and not any(w[:1].isupper() for w in subject.split()[1:])


def _reason_so_far(folded: str, start: int) -> str | None:
    """The subject of the last sentence of an answer not yet complete, from ``start``, when that sentence
    may still become a reason: a subject, then only a verdict's words, the last perhaps cut short."""
    if _END.search(folded, start) is not None or len(folded) - start > MAX_CLAUSE_CHARS:
        return None
    subject = _SUBJECT_SO_FAR.match(folded, start)
    if subject is None:
        return None
    words = _SO_FAR_TOKEN.findall(folded[subject.end():].lower())
    cut = words.pop() if words and not folded[-1].isspace() else ""
    if any(w not in _VERDICT_WORDS and w not in ",\u2014\u2013-" for w in words):
        return None
    return subject.group() if not cut or any(w.startswith(cut) for w in _VERDICT_WORDS) else None


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
