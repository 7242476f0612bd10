"""The rescue fund's SQL adapter: its unit of work and repositories (``fund.ports``) over the fund's store,
and the ``rescue-fund`` consumer group's entry points, which drive ``fund.services``.

Rows and the fund's records are translated by small explicit functions (``case_file``/``write_case``,
``bill_copy``/``bill_row``, ...). A ``SqlFundUnitOfWork`` is either a transaction of its own on the fund's
store (the bills consumer, the overdue timer, the desk's reads) or part of a transaction that its caller
owns and commits (``joining``): a pipeline batch, or an HTTP request that writes its audit line beside the
action. Inside a pipeline batch (``connectors.sql.batch``), outbox rows and timeline entries are written in
bulk at the batch's end, and which of the batch's incidents have bills is read once
(``FundHandler.prepare``); so the fast and the careful pass are the same to the use cases.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import accidentlink.incidents
from accidentlink.clock import Clock
from accidentlink.pipeline import Context, RawMessage, TopicNames, readable_events
from accidentlink.reports import AccidentReport, Party
from connectors.sql import batch
from connectors.sql import incidents as incident_repo
from connectors.sql.models import BillRow, FundCaseRow, FundPaymentRow, IncidentRow, LedgerEntryRow, RecoveryRow
from connectors.sql.outbox import emit
from connectors.sql.store_uow import SqlInbox, StoreUnitOfWork
from fund import services
from fund.cases import AlreadyPaid, CaseKind, CaseState, FundCase
from fund.commands import BillReceived, IncidentReported
from fund.ledger import LedgerEntry
from fund.ports import BillCopy, CaseFile, CaseNote, FirstApproval, IncidentFacts, OverdueFlag, Payment, Recovery

CONSUMER = "rescue-fund"
BILLED = "fund"  # the batch cache (``batch.cache``) of which incidents of the batch have bills

# ``FundCase`` fields kept in ``fund_cases`` columns of the same name
_SAME_NAME = ("case_id", "incident_id", "province", "accident_date", "opened_at", "victim_ref", "police_notified_at",
              "applied_at", "applicant_type", "requested_fen", "approved_fen", "approved_by", "second_approved_by",
              "approved_at", "rejected_reason", "rejected_by", "rejected_at", "paid_fen", "paid_by", "paid_at",
              "responsible_party")


# ---------------------------------------------------------------- rows <-> records
def case_file(r: FundCaseRow) -> CaseFile:
    case = FundCase(kind=CaseKind(r.kind), state=CaseState(r.status), reasons=tuple(r.reasons or ()),
                    **{name: getattr(r, name) for name in _SAME_NAME})
    return CaseFile(case, accident_at=r.accident_at, updated_at=r.updated_at, version=r.version,
                    eligible_fen=r.eligible_fen, hospital_id=r.hospital_id,
                    notes=tuple(CaseNote.from_json(n) for n in r.notes or ()),
                    overdue_flags=tuple(OverdueFlag.from_json(o) for o in r.overdue_flags or ()),
                    first_approval=FirstApproval.from_json(r.first_approval) if r.first_approval else None)


def write_case(r: FundCaseRow, f: CaseFile) -> None:
    c = f.case
    for name in _SAME_NAME:
        setattr(r, name, getattr(c, name))
    r.kind, r.status, r.reasons = c.kind.value, c.state.value, list(c.reasons)
    r.accident_at, r.updated_at, r.version = f.accident_at, f.updated_at, f.version
    r.eligible_fen, r.hospital_id = f.eligible_fen, f.hospital_id
    r.notes = [n.to_json() for n in f.notes]
    r.overdue_flags = [o.to_json() for o in f.overdue_flags]
    r.first_approval = f.first_approval.to_json() if f.first_approval else None


def bill_copy(r: BillRow) -> BillCopy:
    return BillCopy(bill_id=r.bill_id, admission_id=r.admission_id, incident_id=r.incident_id,
                    hospital_id=r.hospital_id, amount_fen=r.amount_fen, rescue_started_at=r.rescue_started_at,
                    items=tuple(r.items or ()), insurer_fen=r.insurer_fen, fund_fen=r.fund_fen,
                    insurer_code=r.insurer_code, routing=r.routing or {}, created_at=r.created_at,
                    created_by=r.created_by)


def bill_row(b: BillCopy) -> BillRow:
    return BillRow(bill_id=b.bill_id, admission_id=b.admission_id, incident_id=b.incident_id, hospital_id=b.hospital_id,
                   amount_fen=b.amount_fen, rescue_started_at=b.rescue_started_at, items=[dict(i) for i in b.items],
                   insurer_fen=b.insurer_fen, fund_fen=b.fund_fen, insurer_code=b.insurer_code,
                   routing=dict(b.routing), created_at=b.created_at, created_by=b.created_by)


def incident_facts(f: IncidentRow | accidentlink.incidents.IncidentFacts) -> IncidentFacts:
    """The fund's facts of an incident, from its copy's row or from the facts the pipeline just recorded."""
    return IncidentFacts(f.incident_id, f.first_reported_at, f.fatalities, f.hit_and_run)


def ledger_entry(r: LedgerEntryRow) -> LedgerEntry:
    return LedgerEntry(r.case_id, r.account, r.debit_fen, r.credit_fen, r.at, r.memo)


def ledger_row(e: LedgerEntry) -> LedgerEntryRow:
    return LedgerEntryRow(case_id=e.case_id, account=e.account, debit_fen=e.debit_fen, credit_fen=e.credit_fen,
                          at=e.at, memo=e.memo)


def payment(r: FundPaymentRow) -> Payment:
    return Payment(r.case_id, r.amount_fen, r.hospital_id, r.paid_by, r.paid_at)


def recovery(r: RecoveryRow) -> Recovery:
    return Recovery(r.recovery_id, r.case_id, r.status, r.amount_fen, (r.responsible or {}).get("party"),
                    r.opened_at, r.updated_at)


def write_recovery(r: RecoveryRow, rec: Recovery) -> None:
    r.case_id, r.status, r.amount_fen = rec.case_id, rec.status, rec.amount_fen
    r.responsible = {"party": rec.responsible_party}
    r.opened_at, r.updated_at = rec.opened_at, rec.updated_at


def bill_event_id(event_id: str, bill: Mapping[str, Any]) -> str:
    """The inbox key of a ``hospitals.bills`` message: the bill's id for its first split (as before re-routing
    existed), one more key per revision of its split."""
    revision = bill.get("revision") or 0
    return event_id if not revision else f"{event_id}:r{int(revision)}"


def bill_copy_of(bill: Mapping[str, Any], now: datetime) -> BillCopy:
    """The fund's copy of a ``hospitals.bills`` message (hospital-bill/1)."""
    return BillCopy(bill_id=bill["bill_id"], admission_id=bill["admission_id"], incident_id=bill["incident_id"],
                    hospital_id=bill["hospital_id"], amount_fen=int(bill["amount_fen"]),
                    rescue_started_at=datetime.fromisoformat(bill["rescue_started_at"]),
                    items=tuple(bill.get("items") or ()), insurer_fen=int(bill.get("insurer_fen") or 0),
                    fund_fen=int(bill.get("fund_fen") or 0), insurer_code=bill.get("insurer"),
                    routing=bill.get("routing") or {"reasons": bill.get("reasons") or [],
                                                    "vehicle_plate": bill.get("vehicle_plate")},
                    created_at=datetime.fromisoformat(bill["at"]) if bill.get("at") else now,
                    created_by=bill.get("created_by") or f"hospital:{bill['hospital_id']}")


