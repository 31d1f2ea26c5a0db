"""The FastAPI app factory: ``create_app(guards_path=..., db_url=...)``.

One app holds one pipeline (from guards.yaml), one record store (SQLite by default) and its own
metrics. Every decision the pipeline makes goes through :class:`MetricsSink` into the audit log of
the record store, group-committed by an :class:`~clauseguard.guards.records.writer.AuditWriter`
(a check answers before its record is committed unless ``audit_wait_for_commit``; the writer drains
when the app stops). Nothing is global, so tests build as many apps as they like.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from clauseguard import __version__
from clauseguard.errors import GuardConfigError
from clauseguard.guards.pipeline import Pipeline
from clauseguard.guards.server import (
    acceptances,
    admin,
    check,
    health,
    litellm,
    moderation,
    notices,
    pages,
    redress,
)
from clauseguard.guards.server.audit import RequestKeySink
from clauseguard.guards.server.client import process_pseudonymizer
from clauseguard.guards.server.errors import install_error_handlers
from clauseguard.guards.server.metrics import Metrics, MetricsSink
from clauseguard.guards.server.middleware import (
    BodyLimitMiddleware,
    MetricsMiddleware,
    NulUrlMiddleware,
    SecurityHeadersMiddleware,
)
from clauseguard.guards.server.records_errors import install_records_handlers
from clauseguard.guards.server.sessions import RevokedSessions
from clauseguard.guards.server.settings import ServerSettings
from clauseguard.guards.server.state import ServerState
from clauseguard.guards.server.throttle import shared_buckets
from clauseguard.guards.server.tokens import TokenStore
from clauseguard.guards.sinks import DecisionSink

__all__ = ["AUDIT_DRAIN_SECONDS", "IMAGE_PATHS", "create_app"]

AUDIT_DRAIN_SECONDS = 30.0  # how long shutdown waits for queued audit records to be committed

# Paths whose bodies may carry images (the larger size limit applies).
IMAGE_PATHS = ("/v1/check/image", litellm.PATH)


def read_documents(report_path: str | Path | None) -> dict[str, str]:
    """``{document id: version}`` from report.json (empty without one)."""
    if report_path is None:
        return {}
    try:
        data = json.loads(Path(report_path).read_text(encoding="utf-8"))
        return {str(d["id"]): str(d["version"]) for d in data["documents"]}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise GuardConfigError(f"cannot read documents from report: {err}", where=str(report_path)) from err


def check_same_profile(guards_path: str | Path, lock_path: str | Path | None,
                       report_path: str | Path | None) -> None:
    """guards.yaml, clauseguard.lock and report.json from different profiles would have records cite
    documents the running guards do not enforce: a :class:`GuardConfigError` naming the files."""
    from clauseguard.guards.records.lockfile import check_same_profile as same_profile

    same_profile(guards=guards_path, lock=lock_path, report=report_path)


def create_app(*, guards_path: str | Path, db_url: str, report_path: str | Path | None = None,
               lock_path: str | Path | None = None, settings: ServerSettings | None = None,
               audit_sink: DecisionSink | None = None) -> FastAPI:
    """The service for ``guards_path`` with records in ``db_url``.

    ``audit_sink`` replaces the record store's audit log (tests); by default decisions are audited in
    the database. ``report_path`` and ``lock_path`` tie decisions and acceptances to the documents'
    versions.
    """
    settings = settings or ServerSettings.from_env()
    state = _build_state(guards_path, db_url, report_path, lock_path, settings, audit_sink)
    app = FastAPI(title=settings.title, version=__version__, description=_DESCRIPTION,
                  openapi_tags=_TAGS, lifespan=_lifespan)
    app.state.clauseguard = state
    for module in (check, litellm, notices, redress, moderation, acceptances, admin, health, pages):
        app.include_router(module.router)
    install_error_handlers(app)
    install_records_handlers(app)
    # The last added is the outermost: the headers wrap the body limit, so its 413 carries them too.
    app.add_middleware(NulUrlMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit_for=_limits(settings))
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """On shutdown, drain the audit queue (every decision answered is committed) and close the store."""
    yield
    state: ServerState = app.state.clauseguard
    if state.audit_writer is not None:
        await run_in_threadpool(state.audit_writer.close, AUDIT_DRAIN_SECONDS)
    state.records.close()


def _limits(settings: ServerSettings) -> Any:
    def limit_for(path: str) -> int:
        # Under a prefix (app.mount("/guard", ...), uvicorn --root-path) the path keeps it:
        # /guard/v1/check/image. Any other path that ends so matches no route and is never read.
        return settings.max_image_bytes if path.endswith(IMAGE_PATHS) else settings.max_json_bytes

    return limit_for


def _without_password(where: str) -> str:
    """A database URL as it may be printed (its password masked); a path as it is."""
    if "://" not in where:
        return where
    from sqlalchemy.engine import make_url

    try:
        url = make_url(where)
    except Exception:  # not a URL SQLAlchemy reads: say so without echoing it
        return "the URL given"
    if "@" in (url.host or ""):  # an '@' of the password not encoded: what looks like the host holds the rest
        return "the URL given"
    return url.render_as_string(hide_password=True)


def _share_rate_limits(pipeline: Pipeline, path: str, pseudonymizer: Any) -> Any:
    """The rate_limit guards' buckets in the SQLite file or PostgreSQL database ``path``, shared by the workers
    that name it. A user's bucket is found by their pseudonym, so the workers must share the pseudonym key too.
    Returns the store of the server's own throttles (:mod:`.throttle`) there."""
    from clauseguard.guards.rate_limit import share_rate_limits
    from clauseguard.guards.server.client import ENV_KEYS, lasts_past_this_process
    from clauseguard.guards.server.settings import RATE_LIMIT_DB_ENV

    if not lasts_past_this_process(pseudonymizer):
        raise GuardConfigError(f"rate-limit buckets shared between workers ({RATE_LIMIT_DB_ENV}) need one "
                               f"pseudonym key for all of them: set {ENV_KEYS} (each worker's random key "
                               "gives each user another bucket in every worker)", where=RATE_LIMIT_DB_ENV)
    try:
        share_rate_limits(pipeline, path)
        return shared_buckets(path)
    except Exception as err:  # sqlite3.Error: a folder that does not exist, a file that is no database
        raise GuardConfigError(f"cannot open {_without_password(path)} for the rate-limit buckets: {err}",
                               where=RATE_LIMIT_DB_ENV) from err


