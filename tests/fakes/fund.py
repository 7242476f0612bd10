"""The rescue fund's ports (``fund.ports``) in memory, for the unit tests of ``fund.services``.

``tests/integration/test_fund_ports.py`` runs one contract suite against this fake and the SQL adapter
(``connectors.sql.fund``), so the two cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Iterable, Mapping, TypeVar

from accidentlink.reports import Party
from fund.cases import AlreadyPaid, CaseKind, CaseState
from fund.ledger import LedgerEntry
from fund.ports import BillCopy, CaseFile, IncidentFacts, Payment, Recovery
from tests.fakes.uow import FakeUnitOfWork

R = TypeVar("R")


@dataclass
class FundState:
    """What the fund's store holds."""

    cases: dict[str, CaseFile] = field(default_factory=dict)
    bills: dict[str, BillCopy] = field(default_factory=dict)
    incidents: dict[str, IncidentFacts] = field(default_factory=dict)
    ledger: list[LedgerEntry] = field(default_factory=list)
    payments: dict[str, Payment] = field(default_factory=dict)
    recoveries: dict[str, Recovery] = field(default_factory=dict)  # by case id
    messages: list[tuple[str, dict[str, Any], datetime]] = field(default_factory=list)  # fund.cases: key, value, at
    timeline: list[tuple[str, str, datetime, str]] = field(default_factory=list)  # incident, kind, at, case id
    processed: dict[str, datetime] = field(default_factory=dict)  # the inbox: event id -> when
    parties: dict[str, list[Party]] = field(default_factory=dict)  # by incident, as the pipeline copied them
    fled_plates: dict[str, str] = field(default_factory=dict)  # by incident: a report's fled_vehicle.plate


class _ById(Generic[R]):
    """Records in a dict of the state, by their id."""

    def __init__(self, records: dict[str, R]):
        self._records = records

    def get(self, key: str) -> R | None:
        return self._records.get(key)


class FakeCases(_ById[CaseFile]):
    def for_incident(self, incident_id: str, kind: CaseKind) -> CaseFile | None:
        return next((f for f in self._records.values() if f.case.incident_id == incident_id and f.case.kind is kind), None)

    def recent(self, limit: int, status: str | None = None) -> list[CaseFile]:
        found = [f for f in self._records.values() if not status or f.case.state.value == status]
        return sorted(found, key=lambda f: (f.case.opened_at, f.case.case_id), reverse=True)[:limit]

    def in_states(self, states: Iterable[CaseState]) -> list[CaseFile]:
        wanted = set(states)
        return [f for f in self._records.values() if f.case.state in wanted]

    def add(self, file: CaseFile) -> None:
        c = file.case
        if c.case_id in self._records or self.for_incident(c.incident_id, c.kind) is not None:
            raise ValueError(f"case {c.case_id} exists (one case of each kind per incident)")
        self._records[c.case_id] = file

    def save(self, file: CaseFile) -> None:
        if file.case.case_id not in self._records:
            raise LookupError(f"no fund case {file.case.case_id} to save")
        self._records[file.case.case_id] = file


class FakeBills(_ById[BillCopy]):
    def add(self, bill: BillCopy) -> None:
        self._records[bill.bill_id] = bill

    def save(self, bill: BillCopy) -> None:
        if bill.bill_id not in self._records:
            raise LookupError(f"no bill {bill.bill_id} to save")
        self._records[bill.bill_id] = bill

    def of_incident(self, incident_id: str) -> list[BillCopy]:
        return sorted((b for b in self._records.values() if b.incident_id == incident_id),
                      key=lambda b: (b.created_at, b.bill_id))


class FakeIncidents(_ById[IncidentFacts]):
    def __init__(self, records: dict[str, IncidentFacts], state: "FundState"):
        super().__init__(records)
        self._state = state

    def parties(self, incident_id: str) -> list[Party]:
        return list(self._state.parties.get(incident_id, ()))

    def fled_plate(self, incident_id: str) -> str | None:
        return self._state.fled_plates.get(incident_id)


class FakeLedger:
    def __init__(self, entries: list[LedgerEntry]):
        self._entries = entries

    def add(self, entries: Iterable[LedgerEntry]) -> None:
        self._entries.extend(entries)

    def of_case(self, case_id: str) -> list[LedgerEntry]:
        return [e for e in self._entries if e.case_id == case_id]

    def balance(self) -> int:
        return sum(e.debit_fen - e.credit_fen for e in self._entries)


class FakePayments(_ById[Payment]):
    def add(self, payment: Payment) -> None:
        if payment.case_id in self._records:  # the store's one payment per case
            raise AlreadyPaid(f"case {payment.case_id} is already paid")
        self._records[payment.case_id] = payment


class FakeRecoveries(_ById[Recovery]):  # by case id
    def save(self, recovery: Recovery) -> None:
        self._records[recovery.case_id] = recovery


class FakeEvents:
    def __init__(self, state: FundState):
        self._state = state

    def case_changed(self, case_id: str, value: Mapping[str, Any], at: datetime) -> None:
        self._state.messages.append((case_id, dict(value), at))

    def on_timeline(self, incident_id: str, kind: str, at: datetime, case_id: str) -> None:
        self._state.timeline.append((incident_id, kind, at, case_id))


class FakeInbox:
    def __init__(self, processed: dict[str, datetime]):
        self._processed = processed

    def seen(self, event_id: str) -> bool:
        return event_id in self._processed

    def mark(self, event_id: str, at: datetime) -> None:
        self._processed.setdefault(event_id, at)


class FakeFundUnitOfWork(FakeUnitOfWork[FundState]):
    """A unit of work over ``state``: inside ``with`` it works on a copy, which ``commit()`` makes the state;
    leaving without a commit drops the copy (a rollback)."""

    def __init__(self, state: FundState | None = None):
        super().__init__(state if state is not None else FundState())

    def _bind(self, s: FundState) -> None:
        self.cases, self.bills, self.incidents = FakeCases(s.cases), FakeBills(s.bills), FakeIncidents(s.incidents, s)
        self.ledger, self.payments = FakeLedger(s.ledger), FakePayments(s.payments)
        self.recoveries, self.events, self.inbox = FakeRecoveries(s.recoveries), FakeEvents(s), FakeInbox(s.processed)
