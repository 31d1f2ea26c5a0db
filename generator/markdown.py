"""Markdown export of a rendered document. Deterministic: the same document gives the same bytes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from clauseguard.generator.document import RenderedDocument
from clauseguard.generator.sandbox import long_date

__all__ = ["NOTICE_LEAD", "Block", "canonical_markdown", "parse_blocks", "stamp_line", "to_markdown"]

NOTICE_LEAD = "Template, not legal advice."  # bold, before the notice, in every format

# ---- the block structure of the Markdown subset, shared by the HTML and DOCX exports -----------------

_ITEM = re.compile(r"^(?P<indent> *)(?:(?P<bullet>[-*+])|(?P<number>\d{1,9})[.)])(?:[ \t]+(?P<text>.*))?$")
MAX_LEVEL = 3  # Word's built-in "List Bullet 3" / "List Number 3"; deeper items stay at level 3


@dataclass(frozen=True)
class Block:
    """A paragraph (``kind="p"``) or one list item (``"bullet"``, ``"number"``).

    ``start`` marks a new list, ``first`` is the number that list counts from (the number its first
    item was written with, as in HTML), ``level`` is how deep the item is nested (0 at the top); a
    paragraph with a level is a further paragraph of the list item above it.
    """

    kind: str
    text: str
    start: bool = False
    level: int = 0
    first: int = 1


def parse_blocks(markdown: str) -> list[Block]:
    """Split Markdown into paragraphs and list items as CommonMark does, for the subset clauses use.

    A list item is a child of the item above when it is indented at least to that item's text; a
    line that is not an item joins the block above (a lazy continuation) unless a blank line came
    first. A bullet list may interrupt a paragraph, a numbered one only when it starts at 1; an
    item line that may not is text of the paragraph ("born in\n2. half" is not a list).
    """
    blocks: list[Block] = []
    stack: list[tuple[int, str]] = []  # open items: (indent of their text, kind)
    last_kind: dict[int, str] = {}  # level -> kind of the list open at that level
    after_blank = True
    for line in markdown.strip("\n").splitlines():
        if not line.strip():
            after_blank = True
            continue
        item = _ITEM.match(line.expandtabs(4))
        indent = len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip(" "))
        if item and not _may_start_item(item, indent, stack, after_blank, blocks):
            item = None
        if item:
            while stack and indent < stack[-1][0]:
                stack.pop()
            kind = "bullet" if item["bullet"] else "number"
            # Items nested deeper than MAX_LEVEL join the list at its last level, so whether one starts a
            # list is judged at that level: judged at its own depth, each deeper item began a new list at
            # the level above, which restarted the DOCX numbering there and made the HTML list loose and
            # nest the items after it one level too deep.
            level = min(len(stack), MAX_LEVEL - 1)
            start = last_kind.get(level) != kind
            last_kind = {lv: k for lv, k in last_kind.items() if lv < level} | {level: kind}
            text = (item["text"] or "").strip()
            marker = len(item["bullet"] or item["number"]) + (0 if item["bullet"] else 1)
            gap = len(line.expandtabs(4)) - indent - marker - len(item["text"] or "")
            stack.append((indent + marker + (gap if 1 <= gap <= 4 else 1), kind))
            first = int(item["number"]) if start and item["number"] else 1
            blocks.append(Block(kind, text, start, level, first))
        elif not after_blank and blocks:
            last = blocks[-1]
            blocks[-1] = Block(last.kind, f"{last.text} {line.strip()}".strip(), last.start, last.level, last.first)
        else:
            while stack and indent < stack[-1][0]:
                stack.pop()
            last_kind = {lv: k for lv, k in last_kind.items() if lv < len(stack)}
            blocks.append(Block("p", line.strip(), level=min(len(stack), MAX_LEVEL)))
        after_blank = False
    return [b for b in blocks if b.text]


def _may_start_item(item: re.Match[str], indent: int, stack: list[tuple[int, str]], after_blank: bool,
                    blocks: list[Block]) -> bool:
    """Whether an item-shaped line is an item (CommonMark), not text of the paragraph above."""
    if not stack and indent > 3:
        return False  # four spaces outside a list: not an item
    if after_blank or not blocks or stack:
        return bool(stack) or indent <= 3
    # The line would interrupt a paragraph: only a non-empty bullet or a list that starts at 1 may.
    return bool(item["text"]) and (bool(item["bullet"]) or item["number"] == "1")


def canonical_markdown(markdown: str) -> str:
    """The blocks of ``markdown`` written so that Python-Markdown reads the structure CommonMark does.

    Python-Markdown (the HTML export) starts no list without a blank line before it and nests only
    items indented by four spaces; clause authors write ``Intro:\n- item`` and two- or three-space
    nesting, which CommonMark (GitHub, most viewers) and the DOCX export read as lists. Each block is
    written on its own, separated by a blank line, nested items indented four spaces a level, and a
    numbered list keeps the number it starts at. Inline Markdown is left as it is.
    """
    lines: list[str] = []
    previous: Block | None = None
    for block in parse_blocks(markdown):
        if block.kind == "p":
            lines += ["", "    " * block.level + block.text]
        else:
            if previous is None or previous.kind == "p" or (block.start and block.level <= previous.level):
                lines.append("")
            marker = "-" if block.kind == "bullet" else f"{block.first if block.start else 1}."
            lines.append(f"{'    ' * block.level}{marker} {block.text}")
        previous = block
    return "\n".join(lines).strip("\n")


def stamp_line(doc: RenderedDocument) -> str:
    """The version and date line under the notice, word for word the same in Markdown, HTML and DOCX."""
    stamp = doc.stamp
    return (f"Version {doc.version} · Effective {long_date(stamp.effective_date)} · "
            f"Generated by clauseguard {stamp.clauseguard_version} · profile {stamp.profile_sha256[:12]}")


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def to_markdown(doc: RenderedDocument) -> str:
    """``# Title``, the byline, the notice, the stamp, the preamble, then numbered sections and clauses.

    The header says what the HTML and DOCX headers say: product — operator (names arrive
    Markdown-escaped), the bold "Template, not legal advice." notice, and :func:`stamp_line`.
    """
    byline = " — ".join(x for x in (doc.product_name, doc.operator_name) if x)
    parts = [f"# {doc.title}", *([byline] if byline else []), _quote(f"**{NOTICE_LEAD}** {doc.notice}"),
             f"*{stamp_line(doc)}*"]
    if doc.preamble:
        parts.append(doc.preamble)
    for section in doc.sections:
        parts.append(f"## {section.number} {section.title}")
        for clause in section.clauses:
            parts.append(f"### {clause.number} {clause.title}")
            if clause.body:
                parts.append(clause.body)
            if clause.sources:
                parts.append(f"*Sources: {'; '.join(clause.sources)}*")
    return "\n\n".join(parts) + "\n"
