"""Mistakes a lawyer makes in an override folder: each gives one problem naming the file and the line."""

from __future__ import annotations

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
