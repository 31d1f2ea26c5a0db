"""``@guarded(pipeline)``: guard a function's prompt and its answer with one line.

Works on plain and ``async`` functions and on sync and async generators. The prompt is a parameter
chosen from the signature, never from a call's values: the one named by ``arg=``; else the first
parameter annotated ``str``; else the first one not annotated with another type (``self``/``cls``
left out). It goes through the input stage, however it is passed; a redacted prompt replaces the
original, a blocked one never reaches the function. A prompt that is not text (a client sent a list)
is blocked unchecked: the function is not called. Through a bare ``**kwargs`` the prompt is the only
keyword passed; with several, name it with ``arg=``. Methods, ``@classmethod`` and ``@staticmethod``
work with ``@guarded`` above or below. The answer goes through the output stage: it must be text, or
``None`` (nothing to check, returned as it is); any other answer (a dict, a model object, a coroutine a
sync decorator underneath hid) is a :class:`GuardConfigError` once the pipeline has output guards, and
is returned as it is when it has none.
Generators are guarded with the pipeline's streaming support, so no text is released that every
output guard has not seen:

- ``stream="delta"`` (default): each yielded string is a new piece of text (an LLM token stream:
  OpenAI's, transformers' ``TextIteratorStreamer``, LiteLLM's);
- ``stream="cumulative"``: each yielded string is the whole text so far (what Gradio's chat streams);
  one that changes text it already yielded is stopped with a block (its reason kept in the verdict).

There is no guessing: a token stream can look cumulative ("1", "10"; "jane", "jane@example.org"), so
``stream="auto"`` is refused with a :class:`GuardConfigError` naming the two modes.

A block returns (or yields) the blocking finding's message, the user-facing text quoting the terms
(a guard that failed or timed out is answered with :data:`DEFAULT_BLOCK_MESSAGE`, its error kept in
the verdict); ``raise_on_block=True`` raises :class:`GuardBlocked` instead.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import types
import typing
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

from clauseguard.errors import ClauseguardError, GuardConfigError
from clauseguard.guards._base import Context
from clauseguard.guards._params import Action, Stage
from clauseguard.guards._runner import GuardFailure
from clauseguard.guards._verdict import Verdict
from clauseguard.guards.pipeline import Pipeline

__all__ = ["DEFAULT_BLOCK_MESSAGE", "GuardBlocked", "StreamMode", "block_message", "guarded"]

log = logging.getLogger("clauseguard.guards")

DEFAULT_BLOCK_MESSAGE = "This request cannot be answered: it conflicts with the service's terms of use."

StreamMode = Literal["delta", "cumulative"]
_STREAM_MODES: tuple[StreamMode, ...] = ("delta", "cumulative")
_REWOUND_MESSAGE = "The answer was stopped: it could not be checked as it was sent."
ContextFrom = Callable[..., Context | None]


class GuardBlocked(ClauseguardError):
    """Content was blocked (raised only with ``raise_on_block=True``); ``verdict`` says why."""

    def __init__(self, verdict: Verdict, stage: Stage) -> None:
        self.verdict = verdict
        self.stage = stage
        super().__init__(block_message(verdict), where=f"{stage.value} stage")


def block_message(verdict: Verdict) -> str:
    """The user-facing text of a block: the first blocking finding's message, else a default.

    A guard's failure (an exception, a time-out) is never shown: its message is internal detail, kept
    in the verdict and the audit record; the user gets the default message.
    """
    for finding in verdict.findings:
        if finding.action is Action.BLOCK and finding.message and not isinstance(finding, GuardFailure):
            return finding.message
    return DEFAULT_BLOCK_MESSAGE


@dataclass(frozen=True)
class _Options:
    pipeline: Pipeline
    context_from: ContextFrom | None
    arg: str | None
    raise_on_block: bool
    stream: StreamMode


def guarded(pipeline: Pipeline, *, context_from: ContextFrom | None = None, arg: str | None = None,
            raise_on_block: bool = False, stream: StreamMode = "delta") -> Callable[[Callable[..., Any]],
                                                                                   Callable[..., Any]]:
    """Decorator: check ``fn``'s prompt with the input stage and its answer with the output stage.

    ``context_from(*args, **kwargs)`` builds the :class:`Context` (user key, turn) from the call's
    arguments (anything else it returns but None is a :class:`GuardConfigError`); ``arg`` names the
    prompt parameter when it is not the first one annotated ``str``.
    """
    if stream not in _STREAM_MODES:
        why = (" (a token stream can look cumulative: '1' then '10', so the mode is not guessed)"
               if stream == "auto" else "")
        raise GuardConfigError(f"stream must be 'delta' (each item is new text, as OpenAI, transformers and "
                               f"LiteLLM streams are; the default) or 'cumulative' (each item is the whole text "
                               f"so far, as Gradio chats stream), not {stream!r}{why}", where="@guarded")
    options = _Options(pipeline, context_from, arg, raise_on_block, stream)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if isinstance(fn, classmethod | staticmethod):  # @guarded above @classmethod: wrap what it holds
            return type(fn)(decorate(fn.__func__))
        sig = inspect.signature(fn)
        prompt = _prompt_param(fn, sig, options.arg)
        if inspect.isasyncgenfunction(fn):
            return _wrap_async_gen(fn, sig, prompt, options)
        if inspect.isgeneratorfunction(fn):
            return _wrap_sync_gen(fn, sig, prompt, options)
        if inspect.iscoroutinefunction(fn):
            return _wrap_async(fn, sig, prompt, options)
        return _wrap_sync(fn, sig, prompt, options)

    return decorate


# -- locating the prompt and building the call ------------------------------------------------------


@dataclass
class _Call:
    """One call's arguments (with the prompt possibly redacted) and its context."""

    args: list[Any]
    kwargs: dict[str, Any]
    context: Context
    slot: int | str | None  # where the prompt is: a positional index, a keyword, or nowhere

    @property
    def prompt(self) -> Any:
        if self.slot is None:
            return None
        return self.args[self.slot] if isinstance(self.slot, int) else self.kwargs[self.slot]

    def set_prompt(self, value: Any) -> None:
        if isinstance(self.slot, int):
            self.args[self.slot] = value
        elif self.slot is not None:
            self.kwargs[self.slot] = value

    def output_context(self) -> Context:
        return replace(self.context, stage=Stage.OUTPUT)


