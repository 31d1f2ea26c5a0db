"""How the records layer's errors become HTTP answers, chosen by the error's type.

- :class:`NoticeNotFound` (an unknown reference; a ``LookupError``) is a 404;
- any other :class:`NoticeError` is a 422 naming the fields the records layer names;
- :class:`RawIpError` is a 422 that does not echo the value;
- :class:`RecordsError` (the store cannot be written, or the audit queue stayed full) is a 503: the
  request was not carried out, and no verdict leaves without its audit record being accepted.

Starlette picks the handler of the most specific class in the exception's MRO, so the 404 handler
wins over the 422 one for ``NoticeNotFound`` without any look at the message.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from clauseguard.errors import NoticeError, NoticeNotFound, RawIpError, RecordsError
from clauseguard.guards.server.errors import logged_path

__all__ = ["install_records_handlers"]

log = logging.getLogger("clauseguard.guards.server")


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NoticeNotFound)
    return JSONResponse({"detail": exc.message}, status_code=404)


async def _notice_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NoticeError)
    errors = [{"loc": ["body", *f.split(".")], "field": f, "type": "invalid", "msg": exc.message}
              for f in exc.fields]
    return JSONResponse({"detail": exc.message, "errors": errors}, status_code=422)


async def _raw_ip(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "a field that holds only pseudonyms was given a raw IP address"},
                        status_code=422)


# The web pages' paths (under the app's root_path): their visitors get a page, not JSON.
_PAGE_PATHS = ("/report", "/moderation", "/questionnaire")


def _is_page(request: Request) -> bool:
    path, root = str(request.scope.get("path", "")), str(request.scope.get("root_path", ""))
    if root and path.startswith(root):
        path = path[len(root):]
    return any(path == p or path.startswith(p + "/") for p in _PAGE_PATHS)


async def _records_unavailable(request: Request, exc: Exception) -> Response:
    log.error("records unavailable on %s %s: %s", request.method, logged_path(request), exc)
    if _is_page(request):
        from clauseguard.guards.server.pages._render import page

        response: Response = page(request, "error.html", 503, title="Try again later",
                                  message="The service cannot reach its records just now, so nothing was saved. "
                                          "Please try again in a few minutes.")
    else:
        response = JSONResponse({"detail": "the records are unavailable; try again later"}, status_code=503)
    response.headers["Retry-After"] = "5"
    return response


def install_records_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NoticeNotFound, _not_found)
    app.add_exception_handler(NoticeError, _notice_error)
    app.add_exception_handler(RawIpError, _raw_ip)
    app.add_exception_handler(RecordsError, _records_unavailable)
