"""An override folder replaced built-in clauses and templates without a word (lawyer review, repro_copy_id.sh):
lint notes each override with the built-in version, and names the ones that are likely mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from clauseguard.generator.library import load_library
from clauseguard.generator.lint import lint
from clauseguard.generator.overrides import semver_key
from tests.conftest import clause_text

ROOT = Path(__file__).resolve().parents[2]
GOVERNING_LAW = ROOT / "clauses" / "core" / "governing-law.md"
AI_DISCLAIMER = ROOT / "templates" / "ai-disclaimer.md"


def _builtin_version(kind: str, item_id: str) -> str:
    library = load_library()
    return (library.clauses if kind == "clause" else library.templates)[item_id].meta.version


def _copy(source: Path, folder: Path, name: str, version: str | None = None, text: str = "",
          item_id: str | None = None) -> Path:
    """``source`` saved as ``folder/name``, with another version, id, or text added to its body."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    lines = [f"version: {version}\n" if version and ln.startswith("version:") else
             f"id: {item_id}\n" if item_id and ln.startswith("id:") else ln for ln in lines]
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines) + text, encoding="utf-8")
    return path


def _lines(path: Path, key: str) -> int:
    return next(i for i, ln in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if ln.startswith(key))


def test_a_copy_that_kept_the_id_of_its_original_is_a_problem(tmp_path: Path) -> None:
    """our/core/arbitration.md, copied from governing law with its id left in, replaced governing law."""
    path = _copy(GOVERNING_LAW, tmp_path, "core/arbitration.md", version="1.0.0",
                 text="\nDisputes go to arbitration.\n")
    problems = lint(tmp_path, profiles=[])
    assert [(p.file, p.line) for p in problems] == [(str(path), _lines(path, "id:"))]
    assert problems[0].message == (
        "id: core/governing-law replaces the built-in clause of that id, but this file is core/arbitration.md: a "
        "copy of another clause keeps its id; give this clause an id of its own, or save it as "
        "core/governing-law.md to replace the built-in one")


def test_an_override_is_a_note_with_the_builtin_version(tmp_path: Path) -> None:
    builtin = _builtin_version("clause", "core/governing-law")
    major = int(builtin.split(".")[0]) + 1
    path = _copy(GOVERNING_LAW, tmp_path, "core/governing-law.md", version=f"{major}.0.0", text="\nMore.\n")
    notes: list = []
    assert lint(tmp_path, profiles=[], notes=notes) == []
    assert [str(n) for n in notes] == [
        f"{path}:{_lines(path, 'id:')}: note: replaces the built-in clause core/governing-law (built-in version "
        f"{builtin}, this file's {major}.0.0)"]


def test_an_identical_copy_is_only_a_note(tmp_path: Path) -> None:
    _copy(GOVERNING_LAW, tmp_path, "core/governing-law.md")
    notes: list = []
    assert lint(tmp_path, profiles=[], notes=notes) == []
    assert notes[0].message.endswith("; identical to it)")


@pytest.mark.parametrize(("version", "says"), [
    (None, "is the built-in clause's version, but the text differs: raise it above"),
    ("0.9.0", "is lower than the built-in clause's"),
    ("1.0.0-draft", "is lower than the built-in clause's"),
])
def test_a_changed_override_whose_version_is_not_higher_is_a_problem(tmp_path: Path, version: str | None,
                                                                      says: str) -> None:
    """A copy made before a fix of the built-in clause kept hiding the fix, with nothing to show it."""
    path = _copy(GOVERNING_LAW, tmp_path, "core/governing-law.md", version=version, text="\nOur own words.\n")
    problems = lint(tmp_path, profiles=[])
    assert [(p.file, p.line) for p in problems] == [(str(path), _lines(path, "version:"))]
    assert problems[0].message.startswith(f"version: {version or _builtin_version('clause', 'core/governing-law')} ")
    assert says in problems[0].message


def test_a_template_whose_id_no_clause_names_is_a_problem(tmp_path: Path) -> None:
    """templates/ai-disclaimer.md with id: ai-disclaimr became a seventh template that nothing used."""
    path = _copy(AI_DISCLAIMER, tmp_path, "templates/ai-disclaimer.md", item_id="ai-disclaimr")
    problems = lint(tmp_path, profiles=[])
    assert {(p.file, p.line) for p in problems} == {(str(path), _lines(path, "id:"))}
    assert sorted(p.message for p in problems) == [
        "id: no clause names the document 'ai-disclaimr' in its documents, so it is never written; did you mean "
        "'ai-disclaimer'?",
        "id: this file is templates/ai-disclaimer.md, named after the template ai-disclaimer, but its id is "
        "ai-disclaimr: it adds a new template and ai-disclaimer stays as it is; write id: ai-disclaimer to replace "
        "it, or rename the file"]


def test_a_template_override_with_a_raised_version_is_a_note(tmp_path: Path) -> None:
    builtin = _builtin_version("template", "ai-disclaimer")
    _copy(AI_DISCLAIMER, tmp_path, "templates/ai-disclaimer.md", version="9.0.0", text="\nOur preamble.\n")
    notes: list = []
    assert lint(tmp_path, profiles=[], notes=notes) == []
    assert [n.message for n in notes] == [
        f"note: replaces the built-in template ai-disclaimer (built-in version {builtin}, this file's 9.0.0)"]


def test_a_new_template_that_a_clause_names_is_clean(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "cookie-policy.md").write_text(
        "---\nid: cookie-policy\ntitle: Cookie Policy\nversion: 1.0.0\nsections:\n  - {id: cookies, title: Cookies}\n"
        "license: CC-BY-4.0\n---\n", encoding="utf-8")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "cookies.md").write_text(
        clause_text("x/cookies", documents=["cookie-policy"], section="cookies"), encoding="utf-8")
    notes: list = []
    assert lint(tmp_path, profiles=[], notes=notes) == [] and notes == []


def test_a_new_clause_saved_under_a_builtin_clauses_path_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "governing-law.md").write_text(clause_text("core/governing-law-2"), encoding="utf-8")
    [problem] = lint(tmp_path, profiles=[])
    assert problem.message.startswith("id: this file is core/governing-law.md, named after the clause "
                                      "core/governing-law, but its id is core/governing-law-2: it adds a new clause")


def test_a_new_clause_in_a_folder_of_its_own_is_clean(clause_dir) -> None:
    notes: list = []
    assert lint(clause_dir({"ours/arbitration": {}}), profiles=[], notes=notes) == [] and notes == []


@pytest.mark.parametrize("ordered", [
    ["0.9.9", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",
     "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0"],
])
def test_semver_key_orders_as_semantic_versioning_does(ordered: list[str]) -> None:
    assert sorted(reversed(ordered), key=semver_key) == ordered
    assert semver_key("1.0.0+build.5") == semver_key("1.0.0")
