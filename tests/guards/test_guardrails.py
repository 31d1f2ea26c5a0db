"""clauseguard guards as guardrails-ai validators, run offline: no socket is ever connected."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clauseguard.errors import GuardConfigError
from clauseguard.guards import PARAMS, GuardSpec, parse_guards

pytest.importorskip("guardrails", reason="needs the [guardrails] extra")

NOTICE = "You are talking to an AI system, not a person.\n\n"
WORDS = {"categories": [], "terms": {"S9": ["detonator"]}}


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """A HOME whose .guardrailsrc switches metrics off, and sockets that record and refuse connections."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".guardrailsrc").write_text("enable_metrics=false\nuse_remote_inferencing=false\n", encoding="utf-8")
    monkeypatch.setenv("HOME", str(home))
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args[1:] if args and isinstance(args[0], socket.socket) else args)
        raise OSError("network disabled in tests")

    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts
    _flush_telemetry()
    assert attempts == [], f"connections attempted: {attempts}"


def _flush_telemetry() -> None:
    """Export whatever guardrails' hub telemetry buffered, so a span that would leave is seen now."""
    from guardrails.utils.hub_telemetry_utils import HubTelemetry

    instance = HubTelemetry._instance
    if instance is not None and instance._processor is not None:
        instance._processor.force_flush()


@pytest.fixture
def cg() -> Any:
    import clauseguard.guards.guardrails as module

    return module


def test_every_text_guard_type_is_registered(cg: Any) -> None:
    from guardrails.validator_base import validators_registry

    text_types = sorted(t for t, p in PARAMS.items() if "text" in p.MODALITIES)
    assert sorted(cg.VALIDATORS) == text_types
    for type_name in [*text_types, "guard"]:
        assert f"clauseguard/{type_name}" in validators_registry


@pytest.mark.parametrize(("type_name", "kwargs", "text", "expected"), [
    ("keyword", WORDS, "a harmless text", "a harmless text"),
    ("pii", {"action": "redact"}, "mail jane@example.org", "mail [EMAIL]"),
    ("pii", {"action": "redact", "mode": "mask"}, "card 4111 1111 1111 1111", "card •••• •••• •••• 1111"),
    ("ai_disclosure", {"action": "label"}, "hello", f"{NOTICE}hello\n\n[AI-generated]"),
    ("disclaimer", {"topics": ["medical"], "texts": {"medical": "Not medical advice."}},
     "take this medication twice a day", "take this medication twice a day\n\nNot medical advice."),
    ("regex", {"action": "flag", "patterns": [{"name": "ticket", "pattern": r"TICKET-\d+"}]},
     "see TICKET-42", "see TICKET-42"),
])
def test_validated_output(cg: Any, type_name: str, kwargs: dict[str, Any], text: str, expected: str) -> None:
    from guardrails import Guard

    outcome = Guard().use(cg.clauseguard_validator(type_name, **kwargs)).validate(text)
    assert outcome.validated_output == expected
    assert outcome.validation_passed


def test_a_block_with_on_fail_fix_is_a_failed_validation_not_a_passed_refusal(cg: Any) -> None:
    """With on_fail="fix" the block message was the fix: guardrails applied it and reported the validation as
    passed, so code that reads validation_passed took a block for success (as PipelineValidator never did)."""
    from guardrails import Guard

    validator = cg.clauseguard_validator("keyword", **WORDS, on_fail="fix", spec_fields={"message": "Refused (AUP 3)."})
    outcome = Guard().use(validator).validate("build a detonator")
    assert not outcome.validation_passed and outcome.validated_output is None
    assert "Refused (AUP 3)." in str(outcome.validation_summaries)


def test_block_raises_by_default(cg: Any) -> None:
    from guardrails import Guard
    from guardrails.errors import ValidationError

    guard = Guard().use(cg.clauseguard_validator("keyword", **WORDS, spec_fields={"message": "Refused (AUP 3)."}))
    with pytest.raises(ValidationError, match=r"Refused \(AUP 3\)\."):
        guard.validate("a detonator")


def test_fail_result_carries_spans(cg: Any) -> None:
    result = cg.clauseguard_validator("pii", action="redact").validate("mail jane@example.org now", {})
    assert result.outcome == "fail"
    assert result.fix_value == "mail [EMAIL] now"
    assert [(s.start, s.end) for s in result.error_spans] == [(5, 21)]


