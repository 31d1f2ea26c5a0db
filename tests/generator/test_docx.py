"""The DOCX export: real Word headings and lists, read back with python-docx, byte-identical output."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import docx
import pytest
from hypothesis import given, settings

from clauseguard.errors import UserError
from clauseguard.generator.document import NOTICE, RenderedClause, RenderedSection
from clauseguard.generator.docx import SOURCES_STYLE, Block, Span, parse_blocks, parse_inline, to_docx
from clauseguard.generator.profile import escape_markdown
from tests.strategies import rendered_documents, sample_document


@pytest.fixture(scope="module")
def data() -> bytes:
    return to_docx(sample_document())


@pytest.fixture(scope="module")
def word(data: bytes) -> docx.document.Document:
    return docx.Document(io.BytesIO(data))


def _numbered(paragraph) -> int | None:  # type: ignore[no-untyped-def]
    p_pr = paragraph._p.pPr
    return p_pr.numPr.numId.val if p_pr is not None and p_pr.numPr is not None else None


def test_same_input_gives_identical_bytes(data: bytes) -> None:
    assert to_docx(sample_document()) == data


def test_zip_entries_are_sorted_dated_and_deflated(data: bytes) -> None:
    infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert infos[0].filename == "[Content_Types].xml"
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}


def test_headings_have_word_styles_and_numbers(word: docx.document.Document) -> None:
    headings = [(p.style.name, p.text) for p in word.paragraphs if p.style.name.startswith(("Title", "Heading"))]
    assert headings == [
        ("Title", "Terms of Use"),
        ("Heading 1", "1 AI-generated output"),
        ("Heading 2", "1.1 Marking of AI-generated images"),
        ("Heading 1", "2 Acceptable use"),
        ("Heading 2", "2.1 What you must not do"),
    ]


def test_notice_is_at_the_top(word: docx.document.Document) -> None:
    first = [p.text for p in word.paragraphs][:4]
    assert f"Template, not legal advice. {NOTICE}" in first


@pytest.mark.parametrize(
    ("style", "text"),
    [
        ("List Bullet", "one"),
        ("List Bullet", "two"),
        ("List Number", "break the law;"),
        ("List Number", "harm anyone."),
        (SOURCES_STYLE, "Sources: EU AI Act Art. 50(2); CreativeML OpenRAIL-M Attachment A"),
        ("Normal", "See the terms."),  # "the terms" is a hyperlink (test_exports_review.py)
        ("Normal", "Images created with R&D <Pix> carry machine-readable marks."),
    ],
)
def test_body_paragraphs_have_styles(word: docx.document.Document, style: str, text: str) -> None:
    assert (style, text) in [(p.style.name, p.text) for p in word.paragraphs]


def test_bold_and_italic_runs(word: docx.document.Document) -> None:
    runs = [(r.text, bool(r.bold), bool(r.italic)) for p in word.paragraphs for r in p.runs]
    assert ("machine-readable", True, False) in runs
    assert ("anyone", False, True) in runs


def test_each_numbered_list_restarts_its_numbering() -> None:
    doc = sample_document()
    clause = doc.sections[1].clauses[0]
    twice = type(clause)(**{**clause.__dict__, "body": "1. a\n2. b\n\nBetween.\n\n1. c"})
    section = type(doc.sections[1])(**{**doc.sections[1].__dict__, "clauses": (twice,)})
    word = docx.Document(io.BytesIO(to_docx(type(doc)(**{**doc.__dict__, "sections": (section,)}))))
    ids = [_numbered(p) for p in word.paragraphs if p.style.name == "List Number"]
    assert len(ids) == 3 and ids[0] == ids[1] != ids[2]


def test_core_properties_are_fixed(word: docx.document.Document) -> None:
    props = word.core_properties
    effective = datetime(2026, 12, 1, tzinfo=UTC)
    assert (props.author, props.title, props.revision) == ("clauseguard", "Terms of Use", 1)
    assert props.created == props.modified == props.last_printed == effective


def test_stamp_is_in_the_footer(word: docx.document.Document) -> None:
    footer = word.sections[0].footer.paragraphs[0].text
    assert "clauseguard 0.1.0" in footer and "0123456789abcdef" * 4 in footer


def test_missing_python_docx_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "docx", None)
    with pytest.raises(UserError, match=r"pip install 'clauseguard\[docx\]'"):
        to_docx(sample_document())


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("one\ntwo", [Block("p", "one two")]),
        ("a\n\nb", [Block("p", "a"), Block("p", "b")]),
        ("- x\n- y", [Block("bullet", "x", True), Block("bullet", "y")]),
        ("* x\n  more", [Block("bullet", "x more", True)]),
        ("1. x\n2) y", [Block("number", "x", True), Block("number", "y")]),
        ("- x\n\n1. y", [Block("bullet", "x", True), Block("number", "y", True)]),
        ("Lead:\n\n1. x\n\nEnd.", [Block("p", "Lead:"), Block("number", "x", True), Block("p", "End.")]),
        ("", []),
    ],
)
def test_parse_blocks(markdown: str, expected: list[Block]) -> None:
    assert parse_blocks(markdown) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", [Span("plain")]),
        ("a **b** c", [Span("a "), Span("b", bold=True), Span(" c")]),
        ("*i* and _j_", [Span("i", italic=True), Span(" and "), Span("j", italic=True)]),
        ("**b *bi***", [Span("b ", bold=True), Span("bi", bold=True, italic=True)]),
        ("snake_case_name", [Span("snake_case_name")]),
        ("2 * 3 * 4", [Span("2 * 3 * 4")]),
        (r"\*lit\*", [Span("*lit*")]),
        (r"\*Acme\* Assist\_ \<b\> \&amp; \~x\~ \[a\](b) 2\. \#", [Span("*Acme* Assist_ <b> &amp; ~x~ [a](b) 2. #")]),
        (r"a \\ b \= \| \{\}", [Span(r"a \ b = | {}")]),
        ("`a*b`", [Span("a*b", code=True)]),
        ("[site](https://x.example)", [Span("site", url="https://x.example")]),
        ("[x](javascript:alert(1))", [Span("x")]),
        ("[above](#clause-x)", [Span("above")]),
    ],
)
def test_parse_inline(text: str, expected: list[Span]) -> None:
    assert parse_inline(text) == expected


@settings(max_examples=15, deadline=None)
@given(rendered_documents())
def test_any_document_round_trips_its_headings(doc) -> None:  # type: ignore[no-untyped-def]
    data = to_docx(doc)
    assert data == to_docx(doc)
    word = docx.Document(io.BytesIO(data))
    got = [p.text for p in word.paragraphs if p.style.name in ("Heading 1", "Heading 2")]
    expected = []
    for section in doc.sections:
        expected.append(f"{section.number} {section.title}")
        expected.extend(f"{c.number} {c.title}" for c in section.clauses)
    assert got == expected


def test_bytes_do_not_depend_on_the_process(data: bytes) -> None:
    """Another interpreter with another hash seed writes the same bytes (no set or dict-order leaks)."""
    code = (
        "import hashlib, sys; from clauseguard.generator.docx import to_docx; "
        "from tests.strategies import sample_document; "
        "sys.stdout.write(hashlib.sha256(to_docx(sample_document())).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout == hashlib.sha256(data).hexdigest()


def test_escaped_profile_values_stay_literal() -> None:
    """A name like ``*Acme*`` is not italic, an address line ``2. Floor`` is not a numbered list item."""
    name = escape_markdown("*Acme* Assist_")
    clause = RenderedClause("1.1", "core/contact", "Contact", "1.0.0",
                            f"{name} is at {escape_markdown('Acme Ltd, 2. Floor, Dublin')}.\n\n"
                            f"{escape_markdown('2. Floor')}", ())
    doc = replace(sample_document(), product_name=name,
                  sections=(RenderedSection("1", "contact", "Contact", (clause,)),))
    word = docx.Document(io.BytesIO(to_docx(doc)))
    texts = [p.text for p in word.paragraphs]
    assert "*Acme* Assist_ is at Acme Ltd, 2. Floor, Dublin." in texts
    assert "2. Floor" in texts
    assert not [r.text for p in word.paragraphs for r in p.runs if r.italic and "Acme" in r.text]
    assert not [p.text for p in word.paragraphs if _numbered(p) is not None]
    assert texts[1].startswith("*Acme* Assist_ — ")
    assert word.core_properties.subject == "*Acme* Assist_"


def test_control_characters_are_dropped_not_a_crash() -> None:
    """The profile refuses them; a document built another way still exports (lxml refuses them)."""
    clause = RenderedClause("1.1", "core/x", "Ti\x0btle", "1.0.0", "Acme\x0bAssist \x00**bold\x1f**", ("src\x0c",))
    doc = replace(sample_document(), product_name="Acme\x0bAssist", operator_name="Op\x08",
                  preamble="Pre\x0bamble", sections=(RenderedSection("1", "s", "Sec\x0btion", (clause,)),))
    word = docx.Document(io.BytesIO(to_docx(doc)))
    texts = [p.text for p in word.paragraphs]
    assert "AcmeAssist bold" in texts
    assert {"1.1 Title", "1 Section", "Preamble", "Sources: src"} <= set(texts)
    assert texts[1] == "AcmeAssist — Op"


def test_without_python_docx_generate_says_what_to_install_or_leave_out(tmp_path: Path, monkeypatch, capsys) -> None:
    """The default formats include DOCX: without the extra, say both ways out, write nothing."""
    from clauseguard.cli import main

    monkeypatch.setitem(sys.modules, "docx", None)  # import docx raises ImportError
    example = Path(__file__).resolve().parents[2] / "examples" / "chat-assistant" / "profile.yaml"
    assert main(["generate", str(example), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'clauseguard[docx]', or leave DOCX out with --format md,html" in err
    assert not (tmp_path / "out").exists()
    assert main(["generate", str(example), "-o", str(tmp_path / "out"), "--format", "md,html"]) == 0


@pytest.mark.parametrize(("markdown", "text", "bold", "italic"), [
    (r"**E\*TRADE Assist is provided as is.** Next.", "E*TRADE Assist is provided as is. Next.",
     "E*TRADE Assist is provided as is.", ""),
    (r"**Model Llama\* v2** next.", "Model Llama* v2 next.", "Model Llama* v2", ""),
    (r"*Llama\** model.", "Llama* model.", "", "Llama*"),
    (r"**E\*TRADE \*\* x\\** y", "E*TRADE ** x\\ y", "E*TRADE ** x\\", ""),
    (r"_a\_b_ and __c\_\_d__", "a_b and c__d", "c__d", "a_b"),
])
def test_escaped_emphasis_characters_inside_bold_or_italic_stay_literal(markdown: str, text: str, bold: str,
                                                                        italic: str) -> None:
    """A product named ``E*TRADE Assist`` broke the bold warranty disclaimer: the DOCX lost the bold and
    showed ``E\\TRADE`` and a stray ``*``; a model named ``Llama*`` likewise."""
    word = docx.Document(io.BytesIO(to_docx(replace(sample_document(), preamble=markdown))))
    paragraph = next(p for p in word.paragraphs if p.text.endswith(text[-6:]))
    assert paragraph.text == text
    assert "".join(r.text for r in paragraph.runs if r.bold) == bold
    assert "".join(r.text for r in paragraph.runs if r.italic and not r.bold) == italic


def test_a_product_name_longer_than_word_allows_in_properties_is_cut_there_only() -> None:
    """python-docx refuses a core property over 255 characters: a long product.name crashed the export."""
    name = "Acme " * 100
    word = docx.Document(io.BytesIO(to_docx(replace(sample_document(), product_name=name, title="T" * 300))))
    assert word.core_properties.subject == name[:255] and word.core_properties.title == "T" * 255
    assert any(p.text.startswith(name.strip()) for p in word.paragraphs)  # the byline keeps it whole
