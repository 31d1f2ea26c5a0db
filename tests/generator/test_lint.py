"""``clauseguard lint``: every broken fixture gives its problem as file:line: message."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from clauseguard.generator.licences import known_licence_ids
from clauseguard.generator.lint import allowed_values, check_fact, example_profiles, lint
from clauseguard.generator.profile import Domain, Jurisdiction, Mode
from clauseguard.generator.selection import FactRef
from tests.conftest import BROKEN, LIBRARY, PROFILES

# (fixture folder, file, line, part of the message): one problem each
LINT_CASES = [
    ("bad-yaml", "clause.md", 3, "invalid YAML"),
    ("unknown-key", "clause.md", 5, "colour: unknown key"),
    ("bad-semver", "clause.md", 4, "semantic version"),
    ("duplicate-id", "b.md", 2, "id 'broken/duplicate-id' is already used by"),
    ("unknown-section", "clause.md", 6, "'terms-of-use' has no section 'nowhere'"),
    ("unknown-document", "clause.md", 5, "unknown document 'cookie-policy'"),
    ("unknown-field", "clause.md", 7, "applies_when: 'data.logs_ip' is not a profile field"),
    ("unknown-name", "clause.md", 11, "body: unknown name 'operater'"),
    ("sandbox-escape", "clause.md", 12, "access to '__globals__' is not allowed"),
    ("bad-guard-params", "clause.md", 10, "no shipped term list for ['S99']"),
    ("bad-guard-stage", "clause.md", 10, "image_mark guards take stage in ['output']"),
    ("empty-sources", "clause.md", 8, "sources:"),
    ("unknown-require", "clause.md", 7, "requires: no clause has id 'core/nothing-here'"),
    ("syntax-error", "clause.md", 13, "template syntax error"),
    ("no-front-matter", "clause.md", 1, "missing front matter"),
]


@pytest.mark.parametrize(("case", "file", "line", "message"), LINT_CASES, ids=[c[0] for c in LINT_CASES])
def test_each_broken_fixture_gives_its_problem(case: str, file: str, line: int, message: str) -> None:
    problems = lint(BROKEN / case, profiles=[], include_builtin=False)
    assert len(problems) == 1, problems
    problem = problems[0]
    assert (problem.file, problem.line) == (str(BROKEN / case / file), line)
    assert message in problem.message
    assert str(problem).startswith(f"{BROKEN / case / file}:{line}: ")


def test_fixture_library_is_clean_for_every_fixture_profile() -> None:
    profiles = [*sorted(p for p in PROFILES.glob("*.yaml") if p.name != "bad-key.yaml"), *example_profiles()]
    assert lint(LIBRARY, profiles=profiles, include_builtin=False) == []


def test_render_problems_name_the_profile(clause_dir) -> None:
    folder = clause_dir({"t/a": {"body": "See {{ ref('t/b') }}."}, "t/b": {"applies_when": "user_content.uploads"}})
    problems = lint(folder, profiles=[PROFILES / "us-minimal.yaml"], include_builtin=False)
    assert len(problems) == 1
    assert "ref('t/b')" in problems[0].message and "us-minimal.yaml" in problems[0].message


def test_an_invalid_profile_is_reported(tmp_path: Path) -> None:
    problems = lint(LIBRARY, profiles=[PROFILES / "bad-key.yaml"], include_builtin=False)
    assert [p.file for p in problems] == [str(PROFILES / "bad-key.yaml")]


@pytest.mark.parametrize(("ref", "error"), [
    (FactRef(("jurisdictions",)), None),
    (FactRef(("operator", "dmca_agent", "email")), None),
    (FactRef(("models",), "license"), None),
    (FactRef(("models",), "licence"), "items of models have no field 'licence'"),
    (FactRef(("jurisdictions",), "name"), "jurisdictions is not a list of groups of keys"),
    (FactRef(("product", "name", "first")), "product.name has no field 'first'"),
    (FactRef(("features", "faces")), "'features.faces' is not a profile field"),
])
def test_check_fact_walks_the_profile_model(ref: FactRef, error: str | None) -> None:
    result = check_fact(ref)
    assert (result is None) if error is None else (error in result)


def test_builtin_library_lints_clean() -> None:
    """Smoke test over the built-in clauses and the example profiles (written by other authors)."""
    assert [str(p) for p in lint()] == []


def test_unknown_conflicts_id_is_a_lint_problem_only(clause_dir) -> None:
    folder = clause_dir({"t/a": {"conflicts": ["t/gone"]}})
    from clauseguard.generator.library import load_library

    assert set(load_library(folder, include_builtin=False).clauses) == {"t/a"}
    problems = lint(folder, profiles=[], include_builtin=False)
    assert [p.message for p in problems] == ["conflicts: no clause has id 't/gone'"]


def test_requires_loops_are_lint_problems_naming_clauses_and_files(clause_dir) -> None:
    folder = clause_dir({
        "t/a": {"applies_when": "false", "requires": ["t/b"]},
        "t/b": {"applies_when": "false", "requires": ["t/a", "t/c"]},
        "t/c": {"applies_when": "false", "requires": ["t/b"]},
        "t/d": {"applies_when": "false", "requires": ["t/d"]},
    })
    problems = lint(folder, profiles=[], include_builtin=False)
    lines = (folder / "t/a.md").read_text().splitlines()
    assert [(p.file, p.line) for p in problems] == [
        (str(folder / "t/a.md"), lines.index("- t/b") + 1), (str(folder / "t/d.md"), lines.index("- t/b") + 1)]
    assert problems[0].message == (
        f"requires: a loop, each clause requiring the next: t/a ({folder / 't/a.md'}) -> t/b ({folder / 't/b.md'}) "
        "-> t/a (also in the loop: t/c); all of them are included whenever one applies: remove one of these requires")
    assert problems[1].message == "requires: t/d requires itself; remove it from its own requires"


def test_every_problem_of_one_header_is_listed_at_its_line(tmp_path: Path) -> None:
    """A header with three problems gave the first "(and 2 more)": a lawyer ran lint three times to see them."""
    folder = tmp_path / "mine" / "x"
    folder.mkdir(parents=True)
    (folder / "bad.md").write_text("---\nid: x/bad\ntitle: Bad\nversion: one\ndocuments: [terms-of-use]\n"
                                   "section: law\nsources: []\nlicense: CC-BY-4.0\n---\nBody.\n", encoding="utf-8")
    problems = lint(tmp_path / "mine", profiles=[], include_builtin=False)
    found = sorted((p.line, p.message.split(":")[0]) for p in problems)
    assert found == [(2, "rationale"), (4, "version"), (7, "sources")], problems


def test_a_curly_quoted_value_is_listed_beside_the_other_problems_of_its_header(tmp_path: Path) -> None:
    """A curly-quoted title was named only once the header's other problems were fixed: a second lint run."""
    folder = tmp_path / "mine" / "x"
    folder.mkdir(parents=True)
    (folder / "bad.md").write_text("---\nid: x/bad\ntitle: “Bad”\nversion: one\ndocuments: [terms-of-use]\n"
                                   "section: law\nsources: [GDPR Art. 13]\nrationale: r\nlicense: CC-BY-4.0\n---\n"
                                   "Body.\n", encoding="utf-8")
    problems = lint(tmp_path / "mine", profiles=[], include_builtin=False)
    assert sorted((p.line, p.message.split(":")[0]) for p in problems) == [(3, "title"), (4, "version")], problems
    assert "curly quote" in next(p.message for p in problems if p.line == 3)


