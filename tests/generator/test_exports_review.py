"""The three exports say the same: lists, links and numbering of a clause body in Markdown, HTML and DOCX.

Found by generating every example profile and a hostile one and reading each format back (repro
scripts under /tmp/review_exports/ at the time of the review). The Markdown is read as CommonMark
(markdown-it-py, what GitHub shows), the HTML with html.parser, the DOCX with python-docx.
"""

from __future__ import annotations

import io
from dataclasses import replace
from html.parser import HTMLParser

import docx
import pytest
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml.ns import qn

from clauseguard.generator.document import RenderedClause, RenderedSection
from clauseguard.generator.docx import to_docx
from clauseguard.generator.html import markdown_to_html, to_html
from clauseguard.generator.markdown import canonical_markdown
from clauseguard.generator.profile import escape_markdown
from tests.strategies import sample_document


def _document(body: str):  # type: ignore[no-untyped-def]
    clause = RenderedClause("1.1", "core/contact", "Contact", "1.0.0", body, ())
    return replace(sample_document(), preamble="", sections=(RenderedSection("1", "contact", "Contact", (clause,)),))


def _word(body: str) -> docx.document.Document:
    return docx.Document(io.BytesIO(to_docx(_document(body))))


def _body_paragraphs(word: docx.document.Document) -> list[docx.text.paragraph.Paragraph]:
    """The paragraphs after the clause heading."""
    paragraphs = word.paragraphs
    heading = next(i for i, p in enumerate(paragraphs) if p.style.name == "Heading 2")
    return paragraphs[heading + 1:]


def _hyperlinks(word: docx.document.Document) -> list[tuple[str, str]]:
    """(visible text, target) of every w:hyperlink in the body."""
    rels = word.part.rels
    out = []
    for link in word.element.body.iter(qn("w:hyperlink")):
        rel = rels[link.get(qn("r:id"))]
        assert rel.reltype == RELATIONSHIP_TYPE.HYPERLINK and rel.is_external
        out.append(("".join(t.text for t in link.iter(qn("w:t"))), rel.target_ref))
    return out


