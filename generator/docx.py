"""DOCX export: a Word document with real headings, lists and a reproducible byte stream.

python-docx is an optional extra, imported only when a DOCX is asked for. Clause bodies are the small
Markdown subset the clause format allows (paragraphs, bullet and numbered lists, bold, italic, code,
links), converted by the little parser below rather than a full Markdown engine: Word needs runs
and list styles, not HTML.

The output is byte-identical for the same input, so a generated ``.docx`` can be committed and its
change detected: the core properties are fixed to the document's effective date, and the zip is
written with sorted entries, a fixed timestamp and fixed compression.

Profile values arrive Markdown-escaped; a backslash before any ASCII punctuation gives the literal
character. Characters XML cannot hold (control characters other than tab and newline) are dropped
before writing: the profile refuses them, this is the backstop for documents built another way.
"""

from __future__ import annotations

import copy
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from clauseguard.errors import UserError
from clauseguard.generator.document import RenderedClause, RenderedDocument
from clauseguard.generator.markdown import NOTICE_LEAD, Block, parse_blocks, stamp_line
from clauseguard.generator.profile import unescape_markdown

__all__ = ["Block", "Span", "parse_blocks", "parse_inline", "to_docx"]

SOURCES_STYLE = "Clause Sources"
NOTICE_STYLE = "Template Notice"
HYPERLINK_STYLE = "Hyperlink"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

# ---- the Markdown subset -----------------------------------------------------------------------

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_PUNCT = r"[!-/:-@\[-`{-~]"


def _char(but: str) -> str:
    """A pattern for one character of emphasised text, not one of ``but``. An escape (``\\*``) counts
    as one character, so an escaped ``*`` or ``_`` neither closes the emphasis nor loses its backslash."""
    return rf"(?:\\{_PUNCT}|\\(?!{_PUNCT})|[^\\{but}])"


_ANY, _NO_STAR, _NO_LINE = _char("\n"), _char("*"), _char("_")
_EDGE_STAR, _EDGE_LINE = _char(r"*\s"), _char(r"_\s")  # the first and last character of italic text
_INLINE = re.compile(
    rf"(?P<esc>\\{_PUNCT})"
    r"|`(?P<code>[^`]+)`"
    rf"|\*\*(?P<b1>(?:{_NO_STAR}|\*{_NO_STAR}+\*)+?)\*\*|__(?P<b2>(?:{_NO_LINE}|_{_NO_LINE}+_)+?)__"
    rf"|\*(?P<i1>{_EDGE_STAR}(?:{_ANY}*?{_EDGE_STAR})?)\*"
    rf"|(?<!\w)_(?P<i2>{_EDGE_LINE}(?:{_ANY}*?{_EDGE_LINE})?)_(?!\w)"
    r"|\[(?P<ltext>[^\]]+)\]\((?P<lurl>(?:[^()\s]|\([^()\s]*\))+)\)"
    r"|<(?P<auto>(?:https?|mailto):[^\s<>]+|[^\s<>@\\]+@[^\s<>@\\]+\.[^\s<>@\\]+)>"
)
_SAFE_SCHEMES = ("http://", "https://", "mailto:")  # as the HTML export; "#" targets give the label only


@dataclass(frozen=True)
class Span:
    """A run of text with its formatting."""

    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False
    url: str = ""  # a link's target: the span is written as a Word hyperlink to it


def parse_inline(text: str, *, bold: bool = False, italic: bool = False) -> list[Span]:
    """Turn ``**bold**``, ``*italic*``, ```code``` and ``[text](url)`` into formatted spans."""
    spans: list[Span] = []
    pos = 0
    for match in _INLINE.finditer(text):
        if match.start() > pos:
            spans.append(Span(text[pos : match.start()], bold, italic))
        spans.extend(_spans_of(match, bold, italic))
        pos = match.end()
    if pos < len(text):
        spans.append(Span(text[pos:], bold, italic))
    return _merge(spans)


def _spans_of(match: re.Match[str], bold: bool, italic: bool) -> list[Span]:
    g = match.groupdict()
    if g["esc"]:
        return [Span(g["esc"][1], bold, italic)]
    if g["code"]:
        return [Span(g["code"], bold, italic, code=True)]
    if g["b1"] or g["b2"]:
        return parse_inline(g["b1"] or g["b2"], bold=True, italic=italic)
    if g["i1"] or g["i2"]:
        return parse_inline(g["i1"] or g["i2"], bold=bold, italic=True)
    if g["auto"]:
        target = g["auto"] if ":" in g["auto"] else f"mailto:{g['auto']}"
        return [Span(g["auto"], bold, italic, url=target)]
    label = parse_inline(g["ltext"], bold=bold, italic=italic)
    # A destination's backslash escapes are literal characters (CommonMark), as in the HTML's href.
    url = unescape_markdown(g["lurl"])
    if not url.lower().startswith(_SAFE_SCHEMES):
        return label
    return [Span(s.text, s.bold, s.italic, s.code, url) for s in label]


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for span in spans:
        last = out[-1] if out else None
        if last and (last.bold, last.italic, last.code, last.url) == (span.bold, span.italic, span.code, span.url):
            out[-1] = Span(last.text + span.text, span.bold, span.italic, span.code, span.url)
        elif span.text:
            out.append(span)
    return out


