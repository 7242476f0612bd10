"""Green-channel admissions and rescue-cost bills (先救治后付费: treat first, the payer is settled later).

Hospitals may not refuse, delay or shift an emergency patient over unpaid costs (道路交通安全法 75 [S];
公交管〔2020〕161号 [S]); the payer of each bill is routed by the rescue fund's rules
(``fund.route_rescue_bill``, domain.md §1) and shown to the hospital with the bill.

Every use case has one shape, ``verb(event_or_command, uow, ...) -> result``: it enters the hospitals' unit
of work (``hospitals.ports.HospitalsUnitOfWork``), loads, decides, records what changed and what others are
told, commits, and returns what the desk sees. The desk's read models are functions over the unit of work too.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime
from typing import Any, Mapping

from accidentlink.clock import iso, parse_aware
from accidentlink.money import check_fen
from accidentlink.reports import Party
from fund import Bill, BillItem, VehicleCover, province_rules, route_rescue_bill
from hospitals.bill_reasons import explain, why_insurer_pays_nothing
from hospitals.commands import (AdmissionsQuery, AmbulanceAssigned, CasualtiesCounted, ConfirmAdmission, IncidentClosed,
                                PayerProgress, PreArrivalNotice, RecordBill, UnitStatusReported)
from hospitals.ports import Admission, HospitalBill, HospitalsUnitOfWork, IncidentFacts


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


# ---------------------------------------------------------------- what the desk sees
def admission_view(uow: HospitalsUnitOfWork, a: Admission) -> dict[str, Any]:
    """The admission with the facts of its incident (as far as they have arrived) and its bills."""
    inc = uow.incidents.get(a.incident_id)
    return {
        "admission_id": a.admission_id, "incident_id": a.incident_id, "hospital_id": a.hospital_id,
        "status": a.status, "patients": a.patients, "injuries": dict(a.injuries),
        "eta_at": iso(a.eta_at) if a.eta_at else None, "notified_at": iso(a.notified_at),
        "confirmed_at": iso(a.confirmed_at) if a.confirmed_at else None,
        "ambulance": dict(a.ambulance) if a.ambulance else None,
        "payments": dict(a.payments) if a.payments else {},
        "withdrawn_at": iso(a.withdrawn_at) if a.withdrawn_at else None, "withdrawn_reason": a.withdrawn_reason,
        "incident": {"severity": inc.severity, "hit_and_run": inc.hit_and_run, "address": inc.address,
                     "injured": inc.injured, "fatalities": inc.fatalities} if inc else None,
        "bills": [bill_json(b) for b in uow.bills.of_admission(a.admission_id)],
    }


def bill_json(b: HospitalBill) -> dict[str, Any]:
    """A bill and who pays what. It reads only the fields the fund's copy of a bill (``BillCopy``) has too, so
    the fund's desk shows its copies this way."""
    return {"bill_id": b.bill_id, "admission_id": b.admission_id, "incident_id": b.incident_id,
            "hospital_id": b.hospital_id, "amount_fen": b.amount_fen, "rescue_started_at": iso(b.rescue_started_at),
            "items": [dict(i) for i in b.items], "created_at": iso(b.created_at),
            "payers": {"insurer_fen": b.insurer_fen, "insurer": b.insurer_code, "fund_fen": b.fund_fen,
                       "uncovered_fen": b.amount_fen - b.insurer_fen - b.fund_fen, **(b.routing or {})},
            **explained(b)}


def explained(b: HospitalBill) -> dict[str, Any]:
    """The split in words, both languages, from the one table of reason texts (``hospitals.bill_reasons``)."""
    codes = list((b.routing or {}).get("reasons") or ())
    return {"reasons_explained": explain(codes),
            "insurer_pays_nothing": why_insurer_pays_nothing(codes) if b.insurer_fen == 0 else None}


def list_admissions(query: AdmissionsQuery, uow: HospitalsUnitOfWork) -> list[dict[str, Any]]:
    """The hospital's green-channel queue, newest first."""
    with uow:
        queue = uow.admissions.at_hospital(query.hospital_id, query.limit, query.status)
        return [admission_view(uow, a) for a in queue]


def _own(uow: HospitalsUnitOfWork, hospital_id: str, admission_id: str) -> Admission:
    a = uow.admissions.get(admission_id)
    if a is None or a.hospital_id != hospital_id:  # another hospital's admission is not visible
        raise AdmissionNotFound(f"no admission {admission_id} at hospital {hospital_id}")
    return a


