"""HTML export: one standalone, printable HTML5 page per rendered document.

The page carries its own stylesheet (no external assets, no JavaScript) so it can be hosted as a
static file, attached to an email or printed. Output is deterministic: the same document gives the
same bytes, so generated files can be committed and diffed.

Clause bodies are Markdown written by lawyers, but they interpolate profile values (a product name
such as ``R&D <beta>``). Raw HTML is therefore switched off in the Markdown engine (it is escaped as
text), images are dropped (no external assets) and links keep only ``http``, ``https``, ``mailto``
and in-page targets. Profile values arrive Markdown-escaped (``\\*Acme\\*``, ``\\<b\\>``, ``\\&amp;``):
every backslash escape, including ``\\<``, ``\\&``, ``\\~`` and ``\\=``, renders as the literal character.
"""

from __future__ import annotations

import re
import threading
from html import escape
from xml.etree.ElementTree import Element

import markdown
from markdown.inlinepatterns import ESCAPE_RE, EscapeInlineProcessor
from markdown.treeprocessors import Treeprocessor

from clauseguard.generator.document import RenderedClause, RenderedDocument, RenderedSection
from clauseguard.generator.markdown import NOTICE_LEAD, canonical_markdown, stamp_line
from clauseguard.generator.profile import unescape_markdown

__all__ = ["anchor", "markdown_to_html", "to_html"]

_SAFE_SCHEMES = ("http://", "https://", "mailto:", "#")
_REMOVED_PATTERNS = ("html", "image_link", "image_reference", "short_image_ref")
_EXTRA_ESCAPES = ("<", "&", "~", "=", "|")  # CommonMark escapes that Python-Markdown lacks

CSS = """
:root { color-scheme: light; }
body { font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b;
       max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 2rem; margin-bottom: .25rem; }
h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
h3 { margin-top: 1.6rem; font-size: 1.1rem; }
.byline { color: #555; margin-top: 0; }
.stamp { font-size: .85rem; font-style: italic; color: #555; }
.notice { background: #fff6d6; border-left: 4px solid #e0a800; padding: .6rem .9rem; margin: 1rem 0; }
nav.toc { background: #f6f7f9; padding: .6rem 1rem; border-radius: 4px; }
nav.toc ol { padding-left: 1.2rem; margin: .3rem 0; }
nav.toc a { text-decoration: none; }
.num { font-variant-numeric: tabular-nums; margin-right: .2rem; }
.sources { font-size: .8rem; color: #555; margin-top: -.3rem; }
footer { margin-top: 3rem; border-top: 1px solid #ddd; padding-top: .5rem; font-size: .8rem; color: #555; }
@media print {
  body { font: 11pt/1.45 Georgia, "Times New Roman", serif; max-width: none; margin: 0; color: #000; }
  a { color: inherit; text-decoration: none; }
  nav.toc { background: none; padding: 0; }
  nav.toc a { color: #000; }
  section.section { page-break-before: always; break-before: page; }
  h2, h3 { page-break-after: avoid; break-after: avoid; }
  .notice { background: none; border: 1px solid #000; }
}
""".strip()


class _SafeLinks(Treeprocessor):
    """Drop ``href`` values whose scheme could run code (``javascript:``, ``data:``)."""

    def run(self, root: Element) -> None:
        for link in root.iter("a"):
            href = link.get("href", "")
            if not href.lower().startswith(_SAFE_SCHEMES):
                link.attrib.pop("href", None)


class _Escape(EscapeInlineProcessor):
    """``\\&`` is a literal ampersand: stashed as ``&amp;``, or ``\\&amp;`` would come out as ``&``."""

    def handleMatch(self, m: re.Match[str], data: str) -> tuple[str | None, int, int]:
        if m.group(1) == "&":
            return self.md.htmlStash.store("&amp;"), m.start(0), m.end(0)
        return super().handleMatch(m, data)


def _markdown_engine() -> markdown.Markdown:
    md = markdown.Markdown(extensions=["sane_lists"], output_format="html")
    md.ESCAPED_CHARS = [*md.ESCAPED_CHARS, *_EXTRA_ESCAPES]
    md.preprocessors.deregister("html_block")
    for name in _REMOVED_PATTERNS:
        md.inlinePatterns.deregister(name)
    md.inlinePatterns.register(_Escape(ESCAPE_RE, md), "escape", 180)
    md.treeprocessors.register(_SafeLinks(md), "safe_links", 0)
    return md


_LOCAL = threading.local()


