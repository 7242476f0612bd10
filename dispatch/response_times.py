"""Response-time figures of one unit's order, and which steps are late.

Targets come from dispatch/rules/targets.json, each with its source (domain.md §5):
- order issued within ``order_issue_s`` of intake [U];
- acknowledged within ``acknowledge_timeout_s`` of the order [U] (else escalate to the next unit);
- ambulance out within 180 s of the order (2025 targets, 95 % [S]);
- ambulance on scene within 15 min of the 120 call (Beijing target; Shanghai 2019 average 12.4 min) [S];
- police on scene within 5 min of the order by day, 10 min at night [S/U]; night 22:00-06:00 CST [U].
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from accidentlink.clock import CST
from dispatch.targets import Targets, default_targets

_EVENTS = ("intake_at", "ordered_at", "acknowledged_at", "out_at", "on_scene_at", "at_hospital_at")


@dataclass(frozen=True)
class Timestamps:
    """When each step of one unit's order happened (timezone-aware); None if not yet.

    ``out_at`` is when the unit reported en_route (出车); ``intake_at`` when the call was taken.
    """

    service: str
    intake_at: datetime
    ordered_at: datetime | None = None
    acknowledged_at: datetime | None = None
    out_at: datetime | None = None
    on_scene_at: datetime | None = None
    at_hospital_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.service not in ("122", "120"):
            raise ValueError(f"service must be '122' or '120', got {self.service!r}")
        previous: tuple[str, datetime] | None = None
        for name in _EVENTS:
            at = getattr(self, name)
            if at is None:
                continue
            if at.tzinfo is None or at.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware")
            if previous is not None and at < previous[1]:
                raise ValueError(f"{name} ({at.isoformat()}) is before {previous[0]} ({previous[1].isoformat()})")
            previous = (name, at)

    def after(self, name: str) -> bool:
        """This step or any later one has happened (a unit that is on scene has certainly left)."""
        return any(getattr(self, n) is not None for n in _EVENTS[_EVENTS.index(name):])


@dataclass(frozen=True)
class Overdue:
    """One step later than its target: how long it took (or has taken so far) and the source."""

    step: str
    figure: str
    elapsed_s: int
    target_s: int
    source: str

    def __str__(self) -> str:
        return f"{self.step}: {self.elapsed_s} s > {self.target_s} s ({self.source})"


@dataclass(frozen=True)
class ResponseFigures:
    """Durations in whole seconds (None where a step has not happened) and the late steps."""

    service: str
    intake_to_order_s: int | None
    order_to_ack_s: int | None
    order_to_out_s: int | None
    order_to_on_scene_s: int | None
    intake_to_on_scene_s: int | None
    on_scene_to_hospital_s: int | None
    night: bool
    overdue: tuple[Overdue, ...]


def is_night(at: datetime, targets: Targets | None = None) -> bool:
    """Night for the police turnout target (domain.md §5 [S/U]): local CST time in [night_start, night_end)."""
    t = targets or default_targets()
    local: time = at.astimezone(CST).time()
    start, end = t.night_start, t.night_end
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def _s(a: datetime | None, b: datetime | None) -> int | None:
    return None if a is None or b is None else int((b - a).total_seconds())


@dataclass(frozen=True)
class _Step:
    step: str
    figure: str
    start: str
    end: str
    target_s: int
    target_key: str


def _steps(ts: Timestamps, t: Targets) -> tuple[_Step, ...]:
    steps = [
        _Step("order", "intake_to_order_s", "intake_at", "ordered_at", t.order_issue_s, "order_issue_s"),
        _Step("acknowledge", "order_to_ack_s", "ordered_at", "acknowledged_at",
              t.acknowledge_timeout_s, "acknowledge_timeout_s"),
    ]
    if ts.service == "120":
        steps.append(_Step("out", "order_to_out_s", "ordered_at", "out_at", t.ambulance_out_s, "ambulance_out_s"))
        steps.append(_Step("on_scene", "intake_to_on_scene_s", "intake_at", "on_scene_at",
                           t.ambulance_response_s, "ambulance_response_s"))
    else:
        night = is_night(ts.ordered_at or ts.intake_at, t)
        key = "police_on_scene_night_s" if night else "police_on_scene_day_s"
        steps.append(_Step("on_scene", "order_to_on_scene_s", "ordered_at", "on_scene_at",
                           getattr(t, key), key))
    return tuple(steps)


def response_figures(ts: Timestamps, targets: Targets | None = None) -> ResponseFigures:
    """The figures of one order and the completed steps that missed their target (domain.md §5)."""
    t = targets or default_targets()
    figures = {
        "intake_to_order_s": _s(ts.intake_at, ts.ordered_at),
        "order_to_ack_s": _s(ts.ordered_at, ts.acknowledged_at),
        "order_to_out_s": _s(ts.ordered_at, ts.out_at),
        "order_to_on_scene_s": _s(ts.ordered_at, ts.on_scene_at),
        "intake_to_on_scene_s": _s(ts.intake_at, ts.on_scene_at),
        "on_scene_to_hospital_s": _s(ts.on_scene_at, ts.at_hospital_at),
    }
    late = []
    for st in _steps(ts, t):
        took = figures[st.figure]
        if took is not None and took > st.target_s:
            late.append(Overdue(st.step, st.figure, took, st.target_s, t.cite(st.target_key)))
    return ResponseFigures(service=ts.service, night=is_night(ts.ordered_at or ts.intake_at, t),
                           overdue=tuple(late), **figures)


def overdue_steps(ts: Timestamps, now: datetime, targets: Targets | None = None) -> tuple[Overdue, ...]:
    """For an open order: the steps not yet done whose target has passed at ``now`` (domain.md §5).

    A step counts as done when it or any later step has happened. An ``acknowledge`` entry means
    the order should be escalated to the next unit (``dispatch.choose.next_candidate``).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    t = targets or default_targets()
    late = []
    for st in _steps(ts, t):
        started = getattr(ts, st.start)
        if started is None or ts.after(st.end):
            continue
        waited = int((now - started).total_seconds())
        if waited > st.target_s:
            late.append(Overdue(st.step, st.figure, waited, st.target_s, t.cite(st.target_key)))
    return tuple(late)
