"""US business days: weekdays that are not federal holidays (5 U.S.C. §6103), as DMCA timers need.

A holiday falling on a Saturday is observed the Friday before, on a Sunday the Monday after.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

__all__ = ["add_business_days", "is_business_day", "us_federal_holidays"]


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    return day + timedelta(days={5: -1, 6: 1}.get(day.weekday(), 0))


@lru_cache(maxsize=64)
def us_federal_holidays(year: int) -> frozenset[date]:
    """The observed dates of the eleven US federal holidays in ``year``."""
    mon, thu = 0, 3
    fixed = [date(year, 1, 1), date(year, 6, 19), date(year, 7, 4), date(year, 11, 11), date(year, 12, 25)]
    floating = [_nth_weekday(year, 1, mon, 3), _nth_weekday(year, 2, mon, 3), _last_weekday(year, 5, mon),
                _nth_weekday(year, 9, mon, 1), _nth_weekday(year, 10, mon, 2), _nth_weekday(year, 11, thu, 4)]
    observed = {_observed(d) for d in fixed} | set(floating)
    if _observed(date(year + 1, 1, 1)).year == year:  # 1 Jan on a Saturday is observed on 31 Dec
        observed.add(date(year, 12, 31))
    return frozenset(observed)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in us_federal_holidays(day.year)


def add_business_days(start: date, n: int) -> date:
    """The ``n``-th business day after ``start`` (``start`` itself is not counted)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    day, left = start, n
    while left:
        day += timedelta(days=1)
        left -= is_business_day(day)
    return day
