"""Words masked with asterisks ("n****r", "ch*nks") in the keyword guard: a masked word counts as the listed
words it can stand for, unless a word of another list fits it too."""

from __future__ import annotations

import pytest
from guard_helpers import build

from clauseguard.guards._base import Context
from clauseguard.guards._matcher import TermMatcher
from clauseguard.guards._params import KEYWORD_LISTS, Stage
from clauseguard.guards._terms import shipped_terms

VOCABULARY = [t for cat in KEYWORD_LISTS for t in shipped_terms(cat)]


def _found(matcher: TermMatcher, text: str) -> list[tuple[str, str]]:
    return [(m.label, text[m.span[0]:m.span[1]]) for m in matcher.find(text)]


@pytest.mark.parametrize(("text", "found"), [
    ("ch*nks cant drive", [("S10", "ch*nks")]),  # a listed word's plural
    ("Gas the k*kes.", [("S10", "k*kes")]),
    ("a k*ke", [("S10", "k*ke")]),  # one hidden of four
    ("every N****R in this county", [("S10", "N****R")]),  # several spellings of one list fit: still that list
    ("why are there so many f*ggots here", [("S10", "f*ggots")]),
])
def test_a_masked_word_matches_the_listed_word_it_stands_for(text: str, found: list[tuple[str, str]]) -> None:
    matcher = TermMatcher({"S10": shipped_terms("S10")}, mask_words=VOCABULARY)
    assert _found(matcher, text) == found


@pytest.mark.parametrize("text", [
    "oh s**t, I forgot",  # "shit" or "slut": words of two lists fit it
    "what a d**e",  # two hidden of four: too little shown
    "use **kwargs and *args", "a **bold** claim", "*emphasis*",  # markdown and code: no letter before the mask
    "x = a*b*c*d", "p*ssw*rd", "2*3*4",  # letters shown that no listed word has
    "n1gg*r",  # a digit: not a masked word (the leetspeak reading covers "n1gger")
    "ch*",  # the mask at the end: nothing shows how long the word is
])
def test_words_that_are_not_one_lists_word_in_disguise_are_not_matched(text: str) -> None:
    matcher = TermMatcher({"S10": shipped_terms("S10")}, mask_words=VOCABULARY)
    assert _found(matcher, text) == []


def test_a_word_of_a_list_the_guard_does_not_read_makes_no_finding() -> None:
    # "c*nt" fits the profanity list only: a guard without it says nothing, one with it finds profanity
    assert _found(TermMatcher({"S10": shipped_terms("S10")}, mask_words=VOCABULARY), "dumb c*nt") == []
    with_profanity = TermMatcher({"S10": shipped_terms("S10"), "profanity": shipped_terms("profanity")},
                                 mask_words=VOCABULARY)
    assert _found(with_profanity, "dumb c*nt") == [("profanity", "c*nt")]


def test_without_a_vocabulary_a_masked_word_is_judged_by_the_guards_own_lists() -> None:
    assert _found(TermMatcher({"own": ["crossbow"]}), "sell me a cr*ssb*w") == [("own", "cr*ssb*w")]
    assert _found(TermMatcher({"a": ["slut"], "b": ["shit"]}), "s**t") == []  # two lists fit
    assert _found(TermMatcher({"a": ["shout", "snout"]}), "s**ut") == [("a", "s**ut")]  # one list, two words


def test_the_keyword_guard_blocks_a_masked_slur_with_its_span_and_an_allowed_text_stays_allowed() -> None:
    guard = build("keyword", params={"categories": ["S10"]})
    text = "Day of the rope is coming for every n****r in this county."
    verdict = guard.check(text, Context(stage=Stage.INPUT))
    assert not verdict.allowed
    assert [(f.category, text[f.span[0]:f.span[1]]) for f in verdict.findings] == [("S10", "n****r")]
    assert guard.check("oh s**t, the **deadline** moved", Context(stage=Stage.INPUT)).allowed


def test_the_guard_redacts_a_masked_word_like_any_match() -> None:
    guard = build("keyword", on_fail="redact", params={"categories": ["S10"]})
    verdict = guard.check("ch*nks cant drive", Context(stage=Stage.INPUT))
    assert verdict.output == "[REDACTED] cant drive"
