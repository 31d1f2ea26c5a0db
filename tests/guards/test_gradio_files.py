"""guard_chat: files and components in answers go through the output image guards, never shown unchecked."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clauseguard.errors import GuardConfigError
from clauseguard.guards import GuardSpec, Pipeline
from tests.gradio_chat import KINDS, fake_request
from tests.gradio_chat import answers as _answers_as
from tests.gradio_chat import returning as _returning


@pytest.fixture
def gr(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    return pytest.importorskip("gradio", reason="guard_chat needs the [gradio] extra")


@pytest.fixture
def red(tmp_path: Path) -> str:
    from PIL import Image

    path = tmp_path / "red.png"
    image = Image.new("RGB", (32, 32), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 16, 32))  # not one colour: blurring changes it
    image.save(path)
    return str(path)


def _nsfw_only() -> Pipeline:
    """Only an output image guard, flagging (blurring) every image."""
    from clauseguard.guards.image_nsfw import ImageNsfwGuard

    spec = GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image", on_fail="redact")
    return Pipeline([ImageNsfwGuard(spec, scorer=lambda frames: [1.0 for _ in frames])])


def _answers(fn: Any) -> list[Any]:
    return _answers_as(fn, request=fake_request(username="erin"))


SHAPES = {
    "path dict": lambda gr, path: {"path": path},
    "message of a path dict": lambda gr, path: gr.ChatMessage(content={"path": path}),
    "file part": lambda gr, path: {"role": "assistant", "content": [{"type": "file", "file": {"path": path}}]},
    "image component": lambda gr, path: gr.Image(path),
    "file component": lambda gr, path: gr.File(path),
    "message of a component": lambda gr, path: gr.ChatMessage(content=gr.Image(path)),
    "list with a component": lambda gr, path: ["Here it is.", gr.Image(path)],
    "text and files": lambda gr, path: {"text": "", "files": [path]},  # a multimodal textbox's form
}


NO_IMAGES = "No images (AUP, section 4)."


def _nsfw_blocking() -> Pipeline:
    from clauseguard.guards.image_nsfw import ImageNsfwGuard

    spec = GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image", message=NO_IMAGES)
    return Pipeline([ImageNsfwGuard(spec, scorer=lambda frames: [1.0 for _ in frames])])


def _paths(answer: Any) -> list[str]:
    """The file paths an answer shows, whatever its shape."""
    if isinstance(answer, list):
        return [p for part in answer for p in _paths(part)]
    if isinstance(answer, str) or answer is None:
        return []
    if isinstance(answer, dict):
        if "files" in answer and "content" not in answer:
            return [f if isinstance(f, str) else f["path"] for f in answer["files"]]
        if "content" in answer:
            return _paths(answer["content"])
        return _paths(answer["file"]) if answer.get("type") == "file" else [answer["path"]]
    if hasattr(answer, "constructor_args"):  # a component: what the Chatbot shows is built from these
        return [answer.constructor_args["value"]]
    return _paths(answer.content)  # a ChatMessage


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_file_answer_goes_through_the_output_image_guards(gr: Any, red: str, kind: str, shape: str) -> None:
    from clauseguard.guards.gradio import guard_chat

    # blocked: the message's content is the block message (the file is never shown)
    answers = _answers(guard_chat(_returning(SHAPES[shape](gr, red), kind), _nsfw_blocking()))
    assert all(_paths(a) == [] for a in answers) and NO_IMAGES in str(answers[-1])
    # blurred: the blurred image, written to a new file, in the shape the answer had
    original = SHAPES[shape](gr, red)
    answers = _answers(guard_chat(_returning(original, kind), _nsfw_only()))
    assert type(answers[-1]) is type(original)
    (path,) = _paths(answers[-1])
    assert path != red and Path(path).exists() and Path(path).read_bytes() != Path(red).read_bytes()


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_that_cannot_be_read_is_blocked(gr: Any, tmp_path: Path, kind: str) -> None:
    from clauseguard.guards.gradio import guard_chat

    answer = gr.ChatMessage(content={"path": str(tmp_path / "gone.png")})
    (shown,) = _answers(guard_chat(_returning(answer, kind), _nsfw_only()))[-1:]
    # no server path, and no reason: they go to the log
    assert shown.content == "A file of the message is too large or cannot be read, so it was not checked."


def test_an_answers_changed_images_are_kept_an_hour_then_removed(gr: Any, red: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Gradio reads an answer's file after the turn, so it is not deleted with the turn's files; an app that
    marks every image it answers with wrote a new file for each, forever."""
    import os
    import time

    from clauseguard.guards import gradio as module

    monkeypatch.setattr(module, "_answer_folder", lambda: str(tmp_path))
    monkeypatch.setattr(module, "_last_sweep", [0.0])
    fn = module.guard_chat(_returning(gr.ChatMessage(content={"path": red}), "plain"), _nsfw_only())
    first = _paths(_answers(fn)[-1])[0]
    assert Path(first).parent == tmp_path and Path(first).exists()
    old = time.time() - module.ANSWER_FILES_KEPT_S - 1
    os.utime(first, (old, old))
    kept = _paths(_answers(fn)[-1])[0]  # the folder is swept once a minute, not on every image
    assert Path(kept).exists() and Path(first).exists()
    module._last_sweep[0] -= module._SWEEP_EVERY_S
    second = _paths(_answers(fn)[-1])[0]
    assert Path(second).exists() and not Path(first).exists()


