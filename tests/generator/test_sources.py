"""Conditional sources: a source with ``when`` is printed only for profiles where it holds.

report.json, the documents' "Sources:" lines and ``explain`` show the applicable ones; the catalogue
shows them all with their conditions; lint checks each ``when`` and that some source always applies.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clauseguard.errors import ClauseError
from clauseguard.generator.build import render_outputs
from clauseguard.generator.catalogue import catalogue_markdown
from clauseguard.generator.explain import explain
from clauseguard.generator.library import load_library
from clauseguard.generator.lint import lint
from clauseguard.generator.selection import select
from tests.conftest import PROFILES

EU = {"text": "EU law", "when": "'EU' in jurisdictions"}
US = {"text": "US law", "when": "'US' in jurisdictions"}
UPLOADS = {"text": "Hosting law", "when": "user_content.uploads"}
US_ONLY = {"jurisdictions": ["US"], "user_content": {"uploads": False}, "product": {"name": "P"}}
EU_US = {**US_ONLY, "jurisdictions": ["EU", "US"]}
UK_UPLOADS = {**US_ONLY, "jurisdictions": ["UK"], "user_content": {"uploads": True}}

# (sources, profile context, the source texts shown)
SHOWN = [
    (["General"], US_ONLY, ("General",)),
    (["General", EU], US_ONLY, ("General",)),
    (["General", EU], EU_US, ("General", "EU law")),
    ([EU, "General", US], US_ONLY, ("General", "US law")),
    ([EU, "General", US], EU_US, ("EU law", "General", "US law")),
    ([EU, US], UK_UPLOADS, ()),
    (["General", UPLOADS], UK_UPLOADS, ("General", "Hosting law")),
    ([{"text": "Always, spelled as a mapping"}], US_ONLY, ("Always, spelled as a mapping",)),
]


@pytest.mark.parametrize(("sources", "context", "shown"), SHOWN)
def test_only_sources_whose_when_holds_are_kept(clause_dir, sources, context, shown) -> None:
    library = load_library(clause_dir({"t/a": {"sources": sources}}), include_builtin=False)
    assert select(library, context).decisions["t/a"].sources == shown


def test_required_clause_keeps_its_applicable_sources(clause_dir) -> None:
    folder = clause_dir({"t/a": {"requires": ["t/b"]},
                         "t/b": {"applies_when": "false", "sources": ["General", EU]}})
    decision = select(load_library(folder, include_builtin=False), US_ONLY).decisions["t/b"]
    assert (decision.reason, decision.sources) == ("required", ("General",))


@pytest.fixture
def eu_us_clause(clause_dir) -> Path:
    return clause_dir({"t/a": {"sources": ["Contract law (general principles)", EU, US]}})


# (profile fixture, cited in the documents and report, not cited)
PROFILE_SOURCES = [
    ("us-minimal", ["Contract law (general principles)", "US law"], "EU law"),
    ("image-space", ["Contract law (general principles)", "EU law", "US law"], None),
]


@pytest.mark.parametrize(("name", "cited", "absent"), PROFILE_SOURCES)
def test_report_documents_and_explain_show_the_applicable_sources(eu_us_clause, profile, name, cited,
                                                                  absent) -> None:
    files = render_outputs(profile(name), clauses_dir=eu_us_clause, include_builtin=False, formats=("md", "html"))
    report = json.loads(files["report.json"])
    assert next(c for c in report["clauses"] if c["id"] == "t/a")["sources"] == cited
    line = f"Sources: {'; '.join(cited)}"
    assert line in files["documents/terms-of-use.md"].decode()
    assert line in files["documents/terms-of-use.html"].decode()
    explained = explain(PROFILES / f"{name}.yaml", "t/a", clauses_dir=eu_us_clause, include_builtin=False)
    assert explained.endswith(f"     {line}\n")
    if absent:
        assert all(absent not in data.decode() for data in files.values())
        assert absent not in explained


def test_catalogue_lists_every_source_with_its_condition(eu_us_clause) -> None:
    text = catalogue_markdown(load_library(eu_us_clause, include_builtin=False))
    assert ("- **sources**: Contract law (general principles); EU law (when `'EU' in jurisdictions`); "
            "US law (when `'US' in jurisdictions`)") in text


def test_lock_still_hashes_the_clause_file(eu_us_clause, profile) -> None:
    import hashlib

    import yaml

    files = render_outputs(profile("us-minimal"), clauses_dir=eu_us_clause, include_builtin=False, formats=("md",))
    lock = yaml.safe_load(files["clauseguard.lock"])
    entry = next(c for c in lock["clauses"] if c["id"] == "t/a")
    assert entry["sha256"] == hashlib.sha256((eu_us_clause / "t" / "a.md").read_bytes()).hexdigest()


def _line_of(path: Path, needle: str, occurrence: int = 0) -> int:
    lines = [n for n, line in enumerate(path.read_text().splitlines(), start=1) if needle in line]
    return lines[occurrence]


# (sources, part of the problem message); the problem is on the line of the bad `when`
BAD_WHENS = [
    (["General", {"text": "X", "when": "'EU' in jurisdictoins"}],
     "sources[1].when: unknown name 'jurisdictoins' (not a profile key or a helper)"),
    (["General", {"text": "X", "when": "user_content.upload"}],
     "sources[1].when: 'user_content.upload' is not a profile field"),
    (["General", {"text": "X", "when": "'EU' in"}], "sources[1].when: syntax error"),
    ([{"text": "X", "when": "'EU' in jurisdictions.__class__"}, "General"],
     "access to '__class__' is not allowed"),
]


@pytest.mark.parametrize(("sources", "message"), BAD_WHENS)
def test_lint_reports_a_bad_when_with_file_and_line(clause_dir, sources, message) -> None:
    folder = clause_dir({"t/a": {"sources": sources}})
    problems = lint(folder, profiles=[PROFILES / "us-minimal.yaml"], include_builtin=False)
    path = folder / "t" / "a.md"
    assert [(p.file, p.line) for p in problems] == [(str(path), _line_of(path, "when:"))]
    assert message in problems[0].message


# (sources, profile, the profile named in the problem)
NO_SOURCE = [
    ([EU], "us-minimal.yaml", "us-minimal.yaml"),
    ([EU, US], "us-minimal.yaml", "us-minimal.yaml with jurisdictions [UK]"),
    ([EU, US, {"text": "UK law", "when": "'UK' in jurisdictions"}], "image-space.yaml",
     "image-space.yaml with jurisdictions [CA]"),
]


@pytest.mark.parametrize(("sources", "profile_name", "named"), NO_SOURCE)
def test_lint_reports_a_clause_with_no_applicable_source(clause_dir, sources, profile_name, named) -> None:
    folder = clause_dir({"t/a": {"sources": sources}})
    problems = lint(folder, profiles=[PROFILES / profile_name], include_builtin=False)
    path = folder / "t" / "a.md"
    assert [(p.file, p.line) for p in problems] == [(str(path), _line_of(path, "sources:"))]
    assert problems[0].message == f"sources: no source applies for profile {PROFILES / named}"


def test_lint_is_clean_when_a_general_source_is_unconditional(clause_dir) -> None:
    folder = clause_dir({"t/a": {"sources": [EU, "Contract law (general principles)", US]}})
    assert lint(folder, profiles=[PROFILES / "us-minimal.yaml", PROFILES / "image-space.yaml"],
                include_builtin=False) == []


def test_excluded_clause_needs_no_source(clause_dir) -> None:
    folder = clause_dir({"t/a": {"applies_when": "'EU' in jurisdictions", "sources": [EU]}})
    assert lint(folder, profiles=[PROFILES / "us-minimal.yaml"], include_builtin=False) == []


# (sources, line needle, part of the message): shapes refused when the file is loaded
BAD_SHAPES = [
    ([{"text": "X", "colour": "red"}], "colour:", "sources[0].colour: unknown key"),
    ([{"when": "true"}], "when:", "sources[0].text: required key is missing"),
    (["General", 3], "- 3", "sources[1]: a source is a string or a mapping"),
    (["General", {"text": "  "}], "sources:", "sources: a source is empty"),
]


@pytest.mark.parametrize(("sources", "needle", "message"), BAD_SHAPES)
def test_bad_source_shapes_name_file_and_line(clause_dir, sources, needle, message) -> None:
    folder = clause_dir({"t/a": {"sources": sources}})
    with pytest.raises(ClauseError) as info:
        load_library(folder, include_builtin=False)
    path = folder / "t" / "a.md"
    assert info.value.where == f"{path}:{_line_of(path, needle)}"
    assert message in info.value.message


def test_a_when_that_fails_at_run_time_names_the_source(clause_dir) -> None:
    folder = clause_dir({"t/a": {"sources": ["General", {"text": "X", "when": "jurisdictions > 3"}]}})
    with pytest.raises(ClauseError) as info:
        select(load_library(folder, include_builtin=False), US_ONLY)
    path = folder / "t" / "a.md"
    assert info.value.where == f"{path}:{_line_of(path, 'when:')}"
    assert info.value.message.startswith("sources[1].when: TypeError")


@pytest.mark.parametrize("example", ["chat-assistant", "homework-helper", "medical-api", "image-space"])
def test_a_clause_citing_the_gdpr_to_eu_users_cites_uk_law_to_uk_users(example: str) -> None:
    """Eight privacy clauses cited GDPR articles for EU users and only the OECD Guidelines to a UK-only
    product, though the UK GDPR has the same articles."""
    from clauseguard.generator.profile import load_profile

    root = Path(__file__).resolve().parents[2]
    profile = load_profile(root / "examples" / example / "profile.yaml")
    profile = profile.model_copy(update={"jurisdictions": ["UK"]})
    report = json.loads(render_outputs(profile, formats=("md",))["report.json"])
    library = load_library()
    uncited = []
    for entry in report["clauses"]:
        eu_gdpr = [s for s in library.clauses[entry["id"]].meta.sources
                   if not isinstance(s, str) and s.when == "'EU' in jurisdictions" and "GDPR" in s.text]
        if eu_gdpr and not any("UK GDPR" in s or "Data Protection Act 2018" in s for s in entry["sources"]):
            uncited.append(entry["id"])
    assert uncited == []


def test_generating_refuses_an_included_clause_whose_every_source_is_conditioned_away(clause_dir,
                                                                                     profile) -> None:
    """Such a clause was printed with no citation (report.json ``sources: []``), and nothing said so;
    only lint found it."""
    from clauseguard.errors import SelectionError

    folder = clause_dir({"t/a": {"sources": [EU]}, "t/b": {"sources": [EU, US]}})
    library = load_library(folder, include_builtin=False)
    with pytest.raises(SelectionError) as info:
        render_outputs(profile("us-minimal"), library=library, formats=("md",))
    path = folder / "t" / "a.md"
    assert info.value.where == f"{path}:{_line_of(path, 'sources:')}"
    assert "sources: no source applies for this profile" in info.value.message and "t/a" in info.value.message
    assert render_outputs(profile("image-space"), library=library, formats=("md",))  # EU: both cite EU law