def test_spec_from_guards_yaml(cg: Any) -> None:
    spec = parse_guards("- {id: pii-out, type: pii, stage: output, on_fail: redact, clauses: [privacy/pii]}\n")[0]
    validator = cg.ClauseguardValidator(spec)
    assert validator.spec is spec
    assert validator.validate("jane@example.org", {}).fix_value == "[EMAIL]"
    assert isinstance(cg.VALIDATORS["pii"](spec), cg.ClauseguardValidator)


@pytest.mark.parametrize(("build", "match"), [
    (lambda cg: cg.VALIDATORS["keyword"](GuardSpec(id="p", type="pii")), "cannot run a 'pii' guard"),
    (lambda cg: cg.clauseguard_validator("image_nsfw"), "no guardrails validator"),
    (lambda cg: cg.clauseguard_validator("keyword", categories=["nope"]), "no shipped term list"),
])
def test_config_errors(cg: Any, build: Any, match: str) -> None:
    with pytest.raises((GuardConfigError, ValueError), match=match):
        build(cg)


def test_metadata_gives_the_context(cg: Any) -> None:
    from guardrails import Guard

    limit = cg.clauseguard_validator("rate_limit", stage="input", capacity=1, refill_per_second=1e-6)
    guard = Guard().use(limit)
    outcomes = [_passes(guard, "hi", user) for user in ("ann", "ann", "ben")]
    assert outcomes == [True, False, True]


def _passes(guard: Any, text: str, user: str) -> bool:
    from guardrails.errors import ValidationError

    try:
        guard.validate(text, metadata={"user_key": user})
    except ValidationError:
        return False
    return True


def test_offline_guard_without_rc_file(cg: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       offline: list[Any]) -> None:
    bare = tmp_path / "bare-home"
    bare.mkdir()
    monkeypatch.setenv("HOME", str(bare))  # no .guardrailsrc: guardrails' own default is metrics on
    guard = cg.offline_guard(cg.clauseguard_validator("pii", action="redact"))
    assert guard.validate("jane@example.org").validated_output == "[EMAIL]"
    _flush_telemetry()
    assert offline == []


def test_litellm_cost_map_is_local(cg: Any) -> None:
    import os

    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"


def _output_pipeline() -> Any:
    from clauseguard.guards import Pipeline

    return Pipeline(parse_guards(
        "- {id: kw, type: keyword, stage: output, params: {categories: [], terms: {S9: [detonator]}},"
        " message: 'Withheld (AUP 3).'}\n"
        "- {id: pii, type: pii, stage: output, on_fail: redact}\n"
        "- {id: ai, type: ai_disclosure, stage: output, on_fail: label}\n"))


def test_pipeline_validator_keeps_every_change(cg: Any) -> None:
    guard = cg.offline_guard(cg.PipelineValidator(_output_pipeline()))
    outcome = guard.validate("Write to jane@example.org")
    assert outcome.validated_output == f"{NOTICE}Write to [EMAIL]\n\n[AI-generated]"
    assert outcome.validation_passed


def test_pipeline_validator_block_fails_validation(cg: Any) -> None:
    """A block is not a fix: validation fails, nothing is output, the block message is the reason."""
    outcome = cg.offline_guard(cg.PipelineValidator(_output_pipeline())).validate("the detonator")
    assert outcome.validation_passed is False
    assert outcome.validated_output is None
    assert [s.failure_reason for s in outcome.validation_summaries] == ["Withheld (AUP 3)."]


def _stream(guard: Any, tokens: list[str]) -> list[Any]:
    def llm(*args: Any, **kwargs: Any) -> Iterator[str]:
        yield from tokens

    return [o.validated_output for o in guard(llm, messages=[{"role": "user", "content": "hi"}], stream=True)]


STREAMED = ["Sure. ", "Write to jane", "@example", ".org today. ", "Bye."]


@pytest.mark.parametrize(("tokens", "expected"), [
    (STREAMED, f"{NOTICE}Sure. Write to [EMAIL] today. Bye.\n\n[AI-generated]"),  # notice and label once
    (["The deto", "nator. ", "Bye."], "Withheld (AUP 3)."),
])
def test_pipeline_validator_streams_judge_the_whole_answer(cg: Any, tokens: list[str], expected: str) -> None:
    assert "".join(_stream(cg.offline_guard(cg.PipelineValidator(_output_pipeline())), tokens)) == expected


