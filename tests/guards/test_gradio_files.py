"""guard_chat: files and components in answers are never shown unchecked (only output image guards too)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from clauseguard.errors import GuardConfigError
from clauseguard.guards import GuardSpec, Pipeline

KINDS = ["plain", "async", "stream", "async stream"]


@pytest.fixture
def gr(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    return pytest.importorskip("gradio", reason="guard_chat needs the [gradio] extra")


@pytest.fixture
def red(tmp_path: Path) -> str:
    from PIL import Image

    path = tmp_path / "red.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(path)
    return str(path)


def _nsfw_only() -> Pipeline:
    """Only an output image guard, flagging every image."""
    from clauseguard.guards.image_nsfw import ImageNsfwGuard

    spec = GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image")
    return Pipeline([ImageNsfwGuard(spec, scorer=lambda frames: [1.0 for _ in frames])])


def _returning(answer: Any, kind: str) -> Any:
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


def _answers(fn: Any) -> list[Any]:
    from gradio.helpers import special_args

    request = SimpleNamespace(headers={}, client=SimpleNamespace(host="10.0.0.1"), username="erin")
    inputs, *_ = special_args(fn, ["hi", []], request)
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


SHAPES = {
    "path dict": lambda gr, path: {"path": path},
    "message of a path dict": lambda gr, path: gr.ChatMessage(content={"path": path}),
    "file part": lambda gr, path: {"role": "assistant", "content": [{"type": "file", "file": {"path": path}}]},
    "image component": lambda gr, path: gr.Image(path),
    "file component": lambda gr, path: gr.File(path),
    "message of a component": lambda gr, path: gr.ChatMessage(content=gr.Image(path)),
    "list with a component": lambda gr, path: ["Here it is.", gr.Image(path)],
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_file_answer_is_never_shown_unchecked_with_only_output_image_guards(gr: Any, red: str, kind: str,
                                                                           shape: str) -> None:
    from clauseguard.guards.gradio import guard_chat

    fn = guard_chat(_returning(SHAPES[shape](gr, red), kind), _nsfw_only())
    with pytest.raises(GuardConfigError, match=r"answered with (dict|Image|File) "):
        _answers(fn)


@pytest.mark.parametrize("kind", KINDS)
def test_text_passes_with_only_output_image_guards(gr: Any, kind: str) -> None:
    from clauseguard.guards.gradio import guard_chat

    assert _answers(guard_chat(_returning("fine", kind), _nsfw_only()))[-1] == "fine"
    message = gr.ChatMessage(content="fine")
    assert _answers(guard_chat(_returning(message, kind), _nsfw_only()))[-1] == message


@pytest.mark.parametrize("shape", ["path dict", "image component", "file component"])
def test_a_file_streamed_after_text_is_never_shown_unchecked(gr: Any, red: str, shape: str) -> None:
    from clauseguard.guards.gradio import guard_chat

    def gen(message: str, history: list[Any]) -> Iterator[Any]:
        yield "Here it is:"
        yield SHAPES[shape](gr, red)

    async def agen(message: str, history: list[Any]) -> Any:
        yield "Here it is:"
        yield SHAPES[shape](gr, red)

    for fn in (gen, agen):
        with pytest.raises(GuardConfigError, match=r"answered with (dict|Image|File) "):
            _answers(guard_chat(fn, _nsfw_only()))
