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
