"""Notice intake: validate, store, acknowledge with a reference and a deadline; the queue by deadline.

Deadlines. TAKE IT DOWN Act §3(a)(3): remove within 48 hours of a valid request (law). The others are
operator targets, not law, and configurable: DSA Art. 16(6) asks for decisions "in a timely, diligent,
non-arbitrary and objective manner" (default target 72 h); 17 U.S.C. §512(c)(1)(C) asks the provider to
respond "expeditiously" (default target 24 h). An operator target shorter than a legal deadline applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update

from clauseguard.errors import NoticeError, NoticeNotFound
from clauseguard.guards.records._refs import locked, new_reference
from clauseguard.guards.records._types import aware_utc, not_before
from clauseguard.guards.records.intake import REGIMES, NoticeIntake
from clauseguard.guards.records.models import Notice, Strike
from clauseguard.guards.records.store import RecordStore

__all__ = ["DEFAULT_TARGETS", "LEGAL_DEADLINES", "Acknowledgement", "file_notice", "get_notice", "notice_queue",
           "parse_notice", "retract_notice"]

LEGAL_DEADLINES: dict[str, timedelta] = {"take_it_down": timedelta(hours=48)}
DEFAULT_TARGETS: dict[str, timedelta] = {"dsa": timedelta(hours=72), "dmca": timedelta(hours=24),
                                         **LEGAL_DEADLINES}
_PREFIX = {"dsa": "DSA", "dmca": "DMCA", "take_it_down": "TID"}


@dataclass(frozen=True)
class Acknowledgement:
    """What the notifier gets back once the notice is committed."""

    reference: str
    regime: str
    received_at: datetime
    deadline: datetime
    deadline_is_legal: bool

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "regime": self.regime, "received_at": self.received_at.isoformat(),
                "deadline": self.deadline.isoformat(), "deadline_is_legal": self.deadline_is_legal}


def parse_notice(data: Mapping[str, Any]) -> NoticeIntake:
    """Validate a notice given as plain data (``regime`` picks the model); errors name the fields."""
    regime = data.get("regime")
    model = REGIMES.get(str(regime))
    if model is None:
        raise NoticeError(f"unknown regime {regime!r}; known: {', '.join(REGIMES)}", fields=("regime",))
    try:
        return model.model_validate(dict(data))
    except ValidationError as err:
        fields = tuple(".".join(str(p) for p in e["loc"]) for e in err.errors())
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        raise NoticeError(f"{model.__name__} is incomplete: " + "; ".join(lines), fields=fields) from err


def _check_targets(targets: Mapping[str, timedelta]) -> None:
    """A target names a known regime and is a positive ``timedelta``; a typo is never ignored."""
    for regime, target in targets.items():
        if regime not in _PREFIX:
            raise NoticeError(f"targets: unknown regime {regime!r}; known: {', '.join(_PREFIX)}", fields=("targets",))
        if not isinstance(target, timedelta) or target <= timedelta(0):
            raise NoticeError(f"targets[{regime!r}] must be a positive timedelta, not {target!r}",
                              fields=("targets",))


def _deadline(regime: str, targets: Mapping[str, timedelta] | None) -> tuple[timedelta, bool]:
    """``(time allowed, whether it is the legal deadline)``: an operator target may shorten a legal
    deadline, never lengthen it."""
    target = {**DEFAULT_TARGETS, **(targets or {})}[regime]
    legal = LEGAL_DEADLINES.get(regime)
    if legal is None:
        return target, False
    return min(target, legal), target >= legal


def file_notice(store: RecordStore, notice: NoticeIntake | Mapping[str, Any], *, uploader_key: str | None = None,
                notifier_ip_key: str | None = None, received_at: datetime | None = None,
                targets: Mapping[str, timedelta] | None = None) -> Acknowledgement:
    """Store a notice and return its acknowledgement, only after the commit succeeded.

    ``targets`` overrides the operator targets per regime: ``{"dsa": timedelta(hours=24)}``. For a regime
    with a legal deadline the shorter of the two applies (the law cannot be lengthened);
    ``deadline_is_legal`` is then true only when the legal deadline is the one that applies. A key that
    is not a regime, or a target that is not a positive ``timedelta``, is a :class:`NoticeError`.
    """
    _check_targets(targets or {})
    intake = notice if not isinstance(notice, Mapping) else parse_notice(notice)
    received = aware_utc(received_at, "received_at")
    allowed, is_legal = _deadline(intake.regime, targets)
    row = Notice(reference=new_reference(_PREFIX[intake.regime]), regime=intake.regime, received_at=received,
                 deadline=received + allowed, status="open",
                 payload=intake.model_dump(mode="json"), locations=intake.locations(),
                 uploader_key=uploader_key, notifier_ip_key=notifier_ip_key)
    with store.session(write=True) as s:
        s.add(row)
    return Acknowledgement(row.reference, row.regime, received, row.deadline, is_legal)


def get_notice(store: RecordStore, reference: str) -> Notice:
    """The stored notice with ``reference`` (:class:`NoticeNotFound` if there is none)."""
    with store.session() as s:
        row = s.execute(select(Notice).where(Notice.reference == reference)).scalar_one_or_none()
    if row is None:
        raise NoticeNotFound(f"no notice with reference {reference!r}", fields=("reference",))
    return row


def notice_queue(store: RecordStore, *, status: str = "open", limit: int | None = None) -> list[Notice]:
    """Notices with ``status``, the nearest deadline first (ties: the oldest first)."""
    with store.session() as s:
        query = select(Notice).where(Notice.status == status).order_by(Notice.deadline, Notice.received_at,
                                                                        Notice.id)
        return list(s.execute(query.limit(limit)).scalars())


def retract_notice(store: RecordStore, reference: str, *, at: datetime | None = None) -> None:
    """The notifier withdrew the notice: status ``retracted`` from ``at``, and every strike it gave is
    withdrawn (the repeat-infringer policy: "a strike is withdrawn if the notice is retracted").

    An open notice leaves the queue. Content taken down on it is not put back here: restore it yourself
    (as for a reversed decision). Refused for a notice already retracted, or ``at`` before its receipt.
    """
    at = aware_utc(at, "at")
    with store.session(write=True) as s:
        row = locked(s, Notice, reference, "notice", "reference")
        if row.retracted_at is not None:
            raise NoticeError(f"notice {reference} was already retracted on {row.retracted_at:%Y-%m-%d}",
                              fields=("reference",))
        not_before(at, row.received_at, "at", "a notice cannot be retracted before it was received")
        row.status, row.retracted_at = "retracted", at
        s.execute(update(Strike).where(Strike.notice_id == row.id).values(withdrawn=True))