# ---------------------------------------------------------------- admissions
def record_pre_arrival_notice(event: PreArrivalNotice, uow: HospitalsUnitOfWork) -> Admission | None:
    """The pre-arrival notice: the destination hospital's queue gets the incoming patients. A later notice for
    the same admission updates it (injuries, arrival time as dispatch now sees them; the count of patients never
    goes down, and is at least the incident's casualties); a notice to
    another hospital withdraws the one still waiting here (the ambulance goes elsewhere); a notice handled
    before changes nothing (returns None)."""
    with uow:
        if uow.inbox.seen(event.event_id):
            return None
        adm_id = admission_id_for(event.incident_id, event.hospital_id)
        facts = uow.incidents.get(event.incident_id)
        patients = max(event.patients, _casualties(facts.injured, facts.fatalities) if facts else 0)
        for other in uow.admissions.of_incident(event.incident_id):
            if other.admission_id != adm_id and other.status == "notified":
                uow.admissions.save(_withdrawn(other, "redirected", event.at))
                uow.timeline.add(event.incident_id, "pre_arrival_withdrawn", event.at, hospital_id=other.hospital_id,
                                 admission_id=other.admission_id, reason="redirected")
        a = uow.admissions.get(adm_id)
        if a is None:
            a = Admission(adm_id, event.incident_id, event.hospital_id, "notified", patients, event.injuries,
                          event.eta_at, notified_at=event.at)
            uow.admissions.add(a)
        else:
            status = "notified" if a.status == "withdrawn" else a.status  # sent back here: waiting again
            a = replace(a, status=status, patients=max(a.patients, patients), injuries=event.injuries, eta_at=event.eta_at,
                        withdrawn_at=None if status == "notified" else a.withdrawn_at,
                        withdrawn_reason=None if status == "notified" else a.withdrawn_reason)
            uow.admissions.save(a)
        uow.inbox.mark(event.event_id, event.at)
        uow.commit()
    return a


def _casualties(injured: int, fatalities: int) -> int:
    """The patients an incident sends to hospital, as dispatch counts them for its notice."""
    return max(1, injured + fatalities)


def _withdrawn(a: Admission, reason: str, at: datetime) -> Admission:
    return replace(a, status="withdrawn", withdrawn_at=at, withdrawn_reason=reason)


def _following(uow: HospitalsUnitOfWork, incident_id: str) -> list[Admission]:
    """The incident's admissions a notice change still concerns (not withdrawn)."""
    return [a for a in uow.admissions.of_incident(incident_id) if a.status in ("notified", "confirmed")]


def ambulance_assigned(event: AmbulanceAssigned, uow: HospitalsUnitOfWork) -> bool:
    """The ambulance bringing the incident's patients (a replacement replaces the one shown). Returns False,
    and keeps nothing, when the incident has no admission yet: the caller applies it again after the notice."""
    with uow:
        if uow.inbox.seen(event.event_id):
            return True
        following = _following(uow, event.incident_id)
        if not following:
            return False
        for a in following:
            uow.admissions.save(replace(a, ambulance={"unit_id": event.unit_id, "status": "dispatched",
                                                      "at": iso(event.at)}))
        uow.inbox.mark(event.event_id, event.at)
        uow.commit()
    return True


def unit_status_reported(event: UnitStatusReported, uow: HospitalsUnitOfWork) -> int:
    """The ambulance's live status on the admissions it serves; other units' statuses change nothing. Returns how
    many admissions changed."""
    with uow:
        if uow.inbox.seen(event.event_id):
            return 0
        n = 0
        for a in _following(uow, event.incident_id):
            if a.ambulance and a.ambulance.get("unit_id") == event.unit_id:
                uow.admissions.save(replace(a, ambulance={**a.ambulance, "status": event.status, "at": iso(event.at)}))
                n += 1
        uow.inbox.mark(event.event_id, event.at)
        uow.commit()
    return n


def incident_closed(event: IncidentClosed, uow: HospitalsUnitOfWork) -> int:
    """The incident closed: a notice still waiting is withdrawn (nobody is coming); an admission whose treatment
    began stays. Returns how many notices were withdrawn."""
    with uow:
        if uow.inbox.seen(event.event_id):
            return 0
        n = 0
        for a in uow.admissions.of_incident(event.incident_id):
            if a.status == "notified":
                uow.admissions.save(_withdrawn(a, "incident_closed", event.at))
                uow.timeline.add(a.incident_id, "pre_arrival_withdrawn", event.at, hospital_id=a.hospital_id,
                                 admission_id=a.admission_id, reason="incident_closed")
                n += 1
        uow.inbox.mark(event.event_id, event.at)
        uow.commit()
    return n


