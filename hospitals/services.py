"""Green-channel admissions and rescue-cost bills (先救治后付费: treat first, the payer is settled later).

Hospitals may not refuse, delay or shift an emergency patient over unpaid costs (道路交通安全法 75 [S];
公交管〔2020〕161号 [S]); the payer of each bill is routed by the rescue fund's rules
(``fund.route_rescue_bill``, domain.md §1) and shown to the hospital with the bill.
"""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accidentlink.clock import CST, iso, parse_aware
from accidentlink.money import check_fen
from connectors.sql import batch
from connectors.sql import incidents as incident_repo
from connectors.sql.models import AdmissionRow, BillRow, IncidentRow
from connectors.sql.outbox import emit
from fund import Bill, BillItem, VehicleCover, province_rules, route_rescue_bill


class AdmissionError(Exception):
    status = 409


class AdmissionNotFound(AdmissionError):
    status = 404


class AdmissionNotConfirmed(AdmissionError):
    status = 409


class BadBill(AdmissionError):
    status = 422


def admission_id_for(incident_id: str, hospital_id: str) -> str:
    return "ADM-" + hashlib.sha1(f"{incident_id}|{hospital_id}".encode()).hexdigest()[:12].upper()


def notify_admission(session: Session, owner: str, topics: Any, incident_id: str, hospital_id: str, *,
                     patients: int, injuries: dict[str, Any], eta_at: datetime | None, now: datetime) -> AdmissionRow:
    """The pre-arrival notice: the destination hospital's queue gets the incoming patients (idempotent)."""
    adm_id = admission_id_for(incident_id, hospital_id)
    with session.no_autoflush:  # nothing pending can be this admission (the incident row holds hospital_id)
        row = None if batch.created_here(session, incident_id) else session.get(AdmissionRow, adm_id)
    if row is None:
        row = AdmissionRow(admission_id=adm_id, incident_id=incident_id, hospital_id=hospital_id, status="notified",
                           patients=patients, injuries=injuries, eta_at=eta_at, notified_at=now)
        session.add(row)
    else:
        row.patients, row.injuries, row.eta_at = max(row.patients, patients), injuries, eta_at
    return row


def admission_json(s: Session, a: AdmissionRow) -> dict[str, Any]:
    inc = s.get(IncidentRow, a.incident_id)
    bills = s.scalars(select(BillRow).where(BillRow.admission_id == a.admission_id).order_by(BillRow.created_at)).all()
    return {
        "admission_id": a.admission_id, "incident_id": a.incident_id, "hospital_id": a.hospital_id,
        "status": a.status, "patients": a.patients, "injuries": a.injuries,
        "eta_at": iso(a.eta_at) if a.eta_at else None, "notified_at": iso(a.notified_at),
        "confirmed_at": iso(a.confirmed_at) if a.confirmed_at else None,
        "incident": {"severity": inc.severity, "hit_and_run": inc.hit_and_run, "address": inc.address,
                     "injured": inc.injured, "fatalities": inc.fatalities} if inc else None,
        "bills": [bill_json(b) for b in bills],
    }


def bill_json(b: BillRow) -> dict[str, Any]:
    return {"bill_id": b.bill_id, "admission_id": b.admission_id, "incident_id": b.incident_id,
            "hospital_id": b.hospital_id, "amount_fen": b.amount_fen, "rescue_started_at": iso(b.rescue_started_at),
            "items": b.items, "created_at": iso(b.created_at),
            "payers": {"insurer_fen": b.insurer_fen, "insurer": b.insurer_code, "fund_fen": b.fund_fen,
                       "uncovered_fen": b.amount_fen - b.insurer_fen - b.fund_fen, **(b.routing or {})}}


def list_admissions(s: Session, hospital_id: str, limit: int, status: str | None = None) -> list[dict[str, Any]]:
    q = select(AdmissionRow).where(AdmissionRow.hospital_id == hospital_id)
    if status:
        q = q.where(AdmissionRow.status == status)
    rows = s.scalars(q.order_by(AdmissionRow.notified_at.desc(), AdmissionRow.admission_id.desc()).limit(limit))
    return [admission_json(s, a) for a in rows]


