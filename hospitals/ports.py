"""The hospitals context's ports (style.md §1, §3): its unit of work and the repositories behind it, and the
small frozen records they take and return.

The hospitals' use cases (``hospitals.services``) see nothing but these: no session, no row, no topic. The
SQL adapter (``connectors.sql.hospitals.SqlHospitalsUnitOfWork``) implements them over the hospitals' own
store, and ``tests/fakes/hospitals.py`` over dicts; ``tests/integration/test_hospitals_ports.py`` runs one
contract suite against both.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Mapping, Protocol, runtime_checkable

from accidentlink.clock import CST
from accidentlink.reports import Party


# ---------------------------------------------------------------- records
@dataclass(frozen=True)
class Hospital:
    hospital_id: str
    name: str
    lat: float
    lon: float
    city: str
    trauma_level: int = 0
    green_channel: bool = True
    approx: bool = True              # the coordinates are approximate


@dataclass(frozen=True)
class Admission:
    """A green-channel admission: dispatch's pre-arrival notice, then the hospital's confirmation."""

    admission_id: str
    incident_id: str
    hospital_id: str
    status: str                      # notified, confirmed, cancelled, withdrawn
    patients: int
    injuries: Mapping[str, Any]      # as dispatch's notice describes them (injured, trapped, serious...)
    eta_at: datetime | None
    notified_at: datetime
    confirmed_at: datetime | None = None
    confirmed_by: str | None = None
    ambulance: Mapping[str, Any] | None = None   # the ambulance bringing them: unit_id, status, at (its last report)
    withdrawn_at: datetime | None = None
    withdrawn_reason: str | None = None          # incident_closed, redirected (the ambulance goes elsewhere)
    payments: Mapping[str, Any] | None = None    # fund / insurer -> status, amount_fen, at, ref (their events)


@dataclass(frozen=True)
class HospitalBill:
    """A rescue-cost bill in fen, split between its payers as routed when it was recorded. The fund keeps a
    copy with the same fields (``hospitals.bills``)."""

    bill_id: str
    admission_id: str
    incident_id: str
    hospital_id: str
    amount_fen: int
    rescue_started_at: datetime
    items: tuple[Mapping[str, Any], ...]   # amount_fen, incurred_at (ISO 8601 or None), description
    insurer_fen: int
    fund_fen: int
    insurer_code: str | None
    routing: Mapping[str, Any]             # reasons, limit, vehicle plate, recoveries, province
    created_at: datetime
    created_by: str
    # the natural key (``hospitals.services.bill_natural_key``): ``invoice:<number>``, or without an invoice number
    # the admission and the bill's content; unique per hospital. ``content_hash``: what a repeat is compared by
    invoice_number: str | None = None
    natural_key: str | None = None
    content_hash: str | None = None


@dataclass(frozen=True)
class IncidentFacts:
    """What the hospitals' desk needs of its copy of an incident's facts."""

    incident_id: str
    first_reported_at: datetime
    severity: str
    hit_and_run: bool
    address: str | None
    injured: int
    fatalities: int

    @property
    def accident_date(self) -> date:
        """The accident's date in China Standard Time (the rules in force are that day's)."""
        return self.first_reported_at.astimezone(CST).date()


# ---------------------------------------------------------------- repositories
@runtime_checkable
class HospitalRepository(Protocol):
    def get(self, hospital_id: str) -> Hospital | None: ...

    def add(self, hospital: Hospital) -> None: ...


@runtime_checkable
class AdmissionRepository(Protocol):
    def get(self, admission_id: str) -> Admission | None: ...

    def at_hospital(self, hospital_id: str, limit: int, status: str | None = None) -> list[Admission]:
        """Newest notice first (then by admission id); ``status``: only admissions in that status."""

    def of_incident(self, incident_id: str) -> list[Admission]:
        """Every admission of the incident (at any hospital), oldest notice first."""

    def add(self, admission: Admission) -> None:
        """A new admission, at a hospital the store knows (the store refuses another, at commit at the latest)."""

    def save(self, admission: Admission) -> None:
        """An existing admission, as it now stands."""


@runtime_checkable
class BillRepository(Protocol):
    def add(self, bill: HospitalBill) -> None: ...

    def save(self, bill: HospitalBill) -> None:
        """An existing bill with its new split (re-routed once liability is known)."""

    def of_admission(self, admission_id: str) -> list[HospitalBill]:
        """Oldest first."""

    def of_incident(self, incident_id: str) -> list[HospitalBill]:
        """Every bill of the incident (by any hospital), oldest first."""

    def by_natural_key(self, hospital_id: str, natural_key: str) -> HospitalBill | None:
        """The hospital's bill with this natural key (its invoice number, or its content), if recorded."""


@runtime_checkable
class IncidentCopyRepository(Protocol):
    """The pipeline keeps the hospitals' copy of the facts and reports (``accidentlink.pipeline.record_copy``);
    the hospitals' desk adds only the incident's liability determination, which routes its bills."""

    def get(self, incident_id: str) -> IncidentFacts | None: ...

    def parties(self, incident_id: str) -> list[Party]:
        """Every party any report of the incident names, one per plate (or per person without one), in the
        order the reports list them."""

    def fled_plate(self, incident_id: str) -> str | None:
        """The fleeing vehicle's plate, when a report's ``fled_vehicle`` names one (the latest report's)."""

    def liability(self, incident_id: str) -> Mapping[str, Any] | None:
        """The incident's current liability determination (``shares``, ``source``, ``at``, ``by``), if any."""

    def set_liability(self, incident_id: str, determination: Mapping[str, Any]) -> None:
        """Replace the incident's liability determination (a review replaces the first)."""


@runtime_checkable
class OutgoingEvents(Protocol):
    """What the hospitals tell others, sent only if the unit of work commits."""

    def bill_recorded(self, incident_id: str, value: Mapping[str, Any], at: datetime) -> None:
        """One ``hospitals.bills`` message (hospital-bill/1), keyed by the incident id."""


@runtime_checkable
class Timeline(Protocol):
    """The hospitals' part of each incident's timeline."""

    def add(self, incident_id: str, kind: str, at: datetime, **detail: Any) -> None: ...


@runtime_checkable
class Inbox(Protocol):
    """The events this consumer has handled (at least once delivery: a seen event is a no-op)."""

    def seen(self, event_id: str) -> bool: ...

    def mark(self, event_id: str, at: datetime) -> None: ...


@runtime_checkable
class HospitalsUnitOfWork(Protocol):
    """One transaction on the hospitals' store. A use case enters it, and it keeps what was done only when the
    use case calls ``commit()``; leaving it otherwise rolls back."""

    hospitals: HospitalRepository
    admissions: AdmissionRepository
    bills: BillRepository
    incidents: IncidentCopyRepository
    events: OutgoingEvents
    timeline: Timeline
    inbox: Inbox

    def __enter__(self) -> "HospitalsUnitOfWork": ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...
