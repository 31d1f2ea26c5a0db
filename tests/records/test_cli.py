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

from clauseguard.guards.records import AuditEntry, RecordStore, append, iter_records, verify
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
    assert rc == 0 and "dropped 1 audit records (anchor now seq 1); recorded as audit record 3" in out
    assert "and 0 IP-derived user keys of audit records" in out  # the summary names the keys it cleared
    rc, out = _run("audit", "verify", "--db", store_url)
    assert rc == 0 and "head seq 3 hash " in out and "anchor seq 1 hash " in out  # both, to keep elsewhere
    rc, out = _run("audit", "verify", "--db", store_url, "--json")
    assert (json.loads(out)["anchor_seq"], len(json.loads(out)["anchor_hash"])) == (1, 64)


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Through ``clauseguard.cli.main``: the exit code and stderr a user sees."""
    from clauseguard.cli import main

    rc = main(list(args))
    return rc, capsys.readouterr().err


def _not_a_database(tmp_path: Path) -> str:
    (tmp_path / "notes.db").write_text("hello\n")
    return f"sqlite:///{tmp_path / 'notes.db'}"


@pytest.mark.parametrize(("db", "words"), [
    (lambda tmp: f"sqlite:///{tmp / 'no' / 'such' / 'x.db'}", "does not exist"),
    (lambda tmp: f"sqlite:///{tmp / 'typo.db'}", "no record store at"),
    (lambda tmp: "sqlite:/x.db", "Could not parse"),
    (lambda tmp: "clauseguard.db", "Could not parse"),
    (_not_a_database, "file is not a database"),
])
@pytest.mark.parametrize("command", [["audit", "verify"], ["audit", "export", "-o", "{tmp}/out.jsonl"]])
def test_readers_refuse_a_db_that_is_not_a_record_store(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       db: Any, words: str, command: list[str]) -> None:
    url = db(tmp_path)
    rc, err = _main(capsys, *(c.format(tmp=tmp_path) for c in command), "--db", url)
    assert rc == 2 and err.startswith("error: --db ") and words in err and "Traceback" not in err, err
    assert not (tmp_path / "typo.db").exists()  # a reader creates nothing


def test_purge_may_create_but_not_in_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      generated: dict[str, Any]) -> None:
    profile = str(generated["profile"])
    rc, err = _main(capsys, "records", "purge", "--db", f"sqlite:///{tmp_path / 'no' / 'x.db'}", "--profile", profile)
    assert rc == 2 and "folder" in err and "does not exist" in err, err
    assert _main(capsys, "records", "purge", "--db", f"sqlite:///{tmp_path / 'new.db'}", "--profile", profile)[0] == 0
    assert _main(capsys, "audit", "verify", "--db", f"sqlite:///{tmp_path / 'new.db'}")[0] == 0


def test_purge_of_a_broken_chain_is_an_error_not_a_traceback(store: RecordStore, store_url: str,
                                                             capsys: pytest.CaptureFixture[str],
                                                             generated: dict[str, Any]) -> None:
    for _ in range(3):
        append(store, AuditEntry(action="allow", allowed=True))
    drop_audit_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET action = 'flag' WHERE seq = 2"))
    rc, err = _main(capsys, "records", "purge", "--db", store_url, "--profile", str(generated["profile"]))
    assert rc == 1 and err.startswith("error: audit chain is broken at seq 2"), err


@pytest.mark.parametrize(("tamper", "verify_says", "error"), [
    ("UPDATE audit_log SET findings = '{not json' WHERE seq = 2", "BROKEN at seq 2: record cannot be read",
     "audit record seq 2 cannot be read"),
    ("DELETE FROM audit_head", "BROKEN: audit_head row missing", None),
])
def test_a_corrupted_store_gives_errors_not_tracebacks(store: RecordStore, store_url: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str], generated: dict[str, Any],
                                                       tamper: str, verify_says: str, error: str | None) -> None:
    """verify, export and purge raised a JSONDecodeError (bad JSON in a column) or NoResultFound (the
    head row deleted) traceback."""
    for _ in range(3):
        append(store, AuditEntry(action="allow", allowed=True))
    drop_audit_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text(tamper))
    from clauseguard.cli import main

    assert main(["audit", "verify", "--db", store_url]) == 1
    assert verify_says in capsys.readouterr().out
    rc, err = _main(capsys, "audit", "export", "--db", store_url, "-o", str(tmp_path / "a.jsonl"))
    assert (rc, error is None or err.startswith(f"error: {error}")) == ((0, True) if error is None else (1, True)), err
    rc, err = _main(capsys, "records", "purge", "--db", store_url, "--profile", str(generated["profile"]))
    assert rc == 1 and err.startswith("error: audit chain is broken") and "Traceback" not in err, err


def test_export_into_an_unwritable_path_is_a_user_error(store: RecordStore, store_url: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    append(store, AuditEntry(action="allow", allowed=True))
    (tmp_path / "a-file").write_text("")
    output = tmp_path / "a-file" / "a.jsonl"  # under a file: no folder can be made there
    rc, err = _main(capsys, "audit", "export", "--db", store_url, "-o", str(output))
    assert rc == 2 and err.startswith(f"error: -o {output}: cannot write"), err


@pytest.mark.parametrize(("output", "words"), [
    ("{db}", "is the record store"),
    ("{db}-wal", "is the record store"),
    ("{db}-shm", "is the record store"),
    ("{db}-journal", "is the record store"),
    ("{tmp}/link-to-db", "is the record store"),  # a symlink is followed, to the store here
    ("{tmp}/fifo", "not a regular file"),
    ("", "is empty"),
])
def test_export_never_writes_over_the_store_or_what_is_not_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                  output: str, words: str) -> None:
    """``-o x.db`` with ``--db sqlite:///x.db`` renamed the JSON lines over the database: the record store
    was gone, and ``-o ''`` was a ValueError traceback."""
    import os

    db = tmp_path / "records.db"
    with RecordStore.open(f"sqlite:///{db}") as store:
        append(store, AuditEntry(action="allow", allowed=True))
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").touch(exist_ok=True)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link-to-db").symlink_to(db)
    target = output.format(db=db, tmp=tmp_path)
    rc, err = _main(capsys, "audit", "export", "--db", f"sqlite:///{db}", "-o", target)
    assert rc == 2 and err.startswith(f"error: -o {target}") and words in err and "Traceback" not in err, err
    assert (tmp_path / "link-to-db").is_symlink() and not (tmp_path / "fifo").is_file()
    with RecordStore.open(f"sqlite:///{db}", migrate=False, must_exist=True) as store:
        assert verify(store).ok and verify(store).head_seq == 1


def test_export_through_a_symlink_writes_its_target(store: RecordStore, store_url: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    append(store, AuditEntry(action="allow", allowed=True))
    (tmp_path / "exports").mkdir()
    (tmp_path / "latest.jsonl").symlink_to(tmp_path / "exports" / "audit.jsonl")
    rc, err = _main(capsys, "audit", "export", "--db", store_url, "-o", str(tmp_path / "latest.jsonl"))
    assert rc == 0, err
    assert (tmp_path / "latest.jsonl").is_symlink()
    assert json.loads((tmp_path / "exports" / "audit.jsonl").read_text())["seq"] == 1

@pytest.mark.parametrize(("content", "words"), [
    (None, "not a profile: it has no operator, product"),  # guards.yaml given for the profile
    ("", "not a profile"),
    ("- operator\n- product\n", "not a profile"),
    ("operator: {}\nproduct: {}\ndata: {ip_retention_days: -5}\n", "data.ip_retention_days: must be whole days"),
    ("operator: {}\nproduct: {}\ndata: {ip_retention_days: true}\n", "data.ip_retention_days: must be whole days"),
    ("operator: {}\nproduct: {}\ndata: {prompt_retention_days: 30.5}\n", "data.prompt_retention_days: must be"),
    ("operator: {}\nproduct: {}\ndata: {ip_retention_days: '400'}\n", "data.ip_retention_days: must be"),
    ("operator: {}\nproduct: {}\ndata: 5\n", "'data' must be a mapping"),  # was named "profile.yaml", not the file
    # an empty list, 0 and false were read as "no data" and purged at the defaults
    ("operator: {}\nproduct: {}\ndata: []\n", "'data' must be a mapping, not []"),
    ("operator: {}\nproduct: {}\ndata: 0\n", "'data' must be a mapping, not 0"),
    ("operator: {}\nproduct: {}\ndata: false\n", "'data' must be a mapping, not False"),
])
def test_purge_with_a_wrong_profile_purges_nothing(store: RecordStore, store_url: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str], generated: dict[str, Any],
                                                   content: str | None, words: str) -> None:
    """Such a file purged with the defaults (30 days), or a cutoff nobody chose (``true`` is 1 day, -5
    is in the future), and a new store was created first."""
    append(store, AuditEntry(action="allow", allowed=True), now=datetime.now(UTC) - timedelta(days=40))
    profile = generated["dir"] / "guards.yaml"
    if content is not None:
        profile = tmp_path / "profile.yaml"
        profile.write_text(content, encoding="utf-8")
    for db in (store_url, f"sqlite:///{tmp_path / 'new.db'}"):
        rc, err = _main(capsys, "records", "purge", "--db", db, "--profile", str(profile))
        assert rc == 2 and err.startswith(f"error: {profile}") and words in err, err
    assert [r["seq"] for r in iter_records(store)] == [1] and verify(store).head_seq == 1
    assert not (tmp_path / "new.db").exists()


def test_a_profile_that_is_not_utf8_is_a_user_error(store: RecordStore, store_url: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Only OSError and YAMLError were caught: a UnicodeDecodeError escaped as a traceback."""
    profile = tmp_path / "profile.yaml"
    profile.write_bytes(b"\xff\xfeo\x00p\x00")
    rc, err = _main(capsys, "records", "purge", "--db", store_url, "--profile", str(profile))
    assert rc == 2 and err.startswith(f"error: {profile}: cannot read profile") and "UTF-8" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [["audit", "verify"], ["records", "purge", "--profile", "{profile}"]])
def test_a_password_with_an_unencoded_at_exits_2_without_its_tail(capsys: pytest.CaptureFixture[str],
                                                                 generated: dict[str, Any], command: list[str]) -> None:
    """The URL was masked but the driver still connected: psycopg looked up "TopSecretTail@127.0.0.1" in
    DNS and its error, printed after the masked URL, showed the password's tail."""
    url = "postgresql+psycopg://bob:hunter2@TopSecretTail@127.0.0.1:1/db"
    rc, err = _main(capsys, *(c.format(profile=generated["profile"]) for c in command), "--db", url)
    assert rc == 2 and "percent-encode it as %40" in err and "TopSecret" not in err and "hunter2" not in err, err
