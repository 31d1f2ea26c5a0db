"""``@guarded(pipeline)``: guard a function's prompt and its answer with one line.

Works on plain and ``async`` functions and on sync and async generators. The prompt (the first
``str`` argument in the signature's order, however it is passed, or the one named by ``arg=``) goes
through the input stage; a redacted prompt replaces the original, a blocked one never reaches the
function. The answer goes through the output stage. Generators are guarded with the pipeline's
streaming support, so no text is released that every output guard has not seen:

- ``stream="delta"``: each yielded string is a new piece of text (an LLM token stream);
- ``stream="cumulative"``: each yielded string is the whole text so far (what Gradio's chat streams);
- ``stream="auto"`` (default): cumulative when a chunk extends the non-empty text before it, delta
  when it does not; empty chunks and repeats of the text so far do not decide. Until then nothing is
  shown, and an answer that never decides (one chunk, or the same chunk again) is shown once.

A block returns (or yields) the blocking finding's message, the user-facing text quoting the terms;
``raise_on_block=True`` raises :class:`GuardBlocked` instead.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

from clauseguard.errors import ClauseguardError, GuardConfigError
from clauseguard.guards._base import Context
from clauseguard.guards._params import Action, Stage
from clauseguard.guards._verdict import Verdict
from clauseguard.guards.pipeline import Pipeline

__all__ = ["DEFAULT_BLOCK_MESSAGE", "GuardBlocked", "StreamMode", "block_message", "guarded"]

log = logging.getLogger("clauseguard.guards")

DEFAULT_BLOCK_MESSAGE = "This request cannot be answered: it conflicts with the service's terms of use."

StreamMode = Literal["auto", "delta", "cumulative"]
ContextFrom = Callable[..., Context | None]


class GuardBlocked(ClauseguardError):
    """Content was blocked (raised only with ``raise_on_block=True``); ``verdict`` says why."""

    def __init__(self, verdict: Verdict, stage: Stage) -> None:
        self.verdict = verdict
        self.stage = stage
        super().__init__(block_message(verdict), where=f"{stage.value} stage")


def block_message(verdict: Verdict) -> str:
    """The user-facing text of a block: the first blocking finding's message, else a default."""
    for finding in verdict.findings:
        if finding.action is Action.BLOCK and finding.message:
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
            raise_on_block: bool = False, stream: StreamMode = "auto") -> Callable[[Callable[..., Any]],
                                                                                  Callable[..., Any]]:
    """Decorator: check ``fn``'s prompt with the input stage and its answer with the output stage.

    ``context_from(*args, **kwargs)`` builds the :class:`Context` (user key, turn) from the call's
    arguments; ``arg`` names the prompt parameter when it is not the first ``str`` in the signature.
    """
    if stream not in ("auto", "delta", "cumulative"):
        raise GuardConfigError(f"stream must be 'auto', 'delta' or 'cumulative', not {stream!r}")
    options = _Options(pipeline, context_from, arg, raise_on_block, stream)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn)
        if inspect.isasyncgenfunction(fn):
            return _wrap_async_gen(fn, sig, options)
        if inspect.isgeneratorfunction(fn):
            return _wrap_sync_gen(fn, sig, options)
        if inspect.iscoroutinefunction(fn):
            return _wrap_async(fn, sig, options)
        return _wrap_sync(fn, sig, options)

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