def test_a_stream_keeps_the_files_it_shows_again_past_the_hour(gr: Any, red: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Gradio reads a file each time a stream shows it: an answer file written at a long stream's start was
    swept an hour later while the stream still showed it. Showing it again keeps it."""
    import os
    import time

    from gradio.helpers import special_args

    from clauseguard.guards import gradio as module

    folder = tmp_path / "answers"
    folder.mkdir()
    monkeypatch.setattr(module, "_answer_folder", lambda: str(folder))
    monkeypatch.setattr(module, "_last_sweep", [time.time()])
    blue = tmp_path / "blue.png"
    from PIL import Image

    Image.new("RGB", (32, 32), (0, 0, 255)).save(blue)

    def chat(message: str, history: list[Any]) -> Iterator[Any]:
        yield [gr.ChatMessage(content={"path": red})]
        yield [gr.ChatMessage(content={"path": red}), "Still drawing."]
        yield [gr.ChatMessage(content={"path": red}), "Still drawing.", gr.ChatMessage(content={"path": str(blue)})]

    fn = module.guard_chat(chat, _nsfw_only())
    inputs, *_ = special_args(fn, ["draw", []], fake_request(username="erin"))
    stream = fn(*inputs)
    first = _paths(next(stream))[0]
    old = time.time() - module.ANSWER_FILES_KEPT_S - 1  # the stream has run an hour
    os.utime(first, (old, old))
    assert _paths(next(stream)) == [first]  # shown again: kept
    assert os.stat(first).st_mtime > old
    module._last_sweep[0] -= module._SWEEP_EVERY_S
    shown = _paths(next(stream))  # the new image's file is written, and the folder swept
    assert shown[0] == first and Path(first).exists() and Path(shown[1]).parent == folder


def test_the_answer_folder_is_removed_when_the_process_exits(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = ("from clauseguard.guards.gradio import _write_answer_image\n"
            "import os\n"
            "print(os.path.dirname(_write_answer_image(b'image')))")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    folder = Path(out.stdout.strip())
    assert folder.parent == tmp_path and folder.name.startswith("clauseguard-answers-")
    assert not folder.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("kind", KINDS)
def test_text_beside_a_file_still_goes_through_the_text_guards(gr: Any, red: str, kind: str) -> None:
    from clauseguard.guards.gradio import guard_chat

    pii = GuardSpec(id="pii", type="pii", stage="output", on_fail="redact", params={"entities": ["email"]})
    pipeline = Pipeline([*Pipeline([pii]).guards, *_nsfw_only().guards])
    answer = {"role": "assistant", "content": ["Mail jane@example.org.", {"type": "file", "file": {"path": red}}]}
    shown = _answers(guard_chat(_returning(answer, kind), pipeline))[-1]
    text, part = shown["content"]
    assert text == "Mail [EMAIL]." and part["type"] == "file" and part["file"]["path"] != red


@pytest.mark.parametrize("kind", KINDS)
def test_content_no_guard_can_check_is_still_a_config_error(gr: Any, kind: str) -> None:
    from clauseguard.guards.gradio import guard_chat

    for answer in (gr.HTML("<b>hi</b>"), gr.ChatMessage(content=gr.HTML("<b>hi</b>"))):
        with pytest.raises(GuardConfigError, match=r"answered with HTML "):
            _answers(guard_chat(_returning(answer, kind), _nsfw_only()))


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


def _red_blocking() -> Pipeline:
    """An output image guard blocking images more red than green (``red``), passing the others."""
    import numpy as np

    from clauseguard.guards.image_nsfw import ImageNsfwGuard

    def scorer(frames: list[Any]) -> list[float]:
        arrays = [np.asarray(frame.convert("RGB") if hasattr(frame, "convert") else frame) for frame in frames]
        return [1.0 if a[..., 0].mean() > a[..., 1].mean() else 0.0 for a in arrays]

    spec = GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image", message=NO_IMAGES)
    return Pipeline([ImageNsfwGuard(spec, scorer=scorer)])


@pytest.fixture
def green(tmp_path: Path) -> str:
    from PIL import Image

    path = tmp_path / "green.png"
    Image.new("RGB", (32, 32), (0, 255, 0)).save(path)
    return str(path)


def _gradio_files(gr: Any, answer: Any) -> list[str]:
    """The files Gradio's Chatbot shows of an answer (it reads a part's "path", then its "file")."""
    messages = answer if isinstance(answer, list) else [answer]
    return [part.file.path for message in gr.Chatbot().postprocess(messages).root for part in message.content
            if part.type == "file"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("part", [
    lambda red, green: {"type": "text", "text": "A picture.", "path": red},
    lambda red, green: {"type": "text", "text": "A picture.", "file": {"path": red}},
    lambda red, green: {"type": "file", "file": {"path": green}, "path": red},
], ids=["text part with a path", "text part with a file", "file part with a path"])
def test_a_part_is_checked_as_the_file_gradio_shows(gr: Any, red: str, green: str, kind: str, part: Any) -> None:
    """Gradio's Chatbot shows a part with a "path" as that file, whatever its "type" says, then one with a
    "file": the image guards must see that file, not the text or the other file beside it."""
    from clauseguard.guards.gradio import guard_chat

    answer = {"role": "assistant", "content": ["Here:", part(red, green)]}
    shown = _answers(guard_chat(_returning(answer, kind), _red_blocking()))[-1]
    assert red not in _gradio_files(gr, shown) and NO_IMAGES in str(shown)



@pytest.mark.parametrize("kind", KINDS)
def test_a_files_url_is_not_shown_in_place_of_the_checked_path(gr: Any, green: str, kind: str) -> None:
    """Gradio shows a file's http "url" instead of its path: the image the guards passed must be the one shown."""
    from clauseguard.guards.gradio import guard_chat

    for answer in (gr.ChatMessage(content={"path": green, "url": "https://example.org/unchecked.png"}),
                   {"role": "assistant", "content": [
                       {"type": "file", "file": {"path": green, "url": "https://example.org/unchecked.png"}}]}):
        shown = _answers(guard_chat(_returning(answer, kind), _red_blocking()))[-1]
        assert "unchecked" not in str(shown)
        assert all(not path.startswith("http") for path in _gradio_files(gr, shown))