# ---- building the Word document ----------------------------------------------------------------


def _import_docx() -> Any:
    try:
        import docx
    except ImportError as err:
        raise UserError(
            "DOCX export needs python-docx, which is not installed: pip install 'clauseguard[docx]', "
            "or leave DOCX out with --format md,html"
        ) from err
    return docx


def _add_styles(document: Any) -> None:
    from docx.enum.style import WD_STYLE_TYPE
    from docx.shared import Pt, RGBColor

    sources = document.styles.add_style(SOURCES_STYLE, WD_STYLE_TYPE.PARAGRAPH)
    sources.base_style = document.styles["Normal"]
    sources.font.size = Pt(8)
    sources.font.color.rgb = RGBColor(0x55, 0x55, 0x55)
    notice = document.styles.add_style(NOTICE_STYLE, WD_STYLE_TYPE.PARAGRAPH)
    notice.base_style = document.styles["Normal"]
    notice.font.italic = True
    link = document.styles.add_style(HYPERLINK_STYLE, WD_STYLE_TYPE.CHARACTER)
    link.font.color.rgb = RGBColor(0x05, 0x63, 0xC1)
    link.font.underline = True


def _paragraph(document: Any, style: str | None = None, text: str = "") -> Any:
    """Add a paragraph in a named style.

    Sets the style id directly: python-docx's ``add_paragraph(style=name)`` scans every style to
    find the default one on each call, which made the export several times slower.
    """
    paragraph = document.add_paragraph()
    if text:
        paragraph.add_run()._r.add_t(_xml_text(text))
    if style:
        paragraph._p.style = _style_id(document, style)
    return paragraph


