"""Numbering, cross-references, helpers and the sandbox, at render time."""

from __future__ import annotations

import pytest

from clauseguard.errors import ClauseError, SandboxError
from clauseguard.generator.build import build
from clauseguard.generator.library import load_library
from clauseguard.generator.markdown import to_markdown
from clauseguard.generator.sandbox import Source, compile_template, join_and, long_date, render

ESCAPES = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__['os'] }}",
    "{{ lipsum.__globals__ }}",
    "{{ range.__class__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ product['__class__'] }}",
    "{% for c in ''.__class__.__mro__ %}{{ c }}{% endfor %}",
]


@pytest.mark.parametrize("text", ESCAPES)
def test_sandbox_refuses_private_attributes_before_rendering(text: str) -> None:
    with pytest.raises(SandboxError) as info:
        render(compile_template(text, Source("evil.md", 12)), {"product": {"name": "P"}}, Source("evil.md", 12))
    assert info.value.where == "evil.md:12"


@pytest.mark.parametrize("text", [
    "{% set n = '__cla' ~ 'ss__' %}{{ ''|attr(n) }}",  # built at run time: only the environment can refuse it
    "{{ 'x' * 1000000 }}",
    "{{ 2 ** 1000 }}",
])
def test_sandbox_refuses_at_run_time(text: str) -> None:
    with pytest.raises(SandboxError):
        render(compile_template(text, Source("evil.md", 3)), {}, Source("evil.md", 3))


@pytest.mark.parametrize(("text", "context", "expected"), [
    ("{{ j|join_and }}", {"j": ["EU", "US", "UK"]}, "EU, US and UK"),
    ("{{ j|join_and }}", {"j": ["EU"]}, "EU"),
    ("{{ j|join_and('or') }}", {"j": ["EU", "US"]}, "EU or US"),
    ("{{ d|date }}", {"d": "2026-12-01"}, "1 December 2026"),
])
def test_filters(text: str, context: dict, expected: str) -> None:
    assert render(compile_template(text, Source("f.md")), context, Source("f.md")) == expected


def test_filters_directly() -> None:
    assert join_and([]) == ""
    with pytest.raises(ClauseError, match="not an ISO date"):
        long_date("December")


def test_undefined_name_is_an_error_with_the_file_line() -> None:
    text = "Line one.\nLine two {{ product.nmae }}."
    with pytest.raises(ClauseError) as info:
        render(compile_template(text, Source("c.md", 11)), {"product": {"name": "P"}}, Source("c.md", 11))
    assert info.value.where == "c.md:12"
    assert "nmae" in info.value.message


@pytest.fixture
def chat(fixture_library, profile):
    return build(profile("chat"), fixture_library, ("md",))


def _doc(out, doc_id):
    return next(d for d in out.documents if d.id == doc_id)


def test_only_documents_and_sections_with_clauses_are_numbered(chat) -> None:
    assert [d.id for d in chat.documents] == ["terms-of-use", "acceptable-use-policy", "ai-disclaimer",
                                              "privacy-notice", "model-licence-notices"]
    terms = _doc(chat, "terms-of-use")
    assert [(s.number, s.id) for s in terms.sections] == [
        ("1", "about"), ("2", "the-service"), ("3", "acceptable-use"), ("4", "moderation")]
    # ordered by (order, id): child-sexual-abuse has order 10, acceptable-use the default 100
    assert [(c.number, c.id) for c in terms.sections[2].clauses] == [
        ("3.1", "content/child-sexual-abuse"), ("3.2", "core/acceptable-use")]


def test_ref_cites_number_title_and_document(chat) -> None:
    privacy = _doc(chat, "privacy-notice")
    ip = privacy.sections[0].clauses[0]
    assert "section 1.1 (“Agreement”) of the Terms of Use" in ip.body
    terms = _doc(chat, "terms-of-use")
    # a clause in several documents is cited where the citing document has it
    # ... and inside the same document without naming it again
    assert "In particular section 3.1 (“Child sexual abuse material”) applies." in terms.sections[2].clauses[1].body


def test_helpers_doc_licence_date_and_guards_in_use(chat) -> None:
    terms = _doc(chat, "terms-of-use")
    assert "take effect on 1 December 2026" in terms.sections[0].clauses[0].body
    assert "You must follow the Acceptable Use Policy" in terms.sections[2].clauses[1].body
    notices = _doc(chat, "model-licence-notices")
    assert "[Llama 3.1 Community License Agreement](https://www.llama.com/llama3_1/license/)" in \
        notices.sections[0].clauses[0].body
    moderation = terms.sections[3].clauses[0].body
    assert "- a keyword check on input text (block)" in moderation
    assert "- a pii check on output text (redact)" in moderation