@pytest.mark.parametrize("kind", KINDS)
def test_a_component_shows_the_file_the_guards_read(gr: Any, red: str, green: str, tmp_path: Path,
                                                     kind: str) -> None:
    """A gr.Image keeps a copy of its file, which the guards read, but Gradio's Chatbot makes the component
    anew from the path it was given: an app writing its images to one path must not show a later one."""
    from clauseguard.guards.gradio import guard_chat

    path = tmp_path / "out.png"
    path.write_bytes(Path(green).read_bytes())

    def answer() -> Any:
        image = gr.Image(str(path))
        path.write_bytes(Path(red).read_bytes())  # the next image, written while this one is answered
        return image

    if kind == "plain":
        def fn(message: str, history: list[Any]) -> Any:
            return answer()
    else:
        def fn(message: str, history: list[Any]) -> Iterator[Any]:
            yield answer()

    shown = _answers(guard_chat(fn, _red_blocking()))[-1]
    (message,) = gr.Chatbot().postprocess([{"role": "assistant", "content": shown}]).root
    (part,) = message.content
    assert Path(part.value["path"]).read_bytes() == Path(green).read_bytes()


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_answer_shows_the_bytes_the_guards_read(gr: Any, red: str, green: str, tmp_path: Path,
                                                       kind: str) -> None:
    """Gradio reads an answer's path after the guards did: an app writing each image to one path (another
    turn of it, in another thread) must not get its next, unchecked image shown in place of this one."""
    from clauseguard.guards.gradio import guard_chat

    path = tmp_path / "out.png"
    path.write_bytes(Path(green).read_bytes())
    for answer in ({"path": str(path)}, gr.ChatMessage(content={"path": str(path)}),
                   {"role": "assistant", "content": [{"type": "file", "file": {"path": str(path)}}]}):
        path.write_bytes(Path(green).read_bytes())
        shown = _answers(guard_chat(_returning(answer, kind), _red_blocking()))[-1]
        path.write_bytes(Path(red).read_bytes())  # before Gradio reads the answer's file
        (file,) = _paths(shown)
        assert Path(file).read_bytes() == Path(green).read_bytes() and Path(file).suffix == ".png"


