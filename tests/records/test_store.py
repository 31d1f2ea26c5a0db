"""The store: SQLite settings, idempotent migrations, models that match the migration."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, DateTime, LargeBinary, MetaData, String, Table, event, inspect, text
from sqlalchemy.exc import IntegrityError, OperationalError

from clauseguard.guards.records import RecordsError, RecordStore
from clauseguard.guards.records.models import Base
from tests.concurrency import start_together

HEAD = "0005_audit_clearable_user_key"


def test_sqlite_pragmas(tmp_path: Path) -> None:
    with RecordStore.open(f"sqlite:///{tmp_path / 'r.db'}") as store, store.engine.connect() as conn:
        values = [conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("journal_mode", "synchronous",
                                                                          "foreign_keys")]
    assert values == ["wal", 2, 1]  # synchronous 2 = FULL


def test_threads_opening_one_new_file_together_all_open(tmp_path: Path) -> None:
    """SQLite refuses a switch to write-ahead logging at once ("database is locked", without waiting out the
    busy timeout) while another connection switches the same new file: before the retry, about one round in
    six of four threads opening a new store together failed. 30 rounds: every store opens and migrates."""
    failed: list[str] = []
    for round_ in range(30):
        url = f"sqlite:///{tmp_path / f'{round_}.db'}"
        failed += start_together(lambda url=url: RecordStore.open(url).close(), threads=4)
    assert failed == []


def test_open_twice_is_idempotent_and_at_head(store_url: str) -> None:
    RecordStore.open(store_url).close()
    with RecordStore.open(store_url) as store, store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
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


@pytest.mark.parametrize("url", ["postgres://app:s3cretpw@db/records", "mysql://app:s3cretpw@db/records",
                                 "postgresql+psycopg://app:s3cretpw@db:port/records"])
def test_a_url_that_cannot_be_opened_is_shown_without_its_password(url: str) -> None:
    with pytest.raises(RecordsError, match=r"app:\*\*\*@db") as caught:
        RecordStore.open(url)
    assert "s3cretpw" not in str(caught.value)


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://u:se/cret@127.0.0.1:bad/x", "postgresql+psycopg://u:***@127.0.0.1:bad/x"),
    ("postgresql+psycopg://u:s3cr3t@ss@host:bad/x", "postgresql+psycopg://u:***@host:bad/x"),
    ("postgresql://u:s3cr3t@ss@host/x", "postgresql://u:***@host/x"),
    ("postgresql://u:s3cr3t@ss@host:5432/x?sslmode=require", "postgresql://u:***@host:5432/x?sslmode=require"),
    ("postgresql://u:s3cr3t@host/x", "postgresql://u:***@host/x"),
    ("postgresql://u@host:5432/x", "postgresql://u@host:5432/x"),
])
def test_shown_url_hides_a_password_holding_slash_or_at(url: str, shown: str) -> None:
    """The fallback for URLs SQLAlchemy cannot parse stopped the password at the first '/' or '@' and
    showed the rest ("u:se/cret@..." unchanged, "u:***@ss@host"); SQLAlchemy itself showed "ss@host"."""
    from clauseguard.guards.records.store import shown_url

    assert shown_url(url) == shown
    if ":bad/" not in url:  # a URL SQLAlchemy reads: the store's own url, in its errors, hides it too
        from sqlalchemy import create_engine

        assert RecordStore(create_engine(url.replace("postgresql:", "postgresql+psycopg:"))).url.endswith(
            shown.split("://")[1])


@pytest.mark.parametrize(("name", "content", "words"), [
    ("missing.db", None, "the file does not exist"),
    ("empty.db", "", "the database has no record tables"),
    ("notes.db", "hello\n", "file is not a database"),
])
def test_must_exist_creates_nothing(tmp_path: Path, name: str, content: str | None, words: str) -> None:
    if content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(RecordsError, match=f"no record store at {tmp_path / name}: {words}"):
        RecordStore.open(f"sqlite:///{tmp_path / name}", migrate=False, must_exist=True)
    assert (tmp_path / name).exists() is (content is not None)


def test_must_exist_opens_an_existing_store(store_url: str) -> None:
    RecordStore.open(store_url).close()
    RecordStore.open(store_url, migrate=False, must_exist=True).close()


def _read_only(store: RecordStore) -> None:
    """Every new SQLite connection refuses writes, as on a read-only or full disk."""
    event.listen(store.engine, "connect", lambda conn, _rec: conn.execute("PRAGMA query_only = ON"))
    store.engine.dispose()


def test_a_store_that_cannot_be_written_raises_records_error(tmp_path: Path) -> None:
    from clauseguard.guards.records import AuditEntry, append, file_notice
    from tests.records.test_notices import VALID

    with RecordStore.open(f"sqlite:///{tmp_path / 'r.db'}") as store:
        _read_only(store)
        with pytest.raises(RecordsError, match="readonly") as info:
            file_notice(store, VALID["dsa"])
        assert isinstance(info.value.__cause__, OperationalError)
        with pytest.raises(RecordsError, match="readonly"):
            append(store, AuditEntry(action="allow", allowed=True))


def test_a_refused_statement_keeps_its_type(store: RecordStore) -> None:
    with pytest.raises(IntegrityError), store.transaction(write=True) as conn:
        conn.execute(text("INSERT INTO alembic_version (version_num) SELECT version_num FROM alembic_version"))


def _old_token_table() -> Table:
    """The token table as the server created it before migration 0002 (``MetaData.create_all``)."""
    return Table("server_api_tokens", MetaData(),
                 Column("id", String(16), primary_key=True), Column("role", String(16), nullable=False),
                 Column("label", String(200), nullable=False, default=""),
                 Column("salt", LargeBinary(16), nullable=False), Column("digest", LargeBinary(32), nullable=False),
                 Column("created_at", DateTime(timezone=True), nullable=False),
                 Column("revoked_at", DateTime(timezone=True), nullable=True))


def test_upgrade_keeps_a_token_table_the_server_made(store_url: str) -> None:
    from datetime import UTC, datetime

    store = RecordStore.open(store_url, migrate=False)
    store.migrate("0001_initial")
    old = _old_token_table()
    old.create(store.engine)
    with store.engine.begin() as conn:
        conn.execute(old.insert().values(id="abc", role="admin", salt=b"s" * 16, digest=b"d" * 32,
                                         created_at=datetime.now(UTC)))
    store.migrate()
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
        assert conn.execute(text("SELECT id FROM server_api_tokens")).scalars().all() == ["abc"]
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    store.close()


def test_one_upgrade_creates_the_token_table(store: RecordStore) -> None:
    from clauseguard.guards.server.tokens import Role, TokenStore

    tokens = TokenStore(store.engine)
    token, info = tokens.create(Role.MODERATOR, "m")
    principal = tokens.verify(token)
    assert principal is not None and (principal.id, principal.role) == (info.id, Role.MODERATOR)


@pytest.mark.parametrize("url", ["postgresql+psycopg://bob:hunter2@TopSecretTail@127.0.0.1:1/db",
                                 "postgresql://u:p/x@y@host/db?sslmode=require"])
def test_a_password_holding_an_unencoded_at_is_refused_before_connecting(url: str, monkeypatch: pytest.MonkeyPatch
                                                                          ) -> None:
    """The password was masked in the URL, but the driver was still asked to connect: it looked the
    password's tail up in DNS as the host and its error, appended verbatim, showed "TopSecretTail"."""
    import clauseguard.guards.records.store as store_module

    def no_engine(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("create_engine called for a URL that should be refused")

    monkeypatch.setattr(store_module, "create_engine", no_engine)
    with pytest.raises(RecordsError, match="percent-encode it as %40") as caught:
        RecordStore.open(url)
    assert "TopSecret" not in str(caught.value) and "p/x" not in str(caught.value)


@pytest.mark.parametrize("url", ["sqlite:////tmp/odd@name@x.db", "postgresql://u:p%40ss@host/db?options=a@b",
                                 "postgresql://bob@host/db@archive"])
def test_one_at_in_the_authority_is_not_refused(url: str) -> None:
    from clauseguard.guards.records.store import _authority_ats

    assert _authority_ats(url) <= 1


def test_driver_messages_are_scrubbed_of_password_fragments() -> None:
    """A driver that read part of the password as the host echoed it in its error, and the store
    appended that error verbatim to its own message."""
    from sqlalchemy.exc import OperationalError as SAOperationalError

    from clauseguard.guards.records.store import _unavailable_is_records_error, password_fragments

    url = "postgresql+psycopg://bob:hunter2@TopSecretTail@127.0.0.1:1/db"
    driver = Exception("failed to resolve host 'TopSecretTail@127.0.0.1': Name or service not known")
    with pytest.raises(RecordsError) as caught, _unavailable_is_records_error("shown", password_fragments(url)):
        raise SAOperationalError("connect", {}, driver)
    assert "TopSecret" not in str(caught.value) and "hunter2" not in str(caught.value)
    assert "failed to resolve host '***@127.0.0.1'" in str(caught.value)


def test_decisions_made_before_informed_at_keep_counting_from_decided_at(store_url: str) -> None:
    """Revision 0004 adds decisions.informed_at; a decision stored before it has none, and its complaint
    window still counts from decided_at."""
    from datetime import UTC, datetime

    from clauseguard.guards.records import NoticeError, file_complaint

    with RecordStore.open(store_url, migrate=False) as old:
        old.migrate("0003_audit_anchor_triggers")
        with old.engine.begin() as conn:
            conn.execute(text("INSERT INTO decisions (reference, decided_at, restriction, outcome, automated_detection,"
                              " automated_decision, statement) VALUES ('SOR-OLD', :t, 'removal', 'action_taken',"
                              " false, false, '{}')"), {"t": "2025-01-31 00:00:00.000000"})
        # as text: importing guardrails makes sqlite3 store every datetime parameter as a Unix time
        old.migrate()
        assert file_complaint(old, "SOR-OLD", "wrong", received_at=datetime(2025, 7, 31, tzinfo=UTC))
        with pytest.raises(NoticeError, match="6 months"):
            file_complaint(old, "SOR-OLD", "late", received_at=datetime(2025, 7, 31, 0, 1, tzinfo=UTC))
