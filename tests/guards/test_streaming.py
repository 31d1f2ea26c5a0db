from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clauseguard.guards import Action, Context, GuardSpec, Pipeline
from clauseguard.guards.disclaimer import DisclaimerGuard

REDACTING = [
    GuardSpec(id="kw", type="keyword", stage="output", on_fail="redact"),
    GuardSpec(id="pii", type="pii", stage="output", on_fail="redact"),
]
BLOCKING = [GuardSpec(id="kw", type="keyword", stage="output", on_fail="block", params={"categories": ["S9"]})]

TEXTS = [
    "Sure. Here is how to build a p1pe b0mb: no. Mail bob@example.com instead, you 5h1t. " * 3,
    "b u i l d . . . . a . . . . n e r v e . . . . a g e n t, and what is a nerve agent? " * 2,
    "Totally benign text about Scunthorpe, cocktails and grapes. " * 4,
    "make a b . o . m . b and a molotov cocktail",
]


def _chunks(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.sampled_from(TEXTS), cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30))
def test_stream_equals_whole_check_for_any_chunking(text: str, cuts: list[int]) -> None:
    pipeline = Pipeline(REDACTING)
    stream = pipeline.stream_output(_chunks(text, cuts))
    released = "".join(stream)
    assert released == pipeline.check_output(text).output
    for term in ("p1pe b0mb", "bob@example.com", "5h1t", "b . o . m . b", "n e r v e . . . . a g e n t"):
        assert term not in released


@settings(max_examples=60, deadline=None)
@given(prefix=st.text(alphabet="abc xyz.,\n", max_size=200), cuts=st.lists(st.integers(0, 10_000), max_size=20))
def test_blocked_stream_never_leaks_the_term(prefix: str, cuts: list[int]) -> None:
    text = prefix + " then build a p i p e b o m b now " + prefix
    stream = Pipeline(BLOCKING).stream_output(_chunks(text, cuts))
    released = "".join(stream)
    assert stream.verdict.action is Action.BLOCK
    assert "p i p e" not in released and "b o m b" not in released


@pytest.mark.parametrize("size", [1, 3, 4, 8, 11])
@pytest.mark.parametrize("value", ["jane.doe@example.org", "+1 415-555-0132", "192.168.100.200"])
def test_a_redacted_value_far_behind_does_not_block_the_stream(value: str, size: int) -> None:
    """The look-behind window starts, some chunk, inside a value released redacted long before; the
    tail it sees ("doe@example.org") is that value again, not new text reaching into the released."""
    text = f"Write to {value} for help. " + "The weather is fine today and tomorrow. " * 20
    pipeline = Pipeline(REDACTING)
    stream = pipeline.stream_output([text[i:i + size] for i in range(0, len(text), size)])
    released = "".join(stream)
    assert stream.verdict.allowed and value not in released
    assert released == pipeline.check_output(text).output


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
def test_a_look_behind_that_cuts_a_word_finds_nothing_the_text_does_not_hold(size: int) -> None:
    """Cut inside "v1.2.3.4.5", the window's tail "2.3.4.5" reads as an IP address; the text has none."""
    text = "Upgrade to v1.2.3.4.5 today. " * 40
    pipeline = Pipeline(REDACTING)
    stream = pipeline.stream_output([text[i:i + size] for i in range(0, len(text), size)])
    assert "".join(stream) == text and stream.verdict.allowed
    assert pipeline.check_output(text).output == text


def test_async_stream_and_async_source() -> None:
    async def source():
        for piece in ("Mail bob@exa", "mple.com now", " please"):
            yield piece

    async def run():
        stream = Pipeline(REDACTING).stream_output(source(), Context(turn=1))
        return "".join([piece async for piece in stream]), stream.verdict

    released, verdict = asyncio.run(run())
    assert released == "Mail [EMAIL] now please"
    assert verdict.action is Action.REDACT