def _own(s: Session, hospital_id: str, admission_id: str) -> AdmissionRow:
    a = s.get(AdmissionRow, admission_id)
    if a is None or a.hospital_id != hospital_id:  # another hospital's admission is not visible
        raise AdmissionNotFound(f"no admission {admission_id} at hospital {hospital_id}")
    return a


def confirm_admission(s: Session, hospital_id: str, admission_id: str, actor: str, now: datetime) -> tuple[dict[str, Any], bool]:
    """Treatment started under the green channel. A second confirm changes nothing (returns changed=False)."""
    a = _own(s, hospital_id, admission_id)
    if a.status == "confirmed":
        return admission_json(s, a), False
    a.status, a.confirmed_at, a.confirmed_by = "confirmed", now, actor
    incident_repo.add_timeline(s, a.incident_id, now, "admission_confirmed", hospital_id=hospital_id,
                               admission_id=admission_id)
    return admission_json(s, a), True


def vehicle_cover(incident: IncidentRow, parties: list[dict[str, Any]], plate: str | None) -> tuple[VehicleCover, str | None]:
    """Which vehicle's 交强险 answers for this victim (条例 21 [O]; domain.md §1).

    The bill may name the vehicle (``vehicle_plate``); otherwise the first vehicle the reports list
    (the 122 practice lists the vehicle that caused the crash first). Hit-and-run with no vehicle
    known: the fund pays all (条例 24 [O]).
    """
    vehicles = [p for p in parties if p.get("plate")]
    chosen = None
    if plate:
        chosen = next((p for p in vehicles if p["plate"].strip().upper() == plate.strip().upper()), None)
        if chosen is None:
            raise BadBill(f"vehicle_plate {plate} is not a vehicle of this incident")
    elif vehicles:
        chosen = vehicles[0]
    if chosen is None:
        return VehicleCover(has_ci=False, identified=False, hit_and_run=incident.hit_and_run), None
    has_ci = bool(chosen.get("insurer")) and bool(chosen.get("ci_policy"))
    return VehicleCover(has_ci=has_ci, insurer_code=(chosen.get("insurer") or None), identified=True,
                        hit_and_run=incident.hit_and_run, driver_unlicensed=chosen.get("licensed") is False,
                        driver_drunk=bool(chosen.get("drunk")), vehicle_stolen=bool(chosen.get("vehicle_stolen"))), \
        chosen["plate"].strip().upper()


def record_bill(s: Session, owner: str, topics: Any, hospital_id: str, admission_id: str, body: dict[str, Any],
                actor: str, now: datetime, province: str) -> dict[str, Any]:
    """A rescue-cost bill in fen, routed to its payers; the split goes onto ``hospitals.bills``."""
    a = _own(s, hospital_id, admission_id)
    if a.status != "confirmed":
        raise AdmissionNotConfirmed("confirm the admission before billing it")
    amount = body["amount_fen"]
    started = body["rescue_started_at"]
    items = [BillItem(amount_fen=i["amount_fen"], incurred_at=i.get("incurred_at"), description=i.get("description", ""))
             for i in body.get("items") or []]
    if items and sum(i.amount_fen for i in items) != amount:
        raise BadBill(f"items add up to {sum(i.amount_fen for i in items)} fen, not amount_fen {amount}")
    if not items:
        items = [BillItem(amount_fen=amount)]
    bill = Bill(rescue_started_at=started, items=tuple(items), extended=bool(body.get("window_extended")))
    incident = s.get(IncidentRow, a.incident_id)
    if incident is None:  # the notice came from dispatch before the intake's facts reached this store
        raise AdmissionError(f"the facts of incident {a.incident_id} have not reached the hospital desk yet; "
                             "retry in a few seconds")
    cover, plate = vehicle_cover(incident, incident_repo.parties_of(s, a.incident_id), body.get("vehicle_plate"))
    earlier = s.execute(select(func.coalesce(func.sum(BillRow.insurer_fen), 0), func.coalesce(func.sum(BillRow.fund_fen), 0))
                        .where(BillRow.incident_id == a.incident_id)).one()
    accident_date = incident.first_reported_at.astimezone(CST).date()
    rules = province_rules(province, accident_date)
    split = route_rescue_bill(bill, vehicle=cover, rules=rules, at_fault=None,
                              already_paid_by_insurer_fen=int(earlier[0]) if cover.insured else 0,
                              already_routed_fund_fen=int(earlier[1]))
    n = s.scalar(select(func.count()).select_from(BillRow).where(BillRow.admission_id == admission_id)) or 0
    bill_id = f"BILL-{admission_id[4:]}-{n + 1:03d}"
    row = BillRow(bill_id=bill_id, admission_id=admission_id, incident_id=a.incident_id, hospital_id=hospital_id,
                  amount_fen=amount, rescue_started_at=started,
                  items=[{"amount_fen": i.amount_fen, "incurred_at": iso(i.incurred_at) if i.incurred_at else None,
                          "description": i.description} for i in items],
                  insurer_fen=split.insurer_fen, fund_fen=split.fund_fen, insurer_code=split.insurer_code,
                  routing={"reasons": list(split.reasons), "limit_fen": split.limit_fen, "vehicle_plate": plate,
                           "fund_recovers_fen": split.fund_recovers_fen,
                           "insurer_recovers_fen": split.insurer_recovers_fen, "province": rules.province},
                  created_at=now, created_by=actor)
    s.add(row)
    s.flush()
    incident_repo.add_timeline(s, a.incident_id, now, "bill_recorded", bill_id=bill_id, amount_fen=amount,
                               insurer_fen=split.insurer_fen, fund_fen=split.fund_fen)
    event = {"schema": "hospital-bill/1", "event_id": bill_id, "bill_id": bill_id, "admission_id": admission_id,
             "incident_id": a.incident_id, "hospital_id": hospital_id, "amount_fen": amount,
             "rescue_started_at": iso(started), "insurer_fen": split.insurer_fen, "insurer": split.insurer_code,
             "vehicle_plate": plate, "fund_fen": split.fund_fen, "reasons": list(split.reasons), "at": iso(now),
             "items": row.items, "routing": row.routing, "created_by": f"hospital:{hospital_id}"}
    emit(s, owner, topics.name("hospitals.bills"), a.incident_id, event, now)
    return bill_json(row)


