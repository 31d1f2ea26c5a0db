"""The moderators' queue: sign-in with a bearer token, the queue by deadline, one notice, its decision.

The token is checked once and never reaches a page or a cookie: the page keeps only a signed session
(:mod:`._signing`). A decision goes through the same model (``DecisionBody``) and the same records
call (``decide``) as the API, so a statement of reasons issued here is the one the API would issue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from clauseguard.errors import UserError
from clauseguard.guards.server.client import over_https
from clauseguard.guards.server.moderation import REGIMES, STATUSES, queue_page
from clauseguard.guards.server.pages._render import page, prefix
from clauseguard.guards.server.pages._signing import (
    SESSION_COOKIE,
    SESSION_TTL_S,
    Session,
    csrf_ok,
    csrf_refused,
    csrf_token,
    end_session,
    read_session,
    session_cookie,
)
from clauseguard.guards.server.state import ServerState, get_state
from clauseguard.guards.server.throttle import LOGIN, take, verify_token
from clauseguard.guards.server.tokens import Role

__all__ = ["read_decision", "router"]

router = APIRouter(include_in_schema=False)
State = Annotated[ServerState, Depends(get_state)]

_STATUSES = STATUSES
PAGE_SIZE = 100  # notices on one page of the queue; the page says how many there are and links to the rest


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{prefix(request)}/moderation/login", status_code=303,
                            headers={"Cache-Control": "no-store"})


def _cookie_path(request: Request) -> str:
    """The session cookie's path: the moderation pages, under the prefix the app is served at."""
    return f"{prefix(request)}/moderation"


def _login_page(request: Request, error: str = "", status: int = 200) -> HTMLResponse:
    return page(request, "login.html", status, title="Moderators' sign-in", error=error,
                csrf=csrf_token(request, "login"))


@router.get("/moderation/login", response_class=HTMLResponse)
async def login_form(request: Request) -> HTMLResponse:
    return _login_page(request)


@router.post("/moderation/login", response_model=None)
async def login(request: Request, state: State) -> Response:
    """Check the token once; keep only a signed session (the token never reaches a page or a cookie)."""
    form = await request.form()
    if not csrf_ok(request, form, "login"):
        return csrf_refused(request)
    if not await run_in_threadpool(take, request, state, LOGIN):
        response = _login_page(request, "Too many sign-in attempts; wait a minute and try again.", status=429)
        response.headers["Retry-After"] = str(LOGIN.retry_after)
        return response
    principal = await verify_token(request, state, str(form.get("token", "")).strip(), counted=True)
    if principal is None or not principal.may(Role.MODERATOR):
        return _login_page(request, "That token is not valid for moderation.", status=401)
    response = RedirectResponse(_cookie_path(request), status_code=303)
    response.set_cookie(SESSION_COOKIE, session_cookie(request, principal), max_age=SESSION_TTL_S,
                        path=_cookie_path(request), httponly=True, samesite="strict",
                        secure=over_https(request, state.proxies))
    return response


@router.post("/moderation/logout", response_model=None)
async def logout(request: Request, state: State) -> Response:
    """End the session for every worker (its id is refused until it expires), then delete the cookie."""
    session = await run_in_threadpool(read_session, request, state)
    form = await request.form()
    if session is not None and not csrf_ok(request, form, f"moderation|{session.sid}"):
        return csrf_refused(request)
    if session is not None:
        await run_in_threadpool(end_session, state, session)
    response = _to_login(request)
    response.delete_cookie(SESSION_COOKIE, path=_cookie_path(request), httponly=True, samesite="strict",
                           secure=over_https(request, state.proxies))
    return response


def _queue(state: ServerState, status: str, regime: str | None = None, offset: int = 0) -> list[Any]:
    return _queue_page(state, status, regime, offset)[0]


def _queue_page(state: ServerState, status: str, regime: str | None, offset: int) -> tuple[list[Any], int]:
    return queue_page(state.records, status=status, regime=regime, offset=offset, limit=PAGE_SIZE)


