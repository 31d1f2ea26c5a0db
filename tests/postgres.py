"""The test PostgreSQL server, when ``CLAUSEGUARD_TEST_POSTGRES_URL`` names one (``eval "$(scripts/ci_postgres.sh)"``,
as CI does): tests that use a database run on SQLite always and on PostgreSQL too."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_URL = os.environ.get("CLAUSEGUARD_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@contextmanager
def database_url(backend: str, folder: Path) -> Iterator[str]:
    """An empty database on ``backend``: a SQLite file in ``folder``, or a PostgreSQL schema of its own."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'records.db'}"
        return
    with schema_url() as url:
        yield url


@contextmanager
def schema_url(prefix: str = "t_") -> Iterator[str]:
    """A URL whose connections use a new, empty schema of the test server, dropped afterwards."""
    from sqlalchemy import create_engine, text

    assert PG_URL is not None
    schema = prefix + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
