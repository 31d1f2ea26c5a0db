"""The one Jinja2 environment of the pages, the headers every page carries, and the one stylesheet.

Autoescape is on for every template and undefined names are errors (``StrictUndefined``), so a
template can neither print raw attacker text nor silently print nothing. The templates and the
stylesheet stay in ``guards/server/templates`` and ``guards/server/static`` (the package data of
``clauseguard.guards.server``), one folder above this package.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.concurrency import run_in_threadpool

from clauseguard import __version__

__all__ = ["CSP", "STATIC_DIR", "TEMPLATES_DIR", "page", "prefix", "router", "throttled"]

_SERVER = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = _SERVER / "templates"
STATIC_DIR = _SERVER / "static"
CSP = ("default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
_STATIC = {"pages.css": "text/css; charset=utf-8"}  # the only files served: no path ever reaches the disk

router = APIRouter(include_in_schema=False)


def _utc(value: datetime | str | None) -> str:
    """A moment as the pages show it, always in UTC so moderators in different zones read the same."""
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


_env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)
_env.filters["utc"] = _utc
_env.globals["version"] = __version__


def prefix(request: Request) -> str:
    """The path the pages are served under, "" at the root, as it goes before ``/report`` in a URL.

    It is the ASGI ``root_path``: Starlette sets it for a mounted app (``app.mount("/guard", ...)``) and
    ``uvicorn --root-path /guard`` behind a proxy that strips the prefix. Both are the operator's choice;
    no request header (``X-Forwarded-Prefix``) is ever believed.
    """
    return quote(str(request.scope.get("root_path", "")).rstrip("/"))


def page(request: Request, name: str, code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``templates/name`` with the headers every page carries (no script, no framing, no cache).

    Templates write every link, form action and the stylesheet as ``{{ root }}/path``.
    """
    body = _env.get_template(name).render(root=prefix(request), **context)
    return HTMLResponse(body, status_code=code, headers={"Content-Security-Policy": CSP,
                                                           "Cache-Control": "no-store"})


async def throttled(request: Request, state: Any, limit: Any) -> HTMLResponse | None:
    """None when the client may go on (a token of its ``limit`` bucket taken, :mod:`..throttle`); else the
    429 page with ``Retry-After``, saying nothing was done and when to try again."""
    from clauseguard.guards.server.throttle import take

    if await run_in_threadpool(take, request, state, limit):
        return None
    minutes = max(1, round(limit.retry_after / 60))
    response = page(request, "error.html", 429, title="Too many requests",
                    message="Too many forms were sent from your address, so this one was not saved. "
                            f"Please wait {minutes} minute{'s' if minutes > 1 else ''} and send it again.")
    response.headers["Retry-After"] = str(limit.retry_after)
    return response


@router.get("/static/{name}")
async def static(name: str, request: Request) -> Response:
    """The stylesheet; any other name is a 404 page (names are looked up, never joined to a path)."""
    if name not in _STATIC:
        return page(request, "error.html", 404, title="Not found", message="There is no such file.")
    return Response((STATIC_DIR / name).read_bytes(), media_type=_STATIC[name],
                    headers={"Cache-Control": "public, max-age=3600"})
