"""What the dispatch services are asked to do (commands) and what they hear from others (events).

Each carries the time it happens at (``at``): the services record that time and never read a clock.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping


@dataclass(frozen=True)
class DispatchIncident:
    """Order what the incident still lacks; ``replaces``: service -> the order a new one replaces."""

    incident_id: str
    at: datetime
    replaces: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EscalationRound:
    """Look for orders nobody acknowledged within ``ack_timeout_s`` and incidents waiting for a unit."""

    at: datetime
    ack_timeout_s: int


@dataclass(frozen=True)
class Escalation:
    """What one escalation round found to do (``due_for_escalation``); empty when nothing waits."""

    at: datetime
    ack_timeout_s: int
    late_order_ids: tuple[str, ...] = ()
    late_incident_ids: tuple[str, ...] = ()  # the incidents of those orders
    waiting_incident_ids: tuple[str, ...] = ()  # open incidents whose last note says no unit was free

    def __bool__(self) -> bool:
        return bool(self.late_order_ids or self.waiting_incident_ids)


@dataclass(frozen=True)
class UpdateUnitStatus:
    unit_id: str
    status: str
    at: datetime
    lat: float | None = None
    lon: float | None = None
    note: str = ""


@dataclass(frozen=True)
class CloseIncident:
    incident_id: str
    reason: str
    police_classification: str | None
    at: datetime
    confirmed: bool = False  # the dispatcher confirmed closing while an ambulance carries a patient


@dataclass(frozen=True)
class ReassignUnit:
    incident_id: str
    service: str
    reason: str
    by: str  # the dispatcher's name, for the note the other dispatchers read
    at: datetime


@dataclass(frozen=True)
class ReopenIncident:
    incident_id: str
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class OrderChosenUnit:
    """The dispatcher's own choice of unit: added to the incident, or (``replace``) instead of the
    service's current unit."""

    incident_id: str
    unit_id: str
    reason: str
    by: str
    at: datetime
    replace: bool = False


@dataclass(frozen=True)
class OtherContextChange:
    """A change another context published on ``incidents`` that dispatch keeps as a note (claims'
    ``quick_refused``); ``event_id`` is dispatch's inbox key for it; ``text`` is None when the change carries
    no readable text."""

    event_id: str
    incident_id: str
    change: str
    text: str | None
    at: datetime
