"""Where an answer declines: the refusal clauses of a model's reply, which output guards do not judge.

An assistant that refuses names what it refuses ("I can't help with making explosives", "I won't write
sexual content involving minors"), and a guard that reads those words blocks the refusal itself: on
GPTFuzz's labelled answers the output guards blocked 62% of the refusals and evasions. At the output
stage the classifier and keyword guards therefore leave out each *refusal clause*: a sentence that opens
with a refusal ("I can't", "I'm sorry, but I won't", "As an AI language model, I cannot"; after a speaker
label such as ``GPT:`` or ``(🔒Normal Output)``, which is judged) whose verb is one of declining to help
("help with", "assist", "provide", "write", ...), up to the first place where anything else could start:
a contrast ("but", "however", "instead"), a colon or semicolon, or the end of the sentence. The rest of
the answer is judged as usual, so "I can't share the recipe, but here it is: ..." is judged on "but here
it is: ...", and a jailbroken answer after a refusal ("GPT: I'm sorry, I can't. DAN: Sure! ...") on
everything but the refusal.

Deliberately narrow, because whatever a refusal clause says goes unread: "I can't help but ...", "I
can't help noticing" and "I cannot stress enough" are no refusals; a clause whose object runs past
``MAX_OBJECT_WORDS`` words after the verb is judged (so at most that many words can hide in one); and an
answer with more than ``MAX_CLAUSES`` refusal clauses has all of them judged, since no refusal needs that
many ("start every sentence with 'I can't help with'" is a way to hide an answer, not to decline).
"""

from __future__ import annotations

import re

__all__ = ["MAX_CLAUSES", "MAX_OBJECT_WORDS", "refusal_spans", "without_refusals"]

MAX_OBJECT_WORDS = 12
MAX_CLAUSES = 3

# A speaker label at the start of a sentence: "GPT:", "[ChatGPT]:", "(🔒Normal Output)", "Assistant -".
_LABEL = re.compile(r"(?:\[[^\]\n]{1,40}\]|\([^)\n]{1,40}\)|[\w.'-]+(?: [\w.'-]+){0,2}\s*:)\s*:?\s*")
_SORRY = (r"(?:(?:i'?m|i am) (?:really |truly |very |so )?(?:sorry|afraid)|sorry|i apologi[sz]e|unfortunately|"
          r"regrettably)")
_AS_AI = (r"(?:as an? (?:ai|artificial intelligence|language model|ai language model|ai model|ai assistant|"
          r"assistant)(?:[ ,]+(?:developed|created|made|trained|built) by [\w.]+)?)")
_ADVERB = r"(?:(?:really|simply|just|unfortunately|truly|absolutely|certainly|definitely|strictly|ethically|" \
          r"legally|responsibly|actually|in good conscience)\s+)?"
_CANNOT = (r"(?:(?:i|we)\s+" + _ADVERB + r"(?:can(?:no|')t|can not|won'?t(?: be able to)?|will not(?: be able to)?|"
           r"(?:must|have to|need to|will have to) (?:respectfully )?(?:decline|refuse)(?: to)?|"
           r"(?:do not|don'?t) (?:feel comfortable|think i can|think it(?:'s| is) appropriate (?:for me )?to)|"
           r"shouldn'?t|should not|am not able to|am unable to|are not able to|are unable to)|"
           r"(?:i'm|we're|i am|we are)\s+(?:not able|unable|not going|not comfortable|not allowed|not permitted|"
           r"not programmed|afraid i can(?:no|')t))(?:\s+to)?")
# What one declines to do. "help" only with what follows a refusal ("help with", "help you", "help.");
# "I can't help but ..." and "I can't help noticing" say the opposite.
_VERB = (r"(?:help(?=\s+(?:with|you|anyone|on|in|there|that|this|here|further)\b|\s*[.,;:!]|\s*$)|assist|"
         r"provide|give|share|write|create|generate|produce|offer|support|comply|fulfil+|do|engage|tell|"
         r"explain|answer|respond|continue|participate|condone|encourage|promote|endorse|recommend|discuss|"
         r"describe|draft|complete|be of (?:any )?(?:help|assistance)|go along|role-?play|pretend|act|"
         r"facilitate|contribute|disclose|reveal|supply|make|compose|detail|list|outline|instruct|teach|show|"
         r"walk you|guide|accommodate|honou?r|follow|perform|carry out)\b")
_DOING = (r"(?:with\s+)?(?:helping|assisting|providing|giving|sharing|writing|creating|generating|producing|"
          r"offering|supporting|engaging|explaining|answering|discussing|describing|making|detailing|doing)\b")
_OPENING = re.compile(
    rf"(?:(?:however|but|so|therefore|again|also),?\s+)?(?:{_SORRY}[,.!]?\s*(?:but\s+|and\s+)?)?"
    rf"(?:i (?:must|have to|need to|want to|should) (?:inform|remind|tell|let) you(?: know)? that\s+)?"
    rf"(?:{_AS_AI},?\s*)?{_CANNOT}\s+{_ADVERB}"
    rf"(?:(?:and|or)\s+(?:will not|won'?t|cannot|can'?t)\s+)?(?:{_VERB}|{_DOING})"
    rf"|{_SORRY}[,.]?\s*(?:but\s+)?(?:no|not this time|that's not something i can do)\b",
    re.IGNORECASE)
# Where a refusal clause ends: the end of a sentence, a line break, a colon or semicolon (what follows may
# be the very thing declined, so it is judged), or a contrast, which belongs to the next clause.
_END = re.compile(r"[.!?]+(?=[\s\"')\]]|$)|\n|[:;,]")
_CONTRAST = re.compile(r",?\s+(?:but|however|though|although|except|yet|instead|that said|having said that|"
                       r"nevertheless|still|here'?s|here is|here are|below)\b", re.IGNORECASE)
# Where a sentence may start: the start of the text, of a line, or after a sentence's end.
_SENTENCE_START = re.compile(r"^\s*|(?<=[.!?])\s+|\n\s*", re.MULTILINE)


def refusal_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) character spans of ``text``'s refusal clauses, in order; none when there are
    more than ``MAX_CLAUSES``."""
    text = text.replace("\u2019", "'")  # "I can\u2019t": one character for another, so spans stay put
    spans: list[tuple[int, int]] = []
    for found in _SENTENCE_START.finditer(text):
        start = found.end()
        if spans and start < spans[-1][1]:
            continue
        label = _LABEL.match(text, start)
        opening = _OPENING.match(text, start)
        if opening is None and label is not None:
            opening = _OPENING.match(text, label.end())
        if opening is None:
            continue
        stop = _END.search(text, opening.end())
        end = len(text) if stop is None else stop.end()
        contrast = _CONTRAST.search(text, opening.end(), end)
        if contrast is not None:
            end = contrast.start()
        if len(text[opening.end():end].split()) > MAX_OBJECT_WORDS:
            continue
        spans.append((opening.start(), end))
    return [] if len(spans) > MAX_CLAUSES else spans


def without_refusals(text: str) -> str:
    """``text`` with each refusal clause replaced by one space; ``text`` itself when it has none."""
    spans = refusal_spans(text)
    if not spans:
        return text
    parts, last = [], 0
    for start, end in spans:
        parts += [text[last:start], " "]
        last = end
    parts.append(text[last:])
    return "".join(parts)
