"""@guarded on plain, async and generator functions: prompts checked, answers checked, streams held."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from clauseguard.errors import GuardConfigError
from clauseguard.guards import Context, GuardSpec, Pipeline, Stage
from clauseguard.guards.decorator import DEFAULT_BLOCK_MESSAGE, GuardBlocked, block_message, guarded
from clauseguard.guards.keyword import KeywordGuard

IN_MSG = "Blocked by the Acceptable Use Policy, section 3."
OUT_MSG = "The answer was withheld under the Acceptable Use Policy, section 3."
NOTICE = "You are talking to an AI system, not a person.\n\n"
LABEL = "\n\n[AI-generated]"


def _pipeline(*, input_pii: bool = False, rate_limit: bool = False) -> Pipeline:
    words = {"categories": [], "terms": {"S9": ["detonator"]}}
    specs = [
        GuardSpec(id="kw-in", type="keyword", stage="input", params=words, message=IN_MSG),
        GuardSpec(id="kw-out", type="keyword", stage="output", params=words, message=OUT_MSG),
        GuardSpec(id="pii-out", type="pii", stage="output", on_fail="redact"),
        GuardSpec(id="disclose", type="ai_disclosure", stage="output", on_fail="label"),
    ]
    if input_pii:
        specs.append(GuardSpec(id="pii-in", type="pii", stage="input", on_fail="redact"))
    if rate_limit:
        specs.append(GuardSpec(id="rl", type="rate_limit", stage="input", params={"capacity": 1,
                                                                                     "refill_per_second": 1e-6}))
    return Pipeline(specs)


@pytest.fixture
def pipeline() -> Pipeline:
    return _pipeline()


# -- plain and async functions ------------------------------------------------------------------


@pytest.mark.parametrize(("prompt", "answer", "expected", "called"), [
    ("hello", "hi, write to a@b.com", f"{NOTICE}hi, write to [EMAIL]{LABEL}", True),
    ("build a detonator", "never shown", IN_MSG, False),
    ("hello", "the detonator is here", OUT_MSG, True),
])
def test_sync_function(pipeline: Pipeline, prompt: str, answer: str, expected: str, called: bool) -> None:
    calls: list[str] = []

    @guarded(pipeline)
    def chat(message: str) -> str:
        calls.append(message)
        return answer

    assert chat(prompt) == expected
    assert bool(calls) is called


@pytest.mark.parametrize(("prompt", "answer", "expected"), [
    ("hello", "fine", f"{NOTICE}fine{LABEL}"),
    ("a detonator", "never shown", IN_MSG),
    ("hello", "a detonator", OUT_MSG),
])
def test_async_function(pipeline: Pipeline, prompt: str, answer: str, expected: str) -> None:
    @guarded(pipeline)
    async def chat(message: str) -> str:
        await asyncio.sleep(0)
        return answer

    assert asyncio.run(chat(prompt)) == expected


@pytest.mark.parametrize(("prompt", "answer", "stage"), [
    ("a detonator", "x", Stage.INPUT),
    ("hello", "a detonator", Stage.OUTPUT),
])
def test_raise_on_block(pipeline: Pipeline, prompt: str, answer: str, stage: Stage) -> None:
    @guarded(pipeline, raise_on_block=True)
    def chat(message: str) -> str:
        return answer

    with pytest.raises(GuardBlocked) as info:
        chat(prompt)
    assert info.value.stage is stage
    assert not info.value.verdict.allowed
    assert info.value.message in (IN_MSG, OUT_MSG)


def test_redacted_prompt_reaches_the_function() -> None:
    seen: list[str] = []

    @guarded(_pipeline(input_pii=True))
    def chat(message: str) -> str:
        seen.append(message)
        return "ok"

    chat("mail me at jane@example.org")
    assert seen == ["mail me at [EMAIL]"]


@pytest.mark.parametrize(("call", "arg"), [
    (lambda f: f(3, "a detonator"), None),              # first str positional, not the first argument
    (lambda f: f(3, text="a detonator"), None),         # a str keyword
    (lambda f: f("ignored", text="a detonator"), "text"),  # named
    (lambda f: f(3, "a detonator"), "text"),            # named, given positionally
])
def test_prompt_location(pipeline: Pipeline, call: Any, arg: str | None) -> None:
    @guarded(pipeline, arg=arg)
    def chat(n: Any, text: str = "") -> str:
        return "answered"

    assert call(chat) == IN_MSG


@pytest.mark.parametrize("call", [
    lambda f: f("a detonator", lang="en"),
    lambda f: f(prompt="a detonator", lang="en"),
    lambda f: f(lang="en", prompt="a detonator"),  # the call's order must not decide
    lambda f: f("a detonator", "en"),
])
def test_prompt_is_the_first_str_in_signature_order(pipeline: Pipeline, call: Any) -> None:
    seen: list[str] = []

    @guarded(pipeline)
    def answer(prompt: str, lang: str = "en") -> str:
        seen.append(prompt)
        return "answered"

    assert call(answer) == IN_MSG
    assert seen == []


def test_prompt_among_several_str_kwargs_is_an_error(pipeline: Pipeline) -> None:
    """``**kwargs`` keep the caller's order: the prompt cannot be told from the other strings."""
    def answer(**fields: str) -> str:
        return "answered"

    with pytest.raises(GuardConfigError, match="arg="):
        guarded(pipeline)(answer)(lang="en", prompt="a detonator")
    assert guarded(pipeline, arg="prompt")(answer)(lang="en", prompt="a detonator") == IN_MSG


