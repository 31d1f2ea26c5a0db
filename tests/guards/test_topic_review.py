"""Disclaimers, topic detection and the AI label, after review: each test names what was wrong.

The topic guard runs on a fake detector (its logic, not the heads'); the disclaimer guard's lexical
detector and the ai_disclosure guard are the shipped ones. Streams are checked against check_output.
"""

from __future__ import annotations

import pytest
from guard_helpers import build

from clauseguard.guards import Context, Pipeline
from clauseguard.guards.disclaimer import DEFAULT_TEXTS

ANSWER = "Take 400 mg of ibuprofen every 6 hours for the fever."
MEDICAL = DEFAULT_TEXTS["medical"]
OWN = "Not medical advice: talk to a doctor."
NOTICE = "You are talking to an AI system, not a person."


@pytest.fixture
def fake_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    """The topic model finds medicine in every text that mentions ibuprofen."""
    import clauseguard.guards.topic as mod

    class Detector:
        def __init__(self) -> None:
            self.topics = ["medical", "legal", "financial", "elections"]

        def scores(self, texts: list[str]) -> list[list[float]]:
            return [[0.9 if "ibuprofen" in t else 0.0, 0.0, 0.0, 0.0] for t in texts]

    detector = Detector()
    monkeypatch.setattr(mod, "get_detector", lambda: detector)


def _disclaimer(**params: object):
    return build("disclaimer", stage="output", on_fail="disclaim", params={"topics": ["medical"], **params})


def _disclosure():
    return build("ai_disclosure", stage="output", on_fail="label")


def _both(pipeline: Pipeline, text: str, turn: int = 1) -> tuple[str, str]:
    """check_output's output and the same text streamed in two chunks."""
    stream = pipeline.stream_output([text[:10], text[10:]], Context(turn=turn))
    return pipeline.check_output(text, Context(turn=turn)).output, "".join(stream)


# -- 1. one disclaimer per topic: the operator's text, already in the answer, is not joined by the default -----

def test_the_topic_guard_adds_no_default_where_the_operators_disclaimer_is_shown(fake_detector: None) -> None:
    """The topic guard looked only for its own default text: an answer carrying the operator's medical
    disclaimer (the disclaimer guard's text) got the shipped default as well, two medical disclaimers."""
    pipeline = Pipeline([_disclaimer(texts={"medical": OWN}),
                         build("topic", stage="output", on_fail="disclaim", params={"topics": ["medical"]})])
    answer = f"{ANSWER}\n\n{OWN}"
    assert _both(pipeline, answer) == (answer, answer)
    verdict = pipeline.check_output(answer, Context(turn=1))
    assert "disclaimers" not in verdict.metadata and verdict.metadata["disclaimers_present"] == ["medical"]
    stream = pipeline.stream_output([answer[:10], answer[10:]], Context(turn=1))
    assert "".join(stream) == answer
    assert "disclaimers" not in stream.verdict.metadata  # it named the default text the stream never added


def test_combine_drops_a_disclaimer_for_a_topic_another_guard_found_shown() -> None:
    from clauseguard.guards import Action, Verdict
    from clauseguard.guards._combine import combine

    shown = Verdict(allowed=True, action=Action.ALLOW, output="x", metadata={"disclaimers_present": ["medical"]})
    added = Verdict(allowed=True, action=Action.DISCLAIM, output=None, metadata={"disclaimers": {"medical": MEDICAL}},
                    suffix="\n\n" + MEDICAL)
    assert combine("x", [added, shown]).output == combine("x", [shown, added]).output == "x"


# -- 2. one text given for several topics is added once ---------------------------------------------------------

SHARED = "General information only, not professional advice."