def test_async_stream_runs_its_first_check_off_the_event_loop() -> None:
    """The check for the first-turn notice ran in the event loop's thread: a final guard that runs a model
    (a topic disclaimer) stalled every other request while it did."""
    import threading

    pipeline = Pipeline([*REDACTING, GuardSpec(id="ai", type="ai_disclosure", stage="output", on_fail="label")])
    (notice,) = [g for g in pipeline.stage_guards("output") if g.id == "ai"]
    threads: list[int] = []
    check = notice.check

    def spy(content, context):  # type: ignore[no-untyped-def]
        threads.append(threading.get_ident())
        return check(content, context)

    notice.check = spy  # type: ignore[method-assign]

    async def run() -> tuple[list[str], int]:
        return [p async for p in pipeline.stream_output(["Hi ", "there"], Context(turn=0))], threading.get_ident()

    pieces, loop_thread = asyncio.run(run())
    assert pieces[0].startswith("You are talking to an AI") and "".join(pieces).count("Hi there") == 1
    assert threads and loop_thread not in threads


def test_async_stream_yields_no_empty_piece() -> None:
    """Without a notice, the async stream yields what the sync one does: no empty first piece."""
    async def source():
        for piece in ("Hello ", "world"):
            yield piece

    async def run() -> list[str]:
        return [piece async for piece in Pipeline(REDACTING).stream_output(source())]

    assert asyncio.run(run()) == list(Pipeline(REDACTING).stream_output(["Hello ", "world"])) == ["Hello world"]


def test_stream_adds_notice_first_and_label_last() -> None:
    specs = [*REDACTING, GuardSpec(id="ai", type="ai_disclosure", stage="output", on_fail="label"),
             GuardSpec(id="d", type="disclaimer", stage="output", on_fail="disclaim", params={"topics": ["medical"]})]
    pieces = list(Pipeline(specs).stream_output(["Take ibu", "profen."], Context(turn=0)))
    assert pieces[0].startswith("You are talking to an AI")
    assert "".join(pieces).endswith("not medical advice. Consult a qualified health professional.")


def test_stream_fails_closed_when_too_large() -> None:
    stream = Pipeline(REDACTING, max_chars=50).stream_output(["x" * 30, "y" * 30])
    assert "y" not in "".join(stream)
    assert stream.verdict.action is Action.BLOCK


def test_sync_iteration_of_async_source_is_an_error() -> None:
    async def source():
        yield "x"

    with pytest.raises(TypeError, match="async for"):
        list(Pipeline(REDACTING).stream_output(source()))


@pytest.mark.parametrize("chunk", [None, b"bytes", 3])
def test_a_chunk_that_is_not_text_is_a_clear_error(chunk: object) -> None:
    stream = Pipeline(REDACTING).stream_output(["Mail bob@example.com", chunk])
    with pytest.raises(TypeError, match=f"a stream chunk must be str, not {type(chunk).__name__}"):
        list(stream)


LABELLED_BLOCKING = [*BLOCKING, GuardSpec(id="ai", type="ai_disclosure", stage="output", on_fail="label"),
                     GuardSpec(id="d", type="disclaimer", stage="output", on_fail="disclaim",
                               params={"topics": ["medical"]})]


def _released(stream, mode: str) -> str:
    if mode == "sync":
        return "".join(stream)

    async def collect() -> str:
        return "".join([piece async for piece in stream])

    return asyncio.run(collect())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("chunks", [
    ["Take ibuprofen, then build a pipe bomb"],  # the final check blocks: the term is in the held tail
    ["Take ibuprofen, then build a pi", "pe bomb"],
])
def test_no_label_or_disclaimer_after_a_final_block(mode: str, chunks: list[str]) -> None:
    stream = Pipeline(LABELLED_BLOCKING).stream_output(chunks, Context(turn=1))
    released = _released(stream, mode)
    assert stream.verdict.action is Action.BLOCK
    assert "[AI-generated]" not in released
    assert "medical advice" not in released
    assert "bomb" not in released


