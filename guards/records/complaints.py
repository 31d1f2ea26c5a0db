"""Internal complaints against decisions (DSA Art. 20) and their outcome.

Art. 20(1) keeps the complaint system open for at least six months after the decision, and Art. 20(2)
starts that period when the recipient is informed of the decision: ``decisions.informed_at`` (given to
``decide`` or recorded later with :func:`record_informed`), or ``decided_at`` when that was not
recorded. A complaint filed later is refused here unless the operator widens ``window_months``.
Art. 20(4) asks for a reasoned outcome, which is stored with it; a reversed decision should be undone by
the operator (the content put back), and its DMCA strike is withdrawn here, so it no longer counts
towards repeat-infringer termination.
"""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Literal

from sqlalchemy import select, update

from clauseguard.errors import NoticeError, NoticeNotFound
from clauseguard.guards.records._refs import locked, new_reference
from clauseguard.guards.records._types import aware_utc, not_before
from clauseguard.guards.records.models import Complaint, Decision, Strike
from clauseguard.guards.records.store import RecordStore

__all__ = ["COMPLAINT_WINDOW_MONTHS", "add_months", "file_complaint", "record_informed", "resolve_complaint",
           "window_opened"]

COMPLAINT_WINDOW_MONTHS = 6
Outcome = Literal["upheld", "reversed", "rejected"]


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` later (the month's last day when that day does not exist)."""
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def window_opened(decision: Decision) -> datetime:
    """When the complaint window of ``decision`` opened: its recipient was informed (else it was taken)."""
    return decision.informed_at or decision.decided_at


def record_informed(store: RecordStore, decision_reference: str, *, at: datetime | None = None) -> None:
    """Record when the recipient was informed of the decision (the statement of reasons sent): the
    complaint window counts from then (Art. 20(2)). Once only, and not before the decision."""
    at = aware_utc(at, "at")
    with store.session(write=True) as s:
        decision = locked(s, Decision, decision_reference, "decision", "decision_reference")
        if decision.informed_at is not None:
            raise NoticeError(f"decision {decision_reference} already records its recipient informed on "
                              f"{decision.informed_at:%Y-%m-%d %H:%M} UTC", fields=("decision_reference",))
        not_before(at, decision.decided_at, "at", "the recipient cannot be informed of a decision before it is "
                   "taken", "decided")
        decision.informed_at = at


def file_complaint(store: RecordStore, decision_reference: str, explanation: str, *,
                   complainant_key: str | None = None, received_at: datetime | None = None,
                   window_months: int = COMPLAINT_WINDOW_MONTHS) -> str:
    """Store a complaint against a decision; returns its reference."""
    if not explanation.strip():
        raise NoticeError("say why the decision is wrong", fields=("explanation",))
    received = aware_utc(received_at, "received_at")
    with store.session(write=True) as s:
        decision = s.execute(select(Decision).where(Decision.reference == decision_reference)).scalar_one_or_none()
        if decision is None:
            raise NoticeNotFound(f"no decision with reference {decision_reference!r}", fields=("decision_reference",))
        not_before(received, decision.decided_at, "received_at", "a complaint cannot be received before the "
                   "decision it contests", "decided")
        opened = window_opened(decision)
        if received > add_months(opened, window_months):
            told = "" if decision.informed_at is None else f", recipient informed {opened:%Y-%m-%d}"
            raise NoticeError(f"complaints are accepted within {window_months} months of the decision "
                              f"(decided {decision.decided_at:%Y-%m-%d}{told})", fields=("received_at",))
        row = Complaint(reference=new_reference("CMP"), decision_id=decision.id, received_at=received,
                        explanation=explanation, complainant_key=complainant_key)
        s.add(row)
    return row.reference


def resolve_complaint(store: RecordStore, reference: str, outcome: Outcome, reasons: str, *,
                      at: datetime | None = None) -> None:
    """Record the reasoned outcome of a complaint (Art. 20(4))."""
    if outcome not in ("upheld", "reversed", "rejected"):
        raise NoticeError(f"outcome must be upheld, reversed or rejected, not {outcome!r}", fields=("outcome",))
    if not reasons.strip():
        raise NoticeError("a complaint outcome needs reasons (Art. 20(4))", fields=("reasons",))
    when = aware_utc(at, "at")
    with store.session(write=True) as s:
        # locked, so two moderators resolving at once cannot both find it unresolved
        row = locked(s, Complaint, reference, "complaint", "reference")
        if row.outcome is not None:
            raise NoticeError(f"complaint {reference} already resolved ({row.outcome})", fields=("reference",))
        not_before(when, row.received_at, "at", "a complaint cannot be resolved before it was received")
        row.outcome, row.outcome_reasons, row.resolved_at = outcome, reasons, when
        if outcome == "reversed":  # the takedown was wrong: its strike must not count against the uploader
            notice_id = s.execute(select(Decision.notice_id).where(Decision.id == row.decision_id)).scalar_one()
            if notice_id is not None:
                s.execute(update(Strike).where(Strike.notice_id == notice_id).values(withdrawn=True))
