"""The hospitals context's SQL adapter: its unit of work and repositories (``hospitals.ports``) over the
hospitals' store, and the ``hospitals`` consumer group's entry points, which drive ``hospitals.services``.

The records have the fields of their rows, by the same names (``record``/``write``). A
``SqlHospitalsUnitOfWork`` is either a transaction of its own on the hospitals' store (the desk's reads) or
part of a transaction that its caller owns and commits (``joining``): a batch of ``incidents`` messages, or
an HTTP request that writes its audit line beside the action.
"""
from __future__ import annotations

import logging
from dataclasses import fields
from datetime import datetime
from typing import Any, Callable, Mapping, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

import accidentlink.incidents
from accidentlink.clock import Clock, parse_aware
from accidentlink.pipeline import Context, RawMessage, TopicNames, changes_among, readable_events
from accidentlink.reports import AccidentReport, Party
from connectors.sql import incidents as incident_repo
from connectors.sql.db import Database
from connectors.sql.models import AdmissionRow, BillRow, HospitalRow
from connectors.sql.outbox import emit
from connectors.sql.store_uow import SqlInbox, StoreUnitOfWork
from hospitals import services
from hospitals.commands import (AmbulanceAssigned, CasualtiesCounted, IncidentClosed, PayerProgress, PreArrivalNotice,
                                RecordLiability,
                                UnitStatusReported)
from hospitals.ports import Admission, Hospital, HospitalBill, IncidentFacts

CONSUMER = "hospitals"
log = logging.getLogger("accidentlink.hospitals")

R = TypeVar("R")


# ---------------------------------------------------------------- rows <-> records
def record(cls: type[R], row: Any, **differ: Any) -> R:
    """The record of a row whose columns carry the record's fields by name (``differ``: values that differ)."""
    return cls(**{f.name: differ[f.name] if f.name in differ else getattr(row, f.name) for f in fields(cls)})


def write(row: Any, rec: Any, **differ: Any) -> Any:
    """The record's fields into the row's columns of the same names."""
    for f in fields(rec):
        setattr(row, f.name, differ[f.name] if f.name in differ else getattr(rec, f.name))
    return row


def admission(r: AdmissionRow) -> Admission:
    return record(Admission, r, injuries=dict(r.injuries or {}), ambulance=dict(r.ambulance) if r.ambulance else None,
                  payments=dict(r.payments) if r.payments else None)


def bill(r: BillRow) -> HospitalBill:
    return record(HospitalBill, r, items=tuple(dict(i) for i in r.items or ()), routing=dict(r.routing or {}))


def bill_row(b: HospitalBill) -> BillRow:
    return write(BillRow(), b, items=[dict(i) for i in b.items], routing=dict(b.routing))


def party(p: Mapping[str, Any]) -> Party:
    """A party as a report names it (the report's JSON, as the pipeline copied it)."""
    return Party(**{f.name: p.get(f.name) for f in fields(Party)})


# ---------------------------------------------------------------- repositories
class SqlHospitals:
    def __init__(self, session: Session):
        self._s = session

    def get(self, hospital_id: str) -> Hospital | None:
        row = self._s.get(HospitalRow, hospital_id)
        return None if row is None else record(Hospital, row)

    def add(self, hospital: Hospital) -> None:
        self._s.add(write(HospitalRow(), hospital))
        self._s.flush()  # before any admission at it (no relationship tells the session to insert it first)