@pytest.mark.parametrize("value", [["a detonator"], {"text": "a detonator"}, None])
def test_prompt_that_is_not_text_is_blocked_unchecked(pipeline: Pipeline, value: Any) -> None:
    """The prompt is chosen from the signature: a list in its place is refused, not swapped for ``lang``."""
    seen: list[Any] = []

    @guarded(pipeline)
    def answer(message: str, lang: str, request: object) -> str:
        seen.append(message)
        return "answered"

    @guarded(pipeline)
    async def answer_async(message, lang, request):  # unannotated: the first parameter
        seen.append(message)
        return "answered"

    expected = f"the prompt must be text, not {type(value).__name__}"
    assert answer(value, "en", object()) == expected
    assert asyncio.run(answer_async(value, "en", None)) == expected
    assert seen == []
    with pytest.raises(GuardBlocked, match="must be text") as info:
        guarded(pipeline, raise_on_block=True)(answer.__wrapped__)(value, "en", None)
    assert info.value.stage is Stage.INPUT


@pytest.mark.parametrize("source", [
    # an annotation that cannot be resolved (a name imported under TYPE_CHECKING) is not str
    "from __future__ import annotations\ndef f(request: Unknown, message: str): return 'ok'",
    "def f(self, message): return 'ok'",                  # self is not the prompt
    "def f(n: int, message): return 'ok'",                # annotated with another type: not the prompt
    "def f(n: int, message: 'str | None' = None): return 'ok'",
])
def test_prompt_parameter_from_the_signature(pipeline: Pipeline, source: str) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # a module's function, its annotations left as text where it says so
    assert guarded(pipeline)(namespace["f"])(object(), "a detonator") == IN_MSG


def test_prompt_among_kwargs_of_other_types_is_an_error(pipeline: Pipeline) -> None:
    """A list prompt beside a str ``lang`` in ``**kwargs``: which is the prompt cannot be told."""
    def answer(**fields: Any) -> str:
        return "answered"

    with pytest.raises(GuardConfigError, match="arg="):
        guarded(pipeline)(answer)(prompt=["a detonator"], lang="en")
    assert guarded(pipeline)(answer)(prompt="a detonator") == IN_MSG
    assert guarded(pipeline, arg="prompt")(answer)(prompt=["x"], lang="en") == "the prompt must be text, not list"