# -- the first-turn AI notice, for an answer of files alone ------------------------------------------------

NOTICE = "You are talking to an AI system, not a person."


def _disclosing(sink: Any = None) -> Pipeline:
    """The AI notice and label on text answers, and an output image guard that passes every image."""
    from clauseguard.guards import create
    from clauseguard.guards.image_nsfw import ImageNsfwGuard

    nsfw = GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image")
    disclose = GuardSpec(id="disclose", type="ai_disclosure", stage="output", on_fail="label")
    return Pipeline([create(disclose), ImageNsfwGuard(nsfw, scorer=lambda frames: [0.0 for _ in frames])],
                    sink=sink)


def _answers_after(fn: Any, history: list[Any]) -> list[Any]:
    return _answers_as(fn, request=fake_request(username="erin"), history=history)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [s for s in SHAPES if s != "list with a component"])
def test_an_answer_of_files_alone_gets_the_first_turn_notice_as_a_message(gr: Any, red: str, kind: str,
                                                                          shape: str) -> None:
    """An image alone had no text to carry the notice, so a first answer of images never said it came from an
    AI (EU AI Act Art. 50(1)). The notice and label now come first, as a message of their own, and the
    image is shown as it was given; the turn after, whose history shows the notice, gets none."""
    from clauseguard.guards import MemorySink
    from clauseguard.guards.gradio import guard_chat

    sink = MemorySink()
    answers = _answers_after(guard_chat(_returning(SHAPES[shape](gr, red), kind), _disclosing(sink)), [])
    first, *rest = answers[-1]
    assert first == f"{NOTICE}\n\n\n\n[AI-generated]" and len(rest) == 1 and len(_paths(rest)) == 1
    assert type(rest[0]) is type(SHAPES[shape](gr, red))
    assert all(isinstance(a, list) and a[0] == first for a in answers)  # each item of a stream shows it
    (disclosed,) = [r for r in sink.records if r["stage"] == "output" and r["modality"] == "text"]
    assert disclosed["metadata"]["notice_shown"] and disclosed["findings"][0]["guard_id"] == "disclose"
    later = _answers_after(guard_chat(_returning(SHAPES[shape](gr, red), kind), _disclosing()),
                           [{"role": "user", "content": "hi"}, {"role": "assistant", "content": first}])
    assert NOTICE not in str(later[-1]) and len(_paths(later[-1])) == 1 and not isinstance(later[-1], list)


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_beside_text_gets_the_notice_in_the_text_only(gr: Any, red: str, kind: str) -> None:
    from clauseguard.guards.gradio import guard_chat

    answer = _answers_after(guard_chat(_returning(["Here it is.", gr.Image(red)], kind), _disclosing()), [])[-1]
    assert len(answer) == 2 and answer[0].startswith(f"{NOTICE}\n\nHere it is.") and str(answer).count(NOTICE) == 1