class _DisclaimerFailsOnText(DisclaimerGuard):
    """A disclaimer guard that breaks on the answer (not on the empty text asked for a notice)."""

    def check(self, content, context):
        if content:
            raise RuntimeError("topic model unavailable")
        return super().check(content, context)


class _DisclaimerTooSlow(DisclaimerGuard):
    def check(self, content, context):  # 100 times its budget: a stalled machine cannot let it finish in time
        time.sleep(2 if content else 0)
        return super().check(content, context)


def _disclaimer(cls: type[DisclaimerGuard], **fields) -> DisclaimerGuard:
    return cls(GuardSpec(id="d", type="disclaimer", stage="output", on_fail="disclaim",
                         params={"topics": ["medical"]}, **fields))


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("final", [lambda: _disclaimer(_DisclaimerFailsOnText),
                                   lambda: _disclaimer(_DisclaimerTooSlow, timeout_ms=20)],
                         ids=["raises", "times-out"])
def test_a_final_guard_that_fails_blocks_the_stream(mode: str, final) -> None:
    chunks = ["Take ibuprofen ", "for the fever, ", "twice a day."]
    stream = Pipeline([*REDACTING, final()]).stream_output(chunks, Context(turn=1))
    released = _released(stream, mode)
    assert stream.blocked and stream.verdict.action is Action.BLOCK
    assert stream.verdict.findings[-1].guard_id == "d"
    assert "twice a day" not in released  # the held tail waited for the final guard


def test_a_final_guard_that_fails_at_the_start_blocks_before_any_chunk() -> None:
    class Broken(DisclaimerGuard):
        def check(self, content, context):
            raise RuntimeError("broken")

    pulled: list[str] = []

    def source():
        pulled.append("x")
        yield "Hello"

    stream = Pipeline([*REDACTING, _disclaimer(Broken)]).stream_output(source(), Context(turn=0))
    assert "".join(stream) == ""
    assert stream.verdict.action is Action.BLOCK and pulled == []


def test_guarded_stream_answers_a_final_guard_failure_with_the_block_message() -> None:
    from clauseguard.guards.decorator import DEFAULT_BLOCK_MESSAGE, guarded

    @guarded(Pipeline([*REDACTING, _disclaimer(_DisclaimerFailsOnText)]), stream="delta")
    def answer(message: str):
        yield from ["Take ibuprofen ", "for the fever."]

    assert "".join(answer("hi")) == DEFAULT_BLOCK_MESSAGE  # the error is the audit's, not the user's


@pytest.mark.parametrize("text", [*TEXTS, "Mail bob@example.com, then build a p i p e b o m b now. " * 6])
def test_pushed_chunks_release_what_an_iterated_stream_does(text: str) -> None:
    """Push mode (several texts streamed side by side: a chat's messages) is the iteration, step by step."""
    pipeline = Pipeline([*REDACTING, GuardSpec(id="ai", type="ai_disclosure", stage="output", on_fail="label"),
                         GuardSpec(id="kw2", type="keyword", stage="output", params={"categories": ["S9"]})])
    chunks = _chunks(text, list(range(0, len(text), 7)))
    iterated = pipeline.stream_output(chunks)
    expected = list(iterated)
    pushed = pipeline.stream_output(())
    assert pushed.begin() + [p for c in chunks for p in pushed.feed(c)] + pushed.end() == expected
    assert pushed.verdict == iterated.verdict

    async def apush() -> list[str]:
        stream = pipeline.stream_output(())
        pieces = await stream.abegin()
        for chunk in chunks:
            pieces += await stream.afeed(chunk)
        return pieces + await stream.aend()

    assert asyncio.run(apush()) == expected


# -- from a review: what got through a stream that check_output stops ------------------------------------

PEM_BODY = "".join(f"MIIEpAIBAAKCAQEA{n:04d}xyzXYZ0123456789abcdefABCDEFghijklmnopQRSTUVwxyz+/=\n" for n in range(20))
PEM = f"Here is the key:\n-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}-----END RSA PRIVATE KEY-----\nKeep it safe."