# (where the comparison sits, the text, part of the message): a value the profile never
# holds made a clause or a text never appear, and lint passed (lawyer review, repro_literal.sh)
NEVER_HOLDS = [
    ("applies_when", "'DE' in jurisdictions",
     "'DE' is not a value of jurisdictions, so this `in` is false for every profile; jurisdictions takes only "
     "EU, US, UK, CA, AU, IN, BR, JP, OTHER; did you mean 'EU'?"),
    ("applies_when", "'eu' in jurisdictions", "did you mean 'EU'?"),
    ("applies_when", "'GB' in jurisdictions", "did you mean 'UK'?"),
    ("applies_when", "'images' in modalities.outputs",
     "modalities.outputs takes only text, image, audio, video, code; did you mean 'image'?"),
    ("applies_when", "'medicine' in domains", "did you mean 'medical'?"),
    ("applies_when", "'llama-3.1' in models|map(attribute='license')",
     "models[].license takes only apache-2.0, bigscience-openrail-m, creativeml-openrail-m, gemma, llama3.1, mit, "
     "openrail++, other; did you mean 'llama3.1'?"),
    ("applies_when", "'gemma' in models|map(attribute='license')|list and 'llama-3.1' not in "
                     "models|map(attribute='license')", "so this `not in` is true for every profile;"),
    ("applies_when", "'Image' != modalities.inputs", "so this `!=` is true for every profile;"),
    ("applies_when", "jurisdictions == 'EU'",
     "jurisdictions is a list, so this `==` is false for every profile: write 'EU' in jurisdictions"),
    ("sources", [{"text": "UK Consumer Rights Act 2015", "when": "'GB' in jurisdictions"}],
     "did you mean 'UK'?"),
    ("body", "Text.\n{% if 'eu' in jurisdictions %}EU text.{% endif %}", "did you mean 'EU'?"),
]