_SELF_NAMES = ("self", "cls")


@dataclass(frozen=True)
class _Prompt:
    """Which parameter holds the prompt, chosen once from the signature (never from a call's values).

    ``name`` is a parameter of the signature, or a key of its ``**kwargs`` (``arg=`` naming no
    parameter); ``None`` when no parameter can hold text. With a bare ``**kwargs`` (``name`` is the
    ``**kwargs`` parameter itself) the prompt is the only keyword the call passes through it.
    """

    name: str | None
    kind: inspect._ParameterKind | None = None
    position: int | None = None  # index among the positional parameters (for a positional one)


def _prompt_param(fn: Callable[..., Any], sig: inspect.Signature, arg: str | None) -> _Prompt:
    """``arg`` when given; else the first parameter annotated ``str``; else the first one not annotated
    with another type (``self`` and ``cls`` left out)."""
    params = list(sig.parameters.values())
    if arg is not None:
        if arg in sig.parameters:
            return _prompt_of(params, sig.parameters[arg])
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return _Prompt(arg, None)  # a key of **kwargs
        raise GuardConfigError(f"arg={arg!r} is not a parameter of {fn.__qualname__}", where="@guarded")
    if params and params[0].name in _SELF_NAMES:
        params = params[1:]
    hints = [_annotation(fn, p) for p in params]
    chosen = next((p for p, h in zip(params, hints, strict=True) if _is_text(h)), None)
    if chosen is None:
        chosen = next((p for p, h in zip(params, hints, strict=True) if _is_untyped(h)), None)
    return _prompt_of(list(sig.parameters.values()), chosen) if chosen is not None else _Prompt(None)


def _prompt_of(params: list[inspect.Parameter], param: inspect.Parameter) -> _Prompt:
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    position = positional.index(param) if param in positional else None
    return _Prompt(param.name, param.kind, position)


def _annotation(fn: Callable[..., Any], param: inspect.Parameter) -> Any:
    """The parameter's annotation, evaluated when ``from __future__ import annotations`` left a string."""
    hint = param.annotation
    if isinstance(hint, str):
        try:
            hint = eval(hint, getattr(inspect.unwrap(fn), "__globals__", {}))  # as inspect.signature(eval_str=True)
        except Exception:  # a name only imported under TYPE_CHECKING: keep the text
            return hint.strip()
    return hint


