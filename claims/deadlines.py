"""The insurer's statutory deadlines on a 交强险 claim (条例 27-29 [O]).

条例 27: answer a notice at once (no timer: the answer is the claim's opening). 条例 28: list the
documents needed within 1 day of the claim. 条例 29: decide cover within 5 days of complete
documents (a refusal with written reasons); pay within 10 days of the agreement on the amount.

Counting is configuration (``rules/deadlines.json``): calendar days by default [U]; the starting
day is not counted and a period ends at 24:00 China time of its last day (民法典 201, 203 [S]).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from importlib import resources
from typing import Any

CALENDAR, WORKING = "calendar", "working"
END_OF_LAST_DAY, ELAPSED = "end_of_last_day", "elapsed"


@dataclass(frozen=True)
class ClaimTimestamps:
    """When each step of a claim happened (None: not yet)."""

    opened_at: datetime
    documents_requested_at: datetime | None = None
    documents_complete_at: datetime | None = None
    cover_decided_at: datetime | None = None
    agreed_at: datetime | None = None
    paid_at: datetime | None = None


@dataclass(frozen=True)
class StepRule:
    step: str
    days: int
    start_field: str
    done_field: str
    source: str


@dataclass(frozen=True)
class DeadlineRules:
    steps: tuple[StepRule, ...]
    day_kind: str = CALENDAR
    period_end: str = END_OF_LAST_DAY
    tz: timezone = timezone(timedelta(hours=8))
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()


@dataclass(frozen=True)
class Deadline:
    step: str
    due: datetime
    done_at: datetime | None
    source: str


@dataclass(frozen=True)
class OverdueStep:
    step: str
    due: datetime
    done_at: datetime | None  # None: still open; set: done, but late
    source: str

    @property
    def still_open(self) -> bool:
        return self.done_at is None


_FIELDS = {f for f in ClaimTimestamps.__dataclass_fields__}


def rules_from_dict(doc: dict[str, Any]) -> DeadlineRules:
    """Validate a deadlines document (the shipped file or a test's)."""
    steps = []
    for s in doc["steps"]:
        if not s.get("source"):
            raise ValueError(f"deadlines: step {s.get('step')!r} has no source")
        if s["from"] not in _FIELDS or s["done"] not in _FIELDS:
            raise ValueError(f"deadlines: step {s['step']!r} names an unknown timestamp")
        if not isinstance(s["days"], int) or s["days"] < 0:
            raise ValueError(f"deadlines: step {s['step']!r} days must be a whole number")
        steps.append(StepRule(s["step"], s["days"], s["from"], s["done"], s["source"]))
    day_kind = doc.get("day_kind", CALENDAR)
    period_end = doc.get("period_end", END_OF_LAST_DAY)
    if day_kind not in (CALENDAR, WORKING):
        raise ValueError(f"deadlines: day_kind must be {CALENDAR!r} or {WORKING!r}")
    if period_end not in (END_OF_LAST_DAY, ELAPSED):
        raise ValueError(f"deadlines: period_end must be {END_OF_LAST_DAY!r} or {ELAPSED!r}")
    if day_kind == WORKING and period_end == ELAPSED:
        raise ValueError("deadlines: working days are counted to the end of the last day")
    return DeadlineRules(
        steps=tuple(steps), day_kind=day_kind, period_end=period_end,
        tz=timezone(timedelta(hours=doc.get("timezone_offset_hours", 8))),
        holidays=frozenset(date.fromisoformat(d) for d in doc.get("holidays", [])),
        extra_workdays=frozenset(date.fromisoformat(d) for d in doc.get("extra_workdays", [])),
    )


@lru_cache(maxsize=1)
def deadline_rules() -> DeadlineRules:
    return rules_from_dict(json.loads(resources.files("claims").joinpath("rules/deadlines.json").read_text("utf-8")))


def _is_workday(day: date, rules: DeadlineRules) -> bool:
    if day in rules.extra_workdays:
        return True
    return day.weekday() < 5 and day not in rules.holidays


def due_after(start: datetime, days: int, rules: DeadlineRules) -> datetime:
    """End of a period of ``days`` from ``start``: 民法典 201, 203 [S] (start day not counted; ends 24:00 of the last day)."""
    if start.tzinfo is None:
        raise ValueError("deadline start must carry an offset")
    if rules.period_end == ELAPSED:
        return start + timedelta(days=days)
    day = start.astimezone(rules.tz).date()
    if rules.day_kind == CALENDAR:
        day += timedelta(days=days)
    else:
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if _is_workday(day, rules):
                counted += 1
    return datetime.combine(day + timedelta(days=1), time(0), rules.tz)


def claim_deadlines(claim_timestamps: ClaimTimestamps, rules: DeadlineRules | None = None) -> dict[str, Deadline]:
    """Due time of every step whose clock has started: 条例 28-29 [O] (1, 5 and 10 days)."""
    rules = rules or deadline_rules()
    out: dict[str, Deadline] = {}
    for s in rules.steps:
        start = getattr(claim_timestamps, s.start_field)
        if start is None:
            continue
        out[s.step] = Deadline(s.step, due_after(start, s.days, rules), getattr(claim_timestamps, s.done_field), s.source)
    return out


def overdue(claim_timestamps: ClaimTimestamps, now: datetime, rules: DeadlineRules | None = None) -> list[OverdueStep]:
    """Steps past due and not done by ``now``, and steps done late: 条例 28-29 [O]."""
    if now.tzinfo is None:
        raise ValueError("now must carry an offset")
    late = []
    for d in claim_deadlines(claim_timestamps, rules).values():
        if d.done_at is None and now > d.due or d.done_at is not None and d.done_at > d.due:
            late.append(OverdueStep(d.step, d.due, d.done_at, d.source))
    return late