def _slot(sig: inspect.Signature, arg: str | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | str | None:
    if arg is not None:
        if arg in kwargs:
            return arg
        names = [p.name for p in sig.parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        index = names.index(arg) if arg in names else None
        return index if index is not None and index < len(args) else None
    # In the signature's order, not the call's: answer(lang="en", prompt=...) must check the prompt.
    position = 0
    for name, value in sig.bind_partial(*args, **kwargs).arguments.items():
        kind = sig.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            found = next((position + i for i, v in enumerate(value) if isinstance(v, str)), None)
            if found is not None:
                return found
        elif kind is inspect.Parameter.VAR_KEYWORD:
            return _only_str_keyword(value)
        elif isinstance(value, str):
            return name if name in kwargs else position
        if name not in kwargs and kind is not inspect.Parameter.VAR_POSITIONAL:
            position += 1
    return None


def _only_str_keyword(extra: dict[str, Any]) -> str | None:
    """The one str among ``**kwargs`` (whose order is the caller's, not the signature's)."""
    names = [k for k, v in extra.items() if isinstance(v, str)]
    if len(names) > 1:
        raise GuardConfigError(f"cannot tell which of {names} is the prompt; pass arg='name'", where="@guarded")
    return names[0] if names else None


def _begin(options: _Options, sig: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Call:
    context = options.context_from(*args, **kwargs) if options.context_from else None
    call = _Call(list(args), dict(kwargs), replace(context or Context(), stage=Stage.INPUT),
                 _slot(sig, options.arg, args, kwargs))
    if call.slot is None and options.pipeline.stage_guards(Stage.INPUT):
        where = f"argument {options.arg!r}" if options.arg else "a str argument"
        raise GuardConfigError(f"cannot find the prompt to check ({where} expected); pass arg='name'",
                               where="@guarded")
    return call


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


def _after_output(options: _Options, verdict: Verdict) -> Any:
    if verdict.allowed:
        return verdict.output
    if options.raise_on_block:
        raise GuardBlocked(verdict, Stage.OUTPUT)
    return block_message(verdict)


# -- plain functions ------------------------------------------------------------------------------


def _wrap_sync(fn: Callable[..., Any], sig: inspect.Signature, options: _Options) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = _begin(options, sig, args, kwargs)
        verdict = options.pipeline.check_input(call.prompt, call.context) if call.slot is not None else None
        blocked = _after_input(options, call, verdict)
        if blocked is not None:
            return blocked
        result = fn(*call.args, **call.kwargs)
        return _after_output(options, options.pipeline.check_output(result, call.output_context()))

    return wrapper


def _wrap_async(fn: Callable[..., Any], sig: inspect.Signature, options: _Options) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = _begin(options, sig, args, kwargs)
        verdict = await options.pipeline.acheck_input(call.prompt, call.context) if call.slot is not None else None
        blocked = _after_input(options, call, verdict)
        if blocked is not None:
            return blocked
        result = await fn(*call.args, **call.kwargs)
        return _after_output(options, await options.pipeline.acheck_output(result, call.output_context()))

    return wrapper


# -- generators -----------------------------------------------------------------------------------


class StreamRewoundError(ClauseguardError):
    """A cumulative stream yielded text that does not extend what it yielded before."""


class _Feed:
    """Turns what a generator yields into deltas, deciding the stream mode on the first telling chunk.

    An empty chunk, or one equal to the text so far, reads the same in both modes (OpenAI-style streams
    open with an empty delta); the mode is cumulative only when a chunk extends the non-empty text so
    far, and delta when it does not. Repeats held while undecided are the delta's text if it is delta.
    """

    def __init__(self, mode: StreamMode) -> None:
        self.mode: StreamMode = mode
        self.text = ""
        self.repeats: list[str] = []  # chunks equal to the text, held until the mode is known

    def delta(self, chunk: Any) -> str:
        if not isinstance(chunk, str):
            raise TypeError(f"a guarded generator must yield str, not {type(chunk).__name__}")
        if self.mode == "auto":
            return self._undecided(chunk)
        if self.mode == "delta":
            self.text += chunk
            return chunk
        if not chunk.startswith(self.text):
            raise StreamRewoundError("a cumulative stream changed text it had already yielded")
        piece, self.text = chunk[len(self.text):], chunk
        return piece

    def _undecided(self, chunk: str) -> str:
        if not self.text or not chunk:  # the same text either way
            self.text += chunk
            return chunk
        if chunk == self.text:
            self.repeats.append(chunk)
            return ""
        if chunk.startswith(self.text):
            self.mode = "cumulative"
            piece, self.text = chunk[len(self.text):], chunk
            return piece
        self.mode = "delta"
        piece = "".join(self.repeats) + chunk
        self.text += piece
        return piece


class _Presenter:
    """Turns released pieces into what the wrapper yields, in the source's own mode."""

    def __init__(self, feed: _Feed) -> None:
        self.feed = feed
        self.shown = ""
        self.pending = ""

    def present(self, piece: str) -> list[str]:
        self.shown += piece
        if self.feed.mode == "auto":
            self.pending += piece
            return []
        if self.feed.mode == "cumulative":
            self.pending = ""
            return [self.shown]
        out, self.pending = self.pending + piece, ""
        return [out]

    def finish(self) -> list[str]:
        """Anything still held because the mode was never decided (a one-chunk answer)."""
        return [self.shown] if self.pending else []

    def blocked(self, message: str) -> str:
        if self.feed.mode == "delta" and self.shown:
            return "\n\n" + message
        return message


def _stream_end(options: _Options, presenter: _Presenter, verdict: Verdict | None, blocked: bool) -> list[str]:
    if not blocked or verdict is None:
        return presenter.finish()
    if options.raise_on_block:
        raise GuardBlocked(verdict, Stage.OUTPUT)
    return [presenter.blocked(block_message(verdict))]


def _rewound_verdict(err: Exception) -> Verdict:
    from clauseguard.guards._verdict import Finding

    finding = Finding(guard_id="guarded", category=None, score=1.0, message=str(err), action=Action.BLOCK)
    return Verdict(allowed=False, action=Action.BLOCK, output=None, findings=(finding,), guard_id="guarded")


def _wrap_sync_gen(fn: Callable[..., Any], sig: inspect.Signature, options: _Options) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[str]:
        call = _begin(options, sig, args, kwargs)
        verdict = options.pipeline.check_input(call.prompt, call.context) if call.slot is not None else None
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


def _wrap_async_gen(fn: Callable[..., Any], sig: inspect.Signature, options: _Options) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[str]:
        call = _begin(options, sig, args, kwargs)
        verdict = await options.pipeline.acheck_input(call.prompt, call.context) if call.slot is not None else None
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
