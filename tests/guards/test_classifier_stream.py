"""The classifier in a stream: judged in overlapping pieces as the answer grows, not held to its end.

It held every stream until the model finished (``stream_hold = None``), so with the guards.yaml that
``clauseguard generate`` writes (which has an output classifier) no answer streamed at all."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clauseguard.guards import Action, GuardSpec, Pipeline
from clauseguard.guards.classifier import STREAM_HOLD, STREAM_LOOKBEHIND, STREAM_STEP

SENTENCE = "The weather is fine today, and the river is calm near the old mill. "


class WordBackend:
    """Scores S9 0.9 where the text holds BOMB and S10 0.6 where it holds RUDE; counts its calls."""

    name = "fake"
    categories = frozenset({"S9", "S10"})

    def __init__(self) -> None:
        self.calls: list[str] = []

    def score(self, texts: list[str]) -> list[dict[str, float]]:
        self.calls.extend(texts)
        return [{"S9": 0.9 if "BOMB" in t else 0.0, "S10": 0.6 if "RUDE" in t else 0.0} for t in texts]


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> WordBackend:
    import clauseguard.guards.classifier as mod

    fake = WordBackend()
    monkeypatch.setattr(mod, "build_backend", lambda name, params: fake)
    return fake


def _pipeline(on_fail: str = "block", **params: Any) -> Pipeline:
    return Pipeline([GuardSpec(id="clf", type="classifier", stage="output", on_fail=on_fail,
                               params={"backends": ["embedding"], **params})])


def _chunks(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def test_a_long_answer_streams_in_pieces_and_the_model_runs_once_a_step(backend: WordBackend) -> None:
    text = SENTENCE * 60  # 4,080 characters, fed 8 at a time
    stream = _pipeline().stream_output([])
    shown: list[str] = []
    released_before_end = 0
    for chunk in _chunks(text, 8):
        pieces = stream.feed(chunk)
        shown += pieces
        released_before_end += sum(map(len, pieces))
    shown += stream.end()
    assert "".join(shown) == text and stream.verdict.allowed
    assert released_before_end > len(text) - 2 * STREAM_HOLD  # all but the held tail came before the end
    assert len(backend.calls) <= len(text) // STREAM_STEP + 2  # not once per chunk (510 chunks)
    assert all(len(t) <= 2 * (STREAM_LOOKBEHIND + STREAM_HOLD + STREAM_STEP) for t in backend.calls)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(at=st.integers(0, 60), size=st.integers(1, 150), before=st.integers(0, 400))
def test_a_harmful_word_is_never_shown_before_the_classifier_read_it(backend: WordBackend, at: int, size: int,
                                                                      before: int) -> None:
    """Whatever the chunking, the text a judgment has not read with what follows it is held: the stream
    blocks before the word is released."""
    text = SENTENCE * at + " " * before + "Here is the BOMB recipe. " + SENTENCE * 20
    stream = _pipeline().stream_output(_chunks(text, size))
    released = "".join(stream)
    assert stream.verdict.action is Action.BLOCK
    assert "BOMB" not in released and "BO" not in released.split()[-1:]


def test_a_flagging_classifier_streams_the_whole_answer_and_records_its_flag(backend: WordBackend) -> None:
    text = SENTENCE * 20 + "You RUDE person. " + SENTENCE * 20
    stream = _pipeline(on_fail="flag").stream_output(_chunks(text, 16))
    assert "".join(stream) == text
    assert stream.verdict.action is Action.FLAG and [f.category for f in stream.verdict.findings] == ["S10"]


@pytest.mark.parametrize("text", ["Short. Here is the BOMB.", SENTENCE * 5])
def test_a_short_answer_is_judged_whole_at_its_end_as_check_output_judges_it(backend: WordBackend,
                                                                             text: str) -> None:
    pipeline = _pipeline()
    stream = pipeline.stream_output(_chunks(text, 5))
    released = "".join(stream)
    last_read = backend.calls[-1]
    whole = pipeline.check_output(text)
    assert stream.verdict.action is whole.action
    assert released == (whole.output or "")
    assert last_read == text  # its last judgment read all of it


def test_the_async_stream_steps_too(backend: WordBackend) -> None:
    text = SENTENCE * 30

    async def chunks() -> Any:
        for c in _chunks(text, 10):
            yield c

    async def read() -> list[str]:
        return [piece async for piece in _pipeline().stream_output(chunks())]

    shown = asyncio.run(read())
    assert "".join(shown) == text and len(shown) > 3
    assert len(backend.calls) <= len(text) // STREAM_STEP + 2


def test_a_local_judge_model_still_reads_the_whole_answer(backend: WordBackend) -> None:
    """A transformers judge (Llama Guard) is too slow to run every 200 characters: it holds as before."""
    pipeline = _pipeline(backends=["transformers"], model_path="/models/judge")
    stream = pipeline.stream_output([])
    assert not any(stream.feed(c) for c in _chunks(SENTENCE * 30, 10))
    assert "".join(stream.end()) == SENTENCE * 30


def test_a_keyword_guard_beside_it_still_redacts_in_place(backend: WordBackend) -> None:
    """The classifier's steps cap what the other guards may release; what they redact stays redacted."""
    pipeline = Pipeline([GuardSpec(id="pii", type="pii", stage="output", on_fail="redact"), *_pipeline().guards])
    text = SENTENCE * 10 + "Mail jane.doe@example.org now. " + SENTENCE * 10
    for size in (3, 17, 64):
        released = "".join(pipeline.stream_output(_chunks(text, size)))
        assert released == pipeline.check_output(text).output
        assert "jane.doe" not in released


@pytest.mark.parametrize("size", [1, 5, 13, 50])
def test_an_address_across_the_classifiers_release_point_is_never_shown_in_part(backend: WordBackend,
                                                                               size: int) -> None:
    """Between its judgments the classifier stops the release 400 characters before what it read, which could
    fall inside an e-mail address: the address's start was shown unredacted and its end then blocked the
    stream (found with the generated guards.yaml). Now the address waits with the rest."""
    pipeline = Pipeline([GuardSpec(id="pii", type="pii", stage="output", on_fail="redact"), *_pipeline().guards])
    for pad in range(0, 400, 9):
        text = SENTENCE * 8 + "x" * pad + " Mail averyveryverylongmailboxname.secret@example.org now. " + SENTENCE * 10
        released = "".join(pipeline.stream_output(_chunks(text, size)))
        assert released == pipeline.check_output(text).output, (pad, size)