def _xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold (lxml raises ValueError on them)."""
    return _NOT_XML.sub("", text)


def _style_id(document: Any, name: str) -> str:
    """The id of a style by name, looked up once per document (each lookup is an XPath query)."""
    cache = document.__dict__.setdefault("_clauseguard_style_ids", {})
    if name not in cache:
        cache[name] = document.styles[name].style_id
    return cache[name]


def _add_runs(document: Any, paragraph: Any, text: str) -> None:
    """Runs for each formatted span; the text goes in whole (python-docx's ``run.text`` walks it per character).

    The spans of a link go inside one ``w:hyperlink`` to its target (an external relationship), in
    the "Hyperlink" character style, so the link works in Word and in a PDF made from it.
    """
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    link, link_url = None, ""
    for span in parse_inline(text):
        run = paragraph.add_run()
        run._r.add_t(_xml_text(span.text))
        run.bold = span.bold or None
        run.italic = span.italic or None
        if span.code:
            run.font.name = "Courier New"
        if not span.url:
            link = None
            continue
        if link is None or link_url != span.url:
            link, link_url = OxmlElement("w:hyperlink"), span.url
            rel = paragraph.part.relate_to(_xml_text(span.url), RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
            link.set(qn("r:id"), rel)
            run._r.addprevious(link)
        run._r.get_or_add_rPr().get_or_add_rStyle().val = _style_id(document, HYPERLINK_STYLE)
        link.append(run._r)


def _new_list_number(document: Any, style: str, first: int) -> int:
    """A fresh ``w:num`` over the definition of a "List Number" style that counts from ``first``.

    Without it every numbered list in the document would continue the numbering of the one before.
    """
    numbering = document.part.numbering_part.element
    style_num = document.styles[style].element.pPr.numPr.numId.val
    abstract_id = numbering.num_having_numId(style_num).abstractNumId.val
    num = numbering.add_num(abstract_id)
    num.add_lvlOverride(ilvl=0).add_startOverride(first)
    return int(num.numId)


def _set_list_number(paragraph: Any, num_id: int) -> None:
    num_pr = paragraph._p.get_or_add_pPr().get_or_add_numPr()
    num_pr.get_or_add_ilvl().val = 0
    num_pr.get_or_add_numId().val = num_id


def _block_style(block: Block) -> str | None:
    """"List Bullet", "List Number 2", …; a further paragraph of an item is "List Continue"."""
    if block.kind == "p" and not block.level:
        return None
    base = {"p": "List Continue", "bullet": "List Bullet", "number": "List Number"}[block.kind]
    level = block.level if block.kind != "p" else block.level - 1
    return base if level == 0 else f"{base} {level + 1}"


def _add_markdown(document: Any, markdown: str) -> None:
    num_ids: dict[int, int] = {}  # level -> the numbered list open at that level
    for block in parse_blocks(_xml_text(markdown)):
        style = _block_style(block)
        paragraph = _paragraph(document, style)
        _add_runs(document, paragraph, block.text)
        if block.kind == "number":
            if block.start or block.level not in num_ids:
                num_ids[block.level] = _new_list_number(document, style, block.first)
            _set_list_number(paragraph, num_ids[block.level])


def _add_clause(document: Any, clause: RenderedClause) -> None:
    _paragraph(document, "Heading 2", f"{clause.number} {clause.title}")
    _add_markdown(document, clause.body)
    if clause.sources:
        _paragraph(document, SOURCES_STYLE, f"Sources: {'; '.join(clause.sources)}")


_PROPERTY_MAX = 255  # python-docx refuses a longer core property (title, subject, ...)


def _property(text: str) -> str:
    """``text`` as a core property: XML-safe, and cut to the length allowed (the document keeps it whole)."""
    return _xml_text(text)[:_PROPERTY_MAX]


def _set_properties(document: Any, doc: RenderedDocument) -> None:
    when = datetime.combine(date.fromisoformat(doc.stamp.effective_date), datetime.min.time(), tzinfo=UTC)
    props = document.core_properties
    props.author = props.last_modified_by = "clauseguard"
    props.title = _property(doc.title)
    props.subject = _property(unescape_markdown(doc.product_name))
    props.identifier = _property(doc.id)
    props.version = _property(doc.version)
    props.comments = _xml_text(
        f"clauseguard {doc.stamp.clauseguard_version}; profile sha256 {doc.stamp.profile_sha256}")
    props.created = props.modified = props.last_printed = when
    props.revision = 1


@cache
def _base_document() -> Any:
    """python-docx's default template with our styles, parsed once; each export edits a deep copy."""
    document = _import_docx().Document()
    _add_styles(document)
    return document


def _build(doc: RenderedDocument) -> Any:
    _import_docx()  # checked on every call: the cached base must not hide a missing extra
    document = copy.deepcopy(_base_document())
    _set_properties(document, doc)
    _paragraph(document, "Title", doc.title)
    byline = " — ".join(unescape_markdown(x) for x in (doc.product_name, doc.operator_name) if x)
    if byline:
        _paragraph(document, None, byline)
    notice = _paragraph(document, NOTICE_STYLE)
    notice.add_run(f"{NOTICE_LEAD} ").bold = True
    notice.add_run(_xml_text(doc.notice))
    _paragraph(document, NOTICE_STYLE, stamp_line(doc))  # the version/date line, as in Markdown and HTML
    _add_markdown(document, doc.preamble)
    for section in doc.sections:
        _paragraph(document, "Heading 1", f"{section.number} {section.title}")
        for clause in section.clauses:
            _add_clause(document, clause)
    footer = document.sections[0].footer.paragraphs[0]
    footer.text = _xml_text(
        f"{doc.id} version {doc.version} · generated by clauseguard {doc.stamp.clauseguard_version} · "
        f"profile sha256 {doc.stamp.profile_sha256}"
    )
    return document


def _package_entries(document: Any) -> dict[str, bytes]:
    """The package's files by name, serialised as python-docx's ``PackageWriter`` does.

    Saving through python-docx and rewriting its zip deflated everything twice; this takes the
    same blobs (the test reads the result back with python-docx) and zips them once.
    """
    from docx.opc.pkgwriter import _ContentTypesItem

    package = document.part.package
    parts = list(package.iter_parts())
    for part in parts:
        part.before_marshal()
    entries = {"[Content_Types].xml": _ContentTypesItem.from_parts(parts).blob, "_rels/.rels": package.rels.xml}
    for part in parts:
        entries[part.partname.membername] = part.blob
        if len(part.rels):
            entries[part.partname.rels_uri.membername] = part.rels.xml
    return entries


def _zip(entries: dict[str, bytes]) -> bytes:
    """A zip with sorted entries, a fixed date and fixed compression: the same entries, the same bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, entries[name], compresslevel=6)
    return out.getvalue()


def to_docx(doc: RenderedDocument) -> bytes:
    """The document as DOCX bytes, identical for identical input. Needs ``clauseguard[docx]``."""
    return _zip(_package_entries(_build(doc)))
