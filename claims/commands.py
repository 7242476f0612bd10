"""What the claims use cases take: events from other contexts, commands from insurers, administrators, the
parties of a minor crash and the police, and the desks' queries. ``at`` is when claims acts on it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from accidentlink.reports import AccidentReport


# ---------------------------------------------------------------- events
@dataclass(frozen=True)
class IncidentReported:
    """A report merged into an incident (``intake.incident-facts``); claims' copy of the incident is up to date."""

    report: AccidentReport
    incident_id: str
    at: datetime


@dataclass(frozen=True)
class BillReceived:
    """A hospital's rescue-cost bill (``hospitals.bills``), split by the hospitals' desk between the insurer
    of ``vehicle_plate`` and the fund; ``event_id`` is claims' inbox key for it."""

    event_id: str
    bill_id: str
    incident_id: str | None
    hospital_id: str | None
    vehicle_plate: str | None
    amount_fen: int | None
    insurer_fen: int
    at: datetime
    revision: int = 0                       # 0: the first split; n: routed again (liability decided)
    previous_plate: str | None = None       # a re-routing: the vehicle that answered before
    liability: str | None = None            # the answering driver's liability, once determined
    provisional: bool = False               # liability undetermined: the at-fault limit was used


# ---------------------------------------------------------------- commands
@dataclass(frozen=True)
class TakeClaimStep:
    """One of the insurer's steps (``claims.services.TRANSITIONS``); ``fields``: the request's fields that were
    given (amount_fen, accepted, reasons, note)."""

    claim_id: str
    insurer: str | None
    action: str
    fields: Mapping[str, Any]
    actor: str          # ``role:name:token_id``
    at: datetime


@dataclass(frozen=True)
class RouteClaim:
    claim_id: str
    insurer: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class AddPhoto:
    quick_id: str
    token: str | None   # the party's link token
    kind: str
    data_base64: str
    at: datetime


@dataclass(frozen=True)
class ConfirmFacts:
    """A party confirms the facts, names its situations (or disputes) and signs."""

    quick_id: str
    token: str | None
    signature: str
    at: datetime
    situations: tuple[str, ...] = ()
    disputed: bool = False
    weather: str = ""
    point_of_impact: str = ""
    accident_form: str | None = None
    licence_number: str | None = None
    signature_png: str | None = None   # the signature drawn on the screen, a base64 PNG (kept with its SHA-256)


@dataclass(frozen=True)
class AnswerOwnVehicle:
    """A party says what ITS OWN vehicle was doing ("我的车辆：停车等待"), before anyone signs."""

    quick_id: str
    token: str | None
    own_vehicle: str
    at: datetime
    weather: str = ""
    point_of_impact: str = ""


@dataclass(frozen=True)
class ObjectToLiability:
    """A party objects to the liability shown before it binds: the case goes to the police (程序规定 20)."""

    quick_id: str
    token: str | None
    reason: str
    at: datetime


@dataclass(frozen=True)
class QuickFileQuery:
    """A scene photo or signature image of a case (a party by its link token, or an officer)."""

    quick_id: str
    sha256: str
    token: str | None = None   # None: an officer's request (the route checks the role)


@dataclass(frozen=True)
class DetermineLiability:
    """The police officer's electronic accident determination: a liability degree per plate, with reasons."""

    quick_id: str
    shares: Mapping[str, str]   # plate -> full | primary | equal | secondary | none
    reason: str
    officer: str
    at: datetime


@dataclass(frozen=True)
class ConfirmBySms:
    """A party's SMS reply to its quick-handling link."""

    from_phone: str
    body: str
    at: datetime


# ---------------------------------------------------------------- the desks' queries
@dataclass(frozen=True)
class ClaimsQuery:
    limit: int
    insurer: str | None = None  # None: every insurer's
    status: str | None = None
    search: str | None = None   # part of a claim number or a plate


@dataclass(frozen=True)
class ClaimQuery:
    claim_id: str
    insurer: str | None         # another insurer's claim is not found


@dataclass(frozen=True)
class QuickCaseQuery:
    quick_id: str
    token: str | None


@dataclass(frozen=True)
class PoliceQueueQuery:
    limit: int
