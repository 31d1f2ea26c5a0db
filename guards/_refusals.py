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

With the refusal clauses go the sentences that only say why or where to turn and name nothing the refusal
does not ("This would be illegal.", "Please reach out to a crisis line."): see "what goes with a refusal".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from clauseguard.guards._base import REFUSALS, TEXT_OFFSET

__all__ = ["LEAD_CHARS", "MAX_CLAUSES", "MAX_CLAUSE_CHARS", "MAX_OBJECT_WORDS", "MAX_REASONS", "READ_CHARS", "Spans",
           "refusal_spans", "refusals_in", "without_refusals"]

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
           r"not programmed)(?:\s+to)?|that(?:'s| is) not something i (?:can|will|am able to|'m able to)|"
           # the speaker left out after an AI names itself: "I'm a text-based AI and can't assist with that"
           r"(?:(?<=\bai and )|(?<=\bmodel and )|(?<=\bassistant and )|(?<=\bchatbot and ))"
           r"(?:can(?:no|')t|can not|won't|will not|am (?:not able|unable) to))")
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
    start in its first ``LEAD_CHARS`` characters, and none when more than ``MAX_CLAUSES`` of them do; with
    them, the reasons and referrals that go with a refusal (``MAX_REASONS`` at most; see ``_reasons``)."""
    folded = text[:READ_CHARS].translate(_APOSTROPHES)
    spans = _refusals(folded)
    if not spans:
        return []
    spans = _merged(spans + _more_refusals(folded, spans))
    if len(spans) > MAX_CLAUSES:
        return []
    return _merged(spans + _reasons(folded, spans))


def _refusals(folded: str) -> Spans:
    """The refusal clauses proper, of the folded answer (see refusal_spans)."""
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


# -- what goes with a refusal ----------------------------------------------------------------------
# A refusal often says why, or where to turn: "This would be illegal and could cause serious harm.", "Please
# reach out to a crisis line.", "If you're struggling with substance use, SAMHSA's helpline is 1-800-662-4357."
# Those sentences name a harm too, and the guards blocked refusals for them. In an answer with a refusal
# clause, a sentence of the lead that is wholly one of these is left out as well, and each says nothing the
# refusal clauses do not, so what goes unread is what the refusal clauses already leave out, and no more:
# - a reason whose subject is a pronoun ("this", "it", "doing so", "what you're asking for") or repeats
#   words of the refusal clauses and nothing else ("I can't help with making explosives. Making explosives
#   is dangerous."), with a verdict from a closed list (is illegal, dangerous, harmful, against the law, a
#   violation of privacy; could cause serious harm, puts lives at risk), and nothing after it; also after a
#   refusal clause's comma ("..., as it is illegal", "..., which is dangerous");
# - a referral to a helper from a closed list (a crisis line, a doctor, a mental health professional, local
#   authorities, emergency services, someone you trust, named helplines), with a phone number or none, after
#   "if you're" and a state from a closed list ("struggling", "in crisis", "thinking about hurting someone")
#   or not;
# - an offer from a closed list ("I can share some general information instead", "I'd be happy to point you
#   to support resources").
# Two more shapes are refusal clauses themselves and count as such (MAX_CLAUSES, MAX_OBJECT_WORDS): an object
# first ("A step-by-step plan to poison someone is something I won't produce."), and a refusal after an AI
# names itself ("..., as I'm only a language model and don't have the ability to provide instructions for
# making weapons."). A reason that names anything new ("Making ricin is illegal and deadly" after "I can't
# help with that") is judged: the answer may go on to explain it, and the reason would be the only place
# that names what (reviews of a looser rule found 71 of 161 harmful answers it let through).
MAX_REASONS = 3
_ADV = (r"(?:(?:very|extremely|highly|incredibly|deeply|seriously|really|both|also|potentially|clearly|simply|"
        r"not only)\s+)?")
_VERDICT = (r"(?:illegal|unlawful|dangerous|harmful|unsafe|unethical|immoral|irresponsible|inappropriate|hazardous|"
            r"risky|deadly|lethal|life-threatening|toxic|abusive|exploitative|criminal|"
            r"(?:a |an )?(?:serious |federal |violent |criminal )?(?:crime|offen[cs]e|felony)|against the law|"
            r"against (?:my |our |the )?(?:guidelines|policies|policy|principles|rules|terms|values)|"
            r"(?:a |an )?(?:serious |clear )?(?:violation|breach|invasion) of (?:the law|privacy|copyright|"
            r"(?:someone|people|others|a person)'s privacy|their privacy|intellectual property(?: rights)?))")
_WHO = r"(?:you|yourself|(?:real |innocent |vulnerable )?people|others|someone|anyone|lives|children|the public)"
_HARMS = (r"(?:(?:serious|real|significant|severe|lasting|irreversible|physical|legal|great|grave)\s+)?"
          r"(?:harm|injury|injuries|damage|death|deaths|legal consequences|criminal charges|prosecution|jail time)")
_HARM = (rf"(?:(?:cause|causes|lead to|leads to|result in|results in)\s+{_HARMS}(?:\s+(?:or|and)\s+{_HARMS})*"
         rf"(?:\s+to\s+{_WHO})?|(?:put|puts|place|places)\s+{_WHO}\s+(?:at|in)\s+"
         r"(?:(?:serious|real|significant|grave|great)\s+)?(?:risk|danger)|"
         rf"(?:seriously\s+)?(?:hurt|hurts|harm|harms|injure|injures|kill|kills|endanger|endangers)\s+{_WHO})")
_COPULA = r"(?:is|are|was|would be|could be|can be|may be|might be|will be|would also be|is also)\s+"
_MODAL = r"(?:(?:could|can|would|may|might|will|is likely to|are likely to)\s+(?:also\s+)?)?"
_PREDICATE = rf"(?:{_COPULA}{_ADV}{_VERDICT}|{_MODAL}{_HARM})"
_PREDICATES = (rf"{_PREDICATE}(?:\s*,?\s*(?:and|or|,)\s+(?:{_COPULA})?(?:{_ADV}{_VERDICT}|{_MODAL}{_HARM}))*"
               rf"(?:\s+(?:to|for)\s+(?:{_WHO}|everyone|the people involved|(?:you|yourself) and (?:others|"
               r"those around you|the people around you)))?"
               r"(?:\s+in (?:most|many|all|nearly all) (?:places|countries|jurisdictions|states))?")
_PRONOUN = (r"(?:this|that|it|doing so|doing that|which|such (?:a |an )?(?:request|content|information|activity|"
            r"thing)|what you(?:'re| are) (?:asking|describing|requesting|suggesting)(?: for| about)?)")
_SLOT = r"[^.!?\n:;,]{1,160}?"
# Where one ends: a sentence's end (Markdown may close first). Not the answer's end: a stream's answer so far
# may stop inside a sentence that goes on ("It is illegal in most states, but").
_STOP = r"\s*(?:\*\*|__|\*|_)?\s*[.!]+(?!\w)"
_MARKUP = r"[\s*_>#-]*"
_REASON = re.compile(
    rf"{_MARKUP}(?P<body>(?:{_PRONOUN}|(?P<echo>(?:[a-z]+ing|an?|the|any)\b{_SLOT}))\s+{_PREDICATES}"
    rf"(?:{_STOP}|\s*,?\s*(?:so|and so|which is why|that's why|that is why)(?=\s+i\b)))",
    re.IGNORECASE)
_AFTER_COMMA = re.compile(
    rf"[\s,]*(?P<body>(?:(?:as|because|since|given that)\s+(?:it|this|that|doing so)|which)\s+{_PREDICATES}{_STOP})",
    re.IGNORECASE)
_HELPER = (r"(?:(?:a|an|the|your|a local|local|your local)\s+)?(?:(?:trusted|qualified|licensed)\s+)?"
           r"(?:crisis (?:line|hotline|helpline|counsel+or)|suicide (?:and crisis )?(?:hotline|helpline|lifeline)|"
           r"helpline|hotline|lifeline|mental health (?:professional|provider|service)|(?:health ?care|medical) "
           r"(?:professional|provider)|professional|doctor|gp|therapist|counsel+or|pharmacist|poison control"
           r"(?: center| centre)?|emergency services|police|authorities|law enforcement|lawyer|attorney|"
           r"support (?:services?|groups?|line)|someone you trust|(?:an? )?(?:trusted )?(?:adult|friend|family "
           r"member)|friends? or family(?: members?)?|samaritans|rainn|samhsa(?:'s)?(?: national)? helpline|"
           r"the 988 (?:suicide (?:and|&) crisis )?lifeline|988|911|999|112|crisis text line)")
_PHONE = r"(?:\s+(?:at|on)\s+\+?[\d][\d\s().-]{1,18}\d)?"
_STATE = (r"(?:struggling(?: with (?:substance use|addiction|your mental health|these (?:thoughts|feelings)|"
          r"thoughts of (?:suicide|self-harm)))?|in crisis|in danger|going through a (?:hard|difficult|tough) time|"
          r"feeling (?:unsafe|overwhelmed|hopeless|suicidal|low|this way)|"
          r"(?:having thoughts of|thinking (?:about|of)) (?:suicide|self-harm|ending your life|harming (?:yourself|"
          r"someone|others)|hurting (?:yourself|someone|others)))")
_REFERRAL = re.compile(
    rf"{_MARKUP}(?P<body>(?:(?:if|when) you(?:'re| are)\s+{_STATE}\s*,\s*)?(?:(?:please|instead|so|but)\s*,?\s+)?"
    rf"(?:i (?:would |'d )?(?:strongly |really )?(?:encourage|urge|recommend|suggest)(?: that)? you(?: to)?\s+|"
    rf"you (?:can|could|should|may want to|might want to)\s+|consider\s+)?"
    rf"(?:reach(?:ing)? out to|contact(?:ing)?|call(?:ing)?|talk(?:ing)? to|speak(?:ing)? (?:to|with)|text(?:ing)?|"
    rf"get(?:ting)? in touch with|seek(?:ing)? help from)\s+{_HELPER}(?:\s+(?:or|and)\s+{_HELPER})*{_PHONE}"
    rf"(?:\s+(?:right away|immediately|as soon as (?:possible|you can)|for (?:support|help)|in your area))?{_STOP}|"
    rf"(?:(?:if|when) you(?:'re| are)\s+{_STATE}\s*,\s*)?{_HELPER}\s+(?:is|are)\s+(?:available|free|there to help|"
    rf"(?:free and )?confidential)?{_PHONE}{_STOP}|"
    rf"(?:(?:if|when) you(?:'re| are)\s+{_STATE}\s*,\s*)?{_HELPER}(?:'s)?\s+(?:number\s+)?is\s+"
    rf"\+?[\d][\d\s().-]{{1,18}}\d{_STOP})",
    re.IGNORECASE)
_OFFER = re.compile(
    rf"{_MARKUP}(?P<body>(?:but\s+|however,?\s+|instead,?\s+)?i(?:'d| would)? (?:be (?:happy|glad) to|can|could)\s+"
    rf"(?:share|offer|provide|give you|point you (?:to|toward|towards))\s+(?:some\s+)?(?:general (?:information|"
    rf"safety information)|safety information|support resources|resources|safe alternatives|information about "
    rf"(?:staying safe|support|the law|getting help))(?:\s+instead)?{_STOP})",
    re.IGNORECASE)
# Refusal clauses of other shapes, held to what a refusal clause is.
_TAIL = r"(?:\s+(?:here|for you|in any form|under any circumstances|in any way))?"
_FRONTED = re.compile(
    rf"{_MARKUP}(?P<body>(?P<slot>(?:[a-z]+ing|an?|the|any)\b{_SLOT})\s+(?:is|are)\s+(?:not\s+)?(?:something|"
    rf"a thing|one thing|content|a request|information)\s+(?:that\s+)?(?:{_CANNOT})\s+{_ADVERB}(?:{_DECLINED}|"
    rf"{_DOING})\b{_TAIL}{_STOP})",
    re.IGNORECASE)
_BARE_CANNOT = (r"(?:can(?:no|')t|can not|won't|will not|(?:do not|don't) have the (?:ability|capability|capacity|"
                r"means) to|am (?:not able|unable) to)")
_AS_AI = re.compile(
    rf"[\s,]*(?P<body>(?:as|because|since)\s+i(?:'m| am)\s+(?:only |just |merely )?an?\s+(?:[\w-]+\s+){{0,2}}?"
    rf"(?:ai|model|assistant|chatbot)\s*,?\s*(?:and|so)\s+(?:i\s+)?{_BARE_CANNOT}\s+(?:{_DECLINED}|{_DOING})\b"
    rf"(?P<slot>{_SLOT})?{_STOP})",
    re.IGNORECASE)
# Words that say nothing of what a reason is about, so a reason may hold them though its refusal does not.
_FUNCTION = frozenset(("a", "an", "the", "any", "such", "this", "that", "these", "those", "of", "to", "for", "with",
                       "on", "in", "or", "and", "your", "someone", "something", "anything", "it"))


def _object_ok(slot: str | None) -> bool:
    """Whether ``slot`` is no more than a refusal clause's object may be (see the module's docstring)."""
    return not slot or (len(_WORD.findall(slot)) <= MAX_OBJECT_WORDS and not _NOT_LATIN.search(slot)
                        and not _NOT_DECLINED.search(slot))


def _content(text: str) -> set[str]:
    """The words of ``text`` that say what it is about, folded, a plural's "s" dropped."""
    words = (w.casefold() for w in _WORD.findall(text))
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words} - _FUNCTION