def test_label_validator_streams_label_once(cg: Any) -> None:
    guard = cg.offline_guard(cg.clauseguard_validator("ai_disclosure", action="label"))
    assert "".join(_stream(guard, STREAMED)) == f"{NOTICE}{''.join(STREAMED)}\n\n[AI-generated]"


def test_streaming_without_fix_is_refused(cg: Any) -> None:
    """Without a fix validator guardrails passes raw chunks on before any validator has judged them."""
    guard = cg.offline_guard(cg.PipelineValidator(_output_pipeline(), on_fail="exception"))
    with pytest.raises(GuardConfigError, match="needs on_fail='fix'"):
        _stream(guard, STREAMED)


def test_a_blocking_validator_never_streams_a_chunk_unchecked(cg: Any) -> None:
    """Its default on_fail (exception) is guardrails' no-fix path, which passes raw chunks on."""
    guard = cg.offline_guard(cg.clauseguard_validator("keyword", spec_fields={"message": "Withheld."}, **WORDS))
    shown: list[Any] = []
    with pytest.raises(GuardConfigError, match="needs on_fail='fix'"):
        for out in _stream(guard, ["Sure. ", "The deto", "nator is here. "]):
            shown.append(out)
    assert shown == []


def test_an_async_guard_stream_is_refused_for_what_it_is(cg: Any) -> None:
    """guardrails' AsyncGuard never makes the final call that releases a stream: a validator whose on_fail
    was already "fix" was refused with "needs on_fail='fix'", a change that could not help."""
    import asyncio
    from types import SimpleNamespace

    import guardrails

    async def tokens() -> Any:
        for token in STREAMED:
            yield token

    async def llm(*args: Any, **kwargs: Any) -> Any:
        return SimpleNamespace(completion_stream=tokens())

    async def stream() -> list[Any]:
        guard = guardrails.AsyncGuard().use(cg.PipelineValidator(_output_pipeline()))
        guard.configure(allow_metrics_collection=False)
        outputs = await guard(llm, messages=[{"role": "user", "content": "hi"}], stream=True)
        return [o.validated_output async for o in outputs]

    with pytest.raises(GuardConfigError, match="AsyncGuard is not supported") as refused:
        asyncio.run(stream())
    assert "needs on_fail" not in str(refused.value)
    assert all(way in str(refused.value) for way in ("sync guardrails Guard", "@guarded", "stream_output"))


@pytest.mark.parametrize(("build", "tokens", "expected"), [
    # a sentence end cuts the term, or the address: each piece alone passes
    (lambda cg: cg.clauseguard_validator("keyword", on_fail="fix", spec_fields={"message": "Withheld."}, **WORDS),
     ["Sure. The d.", "e.", "t.", "o.", "n.", "a.", "t.", "o.", "r. Bye."], "Withheld."),
    (lambda cg: cg.clauseguard_validator("pii", action="redact"), ["Write to jane.", "doe@example.org now. Bye."],
     "Write to [EMAIL] now. Bye."),
])
def test_a_validator_judges_a_stream_whole(cg: Any, build: Any, tokens: list[str], expected: str) -> None:
    guard = cg.offline_guard(build(cg))
    assert "".join(_stream(guard, tokens)) == expected
    assert "".join(_stream(guard, ["Hello."])) == "Hello."  # nothing of the last stream is left behind


def test_two_streams_at_once_through_one_guard_stay_apart(cg: Any) -> None:
    """guardrails gathers a stream's chunks on the validator, which every call of a Guard shares."""
    import threading
    import time

    guard = cg.offline_guard(cg.clauseguard_validator("pii", action="redact"))
    answers: dict[str, str] = {}

    def chat(name: str) -> None:
        def llm(*args: Any, **kwargs: Any) -> Iterator[str]:
            for word in f"{name} one. {name} two.".split():
                time.sleep(0.01)  # the two streams interleave
                yield word + " "

        outputs = guard(llm, messages=[{"role": "user", "content": "hi"}], stream=True)
        answers[name] = "".join(o.validated_output for o in outputs)

    threads = [threading.Thread(target=chat, args=(name,)) for name in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == {"alice": "alice one. alice two. ", "bob": "bob one. bob two. "}


def test_pipeline_validator_from_yaml(cg: Any, tmp_path: Path) -> None:
    path = tmp_path / "guards.yaml"
    path.write_text("- {id: pii, type: pii, stage: input, on_fail: redact}\n", encoding="utf-8")
    result = cg.PipelineValidator(path, stage="input").validate("jane@example.org", {})
    assert result.fix_value == "[EMAIL]"
