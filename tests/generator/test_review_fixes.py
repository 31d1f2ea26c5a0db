"""Regression tests for review findings: bad input gives a clear error (exit 2), never a traceback."""

from __future__ import annotations

import pytest

from clauseguard._yaml import YamlError, load_yaml

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