# ---------------------------------------------------------------- repositories
class SqlCases:
    def __init__(self, session: Session):
        self._s = session
        self._rows: dict[str, FundCaseRow] = {}  # what this unit of work read or added, to save it back

    def _kept(self, row: FundCaseRow) -> CaseFile:
        self._rows[row.case_id] = row
        return case_file(row)

    def _row(self, case_id: str) -> FundCaseRow | None:
        return self._rows.get(case_id) or self._s.get(FundCaseRow, case_id)

    def get(self, case_id: str) -> CaseFile | None:
        row = self._row(case_id)
        return None if row is None else self._kept(row)

    def for_incident(self, incident_id: str, kind: CaseKind) -> CaseFile | None:
        row = self._s.scalar(select(FundCaseRow).where(FundCaseRow.incident_id == incident_id,
                                                       FundCaseRow.kind == kind.value))
        return None if row is None else self._kept(row)

    def recent(self, limit: int, status: str | None = None) -> list[CaseFile]:
        q = select(FundCaseRow)
        if status:
            q = q.where(FundCaseRow.status == status)
        q = q.order_by(FundCaseRow.opened_at.desc(), FundCaseRow.case_id.desc()).limit(limit)
        return [self._kept(r) for r in self._s.scalars(q)]

    def in_states(self, states: Iterable[CaseState]) -> list[CaseFile]:
        q = select(FundCaseRow).where(FundCaseRow.status.in_([s.value for s in states]))
        return [self._kept(r) for r in self._s.scalars(q)]

    def add(self, file: CaseFile) -> None:
        row = FundCaseRow()
        write_case(row, file)
        self._s.add(row)
        self._rows[row.case_id] = row

    def save(self, file: CaseFile) -> None:
        row = self._row(file.case.case_id)
        if row is None:
            raise LookupError(f"no fund case {file.case.case_id} to save")
        write_case(row, file)


