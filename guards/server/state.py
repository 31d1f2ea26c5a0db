"""What the routes share: the pipeline, the settings, the metrics, the database handles.

Built once by ``create_app`` and kept on ``app.state.clauseguard``; routes reach it through
:func:`get_state` so tests can build apps side by side without globals.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from clauseguard.guards._base import Context
from clauseguard.guards._params import Stage
from clauseguard.guards.pipeline import Pipeline
from clauseguard.guards.server.audit import bind_context
from clauseguard.guards.server.client import pseudonymous_ip, pseudonymous_ip_group
from clauseguard.guards.server.metrics import Metrics
from clauseguard.guards.server.settings import Network, ServerSettings

__all__ = ["ServerState", "get_state", "request_context"]


@dataclass
class ServerState:
    pipeline: Pipeline
    settings: ServerSettings
    metrics: Metrics
    engine: Any
    tokens: Any
    records: Any = None
    documents: dict[str, str] = field(default_factory=dict)
    proxies: tuple[Network, ...] = ()
    pseudonymizer: Any = None
    report_path: Any = None
    lock_path: Any = None
    audit_writer: Any = None  # the records' AuditWriter (group commit), closed when the app stops
    sessions: Any = None  # RevokedSessions: the moderators' sessions signed out before their expiry
    # The public routes' throttles per client (token buckets, :mod:`.throttle`): sign-in attempts, notices
    # and other intake, questionnaire renderings. In memory unless settings.rate_limit_db shares them.
    buckets: Any = field(default_factory=lambda: _memory_buckets())
    # Bearer tokens checked lately, valid or not (:class:`.throttle.TokenCache`): no scrypt check again.
    token_cache: Any = field(default_factory=lambda: _token_cache())
    # Signs the pages' CSRF tokens and sessions: settings.session_secret, else random for this app.
    pages_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))


def _memory_buckets() -> Any:
    from clauseguard.guards.rate_limit import MemoryBucketStore

    return MemoryBucketStore(max_keys=10_000)


def _token_cache() -> Any:
    from clauseguard.guards.server.throttle import TokenCache

    return TokenCache()


def get_state(request: Request) -> ServerState:
    return request.app.state.clauseguard


def request_context(request: Request, state: ServerState, *, stage: str, user_key: str | None,
                    turn: int = 0, request_id: str | None = None) -> Context:
    """The guards' context: the user key and the client's address, both pseudonymised here.

    The context is bound to the running request, so its decision's audit record carries the user's
    pseudonym (:mod:`clauseguard.guards.server.audit`).
    """
    ip = pseudonymous_ip(request, state.proxies, state.pseudonymizer)
    group = pseudonymous_ip_group(request, state.proxies, state.pseudonymizer)  # what rate limits count
    key = state.pseudonymizer.user(user_key) if user_key else None
    extra = {"request_id": request_id} if request_id else {}
    return bind_context(Context(user_key=key, ip=ip, ip_group=group, turn=turn, stage=Stage(stage), **extra))