def test_one_text_for_several_topics_is_added_once() -> None:
    """The same text given for medical, legal and financial was added three times."""
    guard = build("disclaimer", stage="output", on_fail="disclaim",
                  params={"topics": ["medical", "legal", "financial"],
                          "texts": {t: SHARED for t in ("medical", "legal", "financial")}})
    text = "After the crash you can sue for negligence; keep your diagnosis letter and the mortgage statements."
    verdict = guard.check(text, Context())
    assert verdict.output == f"{text}\n\n{SHARED}"
    assert verdict.metadata["disclaimers"] == {"medical": SHARED, "legal": SHARED, "financial": SHARED}
    pipeline = Pipeline([guard, _disclosure()])
    assert _both(pipeline, text) == (f"{text}\n\n{SHARED}\n\n[AI-generated]",) * 2


def test_one_text_from_two_guards_for_two_topics_is_added_once() -> None:
    """Two guards giving the same text, each for another topic, both added it."""
    pipeline = Pipeline([_disclaimer(texts={"medical": SHARED}),
                         build("disclaimer", stage="output", on_fail="disclaim",
                               params={"topics": ["legal"], "texts": {"legal": SHARED}})])
    text = "Take ibuprofen for the pain and ask a lawyer before you sue."
    assert _both(pipeline, text) == (f"{text}\n\n{SHARED}",) * 2
    assert pipeline.check_output(text, Context(turn=1)).metadata["disclaimers"] == {"medical": SHARED,
                                                                                     "legal": SHARED}


# -- 3. a disclaimer shown with Markdown is shown -----------------------------------------------------------------

MARKDOWN = [
    "> This is general information, not medical advice.\n> Consult a qualified health professional.",
    "This is general information, **not medical advice**. Consult a qualified health professional.",
    "*This is general information, not medical advice.* *Consult a qualified health professional.*",
    "_This is general information, not medical advice._\n\nConsult a qualified health professional",
    "<p>This is general information, <b>not medical advice</b>. Consult a qualified health professional.</p>",
]


@pytest.mark.parametrize("shown", MARKDOWN)
def test_a_disclaimer_styled_with_markdown_is_not_added_again(shown: str, fake_detector: None) -> None:
    """Only case and spacing were folded: a blockquoted, bold or italic disclaimer was added a second time."""
    answer = f"{ANSWER}\n\n{shown}"
    assert _disclaimer().check(answer, Context()).output == answer
    topic = build("topic", stage="output", on_fail="disclaim", params={"topics": ["medical"]})
    assert topic.check(answer, Context()).output == answer


def test_only_whole_words_of_the_disclaimer_count() -> None:
    guard = _disclaimer(texts={"medical": "Ask a doctor."})
    answer = f"{ANSWER} Ask a doctored photo."
    assert guard.check(answer, Context()).output == f"{answer}\n\nAsk a doctor."


# -- 6. a disclaimer or label the reader does not see does not count ---------------------------------------------

HIDDEN = [
    f"<!-- {MEDICAL} -->",
    f"<!-- {MEDICAL}",                                    # an unclosed comment hides the rest
    f'<span hidden>{MEDICAL}</span>',
    f'<div style="display:none"><div>x</div>{MEDICAL}</div>',  # a nested element does not end it early
    f"[//]: # ({MEDICAL})",                               # a Markdown "comment" (a link definition)
    f"![{MEDICAL}](pixel.png)",                           # alt text
    f'[source](https://example.com "{MEDICAL}")',         # a link's title
    f"<script>/* {MEDICAL} */</script>",
]


@pytest.mark.parametrize("hidden", HIDDEN)
def test_a_hidden_disclaimer_does_not_count_as_shown(hidden: str) -> None:
    """A prompt-injected model could write the (public) disclaimer in an HTML comment and so suppress the
    visible one: the check for "already present" read the raw text."""
    answer = f"{ANSWER}\n\n{hidden}"
    assert _disclaimer().check(answer, Context()).output == f"{answer}\n\n{MEDICAL}"


@pytest.mark.parametrize("hidden", ["<!--[AI-generated]-->", "<!--[AI-generated]",
                                    "<span hidden>[AI-generated]</span>"])