class SqlBills:
    def __init__(self, session: Session):
        self._s = session

    @staticmethod
    def read_billed(session: Session, incident_ids: set[str]) -> None:
        """Inside a pipeline batch: which of these incidents have bills, with one query for the batch."""
        cached = batch.cache(session, BILLED)
        if cached is not None:
            cached["billed"] = set(session.scalars(select(BillRow.incident_id).where(BillRow.incident_id.in_(incident_ids))))

    def get(self, bill_id: str) -> BillCopy | None:
        row = self._s.get(BillRow, bill_id)
        return None if row is None else bill_copy(row)

    def add(self, bill: BillCopy) -> None:
        self._s.add(bill_row(bill))

    def save(self, bill: BillCopy) -> None:
        row = self._s.get(BillRow, bill.bill_id)
        if row is None:
            raise LookupError(f"no bill {bill.bill_id} to save")
        new = bill_row(bill)
        for name in ("insurer_fen", "fund_fen", "insurer_code", "routing", "amount_fen", "items"):
            setattr(row, name, getattr(new, name))

    def of_incident(self, incident_id: str) -> list[BillCopy]:
        billed = (batch.cache(self._s, BILLED) or {}).get("billed")
        if billed is not None and incident_id not in billed:  # the batch knows it has none: no query
            return []
        return [bill_copy(r) for r in self._s.scalars(select(BillRow).where(BillRow.incident_id == incident_id)
                                                      .order_by(BillRow.created_at, BillRow.bill_id))]


class SqlIncidents:
    def __init__(self, session: Session):
        self._s = session

    def get(self, incident_id: str) -> IncidentFacts | None:
        row = incident_repo.incident(self._s, incident_id)  # inside a batch: the row the batch holds
        return None if row is None else incident_facts(row)

    def parties(self, incident_id: str) -> list[Party]:
        from connectors.sql.hospitals import party

        return [party(p) for p in incident_repo.parties_of(self._s, incident_id)]

    def fled_plate(self, incident_id: str) -> str | None:
        plate = None
        for _at, _id, payload in incident_repo.reports_of(self._s, incident_id):
            plate = ((payload.get("fled_vehicle") or {}).get("plate") or "").strip().upper() or plate
        return plate


class SqlLedger:
    def __init__(self, session: Session):
        self._s = session

    def add(self, entries: Iterable[LedgerEntry]) -> None:
        self._s.add_all([ledger_row(e) for e in entries])

    def of_case(self, case_id: str) -> list[LedgerEntry]:
        q = select(LedgerEntryRow).where(LedgerEntryRow.case_id == case_id).order_by(LedgerEntryRow.id)
        return [ledger_entry(r) for r in self._s.scalars(q)]

    def balance(self) -> int:
        debits, credits = self._s.execute(select(func.coalesce(func.sum(LedgerEntryRow.debit_fen), 0),
                                                 func.coalesce(func.sum(LedgerEntryRow.credit_fen), 0))).one()
        return int(debits) - int(credits)


class SqlPayments:
    def __init__(self, session: Session):
        self._s = session

    def get(self, case_id: str) -> Payment | None:
        row = self._s.get(FundPaymentRow, case_id)
        return None if row is None else payment(row)

    def add(self, p: Payment) -> None:
        """The table's primary key (one payment per case) refuses a second, even one a concurrent request
        wrote after this one looked."""
        try:
            with self._s.begin_nested():
                self._s.add(FundPaymentRow(case_id=p.case_id, amount_fen=p.amount_fen, hospital_id=p.hospital_id,
                                           paid_by=p.paid_by, paid_at=p.paid_at))
        except IntegrityError:
            if self.get(p.case_id) is None:
                raise
            raise AlreadyPaid(f"case {p.case_id} is already paid") from None


