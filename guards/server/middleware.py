"""ASGI middleware: body size limits, URLs without NUL, request metrics, safe response headers.

The size limit is enforced twice: a ``Content-Length`` over the limit is refused before any byte is
read, and a body streamed without one (chunked) is counted as it arrives and refused the moment it
passes the limit, so no request can make the server buffer more than the limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clauseguard.guards.server.metrics import Metrics

__all__ = ["SECURITY_HEADERS", "BodyLimitMiddleware", "MetricsMiddleware", "NulUrlMiddleware",
           "SecurityHeadersMiddleware"]


async def _send_json(send: Send, status: int, payload: dict[str, object]) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 for bodies over ``limit_for(path)`` bytes."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _send_json(send, 413, {"detail": f"request body over the limit of {limit} bytes"})
            return
        received = 0
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer now, and tell the app the client left: it stops reading, and whatever it
                    # tries to send afterwards is dropped.
                    refused = True
                    await _send_json(send, 413, {"detail": f"request body over the limit of {limit} bytes"})
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)


class NulUrlMiddleware:
    """400 for a path or query holding a NUL character (``%00``). Path parameters (references, token ids)
    and query values go into WHERE clauses, and PostgreSQL refuses NUL in text: a 500 otherwise. No
    reference, id or query value of this service contains one. (Bodies: the ``PlainText`` fields.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("\x00" in scope.get("path", "")
                                        or b"%00" in scope.get("query_string", b"")):
            await _send_json(send, 400, {"detail": "the URL contains a NUL character (%00)"})
            return
        await self.app(scope, receive, send)


# The methods counted by name; any other token a client sends is counted as "other" (bounded labels).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware:
    """Counts every response by route template (not raw path), method and status: bounded label values,
    whatever paths and methods clients invent."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(endpoint=endpoint, method=method if method in _METHODS else "other",
                                         status=str(status)).inc()


SECURITY_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY"}
_HEADERS = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


class SecurityHeadersMiddleware:
    """Headers that stop browsers sniffing JSON as HTML or framing the pages.

    It wraps the body limit, so a 413 carries them too; a 500 is answered outside every middleware
    (Starlette's ``ServerErrorMiddleware``), and its handler adds :data:`SECURITY_HEADERS` itself.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in _HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
