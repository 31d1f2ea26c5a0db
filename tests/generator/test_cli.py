"""The authoring commands through the real entry point: exit codes, output, nothing written on error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clauseguard.cli import main
from tests.conftest import BROKEN, LIBRARY, PROFILES

FIXTURE = ["--clauses", str(LIBRARY), "--no-builtin"]


def test_generate_writes_every_output(tmp_path: Path, capsys) -> None:
    out = tmp_path / "legal"
    assert main(["generate", str(PROFILES / "image-space.yaml"), "-o", str(out), "--format", "md", *FIXTURE]) == 0
    assert (out / "guards.yaml").is_file() and (out / "report.json").is_file() and (out / "clauseguard.lock").is_file()
    assert (out / "documents" / "terms-of-use.md").is_file()
    captured = capsys.readouterr()
    assert f"to {out}" in captured.out
    assert "warning: operator.dmca_agent.phone is not set" in captured.err  # warnings go to stderr


@pytest.mark.parametrize(("args", "message"), [
    (["generate", str(PROFILES / "bad-key.yaml")], "colour: unknown key"),
    (["generate", str(PROFILES / "missing.yaml")], "file not found"),
    (["generate", str(PROFILES / "us-minimal.yaml"), "--format", "md,pdf"], "unknown format"),
    (["generate", str(PROFILES / "us-minimal.yaml"), "--clauses", str(BROKEN / "bad-semver")], "semantic version"),
])
def test_generate_errors_exit_2_and_write_nothing(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    assert main([*args, "-o", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_generate_refuses_a_non_empty_folder_unless_forced(tmp_path: Path, capsys) -> None:
    (tmp_path / "mine.txt").write_text("keep")
    args = ["generate", str(PROFILES / "us-minimal.yaml"), "-o", str(tmp_path), "--format", "md", *FIXTURE]
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]
    assert main([*args, "--force"]) == 2  # --force replaces only generated files
    assert "also holds 'mine.txt'" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]
    (tmp_path / "mine.txt").unlink()
    assert main(args) == 0
    (tmp_path / "report.json").write_text("stale")
    assert main(args) == 2 and main([*args, "--force"]) == 0
    assert (tmp_path / "report.json").read_text() != "stale"


def _regenerate(tmp_path: Path, capsys, profile: str) -> str:
    path = tmp_path / "profile.yaml"
    path.write_text(profile, encoding="utf-8")
    args = ["generate", str(path), "-o", str(tmp_path / "legal"), "--format", "md", "--force", *FIXTURE]
    assert main(args) == 0
    return capsys.readouterr().err


def test_regenerating_changed_documents_under_the_same_effective_date_is_a_warning(tmp_path: Path, capsys) -> None:
    """A regenerated Terms of Use kept "Effective <date>" though its text changed, silently: users would be
    asked to accept a new text that claims to date from the old one's day."""
    minimal = (PROFILES / "us-minimal.yaml").read_text(encoding="utf-8")
    first = _regenerate(tmp_path, capsys, minimal)
    assert "effective_date is still" not in first  # an empty folder: nothing to compare with
    assert "effective_date is still" not in _regenerate(tmp_path, capsys, minimal)  # the same text again
    changed = minimal.replace("jurisdictions: [US]", "jurisdictions: [US, EU]")
    warned = [w for w in _regenerate(tmp_path, capsys, changed).splitlines() if "effective_date is still" in w]
    assert len(warned) == 1
    assert warned[0].startswith("warning: terms-of-use, ") and "effective_date is still 2026-01-01" in warned[0]
    assert "accept the changed documents again" in warned[0] and "move product.effective_date" in warned[0]
    moved = changed.replace("effective_date: 2026-01-01", "effective_date: 2026-03-01")
    changed_again = moved.replace("[US, EU]", "[US, EU, UK]")
    assert "effective_date is still" not in _regenerate(tmp_path, capsys, changed_again)  # the date moved


def test_lint_prints_file_line_message_and_exits_2(capsys) -> None:
    assert main(["lint", str(BROKEN / "bad-semver"), "--no-builtin"]) == 2
    out = capsys.readouterr().out
    assert out.startswith(f"{BROKEN / 'bad-semver' / 'clause.md'}:4: version:")


def test_lint_clean_folder_exits_0(capsys) -> None:
    assert main(["lint", str(LIBRARY), "--no-builtin", "--profiles", str(PROFILES / "image-space.yaml")]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_explain_one_clause_and_all(capsys) -> None:
    assert main(["explain", str(PROFILES / "image-space.yaml"), "ai/output-marking", *FIXTURE]) == 0
    out = capsys.readouterr().out
    assert out.startswith("IN   ai/output-marking\n")
    assert "modalities.outputs = ['image']" in out
    assert main(["explain", str(PROFILES / "us-minimal.yaml"), *FIXTURE]) == 0
    out = capsys.readouterr().out
    assert ("OUT  ai/interaction-disclosure\n     Left out: it applies only when jurisdictions includes EU "
            "(applies_when: 'EU' in jurisdictions). Profile: jurisdictions = ['US'].") in out


def test_explain_unknown_clause_exits_2(capsys) -> None:
    assert main(["explain", str(PROFILES / "us-minimal.yaml"), "no/such-clause", *FIXTURE]) == 2
    assert "no clause has id 'no/such-clause'" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "key"), [(["schema"], "operator"), (["schema", "--guards"], "guards")])