@pytest.mark.parametrize(("key", "value", "part"), NEVER_HOLDS, ids=[f"{c[0]}:{c[1]}"[:60] for c in NEVER_HOLDS])
def test_a_value_the_profile_never_holds_is_a_lint_problem(clause_dir, key: str, value: str, part: str) -> None:
    """The constants were not checked: ``'eu' in jurisdictions`` passed lint and the clause was never included."""
    folder = clause_dir({"t/a": {key: value}})
    [problem] = lint(folder, profiles=[], include_builtin=False)
    lines = (folder / "t/a.md").read_text(encoding="utf-8").splitlines()
    marker = {"applies_when": "applies_when:", "sources": "  when:", "body": "{% if"}[key]
    assert (problem.file, problem.line) == (str(folder / "t/a.md"),
                                            next(i for i, ln in enumerate(lines, 1) if ln.startswith(marker)))
    assert problem.message.startswith(("applies_when: ", "sources[0].when: ", "body: "))
    assert part in problem.message


@pytest.mark.parametrize("applies_when", [
    "'EU' in jurisdictions and 'OTHER' not in jurisdictions", "'image' in modalities.outputs",
    "'mental_health' in domains", "'other' in models|map(attribute='license')", "'api' in product.interfaces",
    "'Ireland' in product.governing_law", "product.name == 'Acme'", "audience.minimum_age < 18",
])
def test_values_the_profile_can_hold_and_free_text_are_clean(clause_dir, applies_when: str) -> None:
    assert lint(clause_dir({"t/a": {"applies_when": applies_when}}), profiles=[], include_builtin=False) == []


def test_the_allowed_values_are_read_from_the_profile_model() -> None:
    assert allowed_values(FactRef(("jurisdictions",))) == typing.get_args(Jurisdiction)
    assert allowed_values(FactRef(("modalities", "outputs"))) == typing.get_args(Mode)
    assert allowed_values(FactRef(("domains",))) == typing.get_args(Domain)
    assert allowed_values(FactRef(("models",), "license")) == (*sorted(known_licence_ids()), "other")
    assert allowed_values(FactRef(("product", "name"))) is None
    assert allowed_values(FactRef(("nothing",))) is None


def test_the_guide_lists_the_values_lint_allows() -> None:
    """docs/lawyers/guide.md names the values each list of the profile takes: they must be the ones lint checks."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "lawyers" / "guide.md").read_text(encoding="utf-8")
    refs = {"`jurisdictions`": [FactRef(("jurisdictions",))],
            "`modalities.inputs`, `modalities.outputs`": [FactRef(("modalities", "inputs")),
                                                          FactRef(("modalities", "outputs"))],
            "`domains`": [FactRef(("domains",))], "`product.interfaces`": [FactRef(("product", "interfaces"))],
            "`models\\|map(attribute='license')`": [FactRef(("models",), "license")]}
    for key, facts in refs.items():
        row = next(line for line in guide.splitlines() if line.startswith(f"| {key} |"))
        listed = tuple(re.findall(r"`([^`]+)`", row.split(" | ")[1].split("(")[0]))
        assert all(listed == allowed_values(fact) for fact in facts), (key, listed)