@pytest.mark.parametrize("size", [1, 13, 16, 19, 40, 100, 300, 500])
def test_a_streamed_private_key_is_never_shown(size: int) -> None:
    """Redacted up to the end of the text so far ("[SECRET]"), the key was released at once; its rest then fell
    outside every later window and was shown in the clear, for most chunk sizes. A value redacted up to the
    held tail now waits until it ends with a whole hold after it."""
    pipeline = Pipeline([GuardSpec(id="pii", type="pii", stage="output", on_fail="redact")])
    stream = pipeline.stream_output([PEM[i:i + size] for i in range(0, len(PEM), size)])
    released = "".join(stream)
    assert "MIIEpAIBAAKCAQEA" not in released and "xyzXYZ0123456789" not in released
    assert stream.blocked or released == pipeline.check_output(PEM).output


@pytest.mark.parametrize("gap", ["\u200b", "\u0301", "\u00ad", "\u2060"])
def test_a_term_kept_apart_by_characters_that_fold_away_blocks_the_stream(gap: str) -> None:
    """check_output folds zero-width characters, combining marks and soft hyphens away; the stream counted
    them as characters, so 600 of them inside a word put its start outside every window."""
    pipeline = Pipeline([GuardSpec(id="kw", type="keyword", stage="output", params={"categories": ["profanity"]})])
    text = "You are a sh" + gap * 600 + "it, friend."
    assert not pipeline.check_output(text).allowed
    stream = pipeline.stream_output([text[i:i + 20] for i in range(0, len(text), 20)])
    released = "".join(stream)
    assert stream.blocked and "it, friend" not in released


@pytest.mark.parametrize("gap", [" " * 700, "\t" * 700, "\u200b" * 700, " -" * 350])
def test_a_request_word_far_before_a_weapon_still_counts_in_a_stream(gap: str) -> None:
    text = "Tell me how to build a" + gap + " pipe bomb today."
    assert not Pipeline(BLOCKING).check_output(text).allowed
    stream = Pipeline(BLOCKING).stream_output([text[i:i + 20] for i in range(0, len(text), 20)])
    released = "".join(stream)
    assert stream.blocked and "pipe bomb" not in released


def test_a_regex_match_longer_than_the_hold_blocks_the_stream() -> None:
    """``<internal>.*?</internal>`` over 6,000 characters: the stream never saw the opening tag again."""
    spec = GuardSpec(id="leak", type="regex", stage="output",
                     params={"patterns": [{"name": "internal", "pattern": "(?s)<internal>.*?</internal>"}]})
    text = "Sure. <internal>" + "system prompt text. " * 300 + "</internal> Done."
    assert not Pipeline([spec]).check_output(text).allowed
    stream = Pipeline([spec]).stream_output([text[i:i + 50] for i in range(0, len(text), 50)])
    released = "".join(stream)
    assert stream.blocked and "</internal>" not in released


@pytest.mark.parametrize("size", range(1, 60, 3))
def test_a_regex_that_looks_behind_itself_is_read_with_what_came_before(size: int) -> None:
    """The window began at a word start, cutting off the "not " that ``(?<!not )`` looks at: a harmless answer
    was blocked part way through for many chunk sizes."""
    spec = GuardSpec(id="kill", type="regex", stage="output",
                     params={"patterns": [{"name": "kill", "pattern": r"(?<!not )\bkill\b"}]})
    text = "Please do not kill the process. " + "Wait for it to finish. " * 120  # past the 1,024 held
    pipeline = Pipeline([spec])
    assert pipeline.check_output(text).allowed
    stream = pipeline.stream_output([text[i:i + size] for i in range(0, len(text), size)])
    assert "".join(stream) == text and not stream.blocked


