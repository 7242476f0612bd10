"""Working days in China: Mon-Fri, less public holidays, plus make-up working weekends (调休).

The calendar is data (``rules/holidays.json``, one entry per year with its State Council notice).
A year the file does not cover falls back to plain Mon-Fri, and is never silent about it:
``uncovered_years`` names the years a working-day period ran through without a holiday notice, and the
services flag such a deadline on the case, to the administrators (``fund.services``, police timers).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

from accidentlink.clock import CST

_END_OF_DAY = time(23, 59, 59)


@dataclass(frozen=True)
class WorkCalendar:
    """Public holidays and make-up working days, by date, for the years listed."""

    holidays: frozenset[date]
    makeup_working_days: frozenset[date]
    years: frozenset[int]
    unconfirmed_years: frozenset[int] = frozenset()

    def covers(self, day: date) -> bool:
        return day.year in self.years

    def is_working_day(self, day: date) -> bool:
        """Mon-Fri not a holiday, or a listed make-up working day (国务院办公厅 holiday notices)."""
        if day in self.makeup_working_days:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5


def calendar_from_dict(doc: dict[str, Any]) -> WorkCalendar:
    """Build and validate a calendar from the ``holidays.json`` shape; ``ValueError`` if malformed."""
    holidays: set[date] = set()
    makeup: set[date] = set()
    years: set[int] = set()
    unconfirmed: set[int] = set()
    for year_text, entry in doc["years"].items():
        year = int(year_text)
        if not entry.get("source"):
            raise ValueError(f"holidays {year}: every year needs a source")
        if entry.get("status", "S") not in ("O", "S", "U"):
            raise ValueError(f"holidays {year}: status must be O, S or U")
        if entry.get("status") == "U":
            unconfirmed.add(year)
        years.add(year)
        for span in entry["holidays"]:
            start, end = date.fromisoformat(span["from"]), date.fromisoformat(span["to"])
            if end < start or start.year != year or end.year != year:
                raise ValueError(f"holidays {year}: bad span {span}")
            holidays.update(start + timedelta(days=i) for i in range((end - start).days + 1))
        for text in entry["working_days"]:
            day = date.fromisoformat(text)
            if day.year != year or day.weekday() < 5:
                raise ValueError(f"holidays {year}: make-up working day {text} must be a weekend day of {year}")
            makeup.add(day)
    if holidays & makeup:
        raise ValueError(f"holidays: days both holiday and working day: {sorted(holidays & makeup)}")
    return WorkCalendar(frozenset(holidays), frozenset(makeup), frozenset(years), frozenset(unconfirmed))


@lru_cache(maxsize=1)
def default_calendar() -> WorkCalendar:
    """The calendar shipped in ``fund/rules/holidays.json``."""
    text = resources.files("fund").joinpath("rules/holidays.json").read_text("utf-8")
    return calendar_from_dict(json.loads(text))


def is_working_day(day: date, calendar: WorkCalendar | None = None) -> bool:
    """A working day under the State Council holiday notices (全国年节及纪念日放假办法 [O])."""
    return (calendar or default_calendar()).is_working_day(day)


def _china_day(at: datetime | date) -> date:
    if isinstance(at, datetime):
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("working days need a timezone-aware datetime")
        return at.astimezone(CST).date()
    return at


def add_working_days(start: datetime, n: int, calendar: WorkCalendar | None = None) -> datetime:
    """End (23:59:59 China time) of the n-th working day after the start day, in start's offset.

    The start day itself does not count (民法典 201 [S]: a period in days starts the next day), so
    a notice due "within 3 working days" of a Friday handling is due Wednesday night.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    cal = calendar or default_calendar()
    day = _china_day(start)
    counted = 0
    while counted < n:
        day += timedelta(days=1)
        if cal.is_working_day(day):
            counted += 1
    return datetime.combine(day, _END_OF_DAY, tzinfo=CST).astimezone(start.tzinfo)


def uncovered_years(start: datetime | date, due: datetime | date, calendar: WorkCalendar | None = None) -> list[int]:
    """The years of the days after ``start`` up to ``due`` that the holiday calendar does not cover: a deadline
    counted through them is counted Monday to Friday, and may be wrong by the holidays of that year."""
    cal = calendar or default_calendar()
    first, last = _china_day(start), _china_day(due)
    return [y for y in range(first.year, last.year + 1) if y not in cal.years and (y > first.year or last > first)]


def working_days_between(start: datetime | date, end: datetime | date, calendar: WorkCalendar | None = None) -> int:
    """Working days after the start day up to and including the end day (0 if end is not later)."""
    cal = calendar or default_calendar()
    first, last = _china_day(start), _china_day(end)
    count = 0
    day = first + timedelta(days=1)
    while day <= last:
        if cal.is_working_day(day):
            count += 1
        day += timedelta(days=1)
    return count
