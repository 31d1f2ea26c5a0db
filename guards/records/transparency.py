"""Transparency export (DSA Art. 15 / Art. 24 style): counts, median time to action, automation.

A report for a period ``[start, end)`` counts each event by its own time: notices by when they were
received, decisions by when they were taken, complaints and counter-notices by when they came in, and
restorations, court actions, complaint outcomes and retractions by when each happened. Statuses are
those in force at ``end`` (the notice's status as of then, a complaint "pending" if it was resolved
later), so the report for a closed period does not change when later events are recorded.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import select

from clauseguard.errors import UserError
from clauseguard.guards.records._types import aware_utc
from clauseguard.guards.records.models import Complaint, CounterNotice, Decision, Notice
from clauseguard.guards.records.store import RecordStore

__all__ = ["transparency_report"]


def _in_period(moment: datetime | None, start: datetime | None, end: datetime | None) -> bool:
    return moment is not None and (start is None or moment >= start) and (end is None or moment < end)


def _before(moment: datetime | None, end: datetime | None) -> bool:
    return moment is not None and (end is None or moment < end)


def _status_at(notice: Notice, decision: Decision | None, counter: CounterNotice | None,
               end: datetime | None) -> str:
    """The notice's status as of ``end``: the latest of its transitions that happened before it."""
    if _before(notice.retracted_at, end):
        return "retracted"
    if counter is not None and _before(counter.restored_at, end):
        return "restored"
    if counter is not None and _before(counter.received_at, end):
        return "counter_noticed"
    if decision is not None and _before(decision.decided_at, end):
        return "rejected" if decision.outcome == "no_action" else "actioned"
    return "open"


def transparency_report(store: RecordStore, *, start: datetime | None = None,
                        end: datetime | None = None) -> dict[str, Any]:
    """Counts by regime, status and outcome, median hours from notice to decision, automated decisions."""
    start = None if start is None else aware_utc(start, "start")
    end = None if end is None else aware_utc(end, "end")
    if start is not None and end is not None and start > end:
        raise UserError(f"the period's start ({start.isoformat()}) is after its end ({end.isoformat()})")
    with store.session() as s:
        by_id = {n.id: n for n in s.execute(select(Notice)).scalars()}
        all_decisions = list(s.execute(select(Decision)).scalars())
        all_complaints = list(s.execute(select(Complaint)).scalars())
        all_counters = list(s.execute(select(CounterNotice)).scalars())
    decision_of = {d.notice_id: d for d in all_decisions if d.notice_id is not None}
    counter_of = {c.notice_id: c for c in all_counters}
    notices = [n for n in by_id.values() if _in_period(n.received_at, start, end)]
    decisions = [d for d in all_decisions if _in_period(d.decided_at, start, end)]
    complaints = [c for c in all_complaints if _in_period(c.received_at, start, end)]
    counters = [c for c in all_counters if _in_period(c.received_at, start, end)]
    hours = [(d.decided_at - by_id[d.notice_id].received_at).total_seconds() / 3600
             for d in decisions if d.notice_id is not None]
    return {
        "period": {"start": start.isoformat() if start else None, "end": end.isoformat() if end else None},
        "notices": {"total": len(notices), "by_regime": dict(Counter(n.regime for n in notices)),
                    "by_status": dict(Counter(_status_at(n, decision_of.get(n.id), counter_of.get(n.id), end)
                                              for n in notices)),
                    "retracted": sum(_in_period(n.retracted_at, start, end) for n in by_id.values())},
        "decisions": {
            "total": len(decisions),
            "by_source": dict(Counter("notice" if d.notice_id else "own_initiative" for d in decisions)),
            "by_outcome": dict(Counter(d.outcome for d in decisions)),
            "by_restriction": dict(Counter(d.restriction for d in decisions)),
            "by_regime_and_outcome": dict(Counter(
                f"{by_id[d.notice_id].regime if d.notice_id else 'own_initiative'}/{d.outcome}" for d in decisions)),
            "automated_detection": sum(d.automated_detection for d in decisions),
            "automated_decision": sum(d.automated_decision for d in decisions),
            "median_hours_to_action": round(statistics.median(hours), 2) if hours else None,
        },
        "complaints": {"total": len(complaints),
                       "by_outcome": dict(Counter(c.outcome if _before(c.resolved_at, end) else "pending"
                                                  for c in complaints)),
                       "resolved": sum(_in_period(c.resolved_at, start, end) for c in all_complaints)},
        "counter_notices": {"total": len(counters),
                            "restored": sum(_in_period(c.restored_at, start, end) for c in all_counters),
                            "court_action": sum(_in_period(c.court_action_at, start, end) for c in all_counters)},
    }
