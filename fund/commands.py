"""What the fund's use cases take: events from other contexts, commands from the fund's desk and the police,
and the desk's queries. ``at`` is when the fund acts on it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from accidentlink.reports import AccidentReport
from fund.ports import BillCopy, IncidentFacts


# ---------------------------------------------------------------- events
@dataclass(frozen=True)
class IncidentReported:
    """A report merged into an incident (``intake.incident-facts``), with the fund's copy of its facts after it."""

    report: AccidentReport
    incident: IncidentFacts
    at: datetime


@dataclass(frozen=True)
class BillReceived:
    """A hospital's bill (``hospitals.bills``); ``event_id`` is the fund's inbox key for it."""

    event_id: str
    bill: BillCopy
    at: datetime


# ---------------------------------------------------------------- commands
@dataclass(frozen=True)
class ApproveCase:
    case_id: str
    amount_fen: int
    actor: str          # ``role:name:token_id``: one person per token (maker-checker compares the person)
    at: datetime
    note: str = ""


@dataclass(frozen=True)
class RejectCase:
    case_id: str
    reason: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class PayCase:
    case_id: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class RecordPoliceNotice:
    case_id: str
    at: datetime


@dataclass(frozen=True)
class RecordHitAndRunSolved:
    case_id: str
    driver_ref: str
    at: datetime


@dataclass(frozen=True)
class ApplyForFuneralCosts:
    incident_id: str
    amount_fen: int
    relative: str
    notice_ref: str     # the police body-disposal notice (尸体处理通知书)
    at: datetime
    deceased_id_number: str | None = None  # the deceased among the parties: which vehicle's 交强险 answers


# ---------------------------------------------------------------- the desk's queries
@dataclass(frozen=True)
class CasesQuery:
    limit: int
    status: str | None = None   # a case state's value; any other matches no case


@dataclass(frozen=True)
class QueueQuery:
    """The review queue as the clerk narrows it (issue 15 item 4): every matching case is found on the server, so
    the case waiting 1,008th of 1,009 is found by its number, not lost below a page of 500."""

    limit: int
    search: str = ""            # part of a case number, incident number or hospital id
    status: str | None = None   # one open state
    kind: str | None = None     # advance, funeral...
    overdue: bool = False       # only cases with a late statutory step
    sort: str = "deadline"      # deadline (soonest first), newest, oldest, amount (largest eligible first)
    offset: int = 0


@dataclass(frozen=True)
class CaseQuery:
    case_id: str