def _is_text(hint: Any) -> bool:
    """``str``, ``str | None``, ``Optional[str]``, ``Annotated[str, ...]`` (or their text)."""
    if hint is str:
        return True
    if isinstance(hint, str):
        return bool(re.fullmatch(r"(str|str \| None|None \| str|(typing\.)?Optional\[str\])", hint))
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _is_text(typing.get_args(hint)[0])
    if origin in (typing.Union, types.UnionType):
        return any(a is str for a in typing.get_args(hint))
    return False


def _is_untyped(hint: Any) -> bool:
    return hint is inspect.Parameter.empty or hint is Any or hint in ("Any", "typing.Any")


def _slot(prompt: _Prompt, sig: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | str | None:
    """Where this call put the prompt: a positional index, a keyword, or nowhere (left to its default)."""
    if prompt.name is None:
        return None
    if prompt.kind is None:  # arg= names a key of **kwargs
        return prompt.name if prompt.name in kwargs else None
    if prompt.kind is inspect.Parameter.VAR_KEYWORD:
        return _only_keyword({k: v for k, v in kwargs.items() if k not in sig.parameters})
    if prompt.kind is inspect.Parameter.VAR_POSITIONAL and len(args) > (prompt.position or 0) + 1:
        # *parts: only the first would be checked, and the rest reach the function unchecked
        raise GuardConfigError(f"cannot check every one of *{prompt.name}: pass the prompt as one string, or give "
                               "@guarded arg='name' of a parameter that holds it", where="@guarded")
    if prompt.kind is inspect.Parameter.POSITIONAL_ONLY and prompt.name in kwargs and any(
            p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):  # f(prompt, /, **kw): kw["prompt"] too
        raise GuardConfigError(f"{prompt.name!r} is given both as the positional prompt and as a keyword of "
                               "**kwargs: cannot tell which is the prompt", where="@guarded")
    if prompt.name in kwargs and prompt.kind is not inspect.Parameter.POSITIONAL_ONLY:
        return prompt.name
    if prompt.position is not None and prompt.position < len(args):
        return prompt.position
    return None


def _only_keyword(extra: dict[str, Any]) -> str | None:
    """The one keyword passed through ``**kwargs`` (whose order is the caller's, not the signature's)."""
    if len(extra) > 1:
        raise GuardConfigError(f"cannot tell which of {sorted(extra)} is the prompt; pass arg='name'",
                               where="@guarded")
    return next(iter(extra), None)


def _begin(options: _Options, prompt: _Prompt, sig: inspect.Signature, args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> _Call:
    context = options.context_from(*args, **kwargs) if options.context_from else None
    if context is not None and not isinstance(context, Context):
        raise GuardConfigError(f"context_from must return a clauseguard Context (or None), not a "
                               f"{type(context).__qualname__}; build one with Context(user_key=..., turn=...) "
                               "from clauseguard.guards", where="@guarded")
    call = _Call(list(args), dict(kwargs), replace(context or Context(), stage=Stage.INPUT),
                 _slot(prompt, sig, args, kwargs))
    if call.slot is None and options.pipeline.stage_guards(Stage.INPUT):
        left = _default(prompt, sig)
        if isinstance(left, str) and _pass_default(call, prompt, left):
            return call
        where = f"argument {prompt.name!r}" if prompt.name else "a str argument"
        if left is not inspect.Parameter.empty and not isinstance(left, str):
            raise GuardConfigError(f"the prompt ({where}) was not passed and its default {left!r} is not text",
                                   where="@guarded")
        raise GuardConfigError(f"cannot find the prompt to check ({where} expected); pass arg='name'",
                               where="@guarded")
    return call


def _default(prompt: _Prompt, sig: inspect.Signature) -> Any:
    """The prompt parameter's default (what a call that leaves the prompt out sends), or ``Parameter.empty``."""
    if prompt.name not in sig.parameters or prompt.kind is inspect.Parameter.VAR_KEYWORD:
        return inspect.Parameter.empty
    return sig.parameters[prompt.name].default


def _pass_default(call: _Call, prompt: _Prompt, default: str) -> bool:
    """Pass the default explicitly, so it is checked and its checked form is what the function gets."""
    if prompt.kind is inspect.Parameter.POSITIONAL_ONLY:
        if prompt.position != len(call.args):  # earlier positional-only ones left to their defaults too
            return False
        call.args.append(default)
        call.slot = prompt.position
        return True
    call.kwargs[prompt.name] = default  # type: ignore[index]
    call.slot = prompt.name
    return True


def _check_input(options: _Options, call: _Call) -> Verdict | None:
    """The input stage's verdict on the prompt; a prompt that is not text is refused unchecked."""
    if call.slot is None:
        return None
    if not isinstance(call.prompt, str):
        return _not_text(call.prompt)
    return options.pipeline.check_input(call.prompt, call.context)


async def _acheck_input(options: _Options, call: _Call) -> Verdict | None:
    if call.slot is None:
        return None
    if not isinstance(call.prompt, str):
        return _not_text(call.prompt)
    return await options.pipeline.acheck_input(call.prompt, call.context)


def _not_text(value: Any) -> Verdict:
    """Fail closed: the guards judge text, so a list or a dict in the prompt's place is never passed on."""
    from clauseguard.guards._verdict import Finding

    reason = f"the prompt must be text, not {type(value).__name__}"
    log.warning("@guarded refused a call: %s", reason)
    finding = Finding(guard_id="guarded", category=None, score=1.0, message=reason, action=Action.BLOCK)
    return Verdict(allowed=False, action=Action.BLOCK, output=None, findings=(finding,), guard_id="guarded")


def _after_input(options: _Options, call: _Call, verdict: Verdict | None) -> str | None:
    """None to go on (prompt replaced by its checked form); else the block message to answer with."""
    if verdict is None:
        return None
    if not verdict.allowed:
        if options.raise_on_block:
            raise GuardBlocked(verdict, Stage.INPUT)
        return block_message(verdict)
    call.set_prompt(verdict.output)
    return None


def _passed_unchecked(options: _Options, fn: Callable[..., Any], result: Any) -> bool:
    """Whether ``result`` is passed on as it is, unchecked: ``None`` (no text to release), or anything when
    the pipeline has no output guards. Any other answer that is not text is a :class:`GuardConfigError`:
    the output guards judge text, and neither the object nor a block message in its place would be right."""
    if result is None or isinstance(result, str | bytes):
        return result is None
    if not options.pipeline.stage_guards(Stage.OUTPUT):
        return True
    name = getattr(fn, "__qualname__", repr(fn))
    if inspect.iscoroutine(result):
        result.close()  # never run: no "was never awaited" warning on top of the error
        raise GuardConfigError(f"{name} returned a coroutine from a plain call: it is async, but a decorator "
                               "under @guarded hid that; put @guarded directly on the async def", where="@guarded")
    if inspect.isgenerator(result) or inspect.isasyncgen(result):
        raise GuardConfigError(f"{name} returned a {type(result).__name__} object: @guarded streams what a "
                               "generator function yields when it is put directly on that function "
                               "(a def or async def with yield)", where="@guarded")
    raise GuardConfigError(f"{name} returned {type(result).__name__}, not text (str): the output guards check "
                           "text; return the answer's text, or check the text inside it with "
                           "pipeline.check_output", where="@guarded")


def _after_output(options: _Options, verdict: Verdict) -> Any:
    if verdict.allowed:
        return verdict.output
    if options.raise_on_block:
        raise GuardBlocked(verdict, Stage.OUTPUT)
    return block_message(verdict)


# -- plain functions ------------------------------------------------------------------------------


def _wrap_sync(fn: Callable[..., Any], sig: inspect.Signature, prompt: _Prompt,
             options: _Options) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = _begin(options, prompt, sig, args, kwargs)
        verdict = _check_input(options, call)
        blocked = _after_input(options, call, verdict)
        if blocked is not None:
            return blocked
        result = fn(*call.args, **call.kwargs)
        if _passed_unchecked(options, fn, result):
            return result
        return _after_output(options, options.pipeline.check_output(result, call.output_context()))

    return wrapper


def _wrap_async(fn: Callable[..., Any], sig: inspect.Signature, prompt: _Prompt,
             options: _Options) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = _begin(options, prompt, sig, args, kwargs)
        verdict = await _acheck_input(options, call)
        blocked = _after_input(options, call, verdict)
        if blocked is not None:
            return blocked
        result = await fn(*call.args, **call.kwargs)
        if _passed_unchecked(options, fn, result):
            return result
        return _after_output(options, await options.pipeline.acheck_output(result, call.output_context()))

    return wrapper


# -- generators -----------------------------------------------------------------------------------


class StreamRewoundError(ClauseguardError):
    """A cumulative stream yielded text that does not extend what it yielded before."""


class _Feed:
    """Turns what a generator yields into deltas, in the mode it was declared with."""

    def __init__(self, mode: StreamMode) -> None:
        self.mode: StreamMode = mode
        self.text = ""

    def delta(self, chunk: Any) -> str:
        if not isinstance(chunk, str):
            raise TypeError(f"a guarded generator must yield str, not {type(chunk).__name__}")
        if self.mode == "delta":
            self.text += chunk
            return chunk
        if not chunk.startswith(self.text):
            raise StreamRewoundError("a cumulative stream changed text it had already yielded")
        piece, self.text = chunk[len(self.text):], chunk
        return piece


class _Presenter:
    """Turns released pieces into what the wrapper yields, in the source's own mode."""

    def __init__(self, feed: _Feed) -> None:
        self.feed = feed
        self.shown = ""

    def present(self, piece: str) -> list[str]:
        self.shown += piece
        return [self.shown] if self.feed.mode == "cumulative" else [piece]

    def blocked(self, message: str) -> str:
        if self.feed.mode == "delta" and self.shown:
            return "\n\n" + message
        return message


def _stream_end(options: _Options, presenter: _Presenter, verdict: Verdict | None, blocked: bool) -> list[str]:
    if not blocked or verdict is None:
        return []
    if options.raise_on_block:
        raise GuardBlocked(verdict, Stage.OUTPUT)
    return [presenter.blocked(block_message(verdict))]


def _rewound_verdict(err: Exception) -> Verdict:
    """A block with a plain message for users; what went wrong stays in the verdict's metadata and the log."""
    from clauseguard.guards._verdict import Finding

    finding = Finding(guard_id="guarded", category=None, score=1.0, message=_REWOUND_MESSAGE, action=Action.BLOCK)
    return Verdict(allowed=False, action=Action.BLOCK, output=None, findings=(finding,), guard_id="guarded",
                   metadata={"error": str(err)})


def _wrap_sync_gen(fn: Callable[..., Any], sig: inspect.Signature, prompt: _Prompt,
             options: _Options) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[str]:
        call = _begin(options, prompt, sig, args, kwargs)
        verdict = _check_input(options, call)
        blocked = _after_input(options, call, verdict)
        if blocked is not None:
            yield blocked
            return
        source = fn(*call.args, **call.kwargs)
        feed = _Feed(options.stream)
        presenter = _Presenter(feed)
        stream = options.pipeline.stream_output((feed.delta(c) for c in source), call.output_context())
        try:
            for piece in stream:
                yield from presenter.present(piece)
            final, stopped = stream.verdict, stream.blocked
        except StreamRewoundError as err:
            log.warning("guarded stream stopped: %s", err)
            final, stopped = _rewound_verdict(err), True
        finally:
            source.close()
        yield from _stream_end(options, presenter, final, stopped)

    return wrapper


def _wrap_async_gen(fn: Callable[..., Any], sig: inspect.Signature, prompt: _Prompt,
             options: _Options) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[str]:
        call = _begin(options, prompt, sig, args, kwargs)
        verdict = await _acheck_input(options, call)
        blocked = _after_input(options, call, verdict)
        if blocked is not None:
            yield blocked
            return
        source = fn(*call.args, **call.kwargs)
        feed = _Feed(options.stream)
        presenter = _Presenter(feed)
        stream = options.pipeline.stream_output(_adeltas(source, feed), call.output_context())
        try:
            async for piece in stream:
                for out in presenter.present(piece):
                    yield out
            final, stopped = stream.verdict, stream.blocked
        except StreamRewoundError as err:
            log.warning("guarded stream stopped: %s", err)
            final, stopped = _rewound_verdict(err), True
        finally:
            await source.aclose()
        for out in _stream_end(options, presenter, final, stopped):
            yield out

    return wrapper


async def _adeltas(source: Any, feed: _Feed) -> AsyncIterator[str]:
    async for chunk in source:
        yield feed.delta(chunk)