@pytest.mark.parametrize("kind", ["stream", "async stream"])
def test_a_stream_that_shows_an_image_before_its_text_shows_the_notice_once(gr: Any, red: str, kind: str) -> None:
    from clauseguard.guards.gradio import guard_chat

    image = {"role": "assistant", "content": {"path": red}}
    steps = [[image], [image, {"role": "assistant", "content": "A red"}],
             [image, {"role": "assistant", "content": "A red square."}]]

    if kind == "stream":
        def chat(message: str, history: list[Any]) -> Iterator[Any]:
            yield from steps
    else:
        async def chat(message: str, history: list[Any]) -> Any:
            for step in steps:
                yield step

    answers = _answers_after(guard_chat(chat, _disclosing()), [])
    assert all(a[0] == f"{NOTICE}\n\n\n\n[AI-generated]" for a in answers)
    final = answers[-1]
    assert str(final).count(NOTICE) == 1 and final[-1]["content"] == "A red square.\n\n[AI-generated]"


@pytest.mark.parametrize("kind", KINDS)
def test_an_answer_of_text_and_files_is_checked_in_its_own_form(gr: Any, red: str, kind: str) -> None:
    """A {"text", "files"} answer (Gradio shows its files, then its text) was a GuardConfigError: its text
    now goes through the text guards and its files through the image guards, each file kept in its form."""
    from clauseguard.guards import create
    from clauseguard.guards.gradio import guard_chat
    from clauseguard.guards.image_nsfw import ImageNsfwGuard

    nsfw = GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image", on_fail="redact")
    pii = GuardSpec(id="pii", type="pii", stage="output", on_fail="redact", params={"entities": ["email"]})
    pipeline = Pipeline([create(pii), ImageNsfwGuard(nsfw, scorer=lambda frames: [1.0 for _ in frames])])
    answer = {"text": "Write to jane@example.org.", "files": [red, {"path": red}]}
    (shown,) = _answers(guard_chat(_returning(answer, kind), pipeline))[-1:]
    assert shown["text"] == "Write to [EMAIL]." and answer["text"] == "Write to jane@example.org."
    first, second = shown["files"]
    assert isinstance(first, str) and isinstance(second, dict)  # each in the form it was given
    assert first != red and second["path"] != red and Path(first).read_bytes() != Path(red).read_bytes()
    blocked = _answers(guard_chat(_returning({"text": "look", "files": [red]}, kind), _nsfw_blocking()))[-1]
    assert blocked == {"text": NO_IMAGES, "files": []}
    with pytest.raises(GuardConfigError, match="an answer of text and files"):
        _answers(guard_chat(_returning({"text": 3, "files": [red]}, kind), pipeline))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", ["path dict", "file part", "message of a path dict"])
