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
A history that is not a list of messages refuses the turn. The turn number (the first-turn AI notice) counts
the history's assistant messages only once one of them carries the notice the guards wrote.

Streaming chat functions yield the whole answer so far (Gradio's convention), so they are guarded in
``cumulative`` mode. Gradio itself is imported only by :func:`guard_chat`; :func:`user_key` works on
any object with ``headers``, ``client.host`` and ``username``.

Offline: importing this module turns Gradio's analytics off (``GRADIO_ANALYTICS_ENABLED=False``, unless
set otherwise), which otherwise call api.gradio.app and huggingface.co as each interface is built.
"""

from __future__ import annotations

import functools
import inspect
import ipaddress
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from clauseguard.errors import GuardConfigError
from clauseguard.guards._base import Context
from clauseguard.guards._forwarded import Network, client_address
from clauseguard.guards._params import Action, Modality, Stage
from clauseguard.guards._verdict import Finding, Verdict
from clauseguard.guards.decorator import GuardBlocked, StreamMode, block_message, guarded
from clauseguard.guards.pii import pseudonymise
from clauseguard.guards.pipeline import Pipeline

__all__ = ["TRUSTED_PROXIES_ENV", "client_ip", "context_for", "guard_chat", "pseudonymise", "trusted_proxies",
           "user_key"]

TRUSTED_PROXIES_ENV = "CLAUSEGUARD_TRUSTED_PROXIES"
_REQUEST_PARAM = "request"

# Read by Gradio each time an interface is built; its analytics thread also sends huggingface_hub telemetry.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")



# -- who is asking ----------------------------------------------------------------------------------


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
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
               raise_on_block: bool = False) -> Callable[..., Any]:
    """``fn(message, history, ...)`` guarded for ``gr.ChatInterface`` (or any Gradio event)."""
    import gradio as gr

    trusted_proxies()  # a bad CLAUSEGUARD_TRUSTED_PROXIES fails now, not on every request
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if len(params) < 1:
        raise GuardConfigError("a chat function takes the message as its first parameter", where="guard_chat")
    own = _request_param(fn, params, gr.Request)
    extended = params if own else _with_request(params, gr.Request)
    target = fn
    if not own:  # a new function: the caller's own is never modified
        target = _drop_request(fn, [p.name for p in extended].index(_REQUEST_PARAM))
    chat = _ChatGuard(pipeline, [p.name for p in extended], own or _REQUEST_PARAM,
                      history=params[1].name if len(params) > 1 else None, raise_on_block=raise_on_block)
    answer = guarded(chat.output, context_from=_Call.context_of, stream=stream,
                     raise_on_block=raise_on_block)(_takes_call(target))
    wrapper = functools.update_wrapper(_checked_first(target, chat, answer), fn, updated=())
    wrapper.__signature__ = sig.replace(parameters=extended)  # type: ignore[attr-defined]
    if not own:
        wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), _REQUEST_PARAM: gr.Request}
    return wrapper


def _request_param(fn: Callable[..., Any], params: list[inspect.Parameter], request_type: type) -> str | None:
    """The parameter Gradio gives the request to (typed ``gr.Request``, as Gradio reads it), if any."""
    from gradio.utils import get_type_hints

    hints = get_type_hints(fn)
    for p in params:
        if hints.get(p.name) in (request_type, Optional[request_type]) or p.annotation in (  # noqa: UP045
                request_type, "gr.Request", "gradio.Request", "gr.Request | None"):
            return p.name
    return _REQUEST_PARAM if any(p.name == _REQUEST_PARAM for p in params) else None


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
    """One input check the steps ask for; the driver answers with its verdict (sync or async)."""

    pipeline: Pipeline
    content: Any
    modality: Modality
    context: Context
    stage: Stage = Stage.INPUT

    def at_stage(self) -> Context:
        return replace(self.context, stage=self.stage)


@dataclass
class _Call:
    """The arguments for the chat function, checked, and the context of the turn."""

    args: list[Any]
    kwargs: dict[str, Any]
    context: Context
    written: list[str] = field(default_factory=list)  # images a guard changed, deleted after the turn

    @staticmethod
    def context_of(call: _Call) -> Context:
        return call.context


class _Refused(Exception):
    """Control flow: an input check blocked (never seen outside this module)."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict


Steps = Generator[_Check, Verdict, _Call]


def _run(steps: Steps) -> _Call:
    try:
        check = next(steps)
        while True:
            check = steps.send(check.pipeline.check(check.content, stage=check.stage, context=check.at_stage(),
                                                    modality=check.modality))
    except StopIteration as done:
        return done.value


async def _arun(steps: Steps) -> _Call:
    try:
        check = next(steps)
        while True:
            check = steps.send(await check.pipeline.acheck(check.content, stage=check.stage,
                                                           context=check.at_stage(), modality=check.modality))
    except StopIteration as done:
        return done.value


def _refusal(reason: str) -> Verdict:
    finding = Finding(guard_id="guard_chat", category=None, score=1.0, message=reason, action=Action.BLOCK)
    return Verdict(allowed=False, action=Action.BLOCK, output=None, findings=(finding,), guard_id="guard_chat")


