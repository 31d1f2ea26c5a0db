"""Gradio helper: user keys from requests (duck-typed, no Gradio needed) and guard_chat with real Gradio."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from clauseguard.guards import GuardSpec, Pipeline
from clauseguard.guards.gradio import client_ip, context_for, pseudonymise, user_key


def fake_request(headers: dict[str, str] | None = None, host: str | None = "10.0.0.1",
                 username: str | None = None) -> Any:
    return SimpleNamespace(headers=headers or {}, client=SimpleNamespace(host=host), username=username)


@pytest.mark.parametrize(("request_", "ip"), [
    (fake_request({"x-forwarded-for": "203.0.113.9, 10.0.0.1"}), "203.0.113.9"),
    (fake_request({"X-Forwarded-For": " 198.51.100.7 "}), "198.51.100.7"),
    (fake_request({"x-forwarded-for": ""}), "10.0.0.1"),
    (fake_request(), "10.0.0.1"),
    (fake_request(host=None), None),
    (SimpleNamespace(), None),
])
def test_client_ip(request_: Any, ip: str | None) -> None:
    assert client_ip(request_) == ip


@pytest.mark.parametrize(("request_", "kind", "value"), [
    (fake_request(username="alice"), "user", "alice"),
    (fake_request({"x-forwarded-for": "203.0.113.9"}, username="alice"), "user", "alice"),
    (fake_request({"x-forwarded-for": "203.0.113.9"}), "ip", "203.0.113.9"),
    (fake_request(), "ip", "10.0.0.1"),
])
def test_user_key_is_pseudonymous(request_: Any, kind: str, value: str) -> None:
    key = user_key(request_)
    assert key == pseudonymise(kind, value)
    assert key is not None and key.startswith(f"{kind}:") and value not in key


@pytest.mark.parametrize("request_", [None, fake_request(host=None)])
def test_no_user_key(request_: Any) -> None:
    assert user_key(request_) is None


def test_user_key_depends_on_the_hash_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUSEGUARD_HASH_KEY", "one")
    first = user_key(fake_request(username="alice"))
    monkeypatch.setenv("CLAUSEGUARD_HASH_KEY", "two")
    assert user_key(fake_request(username="alice")) != first


@pytest.mark.parametrize(("history", "turn"), [
    (None, 0),
    ([], 0),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}], 1),
    ([["a", "b"], ["c", "d"]], 2),
])
def test_context_for(history: Any, turn: int) -> None:
    ctx = context_for(fake_request(username="bob"), history)
    assert (ctx.turn, ctx.user_key, ctx.ip) == (turn, pseudonymise("user", "bob"), "10.0.0.1")


# -- with Gradio itself ---------------------------------------------------------------------------


@pytest.fixture
def gr(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    return pytest.importorskip("gradio", reason="guard_chat needs the [gradio] extra")


def _pipeline() -> Pipeline:
    return Pipeline([
        GuardSpec(id="rl", type="rate_limit", stage="input", params={"capacity": 1, "refill_per_second": 1e-6},
                  message="Too many requests (Terms, section 7)."),
        GuardSpec(id="kw", type="keyword", stage="output", params={"categories": [], "terms": {"S9": ["detonator"]}},
                  message="Withheld (AUP, section 3)."),
        GuardSpec(id="disclose", type="ai_disclosure", stage="output", on_fail="label"),
    ])


def respond(message: str, history: list[Any]) -> Iterator[str]:
    text = ""
    for word in message.split():
        text += word + " "
        yield text


def _call(gr: Any, fn: Any, message: str, history: list[Any], request: Any) -> list[str]:
    """Call ``fn`` as Gradio does: its special_args inserts the request where the signature asks."""
    from gradio.helpers import special_args

    inputs, *_ = special_args(fn, [message, history], request)
    result = fn(*inputs)
    return [result] if isinstance(result, str) else list(result)


def test_guard_chat_asks_gradio_for_the_request(gr: Any) -> None:
    wrapped = guard_chat_of(gr, respond)
    params = inspect.signature(wrapped).parameters
    assert list(params) == ["message", "history", "request"]
    assert params["request"].annotation is gr.Request
    assert isinstance(gr.ChatInterface(wrapped), gr.ChatInterface)


def guard_chat_of(gr: Any, fn: Any, pipeline: Pipeline | None = None) -> Any:
    from clauseguard.guards.gradio import guard_chat

    return guard_chat(fn, pipeline or _pipeline())


@pytest.mark.parametrize(("message", "last"), [
    ("hello there", "You are talking to an AI system, not a person.\n\nhello there \n\n[AI-generated]"),
    ("the detonator now", "Withheld (AUP, section 3)."),
])
def test_guard_chat_streams_cumulatively(gr: Any, message: str, last: str) -> None:
    request = gr.Request(headers={"x-forwarded-for": "203.0.113.9, 10.0.0.1"}, client={"host": "10.0.0.1"})
    outputs = _call(gr, guard_chat_of(gr, respond), message, [], request)
    assert outputs[-1] == last
    assert not any("detonator" in out for out in outputs)


def test_guard_chat_rate_limits_per_forwarded_client(gr: Any) -> None:
    fn = guard_chat_of(gr, respond)
    proxy = {"host": "10.0.0.1"}  # every request comes through the same proxy
    first = gr.Request(headers={"x-forwarded-for": "203.0.113.9"}, client=proxy)
    second = gr.Request(headers={"x-forwarded-for": "198.51.100.7"}, client=proxy)
    answers = [_call(gr, fn, "hi", [], r)[-1] for r in (first, first, second)]
    assert answers[1] == "Too many requests (Terms, section 7)."
    assert answers[0].endswith("[AI-generated]") and answers[2].endswith("[AI-generated]")


def test_guard_chat_keeps_a_request_parameter_of_its_own(gr: Any) -> None:
    seen: list[Any] = []

    def own(message: str, history: list[Any], request: Any) -> str:
        seen.append(request.username)
        return "fine"

    own.__annotations__["request"] = gr.Request

    request = gr.Request(username="carol", headers={}, client={"host": "10.0.0.2"})
    assert _call(gr, guard_chat_of(gr, own), "hi", [], request) == [
        "You are talking to an AI system, not a person.\n\nfine\n\n[AI-generated]"]
    assert seen == ["carol"]
    assert inspect.signature(guard_chat_of(gr, own)).parameters.keys() == {"message", "history", "request"}
