"""Public records routes: notices (DSA, DMCA, TAKE IT DOWN), their status, DMCA counter-notices.

``POST /v1/notices`` validates the notice against its regime's required elements (a missing one is a
422 naming the field), stores it, and acknowledges with a reference and a deadline only after the
commit. ``GET /v1/notices/{reference}`` tells the notifier where the notice stands; it needs the
reference and the notifier's email (header ``X-Notifier-Email``, kept out of URLs and access logs; an
address that is not ASCII is sent as UTF-8 bytes), and a wrong pair answers exactly like an unknown
reference. ``POST /v1/notices/{reference}/status`` answers the same with the email in a JSON body, for
clients that cannot send a non-ASCII header.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from clauseguard.guards.records.intake import DmcaCounterNotice, DmcaNotice, DsaNotice, TakeItDownRequest
from clauseguard.guards.records.models import Decision, Notice
from clauseguard.guards.server.client import pseudonymous_ip
from clauseguard.guards.server.models import PlainText
from clauseguard.guards.server.state import ServerState, get_state
from clauseguard.guards.server.throttle import intake, take_or_429

__all__ = ["NoticeStatus", "router"]

router = APIRouter(prefix="/v1", tags=["notices"])

State = Annotated[ServerState, Depends(get_state)]
NoticeBody = Annotated[DsaNotice | DmcaNotice | TakeItDownRequest, Field(discriminator="regime")]


class Acknowledgement(BaseModel):
    reference: str
    regime: str
    received_at: datetime
    deadline: datetime
    deadline_is_legal: bool


class NoticeStatus(BaseModel):
    reference: str
    regime: str
    status: str
    received_at: datetime
    deadline: datetime
    decision: dict[str, Any] | None = Field(description="the statement of reasons, once decided")


class CounterNoticeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    notice_reference: PlainText = Field(max_length=40)
    counter_notice: DmcaCounterNotice


class CounterNoticeAck(BaseModel):
    reference: str
    notice_reference: str
    received_at: datetime
    restore_not_before: datetime
    restore_not_after: datetime


_TOO_MANY = {429: {"description": "too many from this address: wait Retry-After seconds"}}


@router.post("/notices", response_model=Acknowledgement, status_code=201, responses=_TOO_MANY)
async def file_notice(notice: NoticeBody, request: Request, state: State) -> Acknowledgement:
    """File a notice; ``regime`` (dsa, dmca or take_it_down) decides which elements are required. Each
    client address may file ``intake_burst`` at once, then ``intake_per_hour`` (a 429 with Retry-After)."""
    from clauseguard.guards.records.notices import file_notice as store_notice

    await run_in_threadpool(take_or_429, request, state, intake(state.settings))
    ip_key = pseudonymous_ip(request, state.proxies, state.pseudonymizer)
    ack = await run_in_threadpool(store_notice, state.records, notice, notifier_ip_key=ip_key)
    return Acknowledgement(**ack.to_dict())


def notifier_email(payload: dict[str, Any]) -> str | None:
    """The email the notifier gave (DSA: notifier_email; DMCA and TAKE IT DOWN: contact.email)."""
    email = payload.get("notifier_email") or (payload.get("contact") or {}).get("email")
    return email if isinstance(email, str) and email else None


def _same_email(given: str, stored: str | None) -> bool:
    return stored is not None and hmac.compare_digest(given.strip().lower().encode(), stored.strip().lower().encode())


def notice_status(state: ServerState, reference: str, email: str) -> NoticeStatus | None:
    """The status of ``reference`` for the notifier with ``email``; None for an unknown pair."""
    with state.records.session() as s:
        notice = s.execute(select(Notice).where(Notice.reference == reference)).scalar_one_or_none()
        if notice is None or not _same_email(email, notifier_email(notice.payload)):
            return None
        decision = s.execute(select(Decision).where(Decision.notice_id == notice.id)
                             .order_by(Decision.decided_at.desc())).scalars().first()
        return NoticeStatus(reference=notice.reference, regime=notice.regime, status=notice.status,
                            received_at=notice.received_at, deadline=notice.deadline,
                            decision=decision.statement if decision else None)


def header_text(value: str) -> str:
    """A header's text: HTTP hands header bytes over as latin-1, so an address sent as UTF-8 ("jörg@...",
    "名前@例え.jp") arrives as mojibake and never matched; bytes that are not UTF-8 are kept as latin-1."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


async def _status_or_404(state: ServerState, reference: str, email: str) -> NoticeStatus:
    status = await run_in_threadpool(notice_status, state, reference[:40], email)
    if status is None:
        raise HTTPException(404, detail="no notice with that reference and email")
    return status


@router.get("/notices/{reference}", response_model=NoticeStatus, responses={404: {"description": "unknown pair"}})
async def get_notice_status(reference: str, state: State,
                            x_notifier_email: Annotated[str, Header(max_length=320, description=(
                                "the email given in the notice; one that is not ASCII as UTF-8 bytes"))]
                            ) -> NoticeStatus:
    """Where a notice stands, for its notifier (reference + the email given in the notice)."""
    return await _status_or_404(state, reference, header_text(x_notifier_email))


class StatusQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    notifier_email: PlainText = Field(min_length=1, max_length=320, description="the email given in the notice")


@router.post("/notices/{reference}/status", response_model=NoticeStatus,
             responses={404: {"description": "unknown pair"}})
async def post_notice_status(reference: str, body: StatusQuery, state: State) -> NoticeStatus:
    """Where a notice stands, as ``GET /v1/notices/{reference}`` answers, with the email in the body (any
    address, in JSON's Unicode, with no header encoding to get right)."""
    return await _status_or_404(state, reference, body.notifier_email)


@router.post("/counter-notices", response_model=CounterNoticeAck, status_code=201,
             responses={404: {"description": "no DMCA notice with that reference"}, **_TOO_MANY})
async def file_counter_notice(body: CounterNoticeBody, request: Request, state: State) -> CounterNoticeAck:
    """A DMCA counter-notification (17 U.S.C. §512(g)(3)); answers with the restore window. Throttled per
    client address like notices."""
    from clauseguard.guards.records.dmca import file_counter_notice as store_counter

    await run_in_threadpool(take_or_429, request, state, intake(state.settings))
    ack = await run_in_threadpool(store_counter, state.records, body.notice_reference, body.counter_notice)
    return CounterNoticeAck(reference=ack.reference, notice_reference=ack.notice_reference,
                            received_at=ack.received_at, restore_not_before=ack.restore_not_before,
                            restore_not_after=ack.restore_not_after)