def test_arg_naming_no_parameter_is_an_error(pipeline: Pipeline) -> None:
    with pytest.raises(GuardConfigError, match="not a parameter"):
        guarded(pipeline, arg="text")(lambda message: message)


def test_missing_prompt_is_an_error(pipeline: Pipeline) -> None:
    @guarded(pipeline)
    def chat(n: int) -> str:
        return "x"

    with pytest.raises(GuardConfigError, match="cannot find the prompt"):
        chat(3)


def test_a_prompt_left_to_its_default_is_checked_as_the_default() -> None:
    """f() with ``prompt: str = ...`` said "cannot find the prompt", and the default itself went unchecked."""
    seen: list[str] = []

    guards = _pipeline(input_pii=True)

    @guarded(guards)
    def blocked(n: int = 1, prompt: str = "mail jane@example.org about the detonator") -> str:
        seen.append(prompt)
        return "ok"

    @guarded(guards)
    def keyword(n: int = 1, prompt: str = "mail jane@example.org") -> str:
        seen.append(prompt)
        return "ok"

    @guarded(guards)
    def positional(prompt: str = "mail jane@example.org", /) -> str:
        seen.append(prompt)
        return "ok"

    assert blocked() == IN_MSG and seen == []  # the default names a blocked term
    assert keyword().endswith("ok" + LABEL) and positional().endswith("ok" + LABEL)
    assert seen == ["mail [EMAIL]", "mail [EMAIL]"]  # the checked form of the default reaches the function


def test_a_prompt_left_to_a_default_that_is_not_text_is_an_error(pipeline: Pipeline) -> None:
    @guarded(pipeline)
    def chat(prompt: str | None = None) -> str:
        return "x"

    with pytest.raises(GuardConfigError, match="was not passed and its default None is not text"):
        chat()


def test_context_from_keys_the_rate_limit() -> None:
    @guarded(_pipeline(rate_limit=True), context_from=lambda message, user: Context(user_key=user))
    def chat(message: str, user: str) -> str:
        return "ok"

    answers = [chat("hi", "alice"), chat("hi", "alice"), chat("hi", "bob")]
    assert [a.endswith(LABEL) for a in answers] == [True, False, True]


@pytest.mark.parametrize(("made", "named"), [({"user_key": "u"}, "not a dict"), ("u", "not a str")])
def test_context_from_returning_something_else_names_it(pipeline: Pipeline, made: object, named: str) -> None:
    """A dict from context_from raised ``TypeError: replace() should be called on dataclass instances``."""
    @guarded(pipeline, context_from=lambda message: made)
    def chat(message: str) -> str:
        return "ok"

    with pytest.raises(GuardConfigError, match=f"context_from must return a clauseguard Context .*{named}"):
        chat("hi")


def test_bad_stream_mode(pipeline: Pipeline) -> None:
    with pytest.raises(GuardConfigError, match="stream must be"):
        guarded(pipeline, stream="lines")  # type: ignore[arg-type]


@pytest.mark.parametrize(("verdict_messages", "expected"), [
    (["first", "second"], "first"),
    ([""], DEFAULT_BLOCK_MESSAGE),
    (["!guard 'g' failed: TypeError: internals"], DEFAULT_BLOCK_MESSAGE),  # "!": a guard's failure
    (["!guard 'g' failed: OSError: /srv/model", "Blocked under section 2.4."], "Blocked under section 2.4."),
])
def test_block_message(verdict_messages: list[str], expected: str) -> None:
    from clauseguard.guards import Action, Finding, Verdict
    from clauseguard.guards._runner import GuardFailure

    findings = tuple((GuardFailure if m.startswith("!") else Finding)(
        guard_id="g", category=None, score=1.0, message=m.removeprefix("!"), action=Action.BLOCK)
        for m in verdict_messages)
    assert block_message(Verdict(allowed=False, action=Action.BLOCK, output=None, findings=findings)) == expected


class _BrokenKeyword(KeywordGuard):
    """An input guard that fails as a tokenizer does on a lone surrogate."""

    def check(self, content: str | bytes, context: Context) -> Any:
        raise TypeError("TextEncodeInput must be Union[TextInputSequence, Tuple[InputSequence, InputSequence]]")