class _Lists(HTMLParser):
    """Each <li>'s text with its nesting depth and the start of its list."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.starts: list[str | None] = []
        self.items: list[list[object]] = []
        self.open: list[list[object]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("ul", "ol"):
            self.depth += 1
            self.starts.append(dict(attrs).get("start") if tag == "ol" else None)
        elif tag == "li":
            item: list[object] = [tag, self.depth, self.starts[-1], ""]
            self.items.append(item)
            self.open.append(item)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("ul", "ol"):
            self.depth -= 1
            self.starts.pop()
        elif tag == "li":
            self.open.pop()

    def handle_data(self, data: str) -> None:
        if self.open:
            self.open[-1][3] = f"{self.open[-1][3]}{data}".strip()


def _html_items(markdown: str) -> list[tuple[int, str | None, str]]:
    parser = _Lists()
    parser.feed(markdown_to_html(markdown))
    return [(depth, start, text) for _, depth, start, text in parser.items]  # type: ignore[misc]


# ---- links ------------------------------------------------------------------------------------


def test_docx_links_are_hyperlinks_to_the_unescaped_target() -> None:
    """A link was "label (url)" as plain text, and an escaped ``_`` in a mailto kept its backslash."""
    email = escape_markdown("o'brien+legal_team@ex-ample.co.uk")
    body = (f"See [our site](https://example.com/a?x=1&y=2), [mail us](mailto:{email}) "
            "and <https://auto.example/x>, or write to <help@example.com>.")
    word = _word(body)
    assert _hyperlinks(word) == [
        ("our site", "https://example.com/a?x=1&y=2"),
        ("mail us", "mailto:o'brien+legal_team@ex-ample.co.uk"),
        ("https://auto.example/x", "https://auto.example/x"),
        ("help@example.com", "mailto:help@example.com"),
    ]
    text = _body_paragraphs(word)[0].text
    assert text == ("See our site, mail us and https://auto.example/x, or write to help@example.com.")
    # the HTML links to the same targets
    html = markdown_to_html(body)
    for _, target in _hyperlinks(word)[:3]:
        assert f'href="{target.replace("&", "&amp;")}"' in html


def test_docx_link_runs_use_the_hyperlink_style() -> None:
    word = _word("Read [the **terms**](https://x.example).")
    runs = next(word.element.body.iter(qn("w:hyperlink"))).iter(qn("w:r"))
    styles = {r.find(qn("w:rPr")).find(qn("w:rStyle")).get(qn("w:val")) for r in runs}
    assert styles == {word.styles["Hyperlink"].style_id}
    assert _hyperlinks(word) == [("the terms", "https://x.example")]


@pytest.mark.parametrize("target", ["javascript:alert(1)", "data:text/html,x", "#clause-x"])
def test_docx_keeps_only_the_label_of_unsafe_or_in_page_links(target: str) -> None:
    word = _word(f"See [this]({target}) now.")
    assert _hyperlinks(word) == []
    assert _body_paragraphs(word)[0].text == "See this now."


def test_link_target_with_parentheses_is_whole() -> None:
    word = _word("See [the article](https://en.example.org/wiki/Foo_(bar)).")
    assert _hyperlinks(word) == [("the article", "https://en.example.org/wiki/Foo_(bar)")]
    assert _body_paragraphs(word)[0].text == "See the article."


# ---- lists ------------------------------------------------------------------------------------


def test_a_list_right_under_its_lead_in_is_a_list_in_html() -> None:
    """Python-Markdown needs a blank line before a list: the HTML showed "Intro: - a - b" as one paragraph."""
    body = "You must not:\n- break the law;\n- harm anyone."
    assert _html_items(body) == [(1, None, "break the law;"), (1, None, "harm anyone.")]
    styles = [(p.style.name, p.text) for p in _body_paragraphs(_word(body))]
    assert styles == [("Normal", "You must not:"), ("List Bullet", "break the law;"),
                      ("List Bullet", "harm anyone.")]


def test_a_number_that_may_not_start_a_list_is_text_everywhere() -> None:
    """CommonMark: only a list starting at 1 interrupts a paragraph; the DOCX made "2. half" an item."""
    body = "It was born in\n2. half of the year."
    assert _html_items(body) == []
    assert [p.text for p in _body_paragraphs(_word(body))] == ["It was born in 2. half of the year."]


@pytest.mark.parametrize("indent", [2, 3, 4])
def test_nested_bullets_are_nested_in_html_and_docx(indent: int) -> None:
    """The DOCX glued nested items onto their parent's text; the HTML flattened two- and three-space nesting."""
    pad = " " * indent
    body = f"- fruit\n{pad}- apple\n{pad}- pear\n- bread"
    assert _html_items(body) == [(1, None, "fruit"), (2, None, "apple"), (2, None, "pear"), (1, None, "bread")]
    styles = [(p.style.name, p.text) for p in _body_paragraphs(_word(body))]
    assert styles == [("List Bullet", "fruit"), ("List Bullet 2", "apple"), ("List Bullet 2", "pear"),
                      ("List Bullet", "bread")]


def _num(paragraph) -> tuple[int, int] | None:  # type: ignore[no-untyped-def]
    """(numId, the number its list starts at) of a numbered paragraph."""
    p_pr = paragraph._p.pPr
    if p_pr is None or p_pr.numPr is None:
        return None
    num_id = p_pr.numPr.numId.val
    numbering = paragraph.part.numbering_part.element
    num = numbering.num_having_numId(num_id)
    start = num.find(qn("w:lvlOverride")).find(qn("w:startOverride")).get(qn("w:val"))
    return num_id, int(start)