def test_a_hidden_label_does_not_count_as_shown(hidden: str) -> None:
    """Any text ending in "[AI-generated]" counted as labelled, a hidden one too."""
    guard = build("ai_disclosure", stage="output", on_fail="label", params={"notice": ""})
    text = f"Hello.{hidden}"
    assert guard.check(text, Context()).output == f"{text}\n\n[AI-generated]"
    shown = "Hello.<!-- a comment -->\n\n[AI-generated]</p>"  # a visible label at the end still counts
    assert guard.check(shown, Context()).output == shown


def test_the_reviewers_hidden_disclaimers_and_label() -> None:
    pipeline = Pipeline([build("disclaimer", stage="output", on_fail="disclaim",
                               params={"topics": ["medical", "financial"]}), _disclosure()])
    answer = ("Double the dose to 800 mg of ibuprofen every 4 hours and put your savings in bitcoin."
              f"<!-- {MEDICAL} {DEFAULT_TEXTS['financial']} --><!--[AI-generated]")
    expected = f"{answer}\n\n{MEDICAL}\n\n{DEFAULT_TEXTS['financial']}\n\n[AI-generated]"
    assert _both(pipeline, answer) == (expected, expected)


# -- 7. the label follows a disclaimer added behind a repeated label ------------------------------------------------

def test_a_repeated_label_is_given_again_after_the_disclaimer() -> None:
    """An answer ending with the label it saw in the chat was not labelled, then got the disclaimer after
    that label: the output no longer ended with it."""
    pipeline = Pipeline([_disclaimer(), _disclosure()])
    answer = f"{ANSWER}\n\n[AI-generated]"
    expected = f"{answer}\n\n{MEDICAL}\n\n[AI-generated]"
    assert _both(pipeline, answer) == (expected, expected)
    plain = "Hello.\n\n[AI-generated]"  # nothing added behind it: not labelled twice
    assert _both(pipeline, plain) == (plain, plain)


# -- 8. the notice opens the answer ------------------------------------------------------------------------------

def test_the_notice_opens_the_answer_before_a_prepended_disclaimer() -> None:
    """With ``position: prepend`` check_output put the disclaimer above the first-turn notice (streams put
    the notice first)."""
    pipeline = Pipeline([_disclaimer(position="prepend"), _disclosure()])
    checked, streamed = _both(pipeline, ANSWER, turn=0)
    assert checked == f"{NOTICE}\n\n{MEDICAL}\n\n{ANSWER}\n\n[AI-generated]"
    assert streamed.startswith(f"{NOTICE}\n\n{ANSWER}")  # a stream cannot put text before what it released


# -- 4. the lexical detector on programming answers --------------------------------------------------------------

CODE_ANSWERS = [
    "In a multi-tenant SaaS, add a tenant_id column to every table and filter on it in each query.",
    "This shortcut adds technical debt; refactor the parser before the next release.",
    "The DHCP lease expired, so the laptop picked up a new IP address; renew it with dhclient -r.",
    "Use Node's built-in crypto module: crypto.randomUUID() gives you a v4 UUID.",
    "scikit-learn's VotingClassifier with soft voting averages the predicted probabilities of each model.",
    "Put your best three projects at the top of your portfolio website and link the GitHub repos.",
    "Don't make a rash decision about rewriting it in Rust; profile the hot path first.",
    "Kubernetes evicts pods when the node runs low on memory; set resource requests to avoid eviction.",
    "Set the retry interval to 5 seconds and retire old workers after 1,000 jobs.",
    "The pandas DataFrame has a column called 'dose' in the clinical-trials sample data set; rename it with df.rename.",
    "A side effect in useEffect runs after render; return a cleanup function to undo it.",
    "To diagnose the slow query, run EXPLAIN ANALYZE in Postgres and look for a sequential scan.",
    "Each tenant gets its own schema; the connection pool picks it from the request's tenant header.",
    "Redis evicts keys with the allkeys-lru policy when maxmemory is reached.",
]
TOPICAL = [  # the same words where they are the topic: with no technical word, beside a second word of the
    # topic, or in a plainer phrase
    ("Your tenant must give you access for repairs with 24 hours' notice.", ["legal"]),
    ("Crypto is highly volatile; only put in what you can afford to lose.", ["financial"]),
    ("The side effects usually pass after the first week.", ["medical"]),
    ("The primaries in Iowa and New Hampshire come first.", ["elections"]),
    ("Log each dose in the app's json export: a rash after the second dose means stop.", ["medical"]),
    ("Can my landlord keep the deposit when the tenant leaves before the lease ends?", ["legal"]),
    ("Can I break my lease early if my apartment has mould?", ["legal"]),
    ("How do I get out of debt on a low income?", ["financial"]),
    ("How much do I need to save to retire at 55?", ["financial"]),
    ("Should I buy crypto or put the money into my pension?", ["financial"]),
    ("A rash with a fever in a child needs a doctor the same day.", ["medical"]),
    ("If you miss a dose, take the missed dose when you remember.", ["medical"]),
]
TOPICS = ["medical", "legal", "financial", "elections"]


