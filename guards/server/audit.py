"""The request's pseudonymised user key and id on its audit record.

The pipeline's decision record carries ``context.request_id`` but not the user key, and a sink sees
only the record. So :func:`~clauseguard.guards.server.state.request_context` binds the request's
:class:`Context` (whose user key and IP are already pseudonymised) to the running context
(:mod:`contextvars`: the event-loop task, and the worker thread ``run_in_threadpool`` starts from it),
and :class:`RequestKeySink` adds ``user_key_pseudonym`` to the decision whose request id matches.
Nothing raw is added: only the pseudonym, which the audit sink stores as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from clauseguard.guards._base import Context
from clauseguard.guards.sinks import DecisionSink

__all__ = ["RequestKeySink", "bind_context"]

_current: ContextVar[Context | None] = ContextVar("clauseguard_request_context", default=None)


def bind_context(context: Context) -> Context:
    """Make ``context`` the one whose decisions :class:`RequestKeySink` completes; returns it."""
    _current.set(context)
    return context


class RequestKeySink:
    """Adds the bound request's user pseudonym (or, without a user key, its IP pseudonym) to a decision.

    Only a decision with the bound context's request id is completed, so a decision made outside a
    request (or for another one) is passed on unchanged.
    """

    def __init__(self, inner: DecisionSink) -> None:
        self.inner = inner

    def record(self, decision: Mapping[str, Any]) -> None:
        context = _current.get()
        if context is not None and decision.get("request_id") == context.request_id:
            key = context.user_key or context.ip
            if key and "user_key_pseudonym" not in decision:
                decision = {**decision, "user_key_pseudonym": key}
        self.inner.record(decision)