def test_nested_numbered_list_keeps_the_outer_numbering() -> None:
    """"   1." under "1." was a top-level item in the DOCX, so "2. two" came out as 4."""
    body = "1. one\n   1. one-a\n   2. one-b\n2. two"
    assert _html_items(body) == [(1, None, "one"), (2, None, "one-a"), (2, None, "one-b"), (1, None, "two")]
    paragraphs = _body_paragraphs(_word(body))
    assert [p.style.name for p in paragraphs] == ["List Number", "List Number 2", "List Number 2", "List Number"]
    outer, inner = _num(paragraphs[0]), _num(paragraphs[1])
    assert _num(paragraphs[3]) == outer and _num(paragraphs[2]) == inner and outer != inner


def test_numbered_list_counts_from_its_first_number() -> None:
    """A list written from "3." counted from 1 in the DOCX while the HTML (and CommonMark) said 3."""
    body = "3. third\n4. fourth\n\nBetween.\n\n1. again"
    assert [s for _, s, _ in _html_items(body)] == ["3", "3", None]
    paragraphs = [p for p in _body_paragraphs(_word(body)) if p.style.name == "List Number"]
    starts = [_num(p) for p in paragraphs]
    assert starts[0] == starts[1] and starts[0][1] == 3 and starts[2][1] == 1 and starts[2][0] != starts[0][0]


def test_further_paragraph_of_an_item_stays_in_the_item() -> None:
    body = "- first\n\n  more about first\n\nAfter the list."
    assert [p.style.name for p in _body_paragraphs(_word(body))] == ["List Bullet", "List Continue", "Normal"]
    html = markdown_to_html(body)
    assert html.index("more about first") < html.index("</li>") < html.index("After the list.")


def test_canonical_markdown_keeps_inline_markup_and_escapes() -> None:
    text = r"Lead \*not\* **bold**:" + "\n- [a](https://x.example) \\_x\\_"
    assert canonical_markdown(text) == r"Lead \*not\* **bold**:" + "\n\n- [a](https://x.example) \\_x\\_"


def test_escaped_list_markers_in_profile_values_stay_text() -> None:
    body = f"{escape_markdown('- not a list')}\n{escape_markdown('2. Floor')}"
    assert _html_items(body) == []
    assert [p.style.name for p in _body_paragraphs(_word(body))] == ["Normal"]
    page = to_html(_document(body))
    assert "<li>" not in page[page.index("<article"):]


# ---- the header -------------------------------------------------------------------------------


def test_header_lines_say_the_same_in_every_format() -> None:
    """The Markdown had no byline and no bold lead-in; HTML and DOCX had no version in the header and
    gave the date as 2026-12-01 where the Markdown (and the clause text) said 1 December 2026."""
    from clauseguard.generator.markdown import to_markdown

    doc = sample_document()
    stamp = "Version 1.0.0 · Effective 1 December 2026 · Generated by clauseguard 0.1.0 · profile 0123456789ab"
    md = to_markdown(replace(doc, product_name=escape_markdown("R&D <Pix>"),
                             operator_name=escape_markdown("R&D <Pix> Ltd"))).splitlines()
    assert md[:7] == ["# Terms of Use", "", r"R&D \<Pix\> — R&D \<Pix\> Ltd", "",
                      f"> **Template, not legal advice.** {doc.notice}", "", f"*{stamp}*"]
    page = to_html(doc)
    header = page[page.index("<header>"):page.index("</header>")]
    assert '<p class="byline">R&amp;D &lt;Pix&gt; — R&amp;D &lt;Pix&gt; Ltd</p>' in header
    assert f'<p class="stamp">{stamp}</p>' in header
    texts = [p.text for p in docx.Document(io.BytesIO(to_docx(doc))).paragraphs]
    assert texts[:4] == ["Terms of Use", "R&D <Pix> — R&D <Pix> Ltd",
                         f"Template, not legal advice. {doc.notice}", stamp]


def test_html_heading_text_has_a_space_after_the_number() -> None:
    """The heading text read "1.1Marking ..." (copy and paste, screen readers, CSS off)."""
    page = to_html(sample_document())
    assert '<h3><span class="num">1.1</span> Marking of AI-generated images</h3>' in page
    assert '<span class="num">2</span> Acceptable use</a>' in page
