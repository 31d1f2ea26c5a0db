"""Public redress and transparency routes: complaints against decisions (DSA Art. 20), the report.

A complaint names the decision's reference (it is in the statement of reasons the user received).
The transparency report is aggregate counts only (DSA Art. 15 / Art. 24 style): no notice content,
no personal data, so it is public.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from clauseguard.guards.server.models import PlainText
from clauseguard.guards.server.state import ServerState, get_state
from clauseguard.guards.server.throttle import intake, take_or_429

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["redress"])

State = Annotated[ServerState, Depends(get_state)]


class ComplaintBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision_reference: PlainText = Field(min_length=1, max_length=40, description="the SOR-... reference")
    explanation: PlainText = Field(min_length=1, max_length=20_000, description="why the decision is wrong")
    user_key: PlainText | None = Field(default=None, max_length=256, description="your account id of the complainant")


class ComplaintAck(BaseModel):
    reference: str
    decision_reference: str


@router.post("/complaints", response_model=ComplaintAck, status_code=201,
             responses={404: {"description": "no decision with that reference"},
                        429: {"description": "too many from this address: wait Retry-After seconds"}})
async def file_complaint(body: ComplaintBody, request: Request, state: State) -> ComplaintAck:
    """Complain against a moderation decision (free of charge, within six months of it). Throttled per
    client address like notices."""
    from clauseguard.guards.records.complaints import file_complaint as store_complaint

    await run_in_threadpool(take_or_429, request, state, intake(state.settings))
    key = state.pseudonymizer.user(body.user_key) if body.user_key else None
    reference = await run_in_threadpool(store_complaint, state.records, body.decision_reference, body.explanation,
                                        complainant_key=key)
    return ComplaintAck(reference=reference, decision_reference=body.decision_reference)


@router.get("/transparency", response_model=dict[str, Any])
async def transparency(state: State, start: Annotated[AwareDatetime | None, Query()] = None,
                       end: Annotated[AwareDatetime | None, Query()] = None) -> dict[str, Any]:
    """Counts of notices, decisions, complaints and counter-notices; median hours to action."""
    from clauseguard.guards.records.transparency import transparency_report

    return await run_in_threadpool(_report, transparency_report, state, start, end)


def _report(build: Any, state: ServerState, start: datetime | None, end: datetime | None) -> dict[str, Any]:
    return build(state.records, start=start, end=end)