def _offset(text: str) -> int:
    """A page's offset from the query: a whole number of at most 9 digits, else 0 (the first page)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else 0


@router.get("/moderation", response_model=None)
async def moderation_queue(request: Request, state: State, status: str = "open", regime: str = "",
                           offset: str = "0") -> Response:
    """Notices by deadline, nearest first, a page of them at a time (with how many there are, and links to
    the other pages and to each regime alone); overdue ones marked. Without a session: the sign-in page."""
    session = await run_in_threadpool(read_session, request, state)
    if session is None:
        return _to_login(request)
    status = status if status in _STATUSES else "open"
    kind = regime if regime in REGIMES else None
    start = _offset(offset)
    notices, total = await run_in_threadpool(_queue_page, state, status, kind, start)
    return page(request, "queue.html", title="Moderation queue", notices=notices, status=status, statuses=_STATUSES,
                regime=kind or "", regimes=REGIME_NAMES, total=total, offset=start, page_size=PAGE_SIZE,
                now=datetime.now(UTC), session=session, csrf=csrf_token(request, f"moderation|{session.sid}"))


REGIME_NAMES = {"dsa": "DSA", "dmca": "DMCA", "take_it_down": "TAKE IT DOWN"}


def _clause_options(state: ServerState) -> list[tuple[str, list[dict[str, str]]]]:
    """The clauses a decision may cite, by document (the terms first) and section number, from report.json."""
    from clauseguard.guards.records.lockfile import clause_section, load_report

    if state.report_path is None:
        return []
    report = load_report(state.report_path)
    groups: dict[str, list[dict[str, str]]] = {}
    for clause in report.get("clauses", []):
        if clause.get("sections"):
            cited = clause_section(report, clause["id"]).to_dict()
            groups.setdefault(cited["document_title"], []).append(cited)
    for options in groups.values():
        options.sort(key=lambda o: [int(p) if p.isdigit() else 0 for p in o["section_number"].split(".")])
    return sorted(groups.items(), key=lambda g: g[1][0]["document_id"] != "terms-of-use")


def _notice_view(state: ServerState, reference: str) -> tuple[Any, dict[str, Any] | None]:
    from clauseguard.guards.records.models import Decision, Notice

    with state.records.session() as s:
        notice = s.execute(select(Notice).where(Notice.reference == reference)).scalar_one_or_none()
        if notice is None:
            return None, None
        decision = s.execute(select(Decision).where(Decision.notice_id == notice.id)
                             .order_by(Decision.decided_at.desc())).scalars().first()
        return notice, (decision.statement if decision else None)


async def _notice_page(request: Request, state: State, session: Session, reference: str,
                       values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                       status: int = 200) -> HTMLResponse:
    from clauseguard.guards.records.statements import DEFAULT_REDRESS, Restriction

    notice, statement = await run_in_threadpool(_notice_view, state, reference[:40])
    if notice is None:
        return page(request, "error.html", 404, title="Not found", message="There is no notice with that reference.")
    return page(request, "notice.html", status, title=f"Notice {notice.reference}", notice=notice, statement=statement,
                now=datetime.now(UTC), restrictions=[r.value for r in Restriction], redress=DEFAULT_REDRESS,
                clauses=await run_in_threadpool(_clause_options, state), values=values or {},
                errors=errors or {}, session=session, csrf=csrf_token(request, f"moderation|{session.sid}"))


@router.get("/moderation/notices/{reference}", response_model=None)
async def moderation_notice(reference: str, request: Request, state: State) -> Response:
    """One notice; its decision form while open, its statement of reasons once decided."""
    session = await run_in_threadpool(read_session, request, state)
    if session is None:
        return _to_login(request)
    return await _notice_page(request, state, session, reference)


def read_decision(form: FormData) -> dict[str, Any]:
    """The decision form as the API's ``DecisionBody`` fields (blank optional fields left out)."""
    data: dict[str, Any] = {"automated_detection": form.get("automated_detection") == "yes",
                            "automated_decision": form.get("automated_decision") == "yes"}
    for name in ("restriction", "facts", "legal_ground", "clause_id", "explanation", "territorial_scope",
                 "duration"):
        text = str(form.get(name, "")).strip()
        if text:
            data[name] = text
    return data


@router.post("/moderation/notices/{reference}/decision", response_model=None)
async def moderation_decide(reference: str, request: Request, state: State) -> Response:
    """Decide through the same model and records call as the API; then show the statement of reasons."""
    from clauseguard.errors import NoticeError
    from clauseguard.guards.records.statements import decide
    from clauseguard.guards.server.moderation import DecisionBody

    session = await run_in_threadpool(read_session, request, state)
    if session is None:
        return _to_login(request)
    form = await request.form()
    if not csrf_ok(request, form, f"moderation|{session.sid}"):
        return csrf_refused(request)
    data = read_decision(form)
    try:
        body = DecisionBody.model_validate(data)
        await run_in_threadpool(lambda: decide(state.records, notice_reference=reference[:40],
                                               report=state.report_path, **body.model_dump()))
    except ValidationError as err:
        errors = {".".join(str(p) for p in e["loc"]): e["msg"] for e in err.errors()}
        return await _notice_page(request, state, session, reference, data, errors, status=422)
    except NoticeError as err:
        errors = {f: err.message for f in err.fields} or {"": err.message}
        return await _notice_page(request, state, session, reference, data, errors, status=422)
    except UserError as err:
        return await _notice_page(request, state, session, reference, data, {"clause_id": err.message}, status=422)
    return RedirectResponse(f"{prefix(request)}/moderation/notices/{reference[:40]}", status_code=303)
