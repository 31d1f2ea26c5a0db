"""Loading clause and template files: schema errors name file and line; overrides layer over built-ins."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from clauseguard.errors import ClauseError
from clauseguard.generator.library import load_library, parse_clause, scan_library
from tests.conftest import BROKEN, LIBRARY, clause_text

# (fixture folder, file, line, part of the message)
LOAD_ERRORS = [
    ("bad-yaml", "clause.md", 3, "invalid YAML: mapping values are not allowed"),
    ("unknown-key", "clause.md", 5, "colour: unknown key"),
    ("bad-semver", "clause.md", 4, "semantic version"),
    ("duplicate-id", "b.md", 2, "is already used by"),
    ("unknown-section", "clause.md", 6, "has no section 'nowhere'"),
    ("unknown-document", "clause.md", 5, "unknown document 'cookie-policy'"),
    ("bad-guard-params", "clause.md", 10, "guards[0] (keyword): params.categories: no shipped term list for ['S99']"),
    ("bad-guard-stage", "clause.md", 10, "image_mark guards take stage in ['output']"),
    ("empty-sources", "clause.md", 8, "sources:"),
    ("unknown-require", "clause.md", 7, "requires: no clause has id 'core/nothing-here'"),
    ("no-front-matter", "clause.md", 1, "missing front matter"),
    ("bad-template", "templates/terms-of-use.md", 5, "sections: the list is empty: give at least one"),
]


@pytest.mark.parametrize(("case", "file", "line", "message"), LOAD_ERRORS, ids=[c[0] for c in LOAD_ERRORS])
def test_broken_fixture_names_file_and_line(case: str, file: str, line: int, message: str) -> None:
    with pytest.raises(ClauseError) as info:
        load_library(BROKEN / case, include_builtin=False)
    assert info.value.where == f"{BROKEN / case / file}:{line}"
    assert message in info.value.message


@pytest.mark.parametrize(("guard", "message"), [
    ({"type": "image_mark", "stage": "output", "modality": "image", "on_fail": "label",
      "params": {"digital_source_typ": "algorithmicMedia"}},
     "guards[0] (image_mark): params.digital_source_typ: unknown parameter; image_mark guards take: "
     "digital_source_type, visible_label; did you mean 'digital_source_type'?"),
    ({"type": "rate_limit", "params": {"bogus": 1}}, "params.bogus: unknown parameter; rate_limit guards take: "),
])
def test_a_misspelt_guard_parameter_is_named_as_one_at_its_line(clause_dir, guard: dict, message: str) -> None:
    folder = clause_dir({"t/a": {"guards": [guard]}})
    with pytest.raises(ClauseError) as info:
        load_library(folder, include_builtin=False)
    assert message in info.value.message
    lines = (folder / "t/a.md").read_text().splitlines()
    bad = next(i for i, line in enumerate(lines) if line.strip().startswith(next(iter(guard["params"]))))
    assert info.value.where == f"{folder / 't/a.md'}:{bad + 1}"


@pytest.mark.parametrize("title", ['title: "Governing law', "title: 'Governing law"])
def test_an_unclosed_quote_is_named_at_the_line_that_opens_it(tmp_path: Path, title: str) -> None:
    """YAML reads a quoted value on over the next lines and stops far below: say where the quote opened."""
    text = clause_text("t/a", rationale="It's needed.").replace("title: A", title)
    (tmp_path / "a.md").write_text(text, encoding="utf-8")
    with pytest.raises(ClauseError) as info:
        load_library(tmp_path, include_builtin=False)
    assert "invalid YAML" in info.value.message
    assert f"(line {text.splitlines().index(title) + 1} opens a quote that it does not close" in info.value.message


@pytest.mark.parametrize(("line", "whole"), [
    ("applies_when: 'CA' in jurisdictions", "applies_when: \"'CA' in jurisdictions\""),
    ('title: "Terms" and more', "title: '\"Terms\" and more'"),
])
def test_a_value_that_only_starts_with_a_quote_gets_the_whole_value_quoted(tmp_path: Path, line: str,
                                                                          whole: str) -> None:
    """YAML takes 'CA' as the whole value and stops at the rest: say how to quote it."""
    text = clause_text("t/a").replace("title: A", "title: A\n" + line if line.startswith("applies") else line)
    (tmp_path / "a.md").write_text(text, encoding="utf-8")
    with pytest.raises(ClauseError) as info:
        load_library(tmp_path, include_builtin=False)
    assert info.value.where == f"{tmp_path / 'a.md'}:{text.splitlines().index(line) + 1}"
    assert info.value.message.endswith(f"(a value that starts with a quote must be quoted whole: {whole})")


def test_a_tab_in_the_card_is_named(tmp_path: Path) -> None:
    text = clause_text("t/a").replace("- Test source", "\t- Test source")
    (tmp_path / "a.md").write_text(text, encoding="utf-8")
    with pytest.raises(ClauseError) as info:
        load_library(tmp_path, include_builtin=False)
    assert info.value.where == f"{tmp_path / 'a.md'}:{text.splitlines().index(chr(9) + '- Test source') + 1}"
    assert info.value.message.endswith("(the line is indented with a tab: YAML indents with spaces only)")


def test_scan_collects_every_problem_instead_of_stopping(tmp_path: Path) -> None:
    for case in ("bad-semver", "unknown-key"):
        (tmp_path / f"{case}.md").write_bytes((BROKEN / case / "clause.md").read_bytes())
    _, problems = scan_library(tmp_path, include_builtin=False)
    assert [(Path(p.file).name, p.line) for p in problems] == [("bad-semver.md", 4), ("unknown-key.md", 5)]


def test_fixture_library_loads_without_readme_and_keeps_content_hashes() -> None:
    library = load_library(LIBRARY, include_builtin=False)
    assert "core/agreement" in library.clauses
    assert all(not c.file.lower().endswith("readme.md") for c in library.clauses.values())
    clause = library.clauses["core/agreement"]
    assert clause.sha256 == hashlib.sha256(Path(clause.file).read_bytes()).hexdigest()
    assert clause.layer == "override"
    assert clause.body.startswith("These terms are between you")
    assert clause.body_line == 12


@pytest.mark.parametrize(
    ("meta", "section_for"),
    [({"section": "about"}, {"terms-of-use": "about"}),
     ({"documents": ["terms-of-use", "ai-disclaimer"], "section": {"terms-of-use": "about", "ai-disclaimer": "nature"}},
      {"terms-of-use": "about", "ai-disclaimer": "nature"})],
)
def test_section_may_be_one_id_or_a_mapping(meta: dict, section_for: dict) -> None:
    clause = parse_clause(clause_text("x/y", **meta).encode(), "x.md")
    assert {d: clause.meta.section_for(d) for d in clause.meta.documents} == section_for
    assert clause.meta.order == 100 and clause.meta.applies_when is None


def test_section_mapping_must_cover_every_document(clause_dir) -> None:
    folder = clause_dir({"x/y": {"documents": ["terms-of-use", "ai-disclaimer"], "section": {"terms-of-use": "about"}}})
    with pytest.raises(ClauseError, match="no section given for 'ai-disclaimer'"):
        load_library(folder, include_builtin=False)


def test_override_replaces_same_id_and_adds_new_ids(clause_dir) -> None:
    builtin = load_library()
    assert builtin.clauses, "the built-in clause library is empty"
    replaced = sorted(builtin.clauses)[0]
    folder = clause_dir({replaced: {"title": "Replaced by the override"}, "custom/new-one": {}})
    library = load_library(folder)
    assert library.clauses[replaced].meta.title == "Replaced by the override"
    assert library.clauses[replaced].layer == "override"
    assert "custom/new-one" in library.clauses
    assert len(library.clauses) == len(builtin.clauses) + 1


def test_override_folder_may_replace_a_template(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "ai-disclaimer.md").write_text(
        "---\nid: ai-disclaimer\ntitle: About our AI\nversion: 2.0.0\nsections:\n  - {id: nature, title: Nature}\n"
        "license: CC-BY-4.0\n---\nOur preamble.\n", encoding="utf-8")
    (tmp_path / "a.md").write_text(clause_text("a/b", documents=["ai-disclaimer"], section="nature"), encoding="utf-8")
    library = load_library(tmp_path, include_builtin=False)
    assert library.templates["ai-disclaimer"].meta.title == "About our AI"
    assert library.templates["terms-of-use"].layer == "built-in"
    assert set(library.clauses) == {"a/b"}


def test_missing_override_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(ClauseError, match="not found"):
        load_library(tmp_path / "nope")


def test_builtin_library_loads_and_every_clause_has_sources() -> None:
    """Smoke test over the built-in library (written by the clause authors)."""
    library = load_library()
    assert len(library.templates) == 6
    assert library.clauses, "no built-in clauses found"
    assert all(c.meta.sources and c.meta.rationale for c in library.clauses.values())


def test_no_builtin_clause_repeats_the_title_of_its_section() -> None:
    """A section that holds one clause read "7 How we moderate content / 7.1 How we moderate content"."""
    library = load_library()
    repeats = []
    for clause in library.clauses.values():
        for document in clause.meta.documents:
            titles = {s.id: s.title for s in library.templates[document].meta.sections}
            if titles.get(clause.meta.section_for(document), "").casefold() == clause.meta.title.casefold():
                repeats.append(f"{clause.id} in {document}")
    assert repeats == []


@pytest.mark.parametrize(("guard", "expected"), [
    ({"type": "image_mark"}, ("output", "image", "label")),
    ({"type": "ai_disclosure"}, ("output", "text", "label")),
    ({"type": "keyword"}, ("input", "text", "block")),  # the general defaults, where a type allows more
    ({"type": "image_nsfw", "modality": "image", "stage": "output"}, ("output", "image", "block")),
])
def test_a_clause_guard_left_out_keys_are_its_types_only_choice_as_in_guards_yaml(
        clause_dir, guard: dict, expected: tuple[str, str, str]) -> None:
    # A lawyer writing `- type: image_mark` got "image_mark guards take stage in ['output']": the clause
    # defaults were input, text and block whatever the type, unlike guards.yaml's.
    library = load_library(clause_dir({"t/a": {"guards": [guard]}}), include_builtin=False)
    entry = library.clauses["t/a"].meta.guards[0]
    assert (entry.stage, entry.modality, entry.on_fail) == expected
    spec = entry.spec()
    assert (spec.stage.value, spec.modality.value, spec.on_fail.value) == expected