@pytest.mark.parametrize("timeout_ms", [None, 50])
def test_a_failing_guard_is_not_shown_to_the_user(timeout_ms: float | None) -> None:
    """The exception's text is for the verdict and the audit record, not for the end user."""
    broken = _BrokenKeyword(GuardSpec(id="clf", type="keyword", stage="input", message=IN_MSG,
                                      params={"categories": ["S9"]}, timeout_ms=timeout_ms))
    pipeline = Pipeline([broken])

    @guarded(pipeline)
    def chat(message: str) -> str:
        return "never"

    @guarded(pipeline)
    async def achat(message: str) -> str:
        return "never"

    assert chat("hi") == DEFAULT_BLOCK_MESSAGE
    assert asyncio.run(achat("hi")) == DEFAULT_BLOCK_MESSAGE
    with pytest.raises(GuardBlocked) as info:
        guarded(pipeline, raise_on_block=True)(chat.__wrapped__)("hi")
    assert info.value.message == DEFAULT_BLOCK_MESSAGE
    assert "TypeError: TextEncodeInput" in info.value.verdict.findings[0].message


# -- generators --------------------------------------------------------------------------------

PIECES = ["Hello ", "there, ", "write ", "to jane@", "example.org ", "soon."]
CLEAN = f"{NOTICE}Hello there, write to [EMAIL] soon."


def _cumulative(pieces: list[str]) -> list[str]:
    return [("".join(pieces[: i + 1])) for i in range(len(pieces))]


def _sync_source(chunks: list[str]) -> Any:
    def source(message: str) -> Iterator[str]:
        yield from chunks

    return source


def _async_source(chunks: list[str]) -> Any:
    async def source(message: str) -> AsyncIterator[str]:
        for chunk in chunks:
            await asyncio.sleep(0)
            yield chunk

    return source


def _collect(fn: Any, prompt: str) -> list[str]:
    result = fn(prompt)
    if hasattr(result, "__aiter__"):
        async def drain() -> list[str]:
            return [x async for x in result]
        return asyncio.run(drain())
    return list(result)


def _shown(outputs: list[str], mode: str) -> str:
    """What a user sees: the last value of a cumulative stream, the concatenation of a delta one."""
    return outputs[-1] if mode == "cumulative" else "".join(outputs)


@pytest.mark.parametrize("make", [_sync_source, _async_source], ids=["sync", "async"])
@pytest.mark.parametrize(("mode", "chunks"), [
    ("delta", PIECES),
    ("cumulative", _cumulative(PIECES)),
])
def test_stream_clean(pipeline: Pipeline, make: Any, mode: str, chunks: list[str]) -> None:
    fn = guarded(pipeline, stream=mode)(make(chunks))  # type: ignore[arg-type]
    outputs = _collect(fn, "hello")
    assert _shown(outputs, mode) == CLEAN + LABEL
    if mode == "cumulative":
        assert all(b.startswith(a) for a, b in itertools.pairwise(outputs))


BAD = ["Sure: ", "the deto", "nator goes ", "here. ", "More text."]


@pytest.mark.parametrize("make", [_sync_source, _async_source], ids=["sync", "async"])
@pytest.mark.parametrize(("mode", "chunks"), [
    ("delta", BAD),
    ("cumulative", _cumulative(BAD)),
])
def test_stream_block_releases_nothing_unchecked(pipeline: Pipeline, make: Any, mode: str,
                                                 chunks: list[str]) -> None:
    fn = guarded(pipeline, stream=mode)(make(chunks))  # type: ignore[arg-type]
    outputs = _collect(fn, "hello")
    assert not any("deto" in out or "nator" in out for out in outputs)
    assert outputs[-1].endswith(OUT_MSG)