def payer_progress(event: PayerProgress, uow: HospitalsUnitOfWork) -> int:
    """How a payer stands on the incident's bills (the hospital learns of approvals and payments from the fund's
    and the insurers' events): recorded on each admission with a bill that payer owes a share of. Returns how
    many admissions changed."""
    with uow:
        if uow.inbox.seen(event.event_id):
            return 0
        n = 0
        for a in uow.admissions.of_incident(event.incident_id):
            bills = uow.bills.of_admission(a.admission_id)
            owes = [b for b in bills if (b.fund_fen > 0 if event.payer == "fund" else b.insurer_fen > 0 and (
                event.plate is None or (b.routing or {}).get("vehicle_plate") in (None, event.plate)))]
            if owes:
                step = {"status": event.status, "amount_fen": event.amount_fen, "at": iso(event.at), "ref": event.ref,
                        **({"insurer": event.insurer} if event.insurer else {})}
                uow.admissions.save(replace(a, payments={**(a.payments or {}), event.payer: step}))
                n += 1
        uow.inbox.mark(event.event_id, event.at)
        uow.commit()
    return n


def casualties_counted(event: CasualtiesCounted, uow: HospitalsUnitOfWork) -> int:
    """The incident's casualties changed (another caller reported more): each notice it sent says as many
    patients. Returns how many admissions changed."""
    patients = _casualties(event.injured, event.fatalities)
    with uow:
        n = 0
        for a in _following(uow, event.incident_id):
            if a.patients < patients:  # counts merge by their maximum: they only go up
                uow.admissions.save(replace(a, patients=patients))
                n += 1
        if n:
            uow.commit()
    return n


def confirm_admission(cmd: ConfirmAdmission, uow: HospitalsUnitOfWork) -> tuple[dict[str, Any], bool]:
    """Treatment started under the green channel. A second confirm changes nothing (returns changed=False)."""
    with uow:
        a = _own(uow, cmd.hospital_id, cmd.admission_id)
        if a.status == "confirmed":
            return admission_view(uow, a), False
        a = replace(a, status="confirmed", confirmed_at=cmd.at, confirmed_by=cmd.actor)
        uow.admissions.save(a)
        uow.timeline.add(a.incident_id, "admission_confirmed", cmd.at, hospital_id=cmd.hospital_id,
                         admission_id=cmd.admission_id)
        view = admission_view(uow, a)
        uow.commit()
    return view, True


# ---------------------------------------------------------------- bills
def vehicle_cover(incident: IncidentFacts, parties: list[Party], plate: str | None) -> tuple[VehicleCover, str | None]:
    """Which vehicle's 交强险 answers for this victim (条例 21 [O]; domain.md §1).

    The bill may name the vehicle (``vehicle_plate``); otherwise the first vehicle the reports list
    (the 122 practice lists the vehicle that caused the crash first). Hit-and-run with no vehicle
    known: the fund pays all (条例 24 [O]).
    """
    vehicles = [p for p in parties if p.plate]
    chosen = None
    if plate:
        chosen = next((p for p in vehicles if p.plate.strip().upper() == plate.strip().upper()), None)
        if chosen is None:
            raise BadBill(f"vehicle_plate {plate} is not a vehicle of this incident")
    elif vehicles:
        chosen = vehicles[0]
    if chosen is None:
        return VehicleCover(has_ci=False, identified=False, hit_and_run=incident.hit_and_run), None
    return VehicleCover(has_ci=chosen.has_ci, insurer_code=chosen.insurer or None, identified=True,
                        hit_and_run=incident.hit_and_run, driver_unlicensed=chosen.licensed is False,
                        driver_drunk=bool(chosen.drunk), vehicle_stolen=bool(chosen.vehicle_stolen)), \
        chosen.plate.strip().upper()


def bill_command(hospital_id: str, admission_id: str, body: Mapping[str, Any], actor: str, at: datetime) -> RecordBill:
    """The desk's bill body, validated into a command; raises BadBill with a readable reason."""
    try:
        amount = check_fen(body.get("amount_fen"))
        if amount == 0:
            raise ValueError("amount_fen must be above 0")
        started = parse_aware(body.get("rescue_started_at"))
        items = []
        for i, it in enumerate(body.get("items") or []):
            if not isinstance(it, Mapping):
                raise ValueError(f"items[{i}] must be an object")
            inc = it.get("incurred_at")
            items.append(BillItem(amount_fen=check_fen(it.get("amount_fen"), f"items[{i}].amount_fen"),
                                  incurred_at=parse_aware(inc) if inc else None,
                                  description=str(it.get("description", ""))[:200]))
    except (TypeError, ValueError) as e:
        raise BadBill(str(e)) from None
    return RecordBill(hospital_id, admission_id, amount, started, tuple(items), actor, at,
                      vehicle_plate=body.get("vehicle_plate"), window_extended=bool(body.get("window_extended")))


