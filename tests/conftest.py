"""Shared fixtures: paths to the repository's examples and the generator's fixture folders.

The generator tests run mostly on ``tests/fixtures/generator/library`` (a small clause library of
their own, loaded without the built-in clauses), so they do not change when the built-in clause
texts do.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "generator"
LIBRARY = FIXTURES / "library"
PROFILES = FIXTURES / "profiles"
BROKEN = FIXTURES / "broken"
CHAT_PROFILE = ROOT / "examples" / "chat-assistant" / "profile.yaml"


@pytest.fixture
def fixture_library() -> Any:
    from clauseguard.generator.library import load_library

    return load_library(LIBRARY, include_builtin=False)


@pytest.fixture
def profile() -> Callable[[str], Any]:
    """``profile("image-space")`` loads a fixture profile; ``profile("chat")`` the chat-assistant example."""
    from clauseguard.generator.profile import load_profile

    def load(name: str) -> Any:
        return load_profile(CHAT_PROFILE if name == "chat" else PROFILES / f"{name}.yaml")

    return load


def clause_text(clause_id: str, body: str = "Body.", **meta: Any) -> str:
    """A clause file: sensible defaults for every required key, overridden by ``meta``."""
    front = {"id": clause_id, "title": clause_id.split("/")[-1].replace("-", " ").capitalize(),
             "version": "1.0.0", "documents": ["terms-of-use"], "section": "about",
             "rationale": f"Test rationale for {clause_id}.", "sources": ["Test source"], "license": "CC-BY-4.0"}
    front.update(meta)
    return f"---\n{yaml.safe_dump(front, sort_keys=False, allow_unicode=True)}---\n{body}\n"


@pytest.fixture
def clause_dir(tmp_path: Path) -> Callable[..., Path]:
    """``clause_dir({"a/b": {...meta, "body": "..."}})`` writes one file per clause and returns the folder."""

    def make(clauses: dict[str, dict[str, Any]]) -> Path:
        folder = tmp_path / "clauses"
        for clause_id, meta in clauses.items():
            meta = dict(meta)
            body = meta.pop("body", "Body.")
            path = folder / f"{clause_id}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(clause_text(clause_id, body, **meta), encoding="utf-8")
        return folder

    return make


# What the wheel is built from: pyproject's packages and package data, and nothing else of the checkout.
WHEEL_SOURCES = ("pyproject.toml", "README.md", "LICENSE", "clauseguard", "guards", "generator", "clauses",
                 "templates", "examples")


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """clauseguard's wheel, built once per run from a copy of the tree (so the checkout gets no ``build/``
    folder), without network or build isolation."""
    src = tmp_path_factory.mktemp("src")
    for name in WHEEL_SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, src / name)
    dist = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--skip-dependency-check"]
    result = subprocess.run([*command, "--outdir", str(dist), str(src)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (built,) = dist.glob("clauseguard-*.whl")
    return built