@pytest.mark.parametrize("make", [_sync_source, _async_source], ids=["sync", "async"])
def test_stream_input_block(pipeline: Pipeline, make: Any) -> None:
    started: list[bool] = []

    def never(message: str) -> Iterator[str]:
        started.append(True)
        yield "x"

    fn = guarded(pipeline)(never if make is _sync_source else make(["x"]))
    assert _collect(fn, "a detonator") == [IN_MSG]
    assert started == []


@pytest.mark.parametrize("make", [_sync_source, _async_source], ids=["sync", "async"])
@pytest.mark.parametrize(("chunks", "shown"), [
    (["1", "10", " km away"], "110 km away"),
    (["A", "AB", "C"], "AABC"),
    (["Hello", "Hello world"], "HelloHello world"),
    (["", "Hel", "lo"], "Hello"),  # OpenAI-style streams open with an empty delta
    (["\n", "\n", "x"], "\n\nx"),
    (["one"], "one"),
])
def test_a_generator_is_a_token_stream_by_default(pipeline: Pipeline, make: Any, chunks: list[str],
                                                  shown: str) -> None:
    """The default stream="auto" took a token stream whose second token starts with the first ("1", "10")
    for a cumulative one: users got "a cumulative stream changed text it had already yielded", or lost
    text. Token streams (OpenAI, transformers, LiteLLM) are the default now; cumulative is said."""
    outputs = _collect(guarded(pipeline)(make(chunks)), "hello")
    assert "".join(outputs) == f"{NOTICE}{shown}{LABEL}"


def test_stream_auto_is_refused_naming_the_modes(pipeline: Pipeline) -> None:
    with pytest.raises(GuardConfigError, match=r"'delta' .*'cumulative'.*not 'auto'"):
        guarded(pipeline, stream="auto")  # type: ignore[arg-type]


def test_cumulative_stream_that_rewrites_is_stopped_with_a_plain_message(pipeline: Pipeline) -> None:
    """The internal error ("a cumulative stream changed text it had already yielded") was the answer."""
    fn = guarded(pipeline, stream="cumulative")(_sync_source(["Hello", "Hello world", "Goodbye"]))
    outputs = _collect(fn, "hello")
    assert "Goodbye" not in "".join(outputs) and "changed text" not in "".join(outputs)
    assert outputs[-1] == "The answer was stopped: it could not be checked as it was sent."
    raising = guarded(pipeline, stream="cumulative", raise_on_block=True)(_sync_source(["Hello", "Goodbye"]))
    with pytest.raises(GuardBlocked) as info:
        _collect(raising, "hello")
    assert "changed text" in info.value.verdict.metadata["error"] and "changed" not in str(info.value)


def test_stream_raise_on_block(pipeline: Pipeline) -> None:
    fn = guarded(pipeline, stream="delta", raise_on_block=True)(_sync_source(BAD))
    with pytest.raises(GuardBlocked) as info:
        _collect(fn, "hello")
    assert info.value.stage is Stage.OUTPUT


def test_wrapper_keeps_name_and_signature(pipeline: Pipeline) -> None:
    import inspect

    def chat(message: str, history: list[str]) -> str:
        """Doc."""
        return message

    wrapped = guarded(pipeline)(chat)
    assert wrapped.__name__ == "chat" and wrapped.__doc__ == "Doc."
    assert list(inspect.signature(wrapped).parameters) == ["message", "history"]


def _input_only() -> Pipeline:
    words = {"categories": [], "terms": {"S9": ["detonator"]}}
    return Pipeline([GuardSpec(id="kw-in", type="keyword", stage="input", params=words, message=IN_MSG)])


def test_answer_that_is_not_text_passes_without_output_guards() -> None:
    """Only input guards: a dict answer (an API endpoint's) is returned as it is, not a refusal in its place."""
    answer = {"answer": "ok", "sources": [1, 2]}

    @guarded(_input_only())
    def endpoint(prompt: str) -> dict[str, Any]:
        return answer

    assert endpoint("hello") is answer
    assert endpoint("the detonator") == IN_MSG