def test_preamble_stamp_and_clause_ids(chat) -> None:
    terms = _doc(chat, "terms-of-use")
    assert terms.preamble.startswith("These Terms of Use are an agreement between you and Acme Assist Ltd")
    assert terms.stamp.effective_date == "2026-12-01"
    assert terms.stamp.profile_sha256 == chat.profile_sha256
    assert terms.clause_ids[:2] == ("core/agreement", "ai/interaction-disclosure")


def test_ref_to_a_clause_that_is_not_included_names_the_file_and_line(clause_dir, profile) -> None:
    folder = clause_dir({"t/a": {"body": "First line.\nSee {{ ref('t/b') }}."},
                         "t/b": {"applies_when": "false"}})
    with pytest.raises(ClauseError, match="ref\\('t/b'\\): that clause is not included") as info:
        build(profile("us-minimal"), load_library(folder, include_builtin=False), ("md",))
    lines = (folder / "t/a.md").read_text().splitlines()
    line = lines.index("See {{ ref('t/b') }}.") + 1
    assert info.value.where == f"{folder / 't/a.md'}:{line}"


def test_ref_to_a_clause_that_does_not_exist_says_so(clause_dir, profile) -> None:
    """A renamed clause: not 'wrap it in selected(...)', which would hide the broken reference."""
    folder = clause_dir({"t/a": {"body": "See {{ ref('t/bee') }}."}, "t/be": {}})
    with pytest.raises(ClauseError, match="ref\\('t/bee'\\): there is no clause with that id; did you mean 't/be'"):
        build(profile("us-minimal"), load_library(folder, include_builtin=False), ("md",))


def test_sandbox_escape_in_a_clause_body_fails_the_render(profile) -> None:
    from tests.conftest import BROKEN

    library = load_library(BROKEN / "sandbox-escape", include_builtin=False)
    with pytest.raises(SandboxError) as info:
        build(profile("us-minimal"), library, ("md",))
    assert info.value.where.endswith("sandbox-escape/clause.md:12")


def test_markdown_layout(chat) -> None:
    text = to_markdown(_doc(chat, "ai-disclaimer"))
    lines = text.splitlines()
    assert lines[0] == "# AI Disclaimer"
    assert lines[2] == "Acme Assist — Acme Assist Ltd"
    assert lines[4].startswith("> **Template, not legal advice.** This document was generated by clauseguard")
    assert "*Version 1.0.0 · Effective 1 December 2026 · Generated by clauseguard" in text
    assert "## 2 Not professional advice\n\n### 2.1 Not medical advice\n\nNothing Acme Assist says" in text
    assert "*Sources: Operator policy*" in text
    assert text.endswith("\n") and not text.endswith("\n\n")


@pytest.mark.parametrize("expression", ["jurisdictions.__class__", "product['__dict__']", "x|attr('__init__')"])
def test_a_private_name_at_the_root_of_an_expression_is_refused(expression: str) -> None:
    from clauseguard.errors import SandboxError
    from clauseguard.generator.sandbox import Source, check_tree, parse_expression

    source = Source("clause.md", 4)
    with pytest.raises(SandboxError, match="not allowed"):
        check_tree(parse_expression(expression, source), source)


@pytest.mark.parametrize(("text", "line", "tag"), [
    ("One.\n{% if a %}\nTwo.\n{% for x in y %}{{ x }}{% endfor %}\nThree.\n", 2, "if"),
    ("{% if a %}{% endif %}\n{% set s = 1 %}\n{% for x in y %}\n{% if x %}x{% endif %}\n\nend\n", 3, "for"),
    ("{% if a %}{% set b = 2 %}{% endif %}\n{% set block %}\ntext\n", 2, "set"),
])
def test_an_unclosed_block_is_named_at_the_line_that_opens_it(text: str, line: int, tag: str) -> None:
    """Jinja stops at the end of the text; the lawyer needs the line of the `{% if %}` left open."""
    with pytest.raises(ClauseError) as info:
        compile_template(text, Source("clause.md", 10))
    assert info.value.where == f"clause.md:{10 + line - 1}"
    assert info.value.message.startswith(f"template syntax error: {{% {tag} %}} is never closed: add {{% end{tag} %}}")
