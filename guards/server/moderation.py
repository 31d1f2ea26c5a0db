"""Moderator routes (bearer token, moderator or admin): the notice queue and decisions on notices.

Moderators also record the outcome of complaints against decisions (DSA Art. 20(4)).
The queue is ordered by deadline, nearest first, so TAKE IT DOWN's 48 legal hours come before the
operator's own DSA and DMCA targets. It comes in pages (``offset``, ``limit``; the total is in
``X-Total-Count``) and can be narrowed to one regime, so a flood of notices of one kind cannot push
the others out of sight. A decision is recorded with its DSA Art. 17 statement of reasons
(contractual grounds cite the clause's section from report.json) and closes the notice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from clauseguard.guards.server.auth import require
from clauseguard.guards.server.models import PlainText
from clauseguard.guards.server.state import ServerState, get_state
from clauseguard.guards.server.tokens import Principal, Role

__all__ = ["REGIMES", "STATUSES", "queue_page", "router"]

STATUSES = ("open", "counter_noticed", "actioned", "rejected", "restored", "retracted")
REGIMES = ("dsa", "dmca", "take_it_down")

router = APIRouter(prefix="/v1/moderation", tags=["moderation"],
                   responses={401: {"description": "no valid token"}, 403: {"description": "not a moderator"}})

Moderator = Annotated[Principal, Depends(require(Role.MODERATOR))]
State = Annotated[ServerState, Depends(get_state)]

Restriction = Literal["removal", "disabled_access", "demotion", "visibility_restriction", "monetisation_restriction",
                      "service_suspension", "account_suspension", "account_termination", "none"]


class QueuedNotice(BaseModel):
    reference: str
    regime: str
    status: str
    received_at: datetime
    deadline: datetime
    overdue: bool
    locations: list[str]
    notice: dict[str, Any]


class DecisionBody(BaseModel):
    """A decision on a notice: the restriction and the Art. 17(3) elements of its statement of reasons."""

    model_config = ConfigDict(extra="forbid")

    restriction: Restriction = Field(description="Art. 17(1) restriction applied, or none")
    facts: PlainText = Field(min_length=1, max_length=20_000, description="Art. 17(3)(b) facts and circumstances")
    automated_detection: bool = False
    automated_decision: bool = False
    legal_ground: PlainText | None = Field(default=None, max_length=2_000, description="Art. 17(3)(d)")
    clause_id: PlainText | None = Field(default=None, max_length=200, description="Art. 17(3)(e): clause of the terms")
    explanation: PlainText = Field(default="", max_length=20_000)
    territorial_scope: PlainText | None = Field(default=None, max_length=200)
    duration: PlainText | None = Field(default=None, max_length=200)
    informed_at: AwareDatetime | None = Field(
        default=None, description="Art. 20(2): when the recipient was told (the complaint window counts from "
                                  "then); leave out and POST .../informed once they are")


def queue_page(records: Any, *, status: str, regime: str | None = None, offset: int = 0,
               limit: int = 100) -> tuple[list[Any], int]:
    """``(notices, how many there are in all)`` with ``status`` (and ``regime``), the nearest deadline first
    (ties: the oldest first), ``limit`` of them from ``offset``. The order is the records' ``notice_queue``."""
    from clauseguard.guards.records.models import Notice

    where = [Notice.status == status, *([Notice.regime == regime] if regime else [])]
    with records.session() as s:
        total = s.execute(select(func.count()).select_from(Notice).where(*where)).scalar_one()
        rows = s.execute(select(Notice).where(*where).order_by(Notice.deadline, Notice.received_at, Notice.id)
                         .offset(offset).limit(limit)).scalars().all()
        return list(rows), int(total)


def _queue(state: ServerState, status: str, regime: str | None, offset: int, limit: int
           ) -> tuple[list[QueuedNotice], int]:
    now = datetime.now(UTC)
    rows, total = queue_page(state.records, status=status, regime=regime, offset=offset, limit=limit)
    return [QueuedNotice(reference=n.reference, regime=n.regime, status=n.status, received_at=n.received_at,
                         deadline=n.deadline, overdue=n.deadline < now, locations=list(n.locations or []),
                         notice=dict(n.payload or {})) for n in rows], total


@router.get("/queue", response_model=list[QueuedNotice],
            responses={200: {"headers": {"X-Total-Count": {"description": "notices in all with this status "
                                                                          "(and regime)",
                                                           "schema": {"type": "integer"}}}}})
async def queue(moderator: Moderator, state: State, response: Response,
                status: Annotated[str, Query(pattern=f"^({'|'.join(STATUSES)})$")] = "open",
                regime: Annotated[str | None, Query(pattern="^(dsa|dmca|take_it_down)$",
                                                    description="only notices of this regime")] = None,
                offset: Annotated[int, Query(ge=0, le=10_000_000, description="notices to skip")] = 0,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[QueuedNotice]:
    """Notices waiting for a decision, the nearest deadline first: ``limit`` of them from ``offset``; how
    many there are in all is in the ``X-Total-Count`` header."""
    notices, total = await run_in_threadpool(_queue, state, status, regime, offset, limit)
    response.headers["X-Total-Count"] = str(total)
    return notices


@router.post("/notices/{reference}/decision", status_code=201, response_model=dict[str, Any],
             responses={404: {"description": "no notice with that reference"}})
async def decide_notice(reference: str, body: DecisionBody, moderator: Moderator, state: State) -> dict[str, Any]:
    """Decide on a notice; answers with the statement of reasons (DSA Art. 17)."""
    from clauseguard.guards.records.statements import decide

    statement = await run_in_threadpool(
        lambda: decide(state.records, notice_reference=reference[:40], report=state.report_path,
                       **body.model_dump()))
    return statement.to_dict()


class When(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime | None = Field(default=None, description="when it happened (default: now)")


@router.post("/decisions/{reference}/informed", status_code=204,
             responses={404: {"description": "no decision with that reference"}})
async def decision_informed(reference: str, body: When, moderator: Moderator, state: State) -> Response:
    """Record when the recipient was sent the statement of reasons: the DSA complaint window (Art. 20(2))
    counts from then, not from the decision."""
    from clauseguard.guards.records.complaints import record_informed

    await run_in_threadpool(lambda: record_informed(state.records, reference[:40], at=body.at))
    return Response(status_code=204)


@router.post("/notices/{reference}/retraction", status_code=204,
             responses={404: {"description": "no notice with that reference"}})
async def notice_retracted(reference: str, body: When, moderator: Moderator, state: State) -> Response:
    """The notifier withdrew the notice: it leaves the queue and the strikes it gave are withdrawn (the
    repeat-infringer policy). Content taken down on it is not put back by this call."""
    from clauseguard.guards.records.notices import retract_notice

    await run_in_threadpool(lambda: retract_notice(state.records, reference[:40], at=body.at))
    return Response(status_code=204)


class ComplaintOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["upheld", "reversed", "rejected"]
    reasons: PlainText = Field(min_length=1, max_length=20_000, description="Art. 20(4): the reasoned outcome")


@router.post("/complaints/{reference}/outcome", status_code=204,
             responses={404: {"description": "no complaint with that reference"}})
async def resolve_complaint(reference: str, body: ComplaintOutcome, moderator: Moderator, state: State) -> Response:
    """Record the reasoned outcome of a complaint (a reversed decision is then undone by the operator)."""
    from clauseguard.guards.records.complaints import resolve_complaint as store_outcome

    await run_in_threadpool(store_outcome, state.records, reference[:40], body.outcome, body.reasons)
    return Response(status_code=204)