def _bill_message(b: HospitalBill) -> dict[str, Any]:
    """A ``hospitals.bills`` message (hospital-bill/1): the bill and its split, as the fund and insurers read it."""
    return {"schema": "hospital-bill/1", "event_id": b.bill_id, "bill_id": b.bill_id, "admission_id": b.admission_id,
            "incident_id": b.incident_id, "hospital_id": b.hospital_id, "amount_fen": b.amount_fen,
            "rescue_started_at": iso(b.rescue_started_at), "insurer_fen": b.insurer_fen, "insurer": b.insurer_code,
            "vehicle_plate": b.routing["vehicle_plate"], "fund_fen": b.fund_fen, "reasons": list(b.routing["reasons"]),
            "at": iso(b.created_at), "items": [dict(i) for i in b.items], "routing": dict(b.routing),
            "created_by": f"hospital:{b.hospital_id}"}


def record_bill(cmd: RecordBill, uow: HospitalsUnitOfWork, *, province: str) -> dict[str, Any]:
    """A rescue-cost bill in fen on a confirmed admission, routed to its payers by the rules in force on the
    accident's day; the split goes onto ``hospitals.bills``."""
    with uow:
        a = _own(uow, cmd.hospital_id, cmd.admission_id)
        if a.status != "confirmed":
            raise AdmissionNotConfirmed("confirm the admission before billing it")
        amount, items = cmd.amount_fen, cmd.items
        if items and sum(i.amount_fen for i in items) != amount:
            raise BadBill(f"items add up to {sum(i.amount_fen for i in items)} fen, not amount_fen {amount}")
        items = items or (BillItem(amount_fen=amount),)
        bill = Bill(rescue_started_at=cmd.rescue_started_at, items=items, extended=cmd.window_extended)
        incident = uow.incidents.get(a.incident_id)
        if incident is None:  # the notice came from dispatch before the intake's facts reached this store
            raise AdmissionError(f"the facts of incident {a.incident_id} have not reached the hospital desk yet; "
                                 "retry in a few seconds")
        cover, plate = vehicle_cover(incident, uow.incidents.parties(a.incident_id), cmd.vehicle_plate)
        earlier = uow.bills.of_incident(a.incident_id)  # the 交强险 limit and the fund's cap are per accident
        rules = province_rules(province, incident.accident_date)
        paid_by_insurer = sum(b.insurer_fen for b in earlier) if cover.insured else 0
        split = route_rescue_bill(bill, vehicle=cover, rules=rules, at_fault=None,
                                  already_paid_by_insurer_fen=paid_by_insurer,
                                  already_routed_fund_fen=sum(b.fund_fen for b in earlier))
        n = len(uow.bills.of_admission(cmd.admission_id))
        b = HospitalBill(
            bill_id=f"BILL-{cmd.admission_id[4:]}-{n + 1:03d}", admission_id=cmd.admission_id,
            incident_id=a.incident_id, hospital_id=cmd.hospital_id, amount_fen=amount,
            rescue_started_at=cmd.rescue_started_at,
            items=tuple({"amount_fen": i.amount_fen, "incurred_at": iso(i.incurred_at) if i.incurred_at else None,
                         "description": i.description} for i in items),
            insurer_fen=split.insurer_fen, fund_fen=split.fund_fen, insurer_code=split.insurer_code,
            routing={"reasons": list(split.reasons), "limit_fen": split.limit_fen, "vehicle_plate": plate,
                     "fund_recovers_fen": split.fund_recovers_fen, "insurer_recovers_fen": split.insurer_recovers_fen,
                     "province": rules.province},
            created_at=cmd.at, created_by=cmd.actor)
        uow.bills.add(b)
        uow.timeline.add(a.incident_id, "bill_recorded", cmd.at, bill_id=b.bill_id, amount_fen=amount,
                         insurer_fen=b.insurer_fen, fund_fen=b.fund_fen)
        uow.events.bill_recorded(a.incident_id, _bill_message(b), cmd.at)
        uow.commit()
    return bill_json(b)
