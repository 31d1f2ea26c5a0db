"""Fixtures for the records tests: a fresh store per test on SQLite (a temporary file) and, when
``CLAUSEGUARD_TEST_POSTGRES_URL`` is set (``eval "$(scripts/ci_postgres.sh)"``), on PostgreSQL too,
each test in a schema of its own. Generated outputs (report.json, clauseguard.lock) come from the
image-space example, so statements of reasons are checked against the real generator's report.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from clauseguard.guards.records import Pseudonymizer, RecordStore
from clauseguard.guards.records.pseudonym import parse_keys
from tests.postgres import BACKENDS, database_url

ROOT = Path(__file__).resolve().parents[2]
IMAGE_PROFILE = ROOT / "examples" / "image-space" / "profile.yaml"
KEYS = "k2:" + "Q" * 43 + "=,k1:" + "AQID" * 8  # two keys, k2 current


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL for an empty database on each backend under test."""
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[RecordStore]:
    with RecordStore.open(store_url) as s:
        yield s


@pytest.fixture
def pseudonymizer() -> Pseudonymizer:
    return Pseudonymizer(parse_keys(KEYS))


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """report.json and clauseguard.lock of the image-space example, generated once."""
    from clauseguard.cli import main

    out = tmp_path_factory.mktemp("image-space")
    assert main(["generate", str(IMAGE_PROFILE), "-o", str(out), "--force"]) == 0
    return {"dir": out, "report": out / "report.json", "lock": out / "clauseguard.lock",
            "profile": IMAGE_PROFILE}


def drop_audit_triggers(store: RecordStore) -> None:
    """What an attacker with SQL access does first: switch off the append-only triggers."""
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            for trigger in ("audit_log_no_update", "audit_log_no_delete", "audit_log_insert_after_head",
                            "audit_head_anchor", "audit_head_no_delete"):
                conn.execute(text(f"DROP TRIGGER {trigger}"))
            return
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_head DISABLE TRIGGER USER"))


def append_format_1(store: RecordStore, n: int, *, user_key: str | None = None, when: Any = None) -> None:
    """Append ``n`` records as clauseguard wrote them before format 2 (hashed over ``user_key`` itself,
    no format columns): works on a store migrated to any revision, old or new."""
    from datetime import UTC, datetime

    from clauseguard.guards.records._chain import HASHED_FIELDS, canonical_json, record_hash
    from clauseguard.guards.records.models import AuditHead, AuditRecord

    log, head = AuditRecord.__table__, AuditHead.__table__
    stamp = (when or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    with store.engine.begin() as conn:
        seq, prev = conn.execute(head.select().with_only_columns(head.c.seq, head.c.hash)).one()
        for _ in range(n):
            seq += 1
            rec = {"seq": seq, "time": stamp, "request_id": f"old-{seq}", "stage": "input", "guard_id": "kw",
                   "action": "allow", "allowed": True, "score": 0.1, "clause_ids": [], "document_versions": {},
                   "findings": [], "user_key": user_key}
            digest = record_hash(prev, rec)
            row = {k: canonical_json(v) if isinstance(v, list | dict) else v for k, v in rec.items()}
            assert set(row) == set(HASHED_FIELDS)
            conn.execute(log.insert().values(**row, prev_hash=prev, hash=digest))
            prev = digest
        conn.execute(head.update().where(head.c.id == 1).values(seq=seq, hash=prev))
