"""The police's and the parties' working-day time limits after a crash (程序规定, domain.md §4 [O]):
the determination within 3 (simplified procedure) or 10 (ordinary) working days, a review request within
3 of the determination and its decision within 30, a mediation request within 10 of the determination.

Pure: the incident's first report, whether it has casualties, and the timeline entries that start or end a
timer (the quick-handling outcome, a police determination recorded at the joint desk, a review; the kinds are
data) give each timer its due time and state:
- ``running``, ``due`` (its last working day has come), ``overdue`` (a police timer past due) or ``expired``
  (a party's time to ask has passed), ``done``;
- ``calendar_years``: years the holiday calendar does not cover that the count ran through (counted Monday to
  Friday there, so a person checks the date; never silent).
The numbers and the timeline kinds are ``rules/police_timers.json``, each timer with its source.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from accidentlink.clock import iso
from fund import add_working_days, uncovered_years, working_days_between

STARTS = ("reported", "determined", "review_requested")
FLAGGED = ("due", "overdue", "expired")


@dataclass(frozen=True)
class TimerRule:
    timer: str
    owner: str                 # police, parties
    working_days: int
    starts: str                # reported, determined, review_requested
    applies_to: str | None     # property_only, casualties, or None (every incident)
    source: str


@dataclass(frozen=True)
class PoliceTimerRules:
    timers: tuple[TimerRule, ...]
    due_soon_working_days: int
    events: dict[str, frozenset[str]]   # determined, review_requested, review_decided, mediation_requested


@dataclass(frozen=True)
class PoliceTimer:
    timer: str
    owner: str
    started_at: datetime
    due: datetime
    state: str
    done_at: datetime | None
    calendar_years: tuple[int, ...]
    source: str

    @property
    def flagged(self) -> bool:
        return self.state in FLAGGED or bool(self.calendar_years)

    def to_json(self) -> dict[str, Any]:
        return {"timer": self.timer, "owner": self.owner, "started_at": iso(self.started_at), "due": iso(self.due),
                "state": self.state, "done_at": iso(self.done_at) if self.done_at else None,
                "calendar_years": list(self.calendar_years), "flagged": self.flagged, "source": self.source}


def rules_from_dict(doc: dict[str, Any]) -> PoliceTimerRules:
    timers = []
    for t in doc["timers"]:
        rule = TimerRule(t["timer"], t["owner"], int(t["working_days"]), t["starts"], t.get("applies_to"), t["source"])
        if rule.starts not in STARTS or rule.owner not in ("police", "parties") or rule.working_days <= 0 \
                or not rule.source or rule.applies_to not in (None, "property_only", "casualties"):
            raise ValueError(f"police_timers.json: bad timer {t}")
        timers.append(rule)
    events = {k: frozenset(v) for k, v in doc["events"].items()}
    if set(events) != {"determined", "review_requested", "review_decided", "mediation_requested"}:
        raise ValueError("police_timers.json: events must name determined, review_requested, review_decided, "
                         "mediation_requested")
    return PoliceTimerRules(tuple(timers), int(doc["due_soon_working_days"]), events)


@lru_cache(maxsize=1)
def police_timer_rules() -> PoliceTimerRules:
    return rules_from_dict(json.loads(
        resources.files("dispatch").joinpath("rules/police_timers.json").read_text("utf-8")))


def _first(events: list[tuple[str, datetime]], kinds: frozenset[str], after: datetime | None = None) -> datetime | None:
    times = [at for kind, at in events if kind in kinds and (after is None or at >= after)]
    return min(times) if times else None


def police_timers(reported_at: datetime, casualties: bool, timeline: Iterable[tuple[str, datetime]], now: datetime,
                  rules: PoliceTimerRules | None = None) -> list[PoliceTimer]:
    """Every timer whose clock has started, with its due time and state (working days, 程序规定 [O])."""
    rules = rules or police_timer_rules()
    events = list(timeline)
    determined = _first(events, rules.events["determined"])
    requested = _first(events, rules.events["review_requested"], determined)
    started = {"reported": reported_at, "determined": determined, "review_requested": requested}
    ended = {
        "reported": determined,
        "determined": None,  # per timer below
        "review_requested": _first(events, rules.events["review_decided"], requested) if requested else None,
    }
    out = []
    for r in rules.timers:
        if r.applies_to == "property_only" and casualties or r.applies_to == "casualties" and not casualties:
            continue
        start = started[r.starts]
        if start is None:
            continue
        done = ended[r.starts]
        if r.starts == "determined":
            done = requested if r.timer == "review_request" else _first(
                events, rules.events["mediation_requested"], start)
        due = add_working_days(start, r.working_days)
        if done is not None:
            state = "done"
        elif now > due:
            state = "overdue" if r.owner == "police" else "expired"
        elif working_days_between(now, due) < rules.due_soon_working_days:
            state = "due"
        else:
            state = "running"
        out.append(PoliceTimer(r.timer, r.owner, start, due, state, done, tuple(uncovered_years(start, due)),
                               r.source))
    return out
