"""Fixtures for the server tests: an app on a temporary SQLite database, driven in-process (no socket)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from clauseguard.guards.sinks import MemorySink
from tests.postgres import BACKENDS, database_url

ROOT = Path(__file__).resolve().parents[2]
GUARDS = ROOT / "tests" / "guards" / "fixtures" / "guards.yaml"
ADMIN_TOKEN = "bootstrap-admin-token-for-tests-0123456789"


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., FastAPI]:
    """``make_app(**settings)``: an app on the guard fixture and a fresh SQLite file (or ``db_url``)."""
    from clauseguard.guards.server.app import create_app
    from clauseguard.guards.server.settings import ServerSettings

    def make(guards_path: Path = GUARDS, audit_sink: Any = None, lock_path: Path | None = None,
             report_path: Path | None = None, db_url: str | None = None, **settings: Any) -> FastAPI:
        settings.setdefault("admin_token", ADMIN_TOKEN)
        return create_app(guards_path=guards_path, db_url=db_url or f"sqlite:///{tmp_path / 'records.db'}",
                          lock_path=lock_path, report_path=report_path, settings=ServerSettings(**settings),
                          audit_sink=audit_sink)

    return make


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A records database on each backend under test (PostgreSQL: a schema of its own)."""
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def audit() -> MemorySink:
    return MemorySink()


@pytest.fixture
def client(make_app: Callable[..., FastAPI], audit: MemorySink) -> Iterator[TestClient]:
    with TestClient(make_app(audit_sink=audit)) as test_client:
        yield test_client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def write_guards(folder: Path, text: str) -> Path:
    path = folder / "guards.yaml"
    path.write_text(text, encoding="utf-8")
    return path