def test_a_files_alt_text_is_checked_as_a_title_is(gr: Any, red: str, kind: str, shape: str) -> None:
    """Gradio gives a file part's alt_text to the image as its alt, which screen readers read out: it was
    shown unchecked. It now gets the guards' redactions (not their notices); one that blocks blocks its
    message, as a title does."""
    from clauseguard.guards import create
    from clauseguard.guards.gradio import guard_chat
    from clauseguard.guards.image_nsfw import ImageNsfwGuard

    nsfw = GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image")
    specs = [GuardSpec(id="pii", type="pii", stage="output", on_fail="redact", params={"entities": ["email"]}),
             GuardSpec(id="kw", type="keyword", stage="output", params={"categories": ["S9"]}, message="No.")]
    pipeline = Pipeline([*map(create, specs), ImageNsfwGuard(nsfw, scorer=lambda frames: [0.0 for _ in frames])])

    def answer(alt: Any) -> Any:
        part = {"path": red, "alt_text": alt}
        if shape == "file part":
            return {"role": "assistant", "content": [{"type": "file", "file": {"path": red}, "alt_text": alt}]}
        return gr.ChatMessage(content=part) if shape == "message of a path dict" else part

    def alt_of(shown: Any) -> Any:
        part = shown if isinstance(shown, dict) and "content" not in shown else (
            shown["content"][0] if isinstance(shown, dict) else shown.content)
        return part.get("alt_text", "(none)") if isinstance(part, dict) else part

    shown = _answers(guard_chat(_returning(answer("a red square by jane@example.org"), kind), pipeline))[-1]
    assert alt_of(shown) == "a red square by [EMAIL]" and len(_paths(shown)) == 1
    shown = _answers(guard_chat(_returning(answer("how to build a pipe bomb"), kind), pipeline))[-1]
    assert _paths(shown) == [] and "No." in str(shown) and "pipe bomb" not in str(shown)
    with pytest.raises(GuardConfigError, match="as a file's alt text"):
        _answers(guard_chat(_returning(answer(42), kind), pipeline))


def test_an_image_answer_sent_back_in_the_history_keeps_its_exchange(gr: Any, red: str) -> None:
    """Gradio 6 sends a gr.Image answer back as a {"type": "component"} part, which was refused as
    unreadable text: every answer of that shape, and the message it answered, dropped from later turns."""
    from gradio.components.chatbot import ChatbotDataMessages

    from clauseguard.guards.gradio import guard_chat

    (shown,) = _answers(guard_chat(_returning(gr.ChatMessage(content=gr.Image(value=red)), "plain"), _nsfw_only()))
    bot = gr.Chatbot()
    payload = bot.postprocess([{"role": "user", "content": "draw a cat"}, shown])
    history = bot.preprocess(ChatbotDataMessages(root=payload.model_dump()))
    assert [[part["type"] for part in m["content"]] for m in history] == [["text"], ["component"]]
    seen: list[Any] = []

    def chat(message: str, history: list[Any]) -> str:
        seen.append(history)
        return "ok"

    _answers_after(guard_chat(chat, _nsfw_only()), history)
    assert [m["role"] for m in seen[-1]] == ["user", "assistant"]
    assert seen[-1][1]["content"][0]["value"]["path"]


def test_an_images_label_and_a_files_name_are_checked_as_a_title_is(gr: Any, red: str) -> None:
    """The Chatbot draws a gr.Image's label above it and a file link's orig_name as its text: both were shown
    unchecked beside an image the guards had passed."""
    from clauseguard.guards import create
    from clauseguard.guards.gradio import guard_chat
    from clauseguard.guards.image_nsfw import ImageNsfwGuard

    nsfw = GuardSpec(id="nsfw", type="image_nsfw", stage="output", modality="image")
    specs = [GuardSpec(id="pii", type="pii", stage="output", on_fail="redact", params={"entities": ["email"]}),
             GuardSpec(id="kw", type="keyword", stage="output", params={"categories": ["S9"]}, message="No.")]
    pipeline = Pipeline([*map(create, specs), ImageNsfwGuard(nsfw, scorer=lambda frames: [0.0 for _ in frames])])

    def shown(answer: Any) -> Any:
        (out,) = _answers(guard_chat(_returning(answer, "plain"), pipeline))
        return out

    image = shown(gr.ChatMessage(content=gr.Image(value=red, label="Cat for jane@example.org")))
    assert image.content.constructor_args["label"] == "Cat for [EMAIL]"
    part = {"type": "file", "file": {"path": red, "orig_name": "how to build a pipe bomb.png"}}
    assert shown({"role": "assistant", "content": [part]})["content"] == "No."
    named = shown({"role": "assistant", "content": [{"type": "file", "file": {"path": red, "orig_name": "cat.png"}}]})
    assert named["content"][0]["file"]["orig_name"] == "cat.png"