class SqlAdmissions:
    def __init__(self, session: Session):
        self._s = session

    def get(self, admission_id: str) -> Admission | None:
        row = self._s.get(AdmissionRow, admission_id)  # finds one added earlier in the transaction too
        return None if row is None else admission(row)

    def at_hospital(self, hospital_id: str, limit: int, status: str | None = None) -> list[Admission]:
        q = select(AdmissionRow).where(AdmissionRow.hospital_id == hospital_id)
        if status:
            q = q.where(AdmissionRow.status == status)
        q = q.order_by(AdmissionRow.notified_at.desc(), AdmissionRow.admission_id.desc()).limit(limit)
        return [admission(r) for r in self._s.scalars(q)]

    def of_incident(self, incident_id: str) -> list[Admission]:
        q = select(AdmissionRow).where(AdmissionRow.incident_id == incident_id)
        return [admission(r) for r in self._s.scalars(q.order_by(AdmissionRow.notified_at, AdmissionRow.admission_id))]

    def add(self, a: Admission) -> None:
        self._s.add(write(AdmissionRow(), a, injuries=dict(a.injuries), ambulance=_json(a.ambulance), payments=_json(a.payments)))

    def save(self, a: Admission) -> None:
        row = self._s.get(AdmissionRow, a.admission_id)
        if row is None:
            raise LookupError(f"no admission {a.admission_id} to save")
        write(row, a, injuries=dict(a.injuries), ambulance=_json(a.ambulance), payments=_json(a.payments))