class SqlRecoveries:
    def __init__(self, session: Session):
        self._s = session

    def get(self, case_id: str) -> Recovery | None:
        row = self._s.scalar(select(RecoveryRow).where(RecoveryRow.case_id == case_id))
        return None if row is None else recovery(row)

    def save(self, rec: Recovery) -> None:
        row = self._s.get(RecoveryRow, rec.recovery_id)
        if row is None:
            row = RecoveryRow(recovery_id=rec.recovery_id)
            self._s.add(row)
        write_recovery(row, rec)


class SqlCaseEvents:
    def __init__(self, session: Session, owner: str, topics: TopicNames):
        self._s, self._owner, self._topic = session, owner, topics.name("fund.cases")

    def case_changed(self, case_id: str, value: Mapping[str, Any], at: datetime) -> None:
        emit(self._s, self._owner, self._topic, case_id, dict(value), at)

    def on_timeline(self, incident_id: str, kind: str, at: datetime, case_id: str) -> None:
        incident_repo.add_timeline(self._s, incident_id, at, kind, case_id=case_id)


# ---------------------------------------------------------------- the unit of work
class SqlFundUnitOfWork(StoreUnitOfWork):
    """``fund.ports.FundUnitOfWork`` on the fund's store (``connectors.sql.store_uow``); its owner is
    ``rescue-fund``, or ``web`` for the desk's actions."""

    cases: SqlCases
    bills: SqlBills
    incidents: SqlIncidents
    ledger: SqlLedger
    payments: SqlPayments
    recoveries: SqlRecoveries
    events: SqlCaseEvents
    inbox: SqlInbox

    def _bind(self, s: Session) -> None:
        self.cases, self.bills, self.incidents = SqlCases(s), SqlBills(s), SqlIncidents(s)
        self.ledger, self.payments, self.recoveries = SqlLedger(s), SqlPayments(s), SqlRecoveries(s)
        self.events, self.inbox = SqlCaseEvents(s, self.owner, self._topics), SqlInbox(s, self.owner)


class FundUows(Protocol):
    """How the wiring (``accidentlink.bootstrap.Container.fund_uow``) hands out the fund's units of work."""

    def __call__(self, owner: str = ..., *, joining: Session | None = None,
                 read_only: bool = False) -> SqlFundUnitOfWork: ...


# ---------------------------------------------------------------- the consumer group's entry points
class FundHandler:
    """The ``rescue-fund`` consumer group: reports open cases; bills apply to them; a timer flags
    overdue statutory steps. Each entry point decodes, calls one use case with a unit of work, and is done."""

    def __init__(self, uows: FundUows, clock: Clock, province: str):
        self.uows, self.clock, self.province = uows, clock, province

    def prepare(self, ctx: Context, reports: list[AccidentReport]) -> None:
        """Once per batch: which of the batch's incidents were billed before their facts arrived here
        (``hospitals.bills`` and ``intake.incident-facts`` are read independently)."""
        known = ctx.known_reports or {}
        SqlBills.read_billed(ctx.session, {known[r.report_id] for r in reports if r.report_id in known})

    def __call__(self, ctx: Context, report: AccidentReport, incident: accidentlink.incidents.IncidentFacts) -> None:
        services.open_cases_for_incident(IncidentReported(report, incident_facts(incident), ctx.now),
                                         self.uows(ctx.consumer, joining=ctx.session), province=self.province)

    def topics(self) -> dict[str, Callable[[list[RawMessage]], None]]:
        return {"hospitals.bills": self.on_bills}

    def timers(self) -> list[tuple[float, Callable[[], int]]]:
        return [(30.0, self.flag_overdue)]

    def on_bills(self, messages: list[RawMessage]) -> None:
        """Each bill in its own unit of work: the fund's copy, then the incident's case brought in line."""
        now = self.clock.now()
        for event_id, bill in readable_events(CONSUMER, messages, "bill_id"):
            services.record_bill(BillReceived(bill_event_id(event_id, bill), bill_copy_of(bill, now), now),
                                 self.uows(CONSUMER), province=self.province)

    def flag_overdue(self) -> int:
        return services.flag_overdue(self.clock.now(), self.uows(CONSUMER))
