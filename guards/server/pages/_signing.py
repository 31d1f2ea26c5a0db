"""Signing for the pages: CSRF tokens on every form and the moderators' signed session cookie.

Forms carry a CSRF token: ``time.nonce.HMAC(secret, purpose|time|nonce)``, valid for two hours, bound
to the form's purpose (and, for moderators, to their session). Moderators log in with their bearer
token; the page keeps only a signed session in an HttpOnly, SameSite=Strict cookie (Secure over
https), never the token. Signing out records the session's id (:mod:`..sessions`, in the records
database the workers share), so a copy of the cookie stops working too. The signing secret comes from
``CLAUSEGUARD_SESSION_SECRET`` (share it between workers; ``ServerSettings.session_secret``, checked
when the app is made) or is drawn at random per app (sessions then end with the process).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from clauseguard.guards.server.pages._render import page
from clauseguard.guards.server.settings import SESSION_SECRET_ENV
from clauseguard.guards.server.state import ServerState, get_state
from clauseguard.guards.server.tokens import Principal, Role

__all__ = ["CSRF_TTL_S", "SECRET_ENV", "SESSION_COOKIE", "SESSION_TTL_S", "Session", "csrf_ok", "csrf_refused",
           "csrf_token", "end_session", "read_session", "session_cookie"]

SECRET_ENV = SESSION_SECRET_ENV
SESSION_COOKIE = "cg_session"
CSRF_TTL_S = 2 * 3600
SESSION_TTL_S = 8 * 3600


def _secret(request: Request) -> bytes:
    """The app's signing secret: ``ServerSettings.session_secret`` (checked when the app is made), else
    drawn at random once per app."""
    return get_state(request).pages_secret


def _mac(secret: bytes, message: str) -> str:
    return hmac.new(secret, message.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    """A constant-time comparison of two texts as bytes (``compare_digest`` refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def _stamp_ok(stamp: str) -> bool:
    """A time stamp as this app writes it: ASCII digits, at most 12 (``int`` of "²" or 5000 digits raises)."""
    return stamp.isascii() and stamp.isdigit() and len(stamp) <= 12


def csrf_token(request: Request, purpose: str) -> str:
    """A fresh token for a form of ``purpose`` (a nonce, so two renderings never share one)."""
    stamp, nonce = str(int(time.time())), secrets.token_urlsafe(16)
    return f"{stamp}.{nonce}.{_mac(_secret(request), f'csrf|{purpose}|{stamp}|{nonce}')}"


def csrf_ok(request: Request, form: FormData, purpose: str) -> bool:
    """Whether the form carries a token made for ``purpose`` by this app less than two hours ago."""
    stamp, _, rest = str(form.get("csrf_token", "")).partition(".")
    nonce, _, mac = rest.partition(".")
    if not (_stamp_ok(stamp) and nonce and mac) or time.time() - int(stamp) > CSRF_TTL_S:
        return False
    return _same(mac, _mac(_secret(request), f"csrf|{purpose}|{stamp}|{nonce}"))


def csrf_refused(request: Request) -> HTMLResponse:
    """The 403 page for a POST without a valid token: nothing was done, and the person is told why."""
    return page(request, "error.html", 403, title="Form expired",
                message="This form was not sent from this site or has expired. Go back, reload it and send it again.")


@dataclass(frozen=True)
class Session:
    """A moderator's session: who, in which role, the session id their forms' tokens are bound to (and
    that signing out revokes), and when it ends."""

    principal: str
    role: Role
    sid: str
    expires_at: int = 0  # Unix time


def _bootstrap_fingerprint(request: Request) -> str | None:
    """Which bootstrap admin token (``CLAUSEGUARD_ADMIN_TOKEN``) is configured now, as an HMAC of it under
    the signing secret (truncated: it identifies, it is not the token); None when there is none."""
    token = get_state(request).settings.admin_token
    return _mac(_secret(request), "bootstrap|" + token)[:32] if token else None


def session_cookie(request: Request, principal: Principal) -> str:
    """The signed cookie value for a fresh session of ``principal`` (never the bearer token).

    A session of the bootstrap admin token (principal ``env``) has no row to revoke, so it carries the
    fingerprint of that token: changing or removing ``CLAUSEGUARD_ADMIN_TOKEN`` ends it.
    """
    claims = {"p": principal.id, "r": principal.role.value, "sid": secrets.token_urlsafe(16),
              "exp": int(time.time()) + SESSION_TTL_S}
    if principal.id == "env":
        claims["bt"] = _bootstrap_fingerprint(request)
    body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode()
    return f"{body}.{_mac(_secret(request), 'session|' + body)}"


def _claims(request: Request) -> dict[str, Any] | None:
    """The claims of a cookie signed by this app; None if absent, forged or not readable."""
    body, _, mac = request.cookies.get(SESSION_COOKIE, "").partition(".")
    if not body or not _same(mac, _mac(_secret(request), "session|" + body)):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(body.encode("ascii")))
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def read_session(request: Request, state: ServerState) -> Session | None:
    """The moderator's session from the signed cookie; None if absent, forged, expired, signed out or
    revoked (for the bootstrap admin: made with another ``CLAUSEGUARD_ADMIN_TOKEN`` than the one set now)."""
    claims = _claims(request)
    if claims is None:
        return None
    session = Session(str(claims["p"]), Role(claims["r"]), str(claims["sid"]), int(claims["exp"]))
    if session.expires_at < time.time() or not Principal(session.principal, session.role).may(Role.MODERATOR):
        return None
    if session.principal == "env":
        current = _bootstrap_fingerprint(request)
        if current is None or not _same(str(claims.get("bt", "")), current):
            return None  # the bootstrap token was changed or removed since this session began
    elif not state.tokens.active(session.principal):
        return None
    if state.sessions is not None and state.sessions.revoked(session.sid):
        return None  # signed out: a copy of the cookie ends with it
    return session


def end_session(state: ServerState, session: Session) -> None:
    """Sign ``session`` out for every worker: its id is refused until it would have expired."""
    if state.sessions is not None:
        state.sessions.revoke(session.sid, session.expires_at)
