"""What the dispatch store keeps, as the services see it: plain dataclasses, never rows.

The repositories (``dispatch.ports``) hand these out and take them back; ``connectors.sql.dispatch``
translates them to and from SQLAlchemy rows, ``tests.fakes.dispatch`` keeps them in memory. They are
frozen: a service changes one with ``dataclasses.replace`` and saves it explicitly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping


@dataclass(frozen=True)
class Note:
    """A line on the incident a dispatcher reads ("no free ambulance", "escalated", "closed", ...)."""

    at: datetime
    kind: str
    text: str
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. the police's classification of a closing


@dataclass(frozen=True)
class Party:
    """What dispatch needs to know of one party a report names (for the reasons police must come)."""

    plate: str | None
    unlicensed: bool = False  # the report says the driver has no (valid) licence
    drunk: bool = False
    insured: bool = True  # an insurer and a compulsory-insurance (交强险) policy are named


@dataclass(frozen=True)
class Incident:
    """Dispatch's copy of an incident: the intake's facts, and dispatch's own state (status, destination
    hospital, notes, whether it is left to online quick handling, when it was closed)."""

    incident_id: str
    lat: float
    lon: float
    address: str | None
    first_reported_at: datetime
    last_reported_at: datetime
    injured: int = 0
    fatalities: int = 0
    vehicles_movable: bool = True
    hit_and_run: bool = False
    hazards: tuple[str, ...] = ()
    plates: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    status: str = "open"  # open, closed
    hospital_id: str | None = None
    quick_handling: bool = False
    notes: tuple[Note, ...] = ()
    closed_at: datetime | None = None

    @property
    def last_note(self) -> Note | None:
        return self.notes[-1] if self.notes else None


@dataclass(frozen=True)
class Order:
    """One unit ordered to one incident, and the times of the unit's steps (``status_times``)."""

    order_id: str
    incident_id: str
    service: str  # "122" police, "120" ambulance
    unit_id: str
    distance_m: int
    eta_s: int
    issued_at: datetime
    state: str = "active"  # active, released, completed, cancelled
    unit_status: str = "dispatched"
    status_times: Mapping[str, datetime] = field(default_factory=dict)
    replaces_order_id: str | None = None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnitState:
    """A unit as it stands: where it is, what it is doing and for which incident."""

    unit_id: str
    service: str
    name: str
    lat: float
    lon: float
    status: str
    status_at: datetime
    phone: str | None = None
    incident_id: str | None = None