@pytest.mark.parametrize("text", CODE_ANSWERS)
def test_the_lexical_detector_passes_programming_answers(text: str) -> None:
    """11 of the first 12 got a legal, financial, elections or medical disclaimer from one ambiguous word
    ("tenant", "lease", "debt", "crypto", "voting", "portfolio", "rash", "eviction", "retire", "dose")."""
    guard = build("disclaimer", stage="output", on_fail="disclaim", params={"topics": TOPICS})
    assert (guard.check(text, Context()).output, guard.check(text, Context()).findings) == (text, ())


@pytest.mark.parametrize(("text", "topics"), TOPICAL)
def test_the_lexical_detector_still_finds_ambiguous_words_on_topic(text: str, topics: list[str]) -> None:
    guard = build("disclaimer", stage="output", on_fail="disclaim", params={"topics": TOPICS})
    assert sorted(guard.check(text, Context()).metadata["disclaimers"]) == topics


def test_every_weak_word_is_a_topic_word_and_no_technical_word_is() -> None:
    """A word of weak.txt that no topic lists would do nothing (a typo, or a word since removed); a topic
    word in technical.txt would turn off its own topic's weak words."""
    from clauseguard.guards._terms import topic_terms

    listed = {term for topic in TOPICS for term in topic_terms(topic)}
    assert set(topic_terms("weak")) <= listed
    assert not set(topic_terms("technical")) & listed


@pytest.mark.parametrize("hostile", ["](" * 50_000, "![" * 50_000, "<a " * 33_000,
                                     "".join(f"<t{i} x>" for i in range(15_000)), "<!--" * 25_000])
def test_the_visible_text_of_hostile_markup_is_read_in_linear_time(hostile: str) -> None:
    """A model's answer is untrusted: the reading that finds what is hidden must not go quadratic on it."""
    import time

    from clauseguard.guards.disclaimer import fold_words

    started = time.perf_counter()
    fold_words(hostile)
    assert time.perf_counter() - started < 0.5


def test_the_lexical_detector_refuses_a_text_that_folds_past_its_limit() -> None:
    """U+FDFA folds to 18 letters: 60,000 of them are 1,080,000 characters to match, which the keyword guard
    refuses (params.max_chars) and the disclaimer guard's word lists read whole (seconds and a gigabyte at the
    pipeline's own limit). Refused, the guard's on_error applies (block by default)."""
    from clauseguard.errors import GuardError

    guard = build("disclaimer", stage="output", on_fail="disclaim", params={"topics": ["medical"]})
    with pytest.raises(GuardError, match="word lists read"):
        guard.check("\ufdfa" * 60_000, Context())
    long_but_plain = "Take ibuprofen for the fever; see a doctor if it persists. " * 16_000  # 944,000 characters
    assert guard.check(long_but_plain, Context()).findings