def _more_refusals(folded: str, refusals: Spans) -> Spans:
    """Refusal clauses of the other two shapes (object first; after an AI names itself) in the lead."""
    ends = {end for _, end in refusals}
    found: Spans = []
    for start in sorted({m.end() for m in _SENTENCE_START.finditer(folded)} | ends):
        if start >= LEAD_CHARS:
            break
        if any(s <= start < e for s, e in refusals + found):
            continue
        for pattern in (_FRONTED, _AS_AI) if start in ends else (_FRONTED,):
            match = pattern.match(folded, start)
            if match is not None and _object_ok(match.group("slot")):
                found.append((match.start("body"), match.end()))
                break
    return found


def _reasons(folded: str, refusals: Spans) -> Spans:
    """The reasons, referrals and offers that go with the refusal clauses ``refusals`` (see above): none when
    more than MAX_REASONS sentences of the lead are such."""
    said = set().union(*(_content(folded[s:e]) for s, e in refusals))
    starts = sorted({m.end() for m in _SENTENCE_START.finditer(folded)} | {end for _, end in refusals})
    ends = {end for _, end in refusals}
    found: Spans = []
    while starts:
        start = starts.pop(0)
        if start >= LEAD_CHARS:
            break
        if any(s <= start < e for s, e in refusals + found):
            continue
        for pattern in (_REASON, _REFERRAL, _OFFER) + ((_AFTER_COMMA,) if start in ends else ()):
            match = pattern.match(folded, start)
            if match is None:
                continue
            echo = match.groupdict().get("echo")
            if echo and not (_object_ok(echo) and _content(echo) <= said):
                continue  # a reason about something the refusal does not name
            found.append((match.start("body"), match.end()))
            starts = sorted({*starts, match.end()})
            break
    return [] if len(found) > MAX_REASONS else found


def _merged(spans: Spans) -> Spans:
    """``spans`` in order, overlapping or touching ones joined."""
    out: Spans = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


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
