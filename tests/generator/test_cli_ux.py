"""Mistakes in clause folders, answers files and output folders end as one error naming the file and
line (exit code 2), never as a traceback; lint lists every problem; a killed run does not block the next.

Each test names what went wrong before: a traceback, a silent "ok", a problem left unlisted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from clauseguard.cli import main
from clauseguard.errors import ClauseError, ProfileError
from clauseguard.generator import lint as lint_module
from clauseguard.generator.library import load_library
from clauseguard.generator.lint import example_profiles, lint
from clauseguard.generator.questionnaire import run_init
from clauseguard.generator.sandbox import Source, compile_expression, compile_template, render
from tests.conftest import LIBRARY, PROFILES, ROOT

US_MINIMAL = PROFILES / "us-minimal.yaml"  # no dmca_agent
FIXTURE = ["--clauses", str(LIBRARY), "--no-builtin"]


def _library(tmp_path: Path, files: dict[str, str]) -> Path:
    """A copy of the fixture library with ``files`` (path -> text) added: a folder for ``--clauses``."""
    folder = tmp_path / "clauses"
    shutil.copytree(LIBRARY, folder)
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _clause(clause_id: str, body: str = "Body.", *, applies_when: str | None = None,
            sources: str = '["Test source"]') -> str:
    """A clause file: ``applies_when`` on line 7; without it ``sources`` on line 8 and the body on line 11."""
    when = f"applies_when: {applies_when!r}\n" if applies_when else ""
    return (f"---\nid: {clause_id}\ntitle: Extra\nversion: 1.0.0\ndocuments: [terms-of-use]\nsection: about\n"
            f"{when}rationale: \"Because.\"\nsources: {sources}\nlicense: CC-BY-4.0\n---\n{body}\n")


# ---- 1. an applies_when or a source's when that is undefined ---------------------------------------------


@pytest.mark.parametrize(("applies_when", "sources", "line", "what"), [
    ("data.logs_ip_adresses", '["Test source"]', 7, "applies_when"),
    (None, '[{text: "A", when: "data.logs_ip_adresses"}, "B"]', 8, "sources[0].when"),
    ("models and models[0].licence", '["Test source"]', 7, "applies_when"),  # lint's static check cannot see it
])
@pytest.mark.parametrize("command", ["generate", "explain"])
def test_an_undefined_condition_is_an_error_at_its_line_not_a_traceback(
        tmp_path: Path, capsys, command: str, applies_when: str | None, sources: str, line: int, what: str) -> None:
    """bool() of Jinja's undefined ran outside the sandbox's guard: UndefinedError traceback, exit 1."""
    folder = _library(tmp_path, {"x/typo.md": _clause("x/typo", applies_when=applies_when, sources=sources)})
    profile = PROFILES / "image-space.yaml"  # has a model, so models[0] exists
    args = ["-o", str(tmp_path / "out")] if command == "generate" else []
    assert main([command, str(profile), *args, "--clauses", str(folder), "--no-builtin"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {folder / 'x/typo.md'}:{line}: {what}: ")
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_lint_reports_an_undefined_condition_that_only_rendering_finds(tmp_path: Path) -> None:
    folder = _library(tmp_path, {"x/typo.md": _clause("x/typo", applies_when="models and models[0].licence")})
    problems = lint(folder, profiles=[PROFILES / "image-space.yaml"], include_builtin=False)
    assert [(p.file, p.line) for p in problems] == [(str(folder / "x/typo.md"), 7)]
    assert "licence" in problems[0].message


def test_a_key_below_an_optional_group_that_is_not_set_is_false(tmp_path: Path, capsys) -> None:
    """operator.dmca_agent.phone, for a profile without a dmca_agent, was "'None' has no attribute 'phone'"."""
    folder = _library(tmp_path, {"x/phone.md": _clause("x/phone", applies_when="operator.dmca_agent.phone")})
    assert main(["explain", str(US_MINIMAL), "x/phone", "--clauses", str(folder), "--no-builtin"]) == 0
    assert "operator.dmca_agent.phone = not set" in capsys.readouterr().out
    assert lint(folder, profiles=[US_MINIMAL, PROFILES / "image-space.yaml"], include_builtin=False) == []


@pytest.mark.parametrize(("expression", "context", "expected"), [
    ("operator.dmca_agent.phone", {"operator": {"dmca_agent": None}}, False),
    ("operator.dmca_agent['phone']", {"operator": {"dmca_agent": None}}, False),
    ("not operator.dmca_agent.phone", {"operator": {"dmca_agent": None}}, True),
    ("operator.dmca_agent.phone", {"operator": {"dmca_agent": {"phone": "+1 555"}}}, True),
    ("data.stores_prompts", {"data": {"stores_prompts": False}}, False),
])
def test_a_condition_is_true_or_false(expression: str, context: dict, expected: bool) -> None:
    assert compile_expression(expression, Source("c.md", 7))(**context) is expected


@pytest.mark.parametrize("expression", ["data.logs_ip_adresses", "operator.dmca_agent.phon"])
def test_a_key_that_does_not_exist_below_a_set_value_is_still_an_error(expression: str) -> None:
    context = {"data": {"logs_ip_addresses": True}, "operator": {"dmca_agent": {"phone": "+1 555"}}}
    with pytest.raises(ClauseError) as caught:
        compile_expression(expression, Source("c.md", 7))(**context)
    assert caught.value.where == "c.md:7"


def test_a_body_still_refuses_a_key_of_a_group_that_is_not_set() -> None:
    """Only conditions read a missing group as not set: a body must not print "None"."""
    source = Source("c.md", 11)
    template = compile_template("Call {{ operator.dmca_agent.phone }}.", source)
    with pytest.raises(ClauseError) as caught:
        render(template, {"operator": {"dmca_agent": None}}, source)
    assert caught.value.where == "c.md:11"


# ---- 2. lint in an installed clauseguard has the example profiles ---------------------------------------


@pytest.fixture(scope="module")
def installed(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel (built from a copy of the tree, examples/ included) unpacked, as pip would install it."""
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(built_wheel) as wheel:
        wheel.extractall(site)
    return site


