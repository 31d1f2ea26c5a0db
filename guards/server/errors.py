"""Error responses: malformed JSON is a 400, a bad field a 422 naming it, a user mistake a 422.

Validation errors never echo the submitted value back (it may be a user's prompt or personal data):
only the field path, the error type and the message. An unexpected exception is logged and answered
with a generic 500 that carries the request id, never a traceback.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from clauseguard.errors import UserError
from clauseguard.guards.server.middleware import SECURITY_HEADERS

__all__ = ["install_error_handlers", "logged_path", "validation_detail"]

log = logging.getLogger("clauseguard.guards.server")


def validation_detail(errors: list[Any]) -> list[dict[str, Any]]:
    """Each error as ``{loc, field, type, msg}`` without the offending input."""
    out = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        field = ".".join(part for part in loc if part not in ("body", "query", "path", "header"))
        kind = err.get("type", "")
        if kind == "union_tag_not_found":  # the discriminator itself is missing: name it
            field = ".".join(p for p in (field, str((err.get("ctx") or {}).get("discriminator", "")).strip("'")) if p)
            kind = "missing"
        out.append({"loc": loc, "field": field, "type": kind, "msg": err.get("msg", "")})
    return out


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return JSONResponse({"detail": "malformed JSON body"}, status_code=400)
    detail = validation_detail(errors)
    missing = [d["field"] for d in detail if d["type"] == "missing"]
    message = f"missing field(s): {', '.join(missing)}" if missing else "invalid request"
    return JSONResponse({"detail": message, "errors": detail}, status_code=422)


async def _user_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)


def logged_path(request: Request) -> str:
    """What a log line names a request by: its route's template (``/v1/acceptances/{user_key}/needed``),
    never the path itself, whose parameters may be an account id or a notice reference (the reason the
    access log is off); ``(no route)`` for a path no route matched."""
    route = request.scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else "(no route)"


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    ref = uuid.uuid4().hex
    log.exception("unexpected error %s on %s %s", ref, request.method, logged_path(request))
    # Answered by Starlette's ServerErrorMiddleware, outside the app's middleware: the headers are added here.
    return JSONResponse({"detail": "internal error", "error_id": ref}, status_code=500, headers=SECURITY_HEADERS)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(Exception, _unexpected)
