"""``clauseguard serve``: the HTTP service (FastAPI under uvicorn) for one guards.yaml.

Listens on 127.0.0.1 unless told otherwise: exposing the service is a decision to make on purpose
(behind a reverse proxy, list it with ``--trusted-proxy`` so the client's address is read from
``X-Forwarded-For``). ``--create-admin-token`` writes a new admin token to the database, prints it
once and exits; the bootstrap alternative is ``CLAUSEGUARD_ADMIN_TOKEN`` in the environment.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from clauseguard.errors import UserError

__all__ = ["serve"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _missing_extra(err: ImportError) -> UserError:
    return UserError(f"the server needs the [server] extra ({err.name} is missing): "
                     "pip install 'clauseguard[server]'")


def _create_admin_token(db_url: str, label: str) -> None:
    from clauseguard.guards.records.store import RecordStore
    from clauseguard.guards.server.tokens import Role, TokenStore

    with _db_errors_are_users(db_url), RecordStore.open(db_url) as store:
        token, info = TokenStore(store.engine).create(Role.ADMIN, label)
    click.echo(f"admin token {info.id} (shown once; store it now):", err=True)
    click.echo(token)


@click.command("serve")
@click.option("--guards", "guards_path", required=True, type=_FILE, help="guards.yaml to enforce")
@click.option("--db", "db_url", default="sqlite:///clauseguard.db", show_default=True,
              help="records database URL (SQLAlchemy)")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--report", "report_path", type=_FILE, help="report.json (document versions and sections)")
@click.option("--lock", "lock_path", type=_FILE, help="clauseguard.lock (document versions for records)")
@click.option("--trusted-proxy", "trusted_proxies", multiple=True,
              help="address or CIDR of a reverse proxy whose X-Forwarded-For is believed (repeatable)")
@click.option("--root-path", default="", metavar="PREFIX",
              help="the path prefix a reverse proxy strips before forwarding, e.g. /guard (links and redirects "
                   "of the pages, and the session cookie, carry it)")
@click.option("--create-admin-token", is_flag=True, help="create an admin token, print it once, and exit")
@click.option("--label", default="created by clauseguard serve", help="label of the token --create-admin-token makes")
def serve(guards_path: Path, db_url: str, host: str, port: int, report_path: Path | None, lock_path: Path | None,
          trusted_proxies: tuple[str, ...], root_path: str, create_admin_token: bool, label: str) -> None:
    """Serve the guards, the records and the LiteLLM guardrail endpoint over HTTP."""
    root_path = root_path.rstrip("/")
    if root_path and (not root_path.startswith("/") or any(c.isspace() or c in "?#" for c in root_path)):
        raise UserError(f"--root-path {root_path!r}: expected a path starting with / (such as /guard), "
                        "without spaces, '?' or '#'", where="--root-path")
    try:
        import uvicorn

        from clauseguard.guards.server.app import create_app
        from clauseguard.guards.server.settings import ServerSettings
    except ImportError as err:
        raise _missing_extra(err) from err
    if create_admin_token:
        _create_admin_token(db_url, label)
        return
    try:
        settings = ServerSettings.from_env(trusted_proxies=trusted_proxies)
    except ValueError as err:
        raise _settings_error(err) from err
    _log_to_stderr()  # before the app starts: it warns about missing keys as it is built
    with _db_errors_are_users(db_url):
        app = create_app(guards_path=guards_path, db_url=db_url, report_path=report_path, lock_path=lock_path,
                         settings=settings)
    # uvicorn's own X-Forwarded-For handling is off: the app decides whom to believe (--trusted-proxy).
    # Keep-alive longer than uvicorn's 5 s default, so a busy client's pooled connection is not closed
    # under it between two requests. No access log: uvicorn's writes each client's raw address (and the
    # path, which for GET /v1/acceptances/{user}/needed holds the account id) for every request, where
    # everything else sees only pseudonyms; the metrics count requests instead.
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False, server_header=False,
                timeout_keep_alive=30, root_path=root_path, access_log=False)


@contextlib.contextmanager
def _db_errors_are_users(db_url: str) -> Iterator[None]:
    """A record store that cannot be opened at start (a malformed URL, a folder that is not there, a server
    that refuses) is the ``--db`` given: exit code 2 naming it, as ``audit`` and ``records`` do."""
    from clauseguard.errors import RecordsError
    from clauseguard.guards.records.store import shown_url

    try:
        yield
    except RecordsError as err:
        raise UserError(f"--db {shown_url(db_url)}: {err}") from err


def _settings_error(err: ValueError) -> UserError:
    """Which setting is wrong, named as the user set it (an option or an environment variable), and
    why, never the value: it may be a secret."""
    from pydantic import ValidationError

    from clauseguard.guards.server.settings import (
        ADMIN_TOKEN_ENV,
        GUARDRAIL_KEY_ENV,
        SESSION_SECRET_ENV,
        THROTTLE_ENVS,
    )

    if not isinstance(err, ValidationError):
        return UserError(str(err), where="clauseguard serve")
    names = {"admin_token": ADMIN_TOKEN_ENV, "guardrail_api_key": GUARDRAIL_KEY_ENV,
             "session_secret": SESSION_SECRET_ENV, "trusted_proxies": "--trusted-proxy", **THROTTLE_ENVS}
    problems = [(names.get(str(e["loc"][0]), str(e["loc"][0])) if e["loc"] else "settings",
                 e["msg"].removeprefix("Value error, ")) for e in err.errors()]
    first, why = problems[0]
    return UserError("; ".join([why, *(f"{where}: {reason}" for where, reason in problems[1:])]), where=first)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (a test's capture, the terminal)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _log_to_stderr() -> None:
    """clauseguard's warnings (a missing pseudonym key) shown as uvicorn shows its own; a library's
    logger has only a NullHandler, so without this they went nowhere."""
    logger = logging.getLogger("clauseguard")
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(levelname)s:  %(name)s: %(message)s"))
        handler.setLevel(logging.WARNING)
        logger.addHandler(handler)