def _build_state(guards_path: str | Path, db_url: str, report_path: str | Path | None,
                 lock_path: str | Path | None, settings: ServerSettings,
                 audit_sink: DecisionSink | None) -> ServerState:
    from clauseguard.guards.records.audit import AuditSink
    from clauseguard.guards.records.store import RecordStore
    from clauseguard.guards.records.writer import AuditWriter

    check_same_profile(guards_path, lock_path, report_path)
    store = RecordStore.open(db_url)
    metrics = Metrics()
    pseudonymizer = process_pseudonymizer()
    writer = None
    if audit_sink is None:
        writer = AuditWriter(store, max_batch=settings.audit_max_batch, max_wait=settings.audit_max_wait_ms / 1000,
                             max_queue=settings.audit_queue_size)
        audit_sink = AuditSink(store, lock=lock_path, report=report_path, pseudonymizer=pseudonymizer,
                               writer=writer, wait_for_commit=settings.audit_wait_for_commit)
    sink = MetricsSink(metrics, RequestKeySink(audit_sink))
    try:
        # The body limit (max_json_bytes) bounds the text a request can carry, so the pipeline needs no
        # character limit of its own: one limit, set in one place.
        pipeline = Pipeline.from_yaml(guards_path, sink=sink, max_chars=None)
        buckets = None
        if settings.rate_limit_db:
            buckets = _share_rate_limits(pipeline, settings.rate_limit_db, pseudonymizer)
        documents = read_documents(report_path)
        sessions = RevokedSessions(store.engine)
        sessions.create_table()  # the server's own table: sessions signed out before their expiry
    except BaseException:
        if writer is not None:
            writer.close()
        store.close()
        raise
    state = ServerState(pipeline=pipeline, settings=settings, metrics=metrics, engine=store.engine,
                        tokens=TokenStore(store.engine, bootstrap_admin=settings.admin_token), records=store,
                        documents=documents, proxies=settings.proxy_networks(),
                        pseudonymizer=pseudonymizer, report_path=report_path, lock_path=lock_path,
                        audit_writer=writer, sessions=sessions)
    if settings.session_secret is not None:
        state.pages_secret = settings.session_secret.encode("utf-8")
    if buckets is not None:  # the public routes' throttles count across the workers too
        state.buckets = buckets
    return state


_DESCRIPTION = """Runtime guards for an AI product, each decision traced to the clauses of its terms;
notices and takedowns (DSA, DMCA, TAKE IT DOWN), moderation, acceptances, and a hash-chained audit log."""

_TAGS = [
    {"name": "check", "description": "Run the guards on a text or an image."},
    {"name": "litellm", "description": "LiteLLM Generic Guardrail API."},
    {"name": "notices", "description": "Notices and takedowns (DSA, DMCA, TAKE IT DOWN), counter-notices."},
    {"name": "redress", "description": "Complaints against decisions (DSA Art. 20) and the transparency report."},
    {"name": "acceptances", "description": "Which document versions each user accepted, and what is still needed."},
    {"name": "moderation", "description": "The moderators' queue and decisions (bearer token)."},
    {"name": "admin", "description": "Tokens of moderators and admins."},
    {"name": "operations", "description": "Health and metrics."},
]
