"""``clauseguard audit verify|export`` and ``clauseguard records purge`` (click runner)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from clauseguard.guards.records import AuditEntry, RecordStore, append
from clauseguard.guards.records_cli import audit, records
from tests.records.conftest import drop_audit_triggers

CLI = click.Group(commands={"audit": audit, "records": records})


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(CLI, list(args), standalone_mode=False, catch_exceptions=False)
    return result.return_value, result.output


@pytest.mark.parametrize(("tamper", "code", "words"), [
    (None, 0, "ok: 3 records"),
    ("UPDATE audit_log SET action = 'flag' WHERE seq = 2", 1, "BROKEN at seq 2"),
    ("DELETE FROM audit_log WHERE seq = 3", 1, "BROKEN at seq 3"),
])
def test_audit_verify_exit_codes(store: RecordStore, store_url: str, tamper: str | None, code: int,
                                 words: str) -> None:
    for _ in range(3):
        append(store, AuditEntry(action="allow", allowed=True))
    if tamper:
        drop_audit_triggers(store)
        with store.engine.begin() as conn:
            conn.execute(text(tamper))
    rc, out = _run("audit", "verify", "--db", store_url)
    assert (rc, words in out) == (code, True), out


def test_audit_export_and_json(store: RecordStore, store_url: str, tmp_path: Path) -> None:
    append(store, AuditEntry(action="block", allowed=False))
    rc, out = _run("audit", "export", "--db", store_url, "-o", str(tmp_path / "a.jsonl"))
    assert rc == 0 and "wrote 1 records" in out
    assert json.loads((tmp_path / "a.jsonl").read_text())["action"] == "block"
    rc, out = _run("audit", "verify", "--db", store_url, "--json")
    assert (rc, json.loads(out)["head_seq"]) == (0, 1)


def test_records_purge(store: RecordStore, store_url: str, generated: dict[str, Any]) -> None:
    append(store, AuditEntry(action="allow", allowed=True), now=datetime.now(UTC) - timedelta(days=400))
    append(store, AuditEntry(action="allow", allowed=True))
    rc, out = _run("records", "purge", "--db", store_url, "--profile", str(generated["profile"]))
    assert rc == 0 and "dropped 1 audit records (anchor now seq 1)" in out
    assert _run("audit", "verify", "--db", store_url)[0] == 0
