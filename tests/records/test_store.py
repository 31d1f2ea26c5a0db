"""The store: SQLite settings, idempotent migrations, models that match the migration."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from clauseguard.guards.records import RecordsError, RecordStore
from clauseguard.guards.records.models import Base


def test_sqlite_pragmas(tmp_path: Path) -> None:
    with RecordStore.open(f"sqlite:///{tmp_path / 'r.db'}") as store, store.engine.connect() as conn:
        values = [conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("journal_mode", "synchronous",
                                                                          "foreign_keys")]
    assert values == ["wal", 2, 1]  # synchronous 2 = FULL


def test_open_twice_is_idempotent_and_at_head(store_url: str) -> None:
    RecordStore.open(store_url).close()
    with RecordStore.open(store_url) as store, store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001_initial"
        tables = set(inspect(conn).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_models_match_the_migration(store: RecordStore) -> None:
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == []


def test_foreign_keys_are_enforced(store: RecordStore) -> None:
    from datetime import UTC, datetime

    from clauseguard.guards.records.models import Strike

    with pytest.raises(Exception, match=r"(?i)foreign key"), store.session(write=True) as s:
        s.add(Strike(uploader_key="user:k:1", notice_id=999, at=datetime.now(UTC), withdrawn=False))


@pytest.mark.parametrize("url", ["nosuchdb://x", "sqlite:////nonexistent-dir/x/y.db"])
def test_bad_urls_are_records_errors(url: str) -> None:
    with pytest.raises(RecordsError):
        RecordStore.open(url)