def test_schema(capsys, args: list[str], key: str) -> None:
    assert main(args) == 0
    assert key in json.loads(capsys.readouterr().out)["properties"]


def test_catalogue(tmp_path: Path) -> None:
    out = tmp_path / "docs" / "catalogue.md"
    assert main(["catalogue", "-o", str(out), *FIXTURE]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Clause catalogue")
    assert "- **id**: `ai/output-marking` (version 1.0.0)" in text
    assert "- **applies when**: `'image' in modalities.outputs and 'EU' in jurisdictions`" in text
    assert "`image_mark` (output image, label: digital_source_type=trainedAlgorithmicMedia)" in text


def test_catalogue_to_standard_output(tmp_path: Path, capsys, monkeypatch) -> None:
    """`-o -` wrote a file named '-'."""
    monkeypatch.chdir(tmp_path)
    assert main(["catalogue", "-o", "-", *FIXTURE]) == 0
    assert capsys.readouterr().out.startswith("# Clause catalogue") and not (tmp_path / "-").exists()


def test_init_without_required_answers_exits_2_and_writes_nothing(tmp_path: Path, capsys) -> None:
    target = tmp_path / "profile.yaml"
    assert main(["init", "--yes", "-o", str(target)]) == 2
    assert "operator.legal_name" in capsys.readouterr().err
    assert not target.exists()


def _cannot_create(monkeypatch) -> None:
    """Creating any file or folder fails as on a read-only disk (/sys, /proc): root ignores permissions."""
    import os

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)
    monkeypatch.setattr(os, "mkdir", refuse)


@pytest.mark.parametrize("command", ["generate", "catalogue", "init"])
@pytest.mark.parametrize("blocked", ["file", "read-only"])
def test_an_output_that_cannot_be_written_exits_2_naming_it(tmp_path: Path, capsys, monkeypatch, command: str,
                                                           blocked: str) -> None:
    """``-o /sys/legal``, ``-o out/report.json/legal``, ``catalogue -o /proc/x`` and ``init -o /proc/p.yaml``
    were an OSError traceback with exit code 1."""
    (tmp_path / "report.json").write_text("a file")
    out = tmp_path / "report.json" / "legal" if blocked == "file" else tmp_path / "new" / "legal"
    answers = tmp_path / "answers.yaml"
    answers.write_text((PROFILES / "us-minimal.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    args = {"generate": ["generate", str(PROFILES / "us-minimal.yaml"), "-o", str(out), "--format", "md", *FIXTURE],
            "catalogue": ["catalogue", "-o", str(out / "catalogue.md"), *FIXTURE],
            "init": ["init", "--yes", "--answers", str(answers), "-o", str(out / "profile.yaml")]}[command]
    if blocked == "read-only":
        _cannot_create(monkeypatch)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out}") and "cannot write: " in err, err
    file_above = f"'{tmp_path / 'report.json'}' is a file, not a folder"
    why = file_above if blocked == "file" else "Permission denied"
    assert why in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.yaml", "report.json"]


@pytest.mark.parametrize(("replace", "warning"), [
    (("jurisdictions: [EU, US]", "jurisdictions: [BR, CA, JP]"),
     "warning: jurisdictions BR, CA, JP: clauseguard has no"),
    (("Dublin D02 X000, Ireland", "Austin, TX 78701, USA"), "operator.eu_representative is not set"),
])
def test_generate_warns_about_what_the_profile_leaves_out(tmp_path: Path, capsys, replace, warning: str) -> None:
    """Jurisdictions with no clauses of their own, and EU users of an operator with no EU address or
    representative, generated silently (legal review findings 2 and 6)."""
    example = Path(__file__).resolve().parents[2] / "examples" / "chat-assistant" / "profile.yaml"
    profile = tmp_path / "profile.yaml"
    profile.write_text(example.read_text(encoding="utf-8").replace(*replace), encoding="utf-8")
    assert main(["generate", str(profile), "-o", str(tmp_path / "out"), "--format", "md"]) == 0
    assert warning in capsys.readouterr().err


def test_lint_notes_an_override_and_exits_0_and_generate_warns_of_a_copy_that_kept_its_id(tmp_path: Path,
                                                                                         capsys) -> None:
    """An override replaced a built-in clause without a word; one copied to another path replaced the wrong one."""
    governing_law = Path(__file__).resolve().parents[2] / "clauses" / "core" / "governing-law.md"
    text = governing_law.read_text(encoding="utf-8").replace("\nversion: ", "\nversion: 9", 1)
    (tmp_path / "ours" / "core").mkdir(parents=True)
    (tmp_path / "ours" / "core" / "governing-law.md").write_text(text + "\nMore.\n", encoding="utf-8")
    assert main(["lint", str(tmp_path / "ours"), "--profiles", str(PROFILES / "us-minimal.yaml")]) == 0
    out = capsys.readouterr().out
    assert ": note: replaces the built-in clause core/governing-law (built-in version " in out and "\nok: " in out
    (tmp_path / "ours" / "core" / "governing-law.md").rename(tmp_path / "ours" / "core" / "arbitration.md")
    args = ["generate", str(PROFILES / "us-minimal.yaml"), "-o", str(tmp_path / "out"), "--format", "md"]
    assert main([*args, "--clauses", str(tmp_path / "ours")]) == 0
    assert "arbitration.md:2: id: core/governing-law replaces the built-in clause" in capsys.readouterr().err