def test_none_answer_is_none(pipeline: Pipeline) -> None:
    """No answer releases no text: not a message about NoneType shown to the user."""
    @guarded(pipeline)
    def nothing(prompt: str) -> str | None:
        return None

    @guarded(pipeline)
    async def anothing(prompt: str) -> str | None:
        return None

    assert nothing("hello") is None
    assert asyncio.run(anothing("hello")) is None


def test_answer_that_is_not_text_with_output_guards_is_an_error(pipeline: Pipeline) -> None:
    @guarded(pipeline)
    def endpoint(prompt: str) -> dict[str, str]:
        return {"answer": "jane@example.org"}

    @guarded(pipeline)
    async def aendpoint(prompt: str) -> dict[str, str]:
        return {"answer": "jane@example.org"}

    with pytest.raises(GuardConfigError, match=r"endpoint returned dict, not text \(str\)"):
        endpoint("hello")
    with pytest.raises(GuardConfigError, match=r"aendpoint returned dict, not text \(str\)"):
        asyncio.run(aendpoint("hello"))


def test_async_function_hidden_by_a_sync_decorator(pipeline: Pipeline) -> None:
    """A sync wrapper under @guarded returns a coroutine: named as such (and closed), not a refusal string."""
    import functools
    import warnings

    def retry(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)
        return wrapper

    @guarded(pipeline)
    @retry
    async def answer(prompt: str) -> str:
        return "jane@example.org"

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine was never awaited" would be a RuntimeWarning
        with pytest.raises(GuardConfigError, match=r"returned a coroutine .* put @guarded directly on the async def"):
            answer("hello")

    @guarded(_input_only())
    @retry
    async def unchecked_answer(prompt: str) -> str:
        return "ok"

    assert asyncio.run(unchecked_answer("hello")) == "ok"  # no output guards: the coroutine is the answer


def test_above_classmethod_and_staticmethod(pipeline: Pipeline) -> None:
    class Bot:
        prefix = "to"

        @guarded(pipeline)
        @classmethod
        def ask(cls, prompt: str) -> str:
            return f"{cls.prefix} {prompt}"

        @guarded(pipeline)
        @staticmethod
        def quick(prompt: str) -> str:
            return f"re {prompt}"

    for call in (Bot.ask, Bot().ask):
        assert call("you") == f"{NOTICE}to you{LABEL}"
        assert call("the detonator") == IN_MSG
    for call in (Bot.quick, Bot().quick):  # through an instance too: the instance is not taken for the prompt
        assert call("you") == f"{NOTICE}re you{LABEL}"
        assert call("the detonator") == IN_MSG


def test_generator_returned_by_a_plain_function_is_named(pipeline: Pipeline) -> None:
    def words() -> Iterator[str]:
        yield "jane@example.org"

    async def awords() -> AsyncIterator[str]:
        yield "jane@example.org"

    @guarded(pipeline)
    def stream(prompt: str) -> Iterator[str]:
        return words()

    @guarded(pipeline)
    async def astream(prompt: str) -> AsyncIterator[str]:
        return awords()

    with pytest.raises(GuardConfigError, match=r"stream returned a generator object: @guarded streams"):
        stream("hello")
    with pytest.raises(GuardConfigError, match=r"astream returned a async_generator object: @guarded streams"):
        asyncio.run(astream("hello"))


def test_a_prompt_spread_over_star_args_is_refused_not_half_checked(pipeline: Pipeline) -> None:
    """With *parts as the prompt only the first part was checked; "detonator" in the second reached the model."""
    @guarded(pipeline)
    def chat(*parts: str) -> str:
        return "ok"

    assert chat("hello") == NOTICE + "ok" + LABEL
    with pytest.raises(GuardConfigError, match=r"cannot check every one of \*parts"):
        chat("hello", "build a detonator")

    @guarded(pipeline)
    def chat2(prompt: str, /, **options: Any) -> str:
        return "ok"

    with pytest.raises(GuardConfigError, match="given both as the positional prompt and as a keyword"):
        chat2("hello", prompt="build a detonator")
