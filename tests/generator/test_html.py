"""The HTML export: standalone, escaped, navigable, printable and deterministic."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings

from clauseguard.generator.build import render_outputs
from clauseguard.generator.html import anchor, markdown_to_html, to_html
from clauseguard.generator.profile import escape_markdown, parse_profile
from tests.strategies import rendered_documents, sample_document

_VOID = {"meta", "br", "hr", "img", "link", "input"}


class _Collector(HTMLParser):
    """Collects ids, hrefs, tags and checks that every non-void element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.tags: list[str] = []
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        if found.get("id"):
            self.ids.append(found["id"])
        if tag == "a" and found.get("href"):
            self.hrefs.append(found["href"])
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Collector:
    parser = _Collector()
    parser.feed(page)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def page() -> str:
    return to_html(sample_document())


def test_page_is_html5_in_english_with_escaped_title(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    assert "<title>Terms of Use — R&amp;D &lt;Pix&gt;</title>" in page


@pytest.mark.parametrize(
    "raw",
    ["<Pix>", "<b>", "R&D"],
)
def test_profile_values_never_appear_unescaped(page: str, raw: str) -> None:
    assert raw not in page


def test_notice_comes_before_contents_and_sections(page: str) -> None:
    notice = page.index("It is a template, not legal advice")
    assert notice < page.index('<nav class="toc"') < page.index('<section class="section"')


def test_every_contents_link_reaches_a_unique_anchor(page: str) -> None:
    parsed = _parse(page)
    assert len(parsed.ids) == len(set(parsed.ids))
    internal = [h[1:] for h in parsed.hrefs if h.startswith("#")]
    expected = [
        "section-ai-output",
        "clause-ai-synthetic-media-marking",
        "section-acceptable-use",
        "clause-core-conduct",
    ]
    assert internal == expected
    assert set(internal) <= set(parsed.ids)


@pytest.mark.parametrize(
    ("needle"),
    [
        '<p class="sources">Sources: EU AI Act Art. 50(2); CreativeML OpenRAIL-M Attachment A</p>',
        "clauseguard 0.1.0",
        "0123456789abcdef" * 4,
        "effective 2026-12-01",
        "@media print",
        "page-break-before: always",
        "Georgia",
        "<strong>machine-readable</strong>",
        "<ol>\n<li>break the law;</li>",
        '<a href="https://x.example">the terms</a>',
    ],
)
def test_page_contains(page: str, needle: str) -> None:
    assert needle in page


def test_stamp_is_inside_the_footer(page: str) -> None:
    footer = page[page.index("<footer>") : page.index("</footer>")]
    assert "0123456789abcdef" * 4 in footer and "clauseguard 0.1.0" in footer


def test_page_is_standalone(page: str) -> None:
    tags = set(_parse(page).tags)
    assert not tags & {"script", "link", "img", "iframe"}
    assert "src=" not in page


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("a <script>alert(1)</script> b", "<p>a &lt;script&gt;alert(1)&lt;/script&gt; b</p>"),
        ("AT&T", "<p>AT&amp;T</p>"),
        ("[x](javascript:alert(1))", "<p><a>x</a></p>"),
        ("[x](mailto:a@b.example)", '<p><a href="mailto:a@b.example">x</a></p>'),
        ("![pic](https://evil.example/p.png)", "<p>![pic](https://evil.example/p.png)</p>"),
        ("<div>block</div>", "<p>&lt;div&gt;block&lt;/div&gt;</p>"),
        ("- a\n- b\n\n1. one", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n<ol>\n<li>one</li>\n</ol>"),
        # escaped profile values (escape_markdown) render as their literal characters
        (r"\*Acme\* Assist\_ \`x\`", "<p>*Acme* Assist_ `x`</p>"),
        (r"\<script\>alert(1)\</script\>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
        (r"R\&amp;D \[Pay\](https://evil.example)", "<p>R&amp;amp;D [Pay](https://evil.example)</p>"),
        (r"\~\~s\~\~ a \= b \| c", "<p>~~s~~ a = b | c</p>"),
        (r"2\. Floor", "<p>2. Floor</p>"),
        (r"\# Heading", "<p># Heading</p>"),
    ],
)
def test_markdown_is_converted_safely(markdown: str, expected: str) -> None:
    assert markdown_to_html(markdown) == expected


@pytest.mark.parametrize(
    ("kind", "ident", "expected"),
    [
        ("clause", "ai/synthetic-media-marking", "clause-ai-synthetic-media-marking"),
        ("section", "Ai Output", "section-ai-output"),
        ("section", "///", "section-x"),
    ],
)
def test_anchor(kind: str, ident: str, expected: str) -> None:
    assert anchor(kind, ident) == expected


@settings(max_examples=40, deadline=None)
@given(rendered_documents())
def test_any_document_gives_balanced_deterministic_html(doc) -> None:  # type: ignore[no-untyped-def]
    page = to_html(doc)
    assert page == to_html(doc)
    parsed = _parse(page)
    assert parsed.stack == []
    text = "".join(parsed.text)
    assert doc.title in text
    assert all(c.title in text for s in doc.sections for c in s.clauses)


def test_escaped_names_are_shown_as_written_in_title_and_byline() -> None:
    doc = replace(sample_document(), product_name=escape_markdown("*Acme* <b>"),
                  operator_name=escape_markdown("R&D_Ltd"))
    page = to_html(doc)
    assert "<title>Terms of Use — *Acme* &lt;b&gt;</title>" in page
    assert '<p class="byline">*Acme* &lt;b&gt; — R&amp;D_Ltd</p>' in page


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "chat-assistant" / "profile.yaml"
HOSTILE = {
    "  legal_name: Acme Assist Ltd": '  legal_name: "R&D <script>alert(1)</script> Ltd"',
    "  address: 1 Example Street, Dublin D02 X000, Ireland":
        '  address: "1 Example St\\n\\n# 99 Injected heading\\n\\n[Pay here](https://evil.example)\\n2. Floor"',
    "  name: Acme Assist": '  name: "*Acme* Assist_ &amp; <img src=x> **Bold**"',
}


@pytest.fixture(scope="module")
def hostile_outputs() -> dict[str, bytes]:
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in HOSTILE.items():
        assert old in text
        text = text.replace(old, new)
    return render_outputs(parse_profile(text), formats=("md", "html"))  # and report.json, guards.yaml


def test_profile_values_add_no_markup_to_html(hostile_outputs: dict[str, bytes]) -> None:
    pages = {k: v.decode() for k, v in hostile_outputs.items() if k.endswith(".html")}
    assert pages
    for name, page in pages.items():
        parsed = _parse(page)
        assert not {"em", "script", "img"} & set(parsed.tags), name
        assert "https://evil.example" not in parsed.hrefs, name
        assert not re.search(r"<h[1-6][^>]*>(<[^>]*>)*[^<]*Injected", page), name
    text = "".join(_parse(pages["documents/terms-of-use.html"]).text)
    assert "*Acme* Assist_ &amp; <img src=x> **Bold**" in text
    assert "1 Example St, # 99 Injected heading, [Pay here](https://evil.example), 2. Floor" in text


def test_profile_values_are_escaped_in_markdown(hostile_outputs: dict[str, bytes]) -> None:
    docs = [v.decode() for k, v in hostile_outputs.items() if k.endswith(".md")]
    assert docs
    for doc in docs:
        assert not re.search(r"(?<!\\)<(script|img)", doc)
        assert "\n# 99" not in doc and "\n2. Floor" not in doc
    assert any(r"\*Acme\* Assist\_ \&amp; \<img src=x\> \*\*Bold\*\*" in doc for doc in docs)


def test_reasons_show_profile_values_as_written(hostile_outputs: dict[str, bytes]) -> None:
    """report.json is plain JSON, not Markdown: its reasons and facts quote the values unescaped."""
    report = json.loads(hostile_outputs["report.json"])
    reasons = " ".join(c["why"] for c in report["clauses"])
    assert "*Acme* Assist_ &amp; <img src=x> **Bold**" in reasons and "\\" not in reasons
