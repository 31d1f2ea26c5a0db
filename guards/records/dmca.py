"""DMCA counter-notifications and their restore window, and the repeat-infringer policy.

17 U.S.C. §512(g)(2)(B)-(C): on a valid counter-notification the provider sends a copy to the notifier
and restores the material "not less than 10, nor more than 14, business days following receipt",
unless the notifier first reports that it has filed a court action. Here the window opens at the end of
the 10th US business day after the day of receipt and closes at the end of the 14th, with days and their
ends taken in a US time zone (``America/New_York`` by default; pass ``tz`` for another): counted on UTC
dates, the window opened at 20:00 in New York (17:00 in Los Angeles) on the 10th business day, hours
before it had passed there.
§512(i)(1)(A) needs a policy for terminating repeat infringers: the default is 3 strikes in 12 calendar
months (an operator choice, not a number from the statute); a restored counter-noticed takedown withdraws
its strike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from sqlalchemy import func, select, update

from clauseguard.errors import NoticeError, NoticeNotFound
from clauseguard.guards.records._refs import locked, new_reference
from clauseguard.guards.records._types import aware_utc, not_before
from clauseguard.guards.records.business_days import add_business_days
from clauseguard.guards.records.complaints import add_months
from clauseguard.guards.records.intake import DmcaCounterNotice
from clauseguard.guards.records.models import CounterNotice, Decision, Notice, Strike
from clauseguard.guards.records.store import RecordStore

__all__ = [
    "DEFAULT_TZ",
    "REPEAT_WINDOW_MONTHS",
    "CounterNoticeAck",
    "RepeatInfringerStatus",
    "file_counter_notice",
    "mark_restored",
    "record_strike",
    "repeat_infringer_status",
    "report_court_action",
    "restore_due",
    "restore_window",
]


DEFAULT_TZ = "America/New_York"  # where US business days are counted (tz= for another US zone)


def _zone(tz: str) -> ZoneInfo:
    """The time zone ``tz``; a :class:`NoticeError` naming ``tz`` when it is unknown or no time zone data
    is installed (no system zoneinfo and no ``tzdata`` package), never a silent fall back to UTC."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise NoticeError(f"time zone {tz!r} is not available ({err}): give an IANA name such as "
                          f"{DEFAULT_TZ!r}, and if that fails too install time zone data (pip install tzdata)",
                          fields=("tz",)) from err


