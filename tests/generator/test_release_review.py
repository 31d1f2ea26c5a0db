"""Defects found in the last review before release, one test each (each fails without its fix)."""

from __future__ import annotations

import io
from dataclasses import replace
from html.parser import HTMLParser

import docx
from docx.oxml.ns import qn

from clauseguard.generator.document import RenderedClause, RenderedSection
from clauseguard.generator.docx import to_docx
from clauseguard.generator.html import markdown_to_html
from clauseguard.generator.markdown import parse_blocks
from tests.strategies import sample_document

DEEP = "- level0\n  - level1\n    - level2\n      - level3\n        - level4\n- back"


class _Depths(HTMLParser):
    """The list depth at which each list item's text starts."""

    def __init__(self) -> None:
        super().__init__()
        self.depth, self.found, self._open = 0, {}, None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("ul", "ol"):
            self.depth += 1
        elif tag == "li":
            self._open = self.depth

    def handle_endtag(self, tag: str) -> None:
        if tag in ("ul", "ol"):
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if data.strip() and self._open is not None:
            self.found[data.strip()] = self._open
            self._open = None


def test_items_nested_deeper_than_three_levels_keep_the_list_after_them_in_place() -> None:
    """Items deeper than MAX_LEVEL were clamped to its last level but each began a new list, judged at
    its own depth: the HTML export turned the list loose and nested "back" (a top-level item) two
    levels deep."""
    depths = _Depths()
    depths.feed(markdown_to_html(DEEP))
    assert depths.found == {"level0": 1, "level1": 2, "level2": 3, "level3": 3, "level4": 3, "back": 1}
    assert "<p>" not in markdown_to_html(DEEP)  # a tight list stays tight
    assert [b.start for b in parse_blocks(DEEP)] == [True, True, True, False, False, False]


def test_a_deep_numbered_list_keeps_counting_in_the_docx() -> None:
    """The fourth level of "1." items restarted the numbering of the third in Word."""
    body = "1. a\n   1. b\n      1. c\n         1. d\n      2. e"
    clause = RenderedClause("1.1", "core/contact", "Contact", "1.0.0", body, ())
    doc = replace(sample_document(), preamble="", sections=(RenderedSection("1", "contact", "Contact", (clause,)),))
    word = docx.Document(io.BytesIO(to_docx(doc)))
    num_ids = {p.text: p._p.pPr.find(qn("w:numPr")).find(qn("w:numId")).get(qn("w:val"))
               for p in word.paragraphs if p.text in ("c", "d", "e")}
    assert num_ids["c"] == num_ids["d"] == num_ids["e"]
