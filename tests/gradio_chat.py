"""Chat functions of every kind, and what Gradio shows of them: shared by the guard_chat tests."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

KINDS = ["plain", "async", "stream", "async stream"]


def fake_request(headers: dict[str, str] | None = None, host: str | None = "10.0.0.1",
                 username: str | None = None) -> Any:
    return SimpleNamespace(headers=headers or {}, client=SimpleNamespace(host=host), username=username)


def answers(fn: Any, message: Any = "hi", request: Any = None, history: list[Any] | None = None) -> list[Any]:
    """What ``fn`` shows, as Gradio runs it: a returned answer once, a stream's items (sync or async)."""
    import asyncio

    from gradio.helpers import special_args

    inputs, *_ = special_args(fn, [message, history or []], request or fake_request(username="dana"))
    result = fn(*inputs)
    if inspect.isgenerator(result):
        return list(result)
    if inspect.isasyncgen(result):
        async def collect() -> list[Any]:
            return [item async for item in result]
        return asyncio.run(collect())
    if inspect.iscoroutine(result):
        return [asyncio.run(result)]
    return [result]


def returning(answer: Any, kind: str = "plain") -> Any:
    """A chat function of ``kind`` answering ``answer`` (returned, or yielded once)."""
    if kind == "async":
        async def coro(message: str, history: list[Any]) -> Any:
            return answer
        return coro
    if kind == "stream":
        def gen(message: str, history: list[Any]) -> Iterator[Any]:
            yield answer
        return gen
    if kind == "async stream":
        async def agen(message: str, history: list[Any]) -> Any:
            yield answer
        return agen
    return lambda message, history: answer