def _end_of(day: date, zone: ZoneInfo) -> datetime:
    """The end of ``day`` in ``zone`` (local midnight after it, daylight saving applied), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def restore_window(received_at: datetime, *, tz: str = DEFAULT_TZ) -> tuple[datetime, datetime]:
    """``(not_before, not_after)`` in UTC: the end of the 10th and of the 14th US business day after the
    day of receipt, days and their ends taken in the time zone ``tz``."""
    zone = _zone(tz)
    day = aware_utc(received_at, "received_at").astimezone(zone).date()
    return _end_of(add_business_days(day, 10), zone), _end_of(add_business_days(day, 14), zone)


@dataclass(frozen=True)
class CounterNoticeAck:
    reference: str
    notice_reference: str
    received_at: datetime
    restore_not_before: datetime
    restore_not_after: datetime


def _validated(counter: DmcaCounterNotice | Mapping[str, Any]) -> DmcaCounterNotice:
    if isinstance(counter, DmcaCounterNotice):
        return counter
    try:
        return DmcaCounterNotice.model_validate(dict(counter))
    except ValidationError as err:
        fields = tuple(".".join(map(str, e["loc"])) for e in err.errors())
        raise NoticeError("counter-notification is incomplete (17 U.S.C. §512(g)(3)): " + ", ".join(fields),
                          fields=fields) from err


def _check_counterable(session: Any, notice: Notice, received: datetime) -> None:
    """§512(g) answers material that was taken down, once: the notice must be actioned, not yet countered,
    and the counter-notification cannot be received before the takedown it answers."""
    earlier = session.execute(select(CounterNotice.reference).where(CounterNotice.notice_id == notice.id)
                              ).scalars().first()
    if earlier is not None:
        raise NoticeError(f"notice {notice.reference} already has counter-notification {earlier}",
                          fields=("notice_reference",))
    if notice.status != "actioned":
        why = {"open": "has not been decided: nothing was taken down yet",
               "rejected": "led to no action: nothing was taken down"}.get(notice.status, f"is {notice.status}")
        raise NoticeError(f"notice {notice.reference} {why}; a counter-notification (17 U.S.C. §512(g)) answers "
                          "material that was removed or disabled", fields=("notice_reference",))
    taken_down = session.execute(select(func.max(Decision.decided_at)).where(Decision.notice_id == notice.id)
                                 ).scalar_one_or_none()
    before = max(t for t in (notice.received_at, taken_down) if t is not None)
    not_before(received, before, "received_at", "a counter-notification cannot be received before the notice "
               "and the takedown it answers")


def file_counter_notice(store: RecordStore, notice_reference: str, counter: DmcaCounterNotice | Mapping[str, Any],
                        *, received_at: datetime | None = None, tz: str = DEFAULT_TZ) -> CounterNoticeAck:
    """Store a counter-notification against a DMCA notice; returns the restore window (US business days
    in the time zone ``tz``, see :func:`restore_window`).

    Refused (:class:`NoticeError`) unless the notice was actioned (the material taken down) and has no
    counter-notification yet.
    """
    intake = _validated(counter)
    received = aware_utc(received_at, "received_at")
    not_before, not_after = restore_window(received, tz=tz)
    with store.session(write=True) as s:
        # locked, so a concurrent second counter-notification waits and then sees the first (see _notice)
        notice = s.execute(select(Notice).where(Notice.reference == notice_reference).with_for_update()
                           ).scalar_one_or_none()
        if notice is None or notice.regime != "dmca":
            raise NoticeNotFound(f"no DMCA notice with reference {notice_reference!r}", fields=("notice_reference",))
        _check_counterable(s, notice, received)
        row = CounterNotice(reference=new_reference("CN"), notice_id=notice.id, received_at=received,
                            restore_not_before=not_before, restore_not_after=not_after,
                            payload=intake.model_dump(mode="json"))
        s.add(row)
        notice.status = "counter_noticed"
    return CounterNoticeAck(row.reference, notice_reference, received, not_before, not_after)


def _counter_notice(session: Any, reference: str) -> CounterNotice:
    """The counter-notice row, locked until commit: its checks (restored? court action?) hold until we write."""
    row = locked(session, CounterNotice, reference, "counter-notice", "counter_reference")
    return row


def report_court_action(store: RecordStore, counter_reference: str, *, at: datetime | None = None) -> None:
    """The notifier reports a court action: the material is not restored.

    §512(g)(2)(C) counts the report only if it comes first: refused once the material was restored, when
    a court action was already reported, or when ``at`` is before the counter-notification was received.
    """
    at = aware_utc(at, "at")
    with store.session(write=True) as s:
        row = _counter_notice(s, counter_reference)
        if row.restored_at is not None:
            raise NoticeError(f"counter-notice {counter_reference} was restored on {row.restored_at:%Y-%m-%d}: "
                              "a court action reported after restoration does not stop it (§512(g)(2)(C))",
                              fields=("counter_reference",))
        if row.court_action_at is not None:
            raise NoticeError(f"a court action was already reported for counter-notice {counter_reference} "
                              f"on {row.court_action_at:%Y-%m-%d}", fields=("counter_reference",))
        not_before(at, row.received_at, "at", "a court action report cannot come before the counter-notification",
                   "received")
        row.court_action_at = at


def restore_due(store: RecordStore, *, now: datetime | None = None) -> list[CounterNotice]:
    """Counter-noticed material whose window is open, not restored, with no court action; soonest first."""
    now = aware_utc(now, "now")
    with store.session() as s:
        return list(s.execute(
            select(CounterNotice).where(CounterNotice.restore_not_before <= now, CounterNotice.restored_at.is_(None),
                                        CounterNotice.court_action_at.is_(None))
            .order_by(CounterNotice.restore_not_after)).scalars())


def mark_restored(store: RecordStore, counter_reference: str, *, at: datetime | None = None) -> None:
    """Record the restoration; refuses a second one, one before the window opens, or one after a court action."""
    at = aware_utc(at, "at")
    with store.session(write=True) as s:
        row = _counter_notice(s, counter_reference)
        if row.restored_at is not None:
            raise NoticeError(f"counter-notice {counter_reference} was already restored on "
                              f"{row.restored_at:%Y-%m-%d}", fields=("counter_reference",))
        if row.court_action_at is not None or at < row.restore_not_before:
            raise NoticeError("not restorable: a court action was reported, or the 10 business days have not "
                              "passed", fields=("at",))
        row.restored_at = at
        s.execute(update(Strike).where(Strike.notice_id == row.notice_id).values(withdrawn=True))
        s.execute(update(Notice).where(Notice.id == row.notice_id, Notice.retracted_at.is_(None))
                  .values(status="restored"))  # a retracted notice stays "retracted"


def record_strike(store: RecordStore, uploader_key: str, *, notice_reference: str | None = None,
                  at: datetime | None = None) -> None:
    """Record a strike against ``uploader_key`` (tied to the DMCA notice ``notice_reference`` when given)."""
    with store.session(write=True) as s:
        notice_id = None
        if notice_reference is not None:
            notice_id = s.execute(select(Notice.id).where(Notice.reference == notice_reference)).scalar_one_or_none()
            if notice_id is None:
                raise NoticeNotFound(f"no notice with reference {notice_reference!r}", fields=("notice_reference",))
        s.add(Strike(uploader_key=uploader_key, notice_id=notice_id, at=aware_utc(at, "at"),
                     withdrawn=False))


REPEAT_WINDOW_MONTHS = 12  # the policy's "12 months", in calendar months (not 365 days)


@dataclass(frozen=True)
class RepeatInfringerStatus:
    uploader_key: str
    strikes: int
    threshold: int
    window: timedelta  # the span counted, ``now - since``
    since: datetime | None = None  # strikes after this moment count

    @property
    def terminate(self) -> bool:
        """True when the uploader reached the threshold within the window: terminate the account."""
        return self.strikes >= self.threshold


def repeat_infringer_status(store: RecordStore, uploader_key: str, *, threshold: int = 3,
                            window: timedelta | None = None, now: datetime | None = None,
                            window_months: int = REPEAT_WINDOW_MONTHS) -> RepeatInfringerStatus:
    """Strikes not withdrawn against ``uploader_key`` in the ``window_months`` calendar months before
    ``now`` (12: the same day and time a year earlier, as the policy's "12 months" reads, also across
    29 February); a ``window`` timedelta, when given, is used instead."""
    now = aware_utc(now, "now")
    since = now - window if window is not None else add_months(now, -window_months)
    with store.session() as s:
        count = s.execute(select(func.count(Strike.id)).where(
            Strike.uploader_key == uploader_key, Strike.withdrawn.is_(False), Strike.at > since)).scalar_one()
    return RepeatInfringerStatus(uploader_key, int(count), threshold, now - since, since)
