"""What the hospitals' use cases take: dispatch's pre-arrival notices, the hospital desk's commands and
queries. ``at`` is when the hospitals' side acts on it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from fund import BillItem


# ---------------------------------------------------------------- events
@dataclass(frozen=True)
class PreArrivalNotice:
    """Dispatch's ``hospital_assigned`` change on ``incidents``: patients on their way to the hospital.
    ``event_id`` is the hospitals' inbox key for it."""

    event_id: str
    incident_id: str
    hospital_id: str
    patients: int
    injuries: Mapping[str, Any]
    eta_at: datetime | None
    at: datetime


@dataclass(frozen=True)
class AmbulanceAssigned:
    """Dispatch's ``unit_assigned`` change for a 120 unit: the ambulance that will bring the incident's patients
    (a replacement after escalation too)."""

    event_id: str
    incident_id: str
    unit_id: str
    at: datetime


@dataclass(frozen=True)
class UnitStatusReported:
    """Dispatch's ``unit_status`` change: a unit's live status (en_route, on_scene, transporting, at_hospital,
    available...); the hospitals follow only the ambulance of an admission."""

    event_id: str
    incident_id: str
    unit_id: str
    status: str
    at: datetime


@dataclass(frozen=True)
class IncidentClosed:
    """Dispatch's ``closed`` change: nobody is coming any more unless treatment already began."""

    event_id: str
    incident_id: str
    at: datetime


@dataclass(frozen=True)
class CasualtiesCounted:
    """The incident's facts as the intake merged them (the hospitals' copy): injured and dead."""

    incident_id: str
    injured: int
    fatalities: int
    at: datetime


@dataclass(frozen=True)
class PayerProgress:
    """A payer's step on an incident's costs, from its own events: the fund's case (``fund.cases``: approved,
    paid, rejected) or the insurer's claim for one vehicle (``claims.events``: agreed, paid, refused)."""

    event_id: str
    incident_id: str
    payer: str                  # fund, insurer
    status: str
    amount_fen: int | None
    ref: str                    # the case or claim number
    at: datetime
    plate: str | None = None    # insurer: the vehicle whose 交强险 pays
    insurer: str | None = None


# ---------------------------------------------------------------- commands
@dataclass(frozen=True)
class ConfirmAdmission:
    hospital_id: str     # the desk's hospital: another hospital's admission is not found
    admission_id: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class RecordBill:
    hospital_id: str
    admission_id: str
    amount_fen: int
    rescue_started_at: datetime
    items: tuple[BillItem, ...]     # none: one item of the whole amount
    actor: str
    at: datetime
    vehicle_plate: str | None = None  # the vehicle whose 交强险 answers (default: the first the reports list)
    window_extended: bool = False     # the hospital gave written reasons for costs beyond the rescue window
    invoice_number: str | None = None  # the hospital's invoice number: the bill's natural key, unique per hospital
    patient_id_number: str | None = None  # the patient among the parties (routing: who the victim is, which vehicle)


@dataclass(frozen=True)
class RecordLiability:
    """A liability determination for an incident's vehicles (程序规定 60 [O]): the police's, recorded at the joint
    desk, or the quick-handling table's or the police's online one (from ``claims.events``). ``shares``: plate ->
    full | primary | equal | secondary | none. ``event_id``: the inbox key when it came as an event."""

    incident_id: str
    shares: Mapping[str, str]
    source: str            # joint_desk | self_negotiation | police_determination | review
    actor: str
    at: datetime
    event_id: str | None = None


# ---------------------------------------------------------------- the desk's queries
@dataclass(frozen=True)
class AdmissionsQuery:
    hospital_id: str
    limit: int
    status: str | None = None


@dataclass(frozen=True)
class PeopleQuery:
    """The people an admission's incident names, in full: the hospital needs its patients' identity."""
    hospital_id: str
    admission_id: str