def markdown_to_html(text: str) -> str:
    """Convert a clause body to HTML with raw HTML escaped, images dropped and links made safe.

    The blocks (paragraphs, lists and their nesting, where a numbered list starts) are read once, by
    the parser the DOCX export uses (:func:`canonical_markdown`), so a list written right under its
    lead-in line or nested by two spaces is a list here too, as it is in the DOCX and in CommonMark.
    Building a Markdown engine costs more than converting a clause, so each thread keeps one and
    resets it between conversions.
    """
    md = getattr(_LOCAL, "md", None)
    if md is None:
        md = _LOCAL.md = _markdown_engine()
    return md.reset().convert(canonical_markdown(text))


def anchor(kind: str, ident: str) -> str:
    """A stable HTML id from a section or clause id: ``("clause", "ai/x-y")`` -> ``"clause-ai-x-y"``."""
    slug = re.sub(r"[^a-z0-9]+", "-", ident.lower()).strip("-")
    return f"{kind}-{slug or 'x'}"


def _toc(doc: RenderedDocument) -> str:
    items = []
    for section in doc.sections:
        clauses = "".join(
            f'<li><a href="#{anchor("clause", c.id)}"><span class="num">{escape(c.number)}</span> '
            f"{escape(c.title)}</a></li>"
            for c in section.clauses
        )
        items.append(
            f'<li><a href="#{anchor("section", section.id)}"><span class="num">{escape(section.number)}</span> '
            f"{escape(section.title)}</a><ol>{clauses}</ol></li>"
        )
    return f'<nav class="toc" aria-label="Contents"><h2>Contents</h2><ol>{"".join(items)}</ol></nav>'


def _sources(clause: RenderedClause) -> str:
    if not clause.sources:
        return ""
    return f'<p class="sources">Sources: {escape("; ".join(clause.sources))}</p>'


def _clause(clause: RenderedClause) -> str:
    return (
        f'<article class="clause" id="{anchor("clause", clause.id)}" data-clause-id="{escape(clause.id)}" '
        f'data-clause-version="{escape(clause.version)}">'
        f'<h3><span class="num">{escape(clause.number)}</span> {escape(clause.title)}</h3>\n'
        f"{markdown_to_html(clause.body)}\n{_sources(clause)}</article>"
    )


def _section(section: RenderedSection) -> str:
    clauses = "\n".join(_clause(c) for c in section.clauses)
    return (
        f'<section class="section" id="{anchor("section", section.id)}">'
        f'<h2><span class="num">{escape(section.number)}</span> {escape(section.title)}</h2>\n{clauses}</section>'
    )


def _plain(text: str) -> str:
    """A Markdown-escaped profile value (product or operator name) as HTML text."""
    return escape(unescape_markdown(text))


def _header(doc: RenderedDocument) -> str:
    """Title, byline, notice and the version/date line: what the Markdown and DOCX headers say."""
    byline = " — ".join(_plain(x) for x in (doc.product_name, doc.operator_name) if x)
    return (
        f"<header><h1>{escape(doc.title)}</h1>"
        + (f'<p class="byline">{byline}</p>' if byline else "")
        + f'<p class="notice" role="note"><strong>{escape(NOTICE_LEAD)}</strong> {escape(doc.notice)}</p>'
        f'<p class="stamp">{escape(stamp_line(doc))}</p>'
        "</header>"
    )


def _footer(doc: RenderedDocument) -> str:
    s = doc.stamp
    return (
        f'<footer><p>{escape(doc.id)} version {escape(doc.version)} · generated by clauseguard '
        f"{escape(s.clauseguard_version)} · effective {escape(s.effective_date)} · "
        f"profile sha256 <code>{escape(s.profile_sha256)}</code></p></footer>"
    )


def to_html(doc: RenderedDocument) -> str:
    """The whole document as one standalone HTML5 page (deterministic)."""
    title = f"{doc.title} — {unescape_markdown(doc.product_name)}" if doc.product_name else doc.title
    body = "\n".join(
        [
            _header(doc),
            _toc(doc),
            f'<div class="preamble">{markdown_to_html(doc.preamble)}</div>' if doc.preamble.strip() else "",
            "\n".join(_section(s) for s in doc.sections),
            _footer(doc),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="clauseguard">\n'
        f"<title>{escape(title)}</title>\n<style>\n{CSS}\n</style>\n</head>\n"
        f'<body>\n<main data-document-id="{escape(doc.id)}">\n{body}\n</main>\n</body>\n</html>\n'
    )
