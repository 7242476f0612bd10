"""The rescue fund's ports (style.md §1, §3): its unit of work and the repositories behind it, and the
small frozen records they take and return.

The fund's use cases (``fund.services``) see nothing but these: no session, no row, no topic. The SQL
adapter (``connectors.sql.fund.SqlFundUnitOfWork``) implements them over the fund's own store, and
``tests/fakes/fund.py`` over dicts; ``tests/integration/test_fund_ports.py`` runs one contract suite
against both.

A case as the fund keeps it is a ``CaseFile``: the domain's ``FundCase`` (``fund.cases``) and what the
desk keeps around it (the entitlement from the bills, notes, overdue flags, a first approval waiting for
its second approver, the version that numbers its ``fund.cases`` messages).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable, Mapping, Protocol, runtime_checkable

from accidentlink.clock import CST, iso
from accidentlink.reports import Party
from fund.cases import CaseKind, CaseState, FundCase
from fund.ledger import LedgerEntry


# ---------------------------------------------------------------- records
@dataclass(frozen=True)
class CaseNote:
    at: datetime
    by: str
    note: str

    def to_json(self) -> dict[str, Any]:
        return {"at": iso(self.at), "by": self.by, "note": self.note}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "CaseNote":
        return cls(datetime.fromisoformat(d["at"]), d["by"], d["note"])


@dataclass(frozen=True)
class OverdueFlag:
    """A statutory step found past due, flagged once to the role that owes it."""

    step: str
    owner: str
    due: datetime
    flagged_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "owner": self.owner, "due": iso(self.due), "flagged_at": iso(self.flagged_at)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "OverdueFlag":
        return cls(d["step"], d["owner"], datetime.fromisoformat(d["due"]), datetime.fromisoformat(d["flagged_at"]))


@dataclass(frozen=True)
class FirstApproval:
    """Above the province's threshold: the maker's approval, waiting for a different checker."""

    by: str
    amount_fen: int
    at: datetime
    note: str

    def to_json(self) -> dict[str, Any]:
        return {"by": self.by, "amount_fen": self.amount_fen, "at": iso(self.at), "note": self.note}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "FirstApproval":
        return cls(d["by"], d["amount_fen"], datetime.fromisoformat(d["at"]), d.get("note", ""))


@dataclass(frozen=True)
class CaseFile:
    case: FundCase
    accident_at: datetime
    updated_at: datetime
    version: int = 0                 # one more per state change: numbers the case's ``fund.cases`` messages
    eligible_fen: int = 0            # what the bills route to the fund (the most it may approve)
    hospital_id: str | None = None
    notes: tuple[CaseNote, ...] = ()
    overdue_flags: tuple[OverdueFlag, ...] = ()
    first_approval: FirstApproval | None = None


@dataclass(frozen=True)
class BillCopy:
    """The fund's copy of a hospital's rescue-cost bill (``hospitals.bills``), split by the hospital's routing."""

    bill_id: str
    admission_id: str
    incident_id: str
    hospital_id: str
    amount_fen: int
    rescue_started_at: datetime
    items: tuple[Mapping[str, Any], ...]
    insurer_fen: int
    fund_fen: int
    insurer_code: str | None
    routing: Mapping[str, Any]       # reasons, limit, vehicle plate... as the hospitals' desk routed the bill
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class IncidentFacts:
    """What the fund needs of its copy of an incident's facts."""

    incident_id: str
    first_reported_at: datetime      # the police handle the accident: the notice clock starts
    fatalities: int
    hit_and_run: bool

    @property
    def accident_date(self) -> date:
        """The accident's date in China Standard Time (the rules in force are that day's)."""
        return self.first_reported_at.astimezone(CST).date()


@dataclass(frozen=True)
class Payment:
    case_id: str
    amount_fen: int
    hospital_id: str | None
    paid_by: str
    paid_at: datetime