class _ChatGuard:
    """The input checks of one chat turn, written once as steps that a sync or an async driver runs."""

    def __init__(self, pipeline: Pipeline, names: list[str], request: str, *, history: str | None,
                 raise_on_block: bool) -> None:
        self.names, self.request, self.history, self.message = names, request, history, names[0]
        self.raise_on_block = raise_on_block
        self.input = pipeline
        # The history was counted when it was sent: its content is checked again, its rate is not.
        self.earlier = pipeline.without("rate_limit")
        self.output = Pipeline([g for g in pipeline.guards if g.spec.stage is Stage.OUTPUT],
                               sink=pipeline.sink, max_chars=pipeline.max_chars)
        self.notices = [g.params.notice for g in self.output.guards
                        if g.spec.type == "ai_disclosure" and getattr(g.params, "notice", "")]

    def refusal(self, verdict: Verdict) -> str:
        if self.raise_on_block:
            raise GuardBlocked(verdict, Stage.INPUT)
        return block_message(verdict)

    def steps(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Steps:
        """The new message first (so a turn its history refuses still counts), then the history."""
        call = _Call(list(args), dict(kwargs), Context())
        bound = dict(zip(self.names, call.args, strict=False)) | call.kwargs
        history = bound.get(self.history) if self.history else None
        call.context = replace(context_for(bound.get(self.request), history, notices=self.notices),
                               stage=Stage.INPUT)
        try:
            self._put(call, self.message, (yield from self._message(bound.get(self.message), call)))
            if self.history in bound and history is not None:
                self._put(call, self.history, (yield from self._history(history, call)))
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

    def _history(self, history: Any, call: _Call) -> Generator[_Check, Verdict, list[Any]]:
        if not _is_messages(history):  # Gradio 6 sends {role, content} messages only
            raise _Refused(_refusal("the chat history is not a list of {role, content} messages; not checked"))
        checked: list[Any] = []
        exchange = 0  # where the messages of the exchange now going on start in `checked`
        answering = dropped = False
        for message in history:
            if message.get("role") == "assistant":
                answering = True
                if dropped:  # the answer to a message left out (its refusal) goes with it
                    continue
                try:  # checked as the model's output; kept as it was shown
                    yield from self._content(message.get("content"), call, self.output, Stage.OUTPUT)
                except _Refused:  # a forged or blocked answer: left out with the messages it answers
                    del checked[exchange:]
                    dropped = True
                    continue
                checked.append(message)
                continue
            if answering:  # a user message after answers starts the next exchange
                exchange, answering, dropped = len(checked), False, False
            try:  # user, or a system message a client slipped in
                content = yield from self._content(message.get("content"), call, self.earlier, Stage.INPUT)
            except _Refused:
                # Left out, not refusing the turn: Gradio keeps a blocked message in the history, so
                # refusing would end the chat for good; the model never sees it either way.
                dropped = True
                continue
            dropped = False
            checked.append({**message, "content": content})
        return checked

    def _content(self, content: Any, call: _Call, pipeline: Pipeline, stage: Stage) -> Generator[_Check, Verdict, Any]:
        """A history message's content, checked: a string, or Gradio 6's list of text and file parts."""
        if isinstance(content, list | tuple):
            parts = []
            for part in content:
                parts.append((yield from self._content(part, call, pipeline, stage)))
            return parts
        if isinstance(content, Mapping) and content.get("type") == "text":
            return {**content, "text": (yield from _checked(pipeline, content.get("text"), Modality.TEXT, call, stage))}
        if isinstance(content, Mapping) and content.get("type") == "file":
            return {**content, "file": (yield from self._file(pipeline, content.get("file"), call, stage))}
        if isinstance(content, Mapping) and "path" in content:  # a file message (Gradio 5)
            return (yield from self._file(pipeline, content, call, stage))
        # Text, or something the pipeline refuses as unreadable (a component): never passed unchecked.
        return (yield from _checked(pipeline, content, Modality.TEXT, call, stage))

    def _file(self, pipeline: Pipeline, file: Any, call: _Call,
              stage: Stage = Stage.INPUT) -> Generator[_Check, Verdict, Any]:
        """A file checked by the stage's image guards (a changed input written anew); without them, as is."""
        if not pipeline.stage_guards(stage, Modality.IMAGE):
            return file
        path = file.get("path") if isinstance(file, Mapping) else getattr(file, "path", file)
        try:
            data = Path(path).read_bytes()
        except (OSError, TypeError, ValueError) as err:
            raise _Refused(_refusal(f"a file of the message cannot be read ({err}); not checked")) from err
        output = yield from _checked(pipeline, data, Modality.IMAGE, call, stage)
        if output == data or stage is Stage.OUTPUT:  # an answer is kept as it was shown
            return file
        new = _write_image(output)
        call.written.append(new)
        return {**file, "path": new} if isinstance(file, Mapping) else new


def _checked(pipeline: Pipeline, content: Any, modality: Modality, call: _Call,
             stage: Stage = Stage.INPUT) -> Generator[_Check, Verdict, Any]:
    verdict = yield _Check(pipeline, content, modality, call.context, stage)
    if not verdict.allowed:
        raise _Refused(verdict)
    return verdict.output


def _write_image(data: bytes) -> str:
    """A new file for an image a guard changed (blurred): the model must get that one, not the original."""
    with tempfile.NamedTemporaryFile(prefix="clauseguard-", suffix=".png", delete=False) as out:
        out.write(data)
    return out.name
