"""How the records layer's errors become HTTP answers.

A :class:`NoticeError` about something that does not exist ("no notice with reference ...") is a 404;
any other is a 422 naming the fields the records layer names. A look-up that does not exist is a
:class:`LookupError` subclass once the records layer offers one; until then the "no ..." wording of
its messages is what tells them apart.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from clauseguard.errors import NoticeError, RawIpError

__all__ = ["install_records_handlers"]


def _is_missing(err: NoticeError) -> bool:
    return isinstance(err, LookupError) or err.message.startswith("no ")


async def _notice_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NoticeError)
    if _is_missing(exc):
        return JSONResponse({"detail": exc.message}, status_code=404)
    errors = [{"loc": ["body", *f.split(".")], "field": f, "type": "invalid", "msg": exc.message}
              for f in exc.fields]
    return JSONResponse({"detail": exc.message, "errors": errors}, status_code=422)


async def _raw_ip(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "a field that holds only pseudonyms was given a raw IP address"},
                        status_code=422)


def install_records_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NoticeError, _notice_error)
    app.add_exception_handler(RawIpError, _raw_ip)