def test_the_wheel_ships_the_example_profiles(installed: Path) -> None:
    """The wheel had no examples/: an installed `clauseguard lint` rendered nothing and said "ok"."""
    shipped = sorted(p.relative_to(installed / "clauseguard" / "examples").as_posix()
                     for p in (installed / "clauseguard" / "examples").glob("*/profile.yaml"))
    assert shipped == sorted(p.relative_to(ROOT / "examples").as_posix() for p in example_profiles())
    assert len(shipped) == 4


def test_an_installed_lint_renders_with_the_example_profiles(installed: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ours"
    (folder / "x").mkdir(parents=True)
    (folder / "x" / "c.md").write_text(_clause("x/c", "Retention: {{ 10 // 0 }}."), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(installed)}
    result = subprocess.run([sys.executable, "-m", "clauseguard", "lint", str(folder)], capture_output=True,
                            text=True, cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{folder / 'x' / 'c.md'}:11: body: ZeroDivisionError" in result.stdout
    assert str(installed / "clauseguard" / "examples") in result.stdout


def test_lint_without_example_profiles_says_so(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(lint_module, "_examples_root", lambda: tmp_path / "examples")
    problems = lint(LIBRARY, include_builtin=False)
    assert len(problems) == 1 and "no example profile found" in problems[0].message
    assert "--profiles" in problems[0].message
    assert lint(LIBRARY, profiles=[US_MINIMAL], include_builtin=False) == []


# ---- 3. init --answers with a dotted key below a list or a single value ----------------------------------

ANSWERS = """\
operator.legal_name: Acme Ltd
operator.contact_email: legal@acme.example
operator.address: 1 Example Street, Dublin
product.name: Acme Chat
product.url: https://acme.example
product.governing_law: Ireland
jurisdictions: EU, US
"""


@pytest.mark.parametrize(("extra", "message"), [
    ("models.name: Llama 3.1 8B\nmodels.license: llama3.1\n",
     "models.name: models is a list with one entry per model, not a group of keys; write each model as an entry "
     "of the list: `models: [{name: ..., license: ...}]`"),
    ("product.interfaces.web: yes\n",
     "product.interfaces.web: product.interfaces is a list, not a group of keys; answer it as a list: "
     "`product.interfaces: web, api`"),
    ("audience.minimum_age.value: 16\n",
     "audience.minimum_age.value: audience.minimum_age is a number, not a group of keys; answer it directly: "
     "`audience.minimum_age: 16`"),
])
def test_a_dotted_answer_below_a_list_or_a_value_names_its_line(tmp_path: Path, extra: str, message: str) -> None:
    """_set indexed a list with a string (TypeError) or assigned into an int: a traceback, exit 1."""
    answers = tmp_path / "answers.yaml"
    answers.write_text(ANSWERS + extra, encoding="utf-8")
    with pytest.raises(ProfileError) as caught:
        run_init(tmp_path / "profile.yaml", answers=answers, yes=True, ask=None)
    assert (caught.value.where, caught.value.message) == (f"{answers}:8", message)
    assert not (tmp_path / "profile.yaml").exists()


def test_init_with_a_dotted_answer_below_a_list_exits_2(tmp_path: Path, capsys) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text(ANSWERS + "models.name: Llama\n", encoding="utf-8")
    assert main(["init", "--answers", str(answers), "--yes", "-o", str(tmp_path / "p.yaml")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {answers}:8: models.name: models is a list")


# ---- 4. a file in a clause folder that cannot be read ----------------------------------------------------


def test_a_dangling_link_in_a_clause_folder_is_named(tmp_path: Path, capsys) -> None:
    """read_bytes() of a link to a moved clause raised FileNotFoundError: a traceback from generate and lint."""
    folder = _library(tmp_path, {})
    (folder / "x").mkdir()
    (folder / "x" / "old.md").symlink_to(tmp_path / "moved-away.md")
    with pytest.raises(ClauseError) as caught:
        load_library(folder, include_builtin=False)
    assert caught.value.where == f"{folder / 'x' / 'old.md'}:1"
    assert caught.value.message.startswith("cannot read: No such file or directory (it is a link to ")
    problems = lint(folder, profiles=[], include_builtin=False)
    assert [(p.file, p.line) for p in problems] == [(str(folder / "x" / "old.md"), 1)]
    assert main(["generate", str(US_MINIMAL), "-o", str(tmp_path / "out"), "--clauses", str(folder),
                 "--no-builtin"]) == 2
    assert "cannot read" in capsys.readouterr().err


# ---- 5. lint lists every problem -------------------------------------------------------------------------


def test_lint_lists_every_render_problem_once_and_with_static_ones(tmp_path: Path) -> None:
    """Rendering stopped at a profile's first error, and was skipped whenever a static problem existed."""
    files = {"x/a.md": _clause("x/a", "Keep logs for {{ 1 // 0 }} days."),
             "x/b.md": _clause("x/b", "See {{ ref('jurisdictions/dmca-agent') }}."),
             "x/c.md": _clause("x/c", "We are {{ operator.legal_name|upper }}.")}
    profiles = [US_MINIMAL, PROFILES / "uploads-no-agent.yaml"]
    folder = _library(tmp_path, files)
    found = [(Path(p.file).name, p.line) for p in lint(folder, profiles=profiles, include_builtin=False)]
    assert found == [("a.md", 11), ("b.md", 11)]  # each once, though both profiles show a.md's
    (folder / "x" / "c.md").write_text(_clause("x/c", "We are {{ operator.legal_nme }}."), encoding="utf-8")
    problems = lint(folder, profiles=profiles, include_builtin=False)
    assert [(Path(p.file).name, p.line) for p in problems] == [("a.md", 11), ("b.md", 11), ("c.md", 11)]
    assert "is not a profile field" in problems[2].message  # c.md's static problem, not its render error


def test_lint_does_not_repeat_a_static_problem_as_a_render_problem(tmp_path: Path) -> None:
    folder = _library(tmp_path, {"x/c.md": _clause("x/c", "We are {{ operater.legal_name }}.")})
    problems = lint(folder, profiles=[US_MINIMAL], include_builtin=False)
    assert [p.message for p in problems] == ["body: unknown name 'operater' (not a profile key or a helper)"]


# ---- 6. a killed generate does not block the next --------------------------------------------------------

SLOW = """\
import sys, time
from pathlib import Path
orig = Path.write_bytes
def slow(self, data):
    Path(sys.argv[1]).touch()  # the staging folder is being filled
    time.sleep(30)
    return orig(self, data)
Path.write_bytes = slow
from clauseguard.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("exists", [False, True], ids=["new folder", "existing folder"])
def test_sigterm_during_generate_removes_the_staging_folder(tmp_path: Path, exists: bool) -> None:
    """SIGTERM killed the process outright: .clauseguard-new-* (or .legal.tmp-*) stayed, and --force refused it."""
    out, ready, script = tmp_path / "legal", tmp_path / "ready", tmp_path / "slow.py"
    args = ["generate", str(US_MINIMAL), "-o", str(out), "--format", "md", *FIXTURE, "--force"]
    if exists:
        assert main(args) == 0
    before = sorted(p.name for p in out.iterdir()) if exists else None
    script.write_text(SLOW, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(ready), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            if ready.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert ready.exists(), proc.communicate()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 143
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ready", "slow.py", *(["legal"] if exists else [])])
    if exists:
        assert sorted(p.name for p in out.iterdir()) == before


def test_force_removes_the_staging_folders_a_killed_run_left(tmp_path: Path, capsys) -> None:
    out = tmp_path / "legal"
    args = ["generate", str(US_MINIMAL), "-o", str(out), "--format", "md", *FIXTURE]
    assert main(args) == 0
    inside = [out / ".clauseguard-new-ab12cd_3", out / ".clauseguard-old-zz99yy00"]
    beside = tmp_path / ".legal.tmp-k3j4h5g6"
    for leftover in [*inside, beside]:
        (leftover / "documents").mkdir(parents=True)
        (leftover / "report.json").write_text("{}")
    assert main([*args, "--force"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["clauseguard.lock", "documents", "guards.yaml", "report.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["legal"]


@pytest.mark.parametrize("name", [".clauseguard-new-notes", ".clauseguard-new-ab12cd34x", ".clauseguard-new-AB12CD34"])
def test_force_still_refuses_what_only_looks_like_a_staging_folder(tmp_path: Path, capsys, name: str) -> None:
    out = tmp_path / "legal"
    args = ["generate", str(US_MINIMAL), "-o", str(out), "--format", "md", *FIXTURE]
    assert main(args) == 0
    (out / name).mkdir()
    assert main([*args, "--force"]) == 2
    assert f"also holds {name!r}" in capsys.readouterr().err
    assert (out / name).is_dir()


def test_force_refuses_a_file_named_like_a_staging_folder(tmp_path: Path, capsys) -> None:
    out = tmp_path / "legal"
    args = ["generate", str(US_MINIMAL), "-o", str(out), "--format", "md", *FIXTURE]
    assert main(args) == 0
    (out / ".clauseguard-new-ab12cd34").write_text("mine")
    assert main([*args, "--force"]) == 2
    assert (out / ".clauseguard-new-ab12cd34").read_text() == "mine"


# ---- 7. a clause that includes other files ---------------------------------------------------------------


@pytest.mark.parametrize(("body", "tag"), [
    ('{% include "x/inc.md" %}', "include"),
    ('{% import "x/inc.md" as other %}', "import"),
    ('{% from "x/inc.md" import thing %}', "from"),
    ('{% extends "x/inc.md" %}', "extends"),
])
def test_a_clause_that_includes_another_file_is_refused_at_its_line(tmp_path: Path, capsys, body: str,
                                                                      tag: str) -> None:
    """It failed at render time with Jinja's "TypeError: no loader for this environment specified"."""
    text = textwrap.dedent(f"""\
        First line.
        {body}
        """)
    folder = _library(tmp_path, {"x/inc.md": _clause("x/inc", text)})
    expected = (f"{folder / 'x/inc.md'}:12: {{% {tag} %}}: a clause cannot include other files; use ref('id') to "
                "refer to another clause (and selected('id') to test whether it is included)")
    assert [str(p) for p in lint(folder, profiles=[US_MINIMAL], include_builtin=False)] == [expected]
    assert main(["generate", str(US_MINIMAL), "-o", str(tmp_path / "out"), *FIXTURE[:1], str(folder),
                 "--no-builtin"]) == 2
    assert capsys.readouterr().err == f"error: {expected}\n"
