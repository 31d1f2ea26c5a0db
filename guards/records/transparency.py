"""Transparency export (DSA Art. 15 / Art. 24 style): counts, median time to action, automation."""

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


def _in_period(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or moment >= start) and (end is None or moment < end)


def transparency_report(store: RecordStore, *, start: datetime | None = None,
                        end: datetime | None = None) -> dict[str, Any]:
    """Counts by regime, status and outcome, median hours from notice to decision, automated decisions."""
    start = None if start is None else aware_utc(start, "start")
    end = None if end is None else aware_utc(end, "end")
    if start is not None and end is not None and start > end:
        raise UserError(f"the period's start ({start.isoformat()}) is after its end ({end.isoformat()})")
    with store.session() as s:
        notices = [n for n in s.execute(select(Notice)).scalars() if _in_period(n.received_at, start, end)]
        by_id = {n.id: n for n in s.execute(select(Notice)).scalars()}
        decisions = [d for d in s.execute(select(Decision)).scalars() if _in_period(d.decided_at, start, end)]
        complaints = [c for c in s.execute(select(Complaint)).scalars() if _in_period(c.received_at, start, end)]
        counters = [c for c in s.execute(select(CounterNotice)).scalars() if _in_period(c.received_at, start, end)]
    hours = [(d.decided_at - by_id[d.notice_id].received_at).total_seconds() / 3600
             for d in decisions if d.notice_id is not None]
    return {
        "period": {"start": start.isoformat() if start else None, "end": end.isoformat() if end else None},
        "notices": {"total": len(notices), "by_regime": dict(Counter(n.regime for n in notices)),
                    "by_status": dict(Counter(n.status for n in notices))},
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
                       "by_outcome": dict(Counter(c.outcome or "pending" for c in complaints))},
        "counter_notices": {"total": len(counters), "restored": sum(c.restored_at is not None for c in counters),
                            "court_action": sum(c.court_action_at is not None for c in counters)},
    }