@dataclass(frozen=True)
class Recovery:
    """What the fund claims back after an advance (道路交通安全法 75 [S]), from whom once known."""

    recovery_id: str
    case_id: str
    status: str                      # open, driver_identified, recovered, closed
    amount_fen: int
    responsible_party: str | None
    opened_at: datetime
    updated_at: datetime


# ---------------------------------------------------------------- repositories
@runtime_checkable
class CaseRepository(Protocol):
    def get(self, case_id: str) -> CaseFile | None: ...

    def for_incident(self, incident_id: str, kind: CaseKind) -> CaseFile | None:
        """An incident has at most one case of each kind."""

    def recent(self, limit: int, status: str | None = None) -> list[CaseFile]:
        """Newest first (by ``opened_at``, then case id); ``status``: only cases in the state of that value."""

    def in_states(self, states: Iterable[CaseState]) -> list[CaseFile]: ...

    def add(self, file: CaseFile) -> None:
        """A new case."""

    def save(self, file: CaseFile) -> None:
        """An existing case, as it now stands."""


@runtime_checkable
class BillRepository(Protocol):
    def get(self, bill_id: str) -> BillCopy | None: ...

    def add(self, bill: BillCopy) -> None: ...

    def save(self, bill: BillCopy) -> None:
        """The copy of a bill whose split the hospitals' desk routed again (a later revision)."""

    def of_incident(self, incident_id: str) -> list[BillCopy]:
        """Every bill of the incident (by any hospital), oldest first."""


@runtime_checkable
class IncidentFactsRepository(Protocol):
    """Read only: the pipeline keeps the fund's copy of the facts (``accidentlink.pipeline.record_copy``)."""

    def get(self, incident_id: str) -> IncidentFacts | None: ...

    def parties(self, incident_id: str) -> list[Party]:
        """Every party any report of the incident names (as ``hospitals.ports.IncidentCopyRepository.parties``)."""

    def fled_plate(self, incident_id: str) -> str | None:
        """The fleeing vehicle's plate, when a report's ``fled_vehicle`` names one."""


@runtime_checkable
class LedgerRepository(Protocol):
    def add(self, entries: Iterable[LedgerEntry]) -> None: ...

    def of_case(self, case_id: str) -> list[LedgerEntry]:
        """In the order they were posted."""

    def balance(self) -> int:
        """Debits minus credits over the whole ledger: zero when every posting balances."""


@runtime_checkable
class PaymentRepository(Protocol):
    def get(self, case_id: str) -> Payment | None: ...

    def add(self, payment: Payment) -> None:
        """At most one payment per case: a second raises ``fund.cases.AlreadyPaid``."""


@runtime_checkable
class RecoveryRepository(Protocol):
    def get(self, case_id: str) -> Recovery | None: ...

    def save(self, recovery: Recovery) -> None:
        """Adds it, or replaces the case's recovery."""


@runtime_checkable
class OutgoingEvents(Protocol):
    """What the fund tells others, sent only if the unit of work commits."""

    def case_changed(self, case_id: str, value: Mapping[str, Any], at: datetime) -> None:
        """One ``fund.cases`` message (fund-case/1), keyed by the case id."""

    def on_timeline(self, incident_id: str, kind: str, at: datetime, case_id: str) -> None:
        """An entry on the incident's timeline (the fund's part of it)."""


@runtime_checkable
class Inbox(Protocol):
    """The events this consumer has handled (at least once delivery: a seen event is a no-op)."""

    def seen(self, event_id: str) -> bool: ...

    def mark(self, event_id: str, at: datetime) -> None: ...


@runtime_checkable
class FundUnitOfWork(Protocol):
    """One transaction on the fund's store. A use case enters it, and it keeps what was done only when the use
    case calls ``commit()``; leaving it otherwise rolls back."""

    cases: CaseRepository
    bills: BillRepository
    incidents: IncidentFactsRepository
    ledger: LedgerRepository
    payments: PaymentRepository
    recoveries: RecoveryRepository
    events: OutgoingEvents
    inbox: Inbox

    def __enter__(self) -> "FundUnitOfWork": ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...