def parse_bill_body(body: dict[str, Any]) -> dict[str, Any]:
    """Validate the bill body into typed values; raises BadBill with a readable reason."""
    try:
        amount = check_fen(body.get("amount_fen"))
        if amount == 0:
            raise ValueError("amount_fen must be above 0")
        started = parse_aware(body.get("rescue_started_at"))
        items = []
        for i, it in enumerate(body.get("items") or []):
            if not isinstance(it, dict):
                raise ValueError(f"items[{i}] must be an object")
            inc = it.get("incurred_at")
            items.append({"amount_fen": check_fen(it.get("amount_fen"), f"items[{i}].amount_fen"),
                          "incurred_at": parse_aware(inc) if inc else None,
                          "description": str(it.get("description", ""))[:200]})
    except (TypeError, ValueError) as e:
        raise BadBill(str(e)) from None
    return {**body, "amount_fen": amount, "rescue_started_at": started, "items": items}


# ---------------------------------------------------------------- the hospitals' consumer group
class HospitalsHandler:
    """The ``hospitals`` consumer group: its own copy of each incident's facts (for routing bills), and
    the pre-arrival notices dispatch sends with each ``hospital_assigned`` change on ``incidents``."""

    def __init__(self, db: Any, clock: Any):
        self.db, self.clock = db, clock

    @classmethod
    def build(cls, c: Any) -> "HospitalsHandler":
        return cls(c.store("hospitals"), c.clock)

    def __call__(self, ctx: Any, report: Any, incident: Any) -> None:
        """The copy of the facts is all this group keeps of a report."""

    def topics(self) -> dict[str, Any]:
        return {"incidents": self.on_incident_changes}

    def on_incident_changes(self, messages: list[Any]) -> None:
        from accidentlink.pipeline import changes_among, unseen_events

        wanted = changes_among(messages, "hospital_assigned")
        if not wanted:
            return
        now = self.clock.now()
        with self.db.uow() as uow:
            s = uow.session
            for v in unseen_events(s, "hospitals", wanted, "event_id", now):
                if not (v.get("admission_id") and v.get("hospital_id")):
                    continue
                eta = v.get("eta_at")
                notify_admission(s, "hospitals", None, v["incident_id"], v["hospital_id"],
                                 patients=int(v.get("patients") or 1), injuries=v.get("injuries") or {},
                                 eta_at=parse_aware(eta) if eta else None, now=now)
            uow.commit()
