"""Gradio: guard a chat function with one line, keyed to the user behind each request.

``gr.ChatInterface(guard_chat(respond, pipeline))``. The wrapper asks Gradio for the request (it adds
a ``request: gr.Request`` parameter to the signature Gradio reads, unless ``respond`` already has one)
and builds the guards' :class:`Context` from it: the user key is the logged-in username, else the
client's IP address, always pseudonymised with a keyed HMAC before any guard sees it. Behind the
Hugging Face Spaces proxy the client's address is the first hop of ``X-Forwarded-For``.

Streaming chat functions yield the whole answer so far (Gradio's convention), so they are guarded in
``cumulative`` mode. Gradio itself is imported only by :func:`guard_chat`; :func:`user_key` works on
any object with ``headers``, ``client.host`` and ``username``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from clauseguard.errors import GuardConfigError
from clauseguard.guards._base import Context
from clauseguard.guards.decorator import StreamMode, guarded
from clauseguard.guards.pii import pseudonymise
from clauseguard.guards.pipeline import Pipeline

__all__ = ["client_ip", "context_for", "guard_chat", "pseudonymise", "user_key"]

_REQUEST_PARAM = "request"


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name)
    if value is None and isinstance(headers, Mapping):  # a plain dict with other casing
        value = next((v for k, v in headers.items() if str(k).lower() == name), None)
    return str(value) if value is not None else None


def client_ip(request: Any) -> str | None:
    """The client's address: first hop of ``X-Forwarded-For`` (set by the Spaces proxy), else the peer."""
    forwarded = _header(getattr(request, "headers", None), "x-forwarded-for")
    if forwarded:
        first = forwarded.split(",")[0].strip()
        if first:
            return first
    client = getattr(request, "client", None)
    host = getattr(client, "host", None)
    return str(host) if host else None


def user_key(request: Any) -> str | None:
    """Pseudonymous key of the user: ``user:<hmac>`` when logged in, else ``ip:<hmac>``, else None."""
    if request is None:
        return None
    username = getattr(request, "username", None)
    if username:
        return pseudonymise("user", str(username))
    ip = client_ip(request)
    return pseudonymise("ip", ip) if ip else None


def _turn(history: Any) -> int:
    """Answers already given: assistant messages (messages format) or pairs (tuples format)."""
    if not isinstance(history, Sequence) or isinstance(history, str):
        return 0
    if all(isinstance(m, Mapping) for m in history):
        return sum(1 for m in history if m.get("role") == "assistant")
    return len(history)


def context_for(request: Any, history: Any = None) -> Context:
    """The guards' context of one chat request (the raw IP stays in memory for ``rate_limit``'s own HMAC)."""
    return Context(user_key=user_key(request), ip=client_ip(request) if request is not None else None,
                   turn=_turn(history))


def guard_chat(fn: Callable[..., Any], pipeline: Pipeline, *, stream: StreamMode = "cumulative",
               raise_on_block: bool = False) -> Callable[..., Any]:
    """``fn(message, history, ...)`` guarded for ``gr.ChatInterface`` (or any Gradio event)."""
    import gradio as gr

    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if len(params) < 1:
        raise GuardConfigError("a chat function takes the message as its first parameter", where="guard_chat")
    own_request = any(p.annotation in (gr.Request, "gr.Request") or p.name == _REQUEST_PARAM for p in params)
    extended = params if own_request else _with_request(params, gr.Request)
    names = [p.name for p in extended]
    history_name = params[1].name if len(params) > 1 else None

    def context_from(*args: Any, **kwargs: Any) -> Context:
        bound = dict(zip(names, args, strict=False)) | kwargs
        return context_for(bound.get(_REQUEST_PARAM), bound.get(history_name) if history_name else None)

    target = fn
    if not own_request:  # a new function: the caller's own is never modified
        target = functools.update_wrapper(_drop_request(fn, names.index(_REQUEST_PARAM)), fn, updated=())
        target.__signature__ = sig.replace(parameters=extended)  # type: ignore[attr-defined]
        target.__annotations__ = {**getattr(fn, "__annotations__", {}), _REQUEST_PARAM: gr.Request}
    return guarded(pipeline, context_from=context_from, arg=params[0].name, stream=stream,
                   raise_on_block=raise_on_block)(target)


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

    if inspect.isasyncgenfunction(fn):
        async def agen(*args: Any, **kwargs: Any) -> Any:
            a, k = split(args, kwargs)
            async for item in fn(*a, **k):
                yield item
        return agen
    if inspect.isgeneratorfunction(fn):
        def gen(*args: Any, **kwargs: Any) -> Any:
            a, k = split(args, kwargs)
            yield from fn(*a, **k)
        return gen
    if inspect.iscoroutinefunction(fn):
        async def coro(*args: Any, **kwargs: Any) -> Any:
            a, k = split(args, kwargs)
            return await fn(*a, **k)
        return coro

    def plain(*args: Any, **kwargs: Any) -> Any:
        a, k = split(args, kwargs)
        return fn(*a, **k)
    return plain
