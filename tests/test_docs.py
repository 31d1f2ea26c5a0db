"""The documentation site builds without warnings, and its clause catalogue matches the library."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clauseguard.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_clause_catalogue_is_up_to_date(tmp_path: Path) -> None:
    fresh = tmp_path / "clauses.md"
    assert main(["catalogue", "-o", str(fresh)]) == 0
    committed = ROOT / "docs/reference/clauses.md"
    assert fresh.read_text(encoding="utf-8") == committed.read_text(encoding="utf-8"), (
        "docs/reference/clauses.md is stale: run `clauseguard catalogue -o docs/reference/clauses.md`")


def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        pytest.fail("mkdocs is not installed: it is part of the [dev] extra")
    result = subprocess.run([mkdocs, "build", "--strict", "-q", "-d", str(tmp_path / "site")], cwd=ROOT,
                            capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site/lawyers/guide/index.html").is_file()
