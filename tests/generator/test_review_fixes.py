"""Regression tests for review findings: bad input gives a clear error (exit 2), never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from clauseguard._yaml import YamlError, load_yaml
from clauseguard.cli import main
from clauseguard.errors import ClauseError
from clauseguard.generator.sandbox import Source, compile_expression, compile_template, render
from tests.conftest import PROFILES

# (YAML text, line of the error, part of the message)
YAML_ERRORS = [
    ("a: 1\nd: 2026-13-45\n", 2, "invalid date '2026-13-45': month must be in 1..12"),
    ("a:\n  - x\n  - 2026-02-30\n", 3, "invalid date '2026-02-30'"),
    ("x: !!int abc\n", 1, "invalid value 'abc'"),
    ("a: 1\n? [a, b]\n: 2\n", 2, "keys must be plain names"),
    ("a:\n  ? {b: 1}\n  : 2\n", 2, "keys must be plain names"),
]


@pytest.mark.parametrize(("text", "line", "message"), YAML_ERRORS)
def test_load_yaml_bad_value_or_key_names_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(YamlError) as info:
        load_yaml(text)
    assert info.value.line == line
    assert message in str(info.value)


def test_load_yaml_still_builds_good_dates() -> None:
    data, lines = load_yaml("when: 2026-01-31\n")
    assert str(data["when"]) == "2026-01-31" and lines[("when",)] == 1


# (template text, line of the error, part of the message)
TEMPLATE_ERRORS = [
    ("One.\n{{ x|joinand }}", 2, "unknown filter 'joinand'; did you mean 'join_and'?"),
    ("{% if x is nosuchtest %}y{% endif %}", 1, "unknown test 'nosuchtest'"),
    ("{% if x %}{{ x|nofilter }}{% endif %}", 1, "unknown filter 'nofilter'"),  # Jinja would defer this one
    ("{% filter nofilter %}x{% endfilter %}", 1, "unknown filter 'nofilter'"),
]


@pytest.mark.parametrize(("text", "line", "message"), TEMPLATE_ERRORS)
def test_unknown_filter_or_test_is_a_clause_error_naming_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ClauseError) as info:
        compile_template(text, Source("c.md", 10))
    assert info.value.where == f"c.md:{10 + line - 1}"
    assert message in info.value.message


def test_unknown_filter_in_applies_when_is_a_clause_error() -> None:
    with pytest.raises(ClauseError, match="unknown filter 'nofilter'") as info:
        compile_expression("jurisdictions|nofilter", Source("c.md", 7))
    assert info.value.where == "c.md:7"


def test_recursive_macro_is_a_clause_error_not_a_traceback() -> None:
    text = "Intro.\n{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"
    with pytest.raises(ClauseError, match="recursion too deep") as info:
        render(compile_template(text, Source("c.md", 5)), {}, Source("c.md", 5))
    assert info.value.where == "c.md:6"


@pytest.mark.parametrize(("body", "message"), [
    ("{{ product.name|joinand }}", "unknown filter 'joinand'"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursion too deep"),
])
def test_generate_and_lint_exit_2_on_a_bad_clause(clause_dir, tmp_path: Path, capsys, body: str,
                                                  message: str) -> None:
    folder = clause_dir({"t/a": {"body": body}})
    out = tmp_path / "out"
    assert main(["generate", str(PROFILES / "us-minimal.yaml"), "-o", str(out), "--clauses", str(folder),
                 "--no-builtin", "--format", "md"]) == 2
    assert message in capsys.readouterr().err and not out.exists()
    if "filter" in message:
        assert main(["lint", str(folder), "--no-builtin"]) == 2
        assert f"{folder / 't/a.md'}:" in capsys.readouterr().out
