"""Mistakes a lawyer makes in an override folder: each gives one problem naming the file and the line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from clauseguard.generator.library import load_library
from clauseguard.generator.lint import lint
from tests.conftest import clause_text

# (file bytes, line, part of the message); clause_text puts the first source on line 10
ENCODINGS = [
    ("utf-16", clause_text("t/a").encode("utf-16"), 1, "saved as UTF-16: save it as UTF-8"),
    ("windows-1252", clause_text("t/a", sources=["California Civil Code \u00a71668"]).encode("cp1252"), 10,
     "byte 0xa7 cannot be read"),
]


@pytest.mark.parametrize(("data", "line", "message"), [c[1:] for c in ENCODINGS], ids=[c[0] for c in ENCODINGS])
def test_a_file_not_in_utf8_is_named_with_the_line_of_the_bad_byte(tmp_path: Path, data: bytes, line: int,
                                                                   message: str) -> None:
    (tmp_path / "a.md").write_bytes(data)
    problems = lint(tmp_path, profiles=[], include_builtin=False)
    assert [(p.file, p.line) for p in problems] == [(str(tmp_path / "a.md"), line)]
    assert message in problems[0].message


def test_a_byte_order_mark_is_read_as_utf8(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_bytes(b"\xef\xbb\xbf" + clause_text("t/a", "Body.").encode())
    assert lint(tmp_path, profiles=[], include_builtin=False) == []
    clause = load_library(tmp_path, include_builtin=False).clauses["t/a"]
    assert clause.meta.title == "A" and clause.body == "Body.\n" and clause.line("sources") == 9


# (body, line of the calls, messages): a clause renamed without updating what refers to it
UNKNOWN_IDS = [
    ("{% if selected('t/old-name') %}See {{ ref('t/old-name') }}.{% endif %}", 13,
     ["body: ref('t/old-name'): no clause has id 't/old-name'",
      "body: selected('t/old-name'): no clause has id 't/old-name'"]),
    ("Line one.\n{% if false %}See the {{ doc('cookie-policy') }}.{% endif %}", 14,
     ["body: doc('cookie-policy'): no document has id 'cookie-policy'"]),
    ("{% if false %}{{ licence('llama9').name }}{% endif %}", 13,
     ["body: licence('llama9'): no licence has id 'llama9'"]),
]


@pytest.mark.parametrize(("body", "line", "messages"), UNKNOWN_IDS, ids=["ref-and-selected", "doc", "licence"])
def test_a_helper_naming_an_unknown_id_is_a_lint_problem_even_where_it_never_runs(
        clause_dir, body: str, line: int, messages: list[str]) -> None:
    folder = clause_dir({"t/a": {"body": body}, "t/new-name": {}})
    problems = lint(folder, include_builtin=False)
    assert {(p.file, p.line) for p in problems} == {(str(folder / "t/a.md"), line)}
    assert [p.message.split(";")[0] for p in problems] == messages


def test_a_rationale_naming_an_unknown_document_is_a_lint_problem(clause_dir) -> None:
    folder = clause_dir({"t/a": {"rationale": "{% if false %}{{ doc('cookie-policy') }}{% endif %}"}})
    assert [(p.line, p.message.split(";")[0]) for p in lint(folder, include_builtin=False)] == [
        (8, "rationale: doc('cookie-policy'): no document has id 'cookie-policy'")]


def test_a_helper_naming_a_known_id_is_clean(clause_dir) -> None:
    body = ("See {{ ref('t/b') }} and the {{ doc('privacy-notice') }}."
            "{% if selected('t/b') %} {{ licence('mit').name }}{% endif %}")
    assert lint(clause_dir({"t/a": {"body": body}, "t/b": {}}), include_builtin=False) == []


# (front-matter line as the lawyer typed it, line, message): values YAML does not read as the lawyer meant
FRONT_MATTER = [
    ("version: 1.0", 4, "version: must be a semantic version MAJOR.MINOR.PATCH, e.g. 1.0.0"),
    ("version: 2", 4, "version: must be a semantic version MAJOR.MINOR.PATCH, e.g. 1.0.0"),
    ("title: No", 3, "title: expected text, but YAML reads this value as false: put it in quotes"),
    ("title: 2024", 3, "title: expected text, but YAML reads this value as 2024: put it in quotes"),
    ("title:", 3, "title: is empty: write the text after the colon"),
    ("id: Core/Feedback", 2, "id: expected lowercase letters, digits and '-', with '/' between a folder and a name "
                             "(e.g. core/feedback), not 'Core/Feedback'"),
    ("sources: []", 8, "sources: every clause must cite at least one statute, regulation or licence section"),
    ("documents: []", 5, "documents: the list is empty: give at least one"),
]
GOOD = """---
id: core/feedback
title: Feedback
version: 1.0.0
documents: [terms-of-use]
section: about
rationale: Feedback helps.
sources: [Contract law]
license: CC-BY-4.0
---
Body.
"""


@pytest.mark.parametrize(("typed", "line", "message"), FRONT_MATTER, ids=[c[0] for c in FRONT_MATTER])
def test_a_value_yaml_reads_otherwise_says_what_was_expected(tmp_path: Path, typed: str, line: int,
                                                              message: str) -> None:
    lines = GOOD.splitlines(keepends=True)
    lines[line - 1] = typed + "\n"
    (tmp_path / "feedback.md").write_text("".join(lines), encoding="utf-8")
    problems = lint(tmp_path, profiles=[], include_builtin=False)
    assert [str(p) for p in problems] == [f"{tmp_path / 'feedback.md'}:{line}: {message}"]


# (the sources as typed, the message): a citation YAML split at a ':' or ',' gave two unrelated problems, or
# "a source is a string or a mapping" (lawyer review, repro_yaml_msgs.sh)
SPLIT_CITATIONS = [
    ("sources:\n  - UK GDPR Art. 13: information to be provided",
     "sources[0]: a source is a string or a mapping {text: ..., when: ...}; YAML reads this one as the key "
     "'UK GDPR Art. 13' with the value 'information to be provided' (a ':' or ',' in unquoted text: put the "
     "citation in double quotes)"),
    ("sources:\n  [Cal. Civ. Code §§1798.105, 1798.106]",
     "sources[1]: a source is a string or a mapping {text: ..., when: ...}; YAML reads this one as the number "
     "1798.106 (a ':' or ',' in unquoted text: put the citation in double quotes)"),
    ("sources:\n  - [Cal. Civ. Code §1798.105, §1798.106]",
     "sources[0]: a source is a string or a mapping {text: ..., when: ...}; YAML reads this one as the list "
     "['Cal. Civ. Code §1798.105', '§1798.106'] (a ':' or ',' in unquoted text: put the citation in double quotes)"),
]


@pytest.mark.parametrize(("typed", "message"), SPLIT_CITATIONS, ids=["colon", "flow-comma", "nested-list"])
def test_a_citation_yaml_split_at_a_colon_or_comma_says_to_quote_it(tmp_path: Path, typed: str, message: str) -> None:
    (tmp_path / "feedback.md").write_text(GOOD.replace("sources: [Contract law]", typed), encoding="utf-8")
    problems = lint(tmp_path, profiles=[], include_builtin=False)
    assert [str(p) for p in problems] == [f"{tmp_path / 'feedback.md'}:9: {message}"]


def test_files_the_generator_would_not_read_are_named_by_lint(tmp_path: Path) -> None:
    text = clause_text("core/feedback")
    files = {"core/Feedback.MD": text, "core/other.md.txt": text, "templates/old/terms-of-use.md": text,
             "core/ok.md": clause_text("core/ok"), "README.md": "notes", "LICENSE": "CC-BY-4.0",
             "_drafts/notes.docx": "draft", ".git/config": "x", ".DS_Store": "x", "__init__.py": ""}
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content, encoding="utf-8")
    problems = lint(tmp_path, profiles=[], include_builtin=False)
    assert [(Path(p.file).relative_to(tmp_path).as_posix(), p.line, p.message.partition(":")[0]) for p in problems] == [
        ("core/Feedback.MD", 1, "not read"), ("core/other.md.txt", 1, "not read"),
        ("templates/old/terms-of-use.md", 1, "not read")]
    assert "only files ending in .md are clauses" in problems[0].message
    assert "directly in templates/" in problems[2].message


def test_a_copy_of_the_whole_builtin_folder_lints_clean(tmp_path: Path) -> None:
    shutil.copytree(Path(__file__).resolve().parents[2] / "clauses", tmp_path / "clauses")
    assert lint(tmp_path / "clauses", profiles=[], include_builtin=False) == []


@pytest.mark.parametrize(("body", "line"), [("Text.\n\n## Our use of feedback\n\nMore.", 15), ("# Feedback\nText.", 13),
                                            ("Text.\n   ###", 14)])
def test_a_heading_in_a_clause_body_is_a_lint_problem(clause_dir, body: str, line: int) -> None:
    folder = clause_dir({"t/a": {"body": body}})
    problems = lint(folder, profiles=[], include_builtin=False)
    assert [(p.file, p.line) for p in problems] == [(str(folder / "t/a.md"), line)]
    assert problems[0].message.startswith("body: a heading (")


# (body, line, start of the message): what CommonMark reads as a heading or a rule; the .md showed it so, the
# HTML and DOCX as text (lawyer review, repro_setext.sh)
UNDERLINES = [
    ("Our obligations\n===============\n\nWe will reply.", 14, "body: a heading ('Our obligations': this line of '='s"),
    ("We will reply.\nThe next line is meant as a rule\n---\nMore text.", 15,
     "body: a heading ('We will reply. The next line is meant as a rule': this line of '-'s"),
    ("Text.\n\n---\n\nMore text.", 15, "body: a horizontal rule ('---'), which the DOCX would show as text"),
    ("Text.\n\n* * *", 15, "body: a horizontal rule ('* * *')"),
    ("- one\n---", 14, "body: a horizontal rule ('---')"),
]


@pytest.mark.parametrize(("body", "line", "start"), UNDERLINES, ids=["setext-h1", "setext-h2", "rule", "stars", "list"])
def test_a_setext_heading_or_a_rule_in_a_clause_body_is_a_lint_problem(clause_dir, body: str, line: int,
                                                                        start: str) -> None:
    """Only '#' headings were flagged: text underlined by === or --- passed lint and became a heading in the .md."""
    folder = clause_dir({"t/a": {"body": body}})
    problems = lint(folder, profiles=[], include_builtin=False)
    assert [(p.file, p.line) for p in problems] == [(str(folder / "t/a.md"), line)]
    assert problems[0].message.startswith(start)


@pytest.mark.parametrize("body", ["#1 priority is safety.", "Call us on\n#42.", "Text {# a comment #} more.",
                                  "A list:\n\n- one\n- two", "Text.\n\n===\n\nMore.", "- one\n===",
                                  "Prices -- or --- fees.", "Text.\n    ---"])
def test_text_that_is_not_a_heading_is_clean(clause_dir, body: str) -> None:
    assert lint(clause_dir({"t/a": {"body": body}}), profiles=[], include_builtin=False) == []


# (front-matter line as pasted from a word processor, file line, start of the message, its end)
CURLY = [
    ("rationale: “Feedback: we may use it.”", 7, "invalid YAML: mapping values are not allowed",
     "(curly quotes “ ” ‘ ’ are not quotes in YAML: type straight quotes \" or ')"),
    ("sources: [“Contract law, general principles”]", 8, "sources[0]: starts or ends with a curly quote",
     "type straight quotes \" or '"),
    ("title: “Feedback”", 3, "title: starts or ends with a curly quote", "type straight quotes \" or '"),
    ("section: about\napplies_when: \"‘EU’ in jurisdictions\"", 7, "applies_when: syntax error: unexpected char '‘'",
     "(curly quotes are not quotes here: type straight quotes ' or \")"),
]


@pytest.mark.parametrize(("typed", "line", "start", "end"), CURLY, ids=["yaml", "list", "title", "applies_when"])
def test_curly_quotes_are_named_as_the_cause(tmp_path: Path, typed: str, line: int, start: str, end: str) -> None:
    lines = GOOD.splitlines(keepends=True)
    key = typed.partition(":")[0]
    lines = [typed + "\n" if ln.startswith(f"{key}:") else ln for ln in lines]
    (tmp_path / "feedback.md").write_text("".join(lines), encoding="utf-8")
    problems = lint(tmp_path, profiles=[], include_builtin=False)
    assert (problems[0].file, problems[0].line) == (str(tmp_path / "feedback.md"), line)
    assert problems[0].message.startswith(start) and problems[0].message.endswith(end)
    assert all(p.line == line for p in problems)


def test_curly_quotes_in_a_body_jinja_tag_are_named_as_the_cause(clause_dir) -> None:
    folder = clause_dir({"t/a": {"body": "Text.\n{% if selected(‘t/a’) %}x{% endif %}"}})
    [problem] = lint(folder, profiles=[], include_builtin=False)
    assert problem.line == 14 and problem.message.endswith("type straight quotes ' or \")")


def test_curly_quotes_inside_text_are_prose(clause_dir) -> None:
    folder = clause_dir({"t/a": {"title": "The “service”, defined", "sources": ["Directive “X” Art. 5"],
                                 "body": "We call it the “service”."}})
    assert lint(folder, profiles=[], include_builtin=False) == []


@pytest.mark.parametrize(("body", "line", "what"), [
    ("Fees:\n\n| plan | price |\n| --- | ---: |\n| free | 0 |", 16, "a table"),
    ("Fees:\n\n|---|---|", 15, "a table"),
    ("We keep logs.[^1]\n\n[^1]: For 30 days.", 13, "a footnote"),
    ("As the law says:\n\n> Providers shall inform.", 15, "a block quote"),
])
def test_markdown_the_exports_do_not_render_alike_is_a_lint_problem(clause_dir, body: str, line: int,
                                                                    what: str) -> None:
    # The HTML and DOCX showed a table's pipes, a footnote's [^1] and (DOCX) a quote's '>' as text.
    folder = clause_dir({"t/a": {"body": body}})
    problems = lint(folder, profiles=[], include_builtin=False)
    assert [(p.line, p.message.startswith(f"body: {what}")) for p in problems][:1] == [(line, True)]


@pytest.mark.parametrize("body", ["A - B - C.", "Prices go up -- or down.", "If a > b then c.", "Links [here](https://x.y)."])
def test_text_that_is_no_table_footnote_or_quote_is_clean(clause_dir, body: str) -> None:
    assert lint(clause_dir({"t/a": {"body": body}}), profiles=[], include_builtin=False) == []
