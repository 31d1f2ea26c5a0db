"""The record store: one SQLAlchemy engine, migrated to the newest schema when opened.

SQLite (the default) is opened in WAL mode with ``synchronous=FULL`` and foreign keys on, so a record
that was committed survives a crash of the process or of the machine. Write transactions on SQLite
start with ``BEGIN IMMEDIATE`` (they take the write lock at once, so two writers never both read the
same audit head); PostgreSQL writers lock the head row with ``SELECT ... FOR UPDATE`` instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    NotSupportedError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from clauseguard.errors import RecordsError
from clauseguard.guards._sqlite import switch_to_wal

__all__ = ["DEFAULT_URL", "RecordStore"]

DEFAULT_URL = "sqlite:///clauseguard.db"
_WRITE = "clauseguard_write"
_PG_MIGRATION_LOCK = 0x636C6175  # pg_advisory_xact_lock key while migrating ("clau")
_BUSY_TIMEOUT_S = 30  # how long a SQLite statement waits for another writer's lock before it fails
log = logging.getLogger(__name__)
# the database refused this statement or value (a duplicate, a bad value): retrying cannot help, and
# callers rely on the type (record_acceptance catches IntegrityError); left as they are
_REFUSED = (IntegrityError, DataError, ProgrammingError, NotSupportedError)


def _password_span(url: str) -> tuple[int, int] | None:
    """Where the password of ``url`` is: from after the first ':' of the authority (a user name holds no
    unescaped ':' or '@') to its LAST '@' before any query, since the password may hold '@' and '/'
    (None: no password)."""
    scheme_end = url.find("://")
    if scheme_end < 0:
        return None
    start = scheme_end + 3
    query = min((i for i in (url.find("?", start), url.find("#", start)) if i >= 0), default=len(url))
    first_at, last_at, colon = url.find("@", start), url.rfind("@", start, query), url.find(":", start)
    if first_at < 0 or last_at < 0 or colon < 0 or colon > first_at or "/" in url[start:colon]:
        return None  # no user info, or a ':' of the host (port) or of a SQLite path
    return colon + 1, last_at


def _authority_ats(url: str) -> int:
    """How many '@' the authority of ``url`` holds (user info and host, before the path and query); a
    URL without one (``sqlite:///file.db``) has none."""
    scheme_end = url.find("://")
    if scheme_end < 0 or url.startswith("/", scheme_end + 3):
        return 0
    rest = re.split(r"[?#]", url[scheme_end + 3:], maxsplit=1)[0]
    slash = rest.find("/", rest.find("@") + 1)  # a password may hold '/': the path starts after the host
    return rest[: len(rest) if slash < 0 else slash].count("@")


def shown_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, also when SQLAlchemy cannot parse it (a bad port)
    or parses it wrongly (a password holding '@': SQLAlchemy ends it at the first one and shows the rest
    as the host)."""
    span = _password_span(url)
    masked = url if span is None else f"{url[:span[0]]}***{url[span[1]:]}"
    if span is not None and "@" in url[span[0]:span[1]]:
        return masked
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return masked


_MIN_FRAGMENT = 3  # shorter pieces of a password are left in messages (masking "a" would garble them)


def password_fragments(url: str) -> tuple[str, ...]:
    """The password of ``url`` as written and percent-decoded, and its pieces between '@', '/', ':' (what
    a driver that misread the URL shows as host, port or database), longest first."""
    span = _password_span(url)
    if span is None:
        return ()
    raw = url[span[0]:span[1]]
    pieces = {raw, unquote(raw), *re.split(r"[@/:?#]", raw), *re.split(r"[@/:?#]", unquote(raw))}
    return tuple(sorted((p for p in pieces if len(p) >= _MIN_FRAGMENT), key=len, reverse=True))


def scrub(message: str, fragments: tuple[str, ...]) -> str:
    """``message`` (a driver's error) with every password fragment replaced by ``***``."""
    for fragment in fragments:
        message = message.replace(fragment, "***")
    return message


def _check_authority(url: str) -> None:
    """Refuse a URL whose authority holds more than one unencoded '@' before anything connects: the
    driver would read the password's tail as the host, look it up in DNS and echo it in its errors."""
    if _authority_ats(url) > 1:
        raise RecordsError(f"cannot open record store {shown_url(url)!r}: the URL holds more than one unencoded '@' "
                           "before its host (a '@' in the password or user name): percent-encode it as %40")


@contextmanager
def _unavailable_is_records_error(url: str, fragments: tuple[str, ...] = ()) -> Iterator[None]:
    """Turn "the store cannot be reached or written" (locked, full, read-only, not a database,
    disconnected) into :class:`RecordsError`, which the server answers with 503 and Retry-After."""
    try:
        yield
    except _REFUSED:
        raise
    except (DBAPIError, DisconnectionError, PoolTimeoutError) as err:
        cause = getattr(err, "orig", None) or err
        raise RecordsError(f"record store {url} cannot be read or written: {scrub(str(cause), fragments)}") from err


def _sqlite_events(engine: Engine) -> None:
    """Own the transaction boundaries of pysqlite so BEGIN IMMEDIATE is possible."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # pysqlite must not issue BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_S * 1000}")
        switch_to_wal(cur, _BUSY_TIMEOUT_S)  # retried: openers of one new file refuse each other at once
        for pragma in ("synchronous=FULL", "foreign_keys=ON"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class RecordStore:
    """The database behind audit log, notices and acceptances. Open with :meth:`open`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # through shown_url: SQLAlchemy reads the part of a password after an unencoded '@' as the host
        raw = engine.url.render_as_string(hide_password=False)
        self.url = shown_url(raw)
        self._fragments = password_fragments(raw)  # masked in every driver message we pass on

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"`` (the two backends that are tested)."""
        return self.engine.dialect.name

    @classmethod
    def open(cls, url: str = DEFAULT_URL, *, migrate: bool = True, must_exist: bool = False,
             echo: bool = False) -> RecordStore:
        """Connect to ``url`` and bring the schema to the newest revision (``alembic upgrade head``).

        ``must_exist=True`` (for readers: verify, export, listings; pass ``migrate=False`` with it) creates
        nothing: a SQLite file that does not exist, a file that is not a database, or a database without
        the record tables is a :class:`RecordsError` ("no record store at ..."), never a new empty store.
        A URL with more than one unencoded '@' before its host is refused before anything connects.
        """
        _check_authority(url)
        try:
            engine = create_engine(url, echo=echo, pool_pre_ping=not url.startswith("sqlite"))
        except (SQLAlchemyError, ImportError, ValueError) as err:
            raise RecordsError(f"cannot open record store {shown_url(url)!r}: "
                               f"{scrub(str(err), password_fragments(url))}") from err
        if engine.dialect.name == "sqlite":
            _sqlite_events(engine)
        store = cls(engine)
        path = store.sqlite_path
        if path is not None and not path.parent.is_dir():
            raise RecordsError(f"cannot open record store {path}: folder {path.parent} does not exist")
        if must_exist:
            store._require_schema()
        if migrate:
            store.migrate()
        return store

    @property
    def sqlite_path(self) -> Path | None:
        """The absolute path of a SQLite file store; None for an in-memory one or another backend."""
        database = self.engine.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database).resolve()

    def _require_schema(self) -> None:
        """Raise :class:`RecordsError` unless a record store exists here (nothing is created)."""
        path = self.sqlite_path
        where = str(path) if path is not None else self.url
        if path is not None and not path.is_file():
            raise RecordsError(f"no record store at {where}: the file does not exist")
        try:
            with self.engine.connect() as conn:
                tables = set(inspect(conn).get_table_names())
        except (DBAPIError, DisconnectionError, PoolTimeoutError) as err:
            cause = scrub(str(getattr(err, "orig", None) or err), self._fragments)
            raise RecordsError(f"no record store at {where}: {cause}") from err
        if not {"alembic_version", "audit_log"} <= tables:
            raise RecordsError(f"no record store at {where}: the database has no record tables")

    def migrate(self, revision: str = "head") -> None:
        """Run ``alembic upgrade <revision>`` under a write lock, so concurrent openers do not race."""
        from alembic import command
        from alembic.config import Config

        try:
            with as_file(files("clauseguard.guards.records") / "migrations") as folder, self.engine.connect() as conn:
                conn = conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    if self.dialect == "postgresql":
                        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
                    config = Config()
                    config.set_main_option("script_location", str(folder))
                    config.attributes["connection"] = conn
                    command.upgrade(config, revision)
        except SQLAlchemyError as err:
            raise RecordsError(f"cannot migrate record store {self.url}: {scrub(str(err), self._fragments)}") from err

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session in one transaction, committed on exit (rolled back on error).

        ``write=True`` takes the SQLite write lock at BEGIN; use it for every read-then-write. A store that
        cannot be reached or written (locked, full, read-only) raises :class:`RecordsError`; a statement
        the database refuses (``IntegrityError``, ``DataError``) keeps its own type.
        """
        with _unavailable_is_records_error(self.url, self._fragments), self.engine.connect() as conn:
            if write:
                conn = conn.execution_options(**{_WRITE: True})
            with Session(bind=conn, expire_on_commit=False) as session, session.begin():
                yield session

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Connection]:
        """A Core connection in one transaction, committed on exit; the lighter twin of :meth:`session`."""
        with _unavailable_is_records_error(self.url, self._fragments), self.engine.connect() as conn:
            if write:
                conn = conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