def test_a_guard_whose_verdict_blocks_without_a_finding_blocks_the_stream() -> None:
    from clauseguard.guards._base import Guard
    from clauseguard.guards._verdict import Verdict

    class Forbidding(Guard):
        stream_hold = 0

        def check(self, content: str | bytes, context: Context) -> Verdict:
            if isinstance(content, str) and "forbidden" in content:
                return Verdict(allowed=False, action=Action.BLOCK, output=None, findings=(), guard_id=self.id)
            return Verdict.allow(content, self.id)

    pipeline = Pipeline([Forbidding(GuardSpec(id="custom", type="keyword", stage="output"))])
    assert not pipeline.check_output("the forbidden answer").allowed
    stream = pipeline.stream_output(["This is ", "the forbidden ", "answer, in full."])
    released = "".join(stream)
    assert stream.blocked and "forbidden" not in released


def _records(pipeline_specs: list[GuardSpec]) -> tuple[Pipeline, list[dict]]:
    from clauseguard.guards import MemorySink

    sink = MemorySink()
    return Pipeline(pipeline_specs, sink=sink), sink.records


def test_a_stream_left_early_is_recorded() -> None:
    """A reader that stops (a client that disconnects) or a model that fails part way left no decision
    record of what had been shown."""
    pipeline, records = _records(REDACTING)
    pieces = iter(pipeline.stream_output(iter(["Write to ", "bob@example.com please. ", "More words here. " * 30])))
    first = next(pieces)
    assert first and not records
    pieces.close()  # the reader stopped
    assert records[-1]["metadata"]["stream_incomplete"] is True

    def failing() -> Any:
        yield "Write to bob@example.com please. " * 20
        raise ConnectionError("model server died")

    pipeline, records = _records(REDACTING)
    with pytest.raises(ConnectionError):
        for _ in pipeline.stream_output(failing()):
            pass
    assert records[-1]["metadata"]["stream_incomplete"] is True and records[-1]["allowed"]


def test_an_async_stream_closed_early_is_recorded() -> None:
    pipeline, records = _records(REDACTING)

    async def chunks() -> Any:
        for piece in ["Write to ", "bob@example.com please. ", "More words here. " * 30]:
            yield piece

    async def read_one() -> None:
        pieces = pipeline.stream_output(chunks()).__aiter__()
        await pieces.__anext__()
        await pieces.aclose()

    asyncio.run(read_one())
    assert records and records[-1]["metadata"]["stream_incomplete"] is True


@pytest.mark.parametrize("text", ["ratio 3 415-555-2671 " * 30, "x 4 4111 1111 1111 1111 " * 20,
                                  "at 2 555 234 5678 and " * 25])
def test_a_stream_reads_the_word_before_its_window_as_a_pattern_s_look_behind(text: str) -> None:
    """The window started at a word, and a pattern that looks behind it ("3 415-555-2671" holds no phone
    number) found in the window's first word a number the whole text does not hold; starting in released
    text, it blocked a stream that check_output allows."""
    pipeline = Pipeline([GuardSpec(id="pii", type="pii", stage="output", on_fail="redact")])
    whole = pipeline.check_output(text)
    stream = pipeline.stream_output(list(text))
    assert "".join(stream) == whole.output
    assert stream.verdict.allowed and stream.verdict.action is whole.action
    async_stream = pipeline.stream_output(_async_chars(text))

    async def read() -> str:
        return "".join([piece async for piece in async_stream])

    assert asyncio.run(read()) == whole.output and async_stream.verdict.allowed


async def _async_chars(text: str) -> Any:
    for ch in text:
        yield ch


def test_a_stream_without_final_guards_ends_normally() -> None:
    """A stream whose output stage held no ai_disclosure, disclaimer or topic guard raised AttributeError at
    its end (the final guards' metadata was only made when one ran): the held-back tail was never released."""
    pipeline = Pipeline([GuardSpec(id="pii", type="pii", stage="output", on_fail="redact")])
    stream = pipeline.stream_output(["Hello ", "world, mail ", "jane@example.org"])
    assert "".join(stream) == "Hello world, mail [EMAIL]"
    assert stream.verdict is not None and stream.verdict.allowed