def _json(m: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return dict(m) if m is not None else None


class SqlBills:
    def __init__(self, session: Session):
        self._s = session

    def add(self, b: HospitalBill) -> None:
        self._s.add(bill_row(b))

    def _where(self, *criteria: Any) -> list[HospitalBill]:
        return [bill(r) for r in self._s.scalars(select(BillRow).where(*criteria)
                                                 .order_by(BillRow.created_at, BillRow.bill_id))]

    def save(self, b: HospitalBill) -> None:
        row = self._s.get(BillRow, b.bill_id)
        if row is None:
            raise LookupError(f"no bill {b.bill_id} to save")
        write(row, b, items=[dict(i) for i in b.items], routing=dict(b.routing))

    def of_admission(self, admission_id: str) -> list[HospitalBill]:
        return self._where(BillRow.admission_id == admission_id)

    def of_incident(self, incident_id: str) -> list[HospitalBill]:
        return self._where(BillRow.incident_id == incident_id)

    def by_natural_key(self, hospital_id: str, natural_key: str) -> HospitalBill | None:
        found = self._where(BillRow.hospital_id == hospital_id, BillRow.natural_key == natural_key)
        return found[0] if found else None


class SqlIncidentCopy:
    def __init__(self, session: Session):
        self._s = session

    def get(self, incident_id: str) -> IncidentFacts | None:
        row = incident_repo.incident(self._s, incident_id)
        return None if row is None else record(IncidentFacts, row)

    def parties(self, incident_id: str) -> list[Party]:
        return [party(p) for p in incident_repo.parties_of(self._s, incident_id)]

    def fled_plate(self, incident_id: str) -> str | None:
        plate = None
        for _at, _id, payload in incident_repo.reports_of(self._s, incident_id):
            plate = ((payload.get("fled_vehicle") or {}).get("plate") or "").strip().upper() or plate
        return plate

    # the determination is kept among the notes of the hospitals' copy of the incident (no table of its own)
    def liability(self, incident_id: str) -> Mapping[str, Any] | None:
        row = incident_repo.incident(self._s, incident_id)
        found = [n for n in (row.notes or []) if isinstance(n, dict) and n.get("kind") == "liability"] if row else []
        return dict(found[-1]) if found else None

    def set_liability(self, incident_id: str, determination: Mapping[str, Any]) -> None:
        row = incident_repo.incident(self._s, incident_id)
        if row is None:
            raise LookupError(f"no incident {incident_id}")
        kept = [n for n in (row.notes or []) if not (isinstance(n, dict) and n.get("kind") == "liability")]
        row.notes = [*kept, {"kind": "liability", **dict(determination)}]


class SqlBillEvents:
    def __init__(self, session: Session, owner: str, topics: TopicNames):
        self._s, self._owner, self._topic = session, owner, topics.name("hospitals.bills")

    def bill_recorded(self, incident_id: str, value: Mapping[str, Any], at: datetime) -> None:
        emit(self._s, self._owner, self._topic, incident_id, dict(value), at)


class SqlTimeline:
    def __init__(self, session: Session):
        self._s = session

    def add(self, incident_id: str, kind: str, at: datetime, **detail: Any) -> None:
        incident_repo.add_timeline(self._s, incident_id, at, kind, **detail)


# ---------------------------------------------------------------- the unit of work
class SqlHospitalsUnitOfWork(StoreUnitOfWork):
    """``hospitals.ports.HospitalsUnitOfWork`` on the hospitals' store. ``owner``: whose relay publishes what
    it emits (``web`` for the desk's bills); also its inbox's consumer name (``hospitals``)."""

    hospitals: SqlHospitals
    admissions: SqlAdmissions
    bills: SqlBills
    incidents: SqlIncidentCopy
    events: SqlBillEvents
    timeline: SqlTimeline
    inbox: SqlInbox

    def _bind(self, s: Session) -> None:
        self.hospitals, self.admissions, self.bills = SqlHospitals(s), SqlAdmissions(s), SqlBills(s)
        self.incidents, self.timeline = SqlIncidentCopy(s), SqlTimeline(s)
        self.events, self.inbox = SqlBillEvents(s, self.owner, self._topics), SqlInbox(s, self.owner)

class HospitalsUows(Protocol):
    """How the wiring (``accidentlink.bootstrap.Container.hospitals_uow``) hands out the hospitals' units of work."""

    def __call__(self, owner: str = ..., *, joining: Session | None = None,
                 read_only: bool = False) -> SqlHospitalsUnitOfWork: ...


# ---------------------------------------------------------------- the consumer group's entry points
def pre_arrival_notice(event_id: str, change: Mapping[str, Any], now: datetime) -> PreArrivalNotice | None:
    """The notice a ``hospital_assigned`` change on ``incidents`` carries (None when it names no admission)."""
    if not (change.get("admission_id") and change.get("hospital_id")):
        return None
    eta = change.get("eta_at")
    return PreArrivalNotice(event_id, change["incident_id"], change["hospital_id"], int(change.get("patients") or 1),
                            change.get("injuries") or {}, parse_aware(eta) if eta else None, now)


class HospitalsHandler:
    """The ``hospitals`` consumer group: its own copy of each incident's facts (for routing bills), and the
    pre-arrival notices dispatch sends with each ``hospital_assigned`` change on ``incidents``."""

    def __init__(self, uows: HospitalsUows, db: Database, clock: Clock, province: str = "shandong"):
        self.uows, self.db, self.clock, self.province = uows, db, clock, province

    def __call__(self, ctx: Context, report: AccidentReport, incident: accidentlink.incidents.IncidentFacts) -> None:
        """The copy of the facts (``accidentlink.pipeline.record_copy``) is kept by the pipeline; a notice already
        sent follows the casualties it counts."""
        services.casualties_counted(CasualtiesCounted(incident.incident_id, incident.injured, incident.fatalities,
                                                      ctx.now), self.uows(ctx.consumer, joining=ctx.session))

    def topics(self) -> dict[str, Callable[[list[RawMessage]], None]]:
        return {"incidents": self.on_incident_changes, "fund.cases": self.on_payer_events,
                "claims.events": self.on_claim_events}

    def on_claim_events(self, messages: list[RawMessage]) -> None:
        """Claims' changes: liability decided re-routes the bills; the insurers' steps show on them (two disjoint
        sets of changes, so no event is acted on twice)."""
        self.on_liability_decided(messages)
        self.on_payer_events(messages)

    def on_liability_decided(self, messages: list[RawMessage]) -> None:
        """Liability decided in claims (the quick-handling table's agreement or the police's online determination,
        one ``liability_determined`` message per claim of the incident): every bill of the incident is routed
        again, once per determination (the same shares twice change nothing)."""
        now = self.clock.now()
        decided = [(event_id, v) for event_id, v in readable_events(CONSUMER, messages, "event_id")
                   if v.get("change") == "liability_determined" and isinstance(v.get("shares"), dict)
                   and isinstance(v.get("incident_id"), str)]
        if not decided:
            return
        with self.db.uow() as tx:
            uow = self.uows(CONSUMER, joining=tx.session)
            for event_id, v in decided:
                try:
                    services.record_liability(RecordLiability(v["incident_id"], dict(v["shares"]), str(v.get("kind") or "claims"),
                                                              "claims", now, event_id=event_id), uow,
                                              province=self.province)
                except services.AdmissionError as e:  # no copy of the incident, or plates it does not know
                    log.warning("hospitals: liability of %s not applied: %s", v["incident_id"], e)
            tx.commit()

    def on_payer_events(self, messages: list[RawMessage]) -> None:
        """The fund's and the insurers' steps on the costs of incidents (approved, agreed, paid, refused), each once,
        in one transaction: the hospital sees how each bill is being paid."""
        now = self.clock.now()
        steps = [s for event_id, v in readable_events(CONSUMER, messages, "event_id")
                 if (s := payer_step(event_id, v, now)) is not None]
        if not steps:
            return
        with self.db.uow() as tx:
            uow = self.uows(CONSUMER, joining=tx.session)
            for step in steps:
                services.payer_progress(step, uow)
            tx.commit()

    def on_incident_changes(self, messages: list[RawMessage]) -> None:
        """The batch's notices and what changes them (the ambulance, its status, the incident closing), each once
        and in order, in one transaction on the hospitals' store."""
        now = self.clock.now()
        wanted = changes_among(messages, "hospital_assigned", "unit_assigned", "unit_status", "closed")
        if not wanted:
            return
        with self.db.uow() as tx:
            uow = self.uows(CONSUMER, joining=tx.session)
            waiting: dict[str, AmbulanceAssigned] = {}  # an ambulance ordered before its notice reached us
            for event_id, change in readable_events(CONSUMER, wanted, "event_id"):
                follow(event_id, change, now, uow, waiting)
            tx.commit()


def follow(event_id: str, change: Mapping[str, Any], now: datetime, uow: "services.HospitalsUnitOfWork",
           waiting: dict[str, AmbulanceAssigned]) -> None:
    """One ``incidents`` change the hospitals follow, decoded into its use case."""
    kind, incident_id = change.get("change"), change["incident_id"]
    if kind == "hospital_assigned":
        notice = pre_arrival_notice(event_id, change, now)
        if notice is not None:
            services.record_pre_arrival_notice(notice, uow)
            if incident_id in waiting:
                services.ambulance_assigned(waiting.pop(incident_id), uow)
    elif kind == "unit_assigned" and str(change.get("service")) == "120" and change.get("unit_id"):
        event = AmbulanceAssigned(event_id, incident_id, str(change["unit_id"]), now)
        if not services.ambulance_assigned(event, uow):
            waiting[incident_id] = event
    elif kind == "unit_status" and change.get("unit_id") and change.get("unit_status"):
        services.unit_status_reported(UnitStatusReported(event_id, incident_id, str(change["unit_id"]),
                                                         str(change["unit_status"]), now), uow)
    elif kind == "closed":
        services.incident_closed(IncidentClosed(event_id, incident_id, now), uow)


FUND_STEPS = {"AdvanceApproved": "approved", "AdvancePaid": "paid", "AdvanceRejected": "rejected"}
CLAIM_STEPS = {"agreed": "agreed", "paid": "paid", "refused": "refused"}


def payer_step(event_id: str, v: Mapping[str, Any], now: datetime) -> PayerProgress | None:
    """A ``fund.cases`` (fund-case/1) or ``claims.events`` (claim/1) message as a payer's step, when it is one."""
    if not isinstance(v.get("incident_id"), str):
        return None
    if v.get("schema") == "fund-case/1" and v.get("change") in FUND_STEPS:
        ev = v.get("event") or {}
        return PayerProgress(event_id, v["incident_id"], "fund", FUND_STEPS[v["change"]],
                             ev.get("amount_fen") if isinstance(ev.get("amount_fen"), int) else None,
                             str(v.get("case_id") or ""), now)
    if v.get("schema") == "claim/1" and v.get("change") in CLAIM_STEPS:
        c = v.get("claim") or {}
        amount = c.get("paid_fen") if v["change"] == "paid" else c.get("assessed_fen")
        return PayerProgress(event_id, v["incident_id"], "insurer", CLAIM_STEPS[v["change"]],
                             amount if isinstance(amount, int) else None, str(v.get("claim_id") or ""), now,
                             plate=c.get("plate"), insurer=v.get("insurer"))
    return None
