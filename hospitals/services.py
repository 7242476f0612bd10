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
import json
from dataclasses import replace
from datetime import datetime
from typing import Any, Mapping

from accidentlink.clock import iso, parse_aware
from accidentlink.masking import mask_record, mask_text
from accidentlink.money import check_fen
from accidentlink.reports import Party
from fund import Bill, BillItem, province_rules, route_rescue_bill
from fund.payer import LIABILITY_DEGREES, answering_vehicle
from fund.payer_reasons import reasons_json
from hospitals.bill_reasons import explain, why_insurer_pays_nothing
from hospitals.commands import (AdmissionsQuery, AmbulanceAssigned, CasualtiesCounted, ConfirmAdmission, IncidentClosed,
                                PayerProgress, PeopleQuery, PreArrivalNotice, RecordBill, RecordLiability, UnitStatusReported)
from hospitals.ports import Admission, HospitalBill, HospitalsUnitOfWork, IncidentFacts


class AdmissionError(Exception):
    status = 409


class AdmissionNotFound(AdmissionError):
    status = 404


class AdmissionNotConfirmed(AdmissionError):
    status = 409


class BadBill(AdmissionError):
    status = 422


class BillConflict(AdmissionError):
    """The hospital's invoice number was billed with other content: not a retry, and not recorded twice."""

    status = 409


class IncidentNotKnown(AdmissionError):
    status = 404


class BadLiability(AdmissionError):
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
        "incident": {"severity": inc.severity, "hit_and_run": inc.hit_and_run, 
                     "address": mask_text(inc.address) if inc.address else inc.address,
                     "injured": inc.injured, "fatalities": inc.fatalities} if inc else None,
        "bills": [bill_json(b) for b in uow.bills.of_admission(a.admission_id)],
    }


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


def admission_people(query: PeopleQuery, uow: HospitalsUnitOfWork) -> dict[str, Any]:
    """The people the incident of one of the hospital's own admissions names (its parties), unmasked: the
    hospital needs its patients' identity for their record and the fund's application. The caller writes
    the read to the audit trail (README, "Personal data")."""
    from dataclasses import asdict

    with uow:
        a = _own(uow, query.hospital_id, query.admission_id)
        return {"admission_id": a.admission_id, "incident_id": a.incident_id,
                "people": [{k: v for k, v in asdict(p).items() if v is not None}
                           for p in uow.incidents.parties(a.incident_id)]}


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
def person_ref(id_number: str | None) -> str | None:
    """A bill names its patient by a keyed hash of the ID number: routing finds the patient among the parties
    again when liability arrives, and no bill, message or view carries the number itself."""
    if not id_number or not id_number.strip():
        return None
    return hashlib.sha256(("accidentlink-patient|" + id_number.strip().upper()).encode()).hexdigest()[:32]


def _patient_id(parties: list[Party], ref: str | None) -> str | None:
    if ref is None:
        return None
    return next((p.id_number for p in parties if p.id_number and person_ref(p.id_number) == ref), None)


def bill_command(hospital_id: str, admission_id: str, body: Mapping[str, Any], actor: str, at: datetime) -> RecordBill:
    """The desk's bill body, validated into a command; raises BadBill with a readable reason."""
    try:
        amount = check_fen(body.get("amount_fen"))
        if amount == 0:
            raise ValueError("amount_fen must be above 0")
        started = _sane_date(body.get("rescue_started_at"), at, "rescue_started_at")
        items = []
        for i, it in enumerate(body.get("items") or []):
            if not isinstance(it, Mapping):
                raise ValueError(f"items[{i}] must be an object")
            inc = it.get("incurred_at")
            items.append(BillItem(amount_fen=check_fen(it.get("amount_fen"), f"items[{i}].amount_fen"),
                                  incurred_at=_sane_date(inc, at, f"items[{i}].incurred_at") if inc else None,
                                  description=str(it.get("description", ""))[:200]))
        patient = body.get("patient_id_number")
        if patient is not None and (not isinstance(patient, str) or len(patient) > 40):
            raise ValueError("patient_id_number must be a string of at most 40 characters")
    except (TypeError, ValueError, OverflowError) as e:
        raise BadBill(str(e)) from None
    invoice = body.get("invoice_number")
    if invoice is not None and (not isinstance(invoice, str) or not invoice.strip() or len(invoice) > 60):
        raise BadBill("invoice_number must be 1..60 characters")
    return RecordBill(hospital_id, admission_id, amount, started, tuple(items), actor, at,
                      vehicle_plate=body.get("vehicle_plate"), window_extended=bool(body.get("window_extended")),
                      invoice_number=invoice.strip() if invoice else None,
                      patient_id_number=patient or None)


def _sane_date(value: Any, now: datetime, field: str) -> datetime:
    """An aware ISO 8601 time within the window around now that ``accidentlink.input_bounds`` sets (a rescue start
    in year 9999 is refused here, before any date arithmetic could overflow)."""
    from accidentlink.input_bounds import date_problem

    try:
        at = parse_aware(value)
    except (TypeError, ValueError, OverflowError) as e:
        raise ValueError(f"{field}: {e}") from None
    problem = date_problem(at, now, field)
    if problem:
        raise ValueError(problem)
    return at


def bill_content_hash(cmd: RecordBill) -> str:
    """What makes two bills the same bill: the admission, the amount, the rescue start, the items, the vehicle
    and the extension (not the invoice number: that is the key the content is compared under)."""
    doc = {"admission_id": cmd.admission_id, "amount_fen": cmd.amount_fen, "rescue_started_at": iso(cmd.rescue_started_at),
           "items": [[i.amount_fen, iso(i.incurred_at) if i.incurred_at else None, i.description] for i in cmd.items],
           "vehicle_plate": (cmd.vehicle_plate or "").strip().upper() or None, "window_extended": cmd.window_extended}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def bill_natural_key(cmd: RecordBill, content_hash: str) -> str:
    """A bill's natural key, unique per hospital: its invoice number; without one, the admission and its content,
    so the same bill sent twice (a retry without an ``Idempotency-Key``) is recorded, routed and paid once. A
    second bill of the same amount on the same admission needs an invoice number to tell it apart."""
    if cmd.invoice_number:
        return f"invoice:{cmd.invoice_number}"
    return f"content:{cmd.admission_id}:{content_hash[:40]}"


def payers_json(b: HospitalBill) -> dict[str, Any]:
    """The bill's current split (contract: ``payers``), with why, in codes and in words (``fund.payer_reasons``)."""
    r = b.routing or {}
    reasons = list(r.get("reasons") or [])
    return {"insurer": b.insurer_code, "insurer_fen": b.insurer_fen, "fund_fen": b.fund_fen,
            "uncovered_fen": b.amount_fen - b.insurer_fen - b.fund_fen, "reasons": reasons,
            "reason_texts": reasons_json(reasons), "provisional": bool(r.get("provisional")),
            "vehicle_plate": r.get("vehicle_plate"), "liability": r.get("liability"), "limit_fen": r.get("limit_fen", 0),
            "patient_role": r.get("patient_role"), "revision": int(r.get("revision") or 0),
            "previous": r.get("previous"), "fund_recovers_fen": r.get("fund_recovers_fen", 0),
            "insurer_recovers_fen": r.get("insurer_recovers_fen", 0), "province": r.get("province")}


def bill_json(b: HospitalBill) -> dict[str, Any]:
    """A bill and who pays what. It reads only the fields the fund's copy of a bill (``BillCopy``) has too, so
    the fund's desk shows its copies this way."""
    return {"bill_id": b.bill_id, "admission_id": b.admission_id, "incident_id": b.incident_id,
            **({"invoice_number": b.invoice_number} if getattr(b, "invoice_number", None) else {}),
            "hospital_id": b.hospital_id, "amount_fen": b.amount_fen, "rescue_started_at": iso(b.rescue_started_at),
            "items": mask_record([dict(i) for i in b.items]), "created_at": iso(b.created_at), "payers": payers_json(b),
            **explained(b)}


def _bill_message(b: HospitalBill, at: datetime, change: str = "recorded") -> dict[str, Any]:
    """A ``hospitals.bills`` message (hospital-bill/1): the bill and its current split, as the fund and insurers
    read it. ``change``: ``recorded`` (revision 0) or ``rerouted`` (revision n, with the ``previous`` split)."""
    revision = int(b.routing.get("revision") or 0)
    return {"schema": "hospital-bill/1", "event_id": b.bill_id if revision == 0 else f"{b.bill_id}:r{revision}",
            "change": change, "revision": revision, "bill_id": b.bill_id, "admission_id": b.admission_id,
            "incident_id": b.incident_id, "hospital_id": b.hospital_id, "amount_fen": b.amount_fen,
            "rescue_started_at": iso(b.rescue_started_at), "insurer_fen": b.insurer_fen, "insurer": b.insurer_code,
            "vehicle_plate": b.routing["vehicle_plate"], "fund_fen": b.fund_fen, "reasons": list(b.routing["reasons"]),
            "provisional": bool(b.routing.get("provisional")), "liability": b.routing.get("liability"),
            "previous": b.routing.get("previous"), "at": iso(at if revision else b.created_at),
            "items": mask_record([dict(i) for i in b.items]), "routing": dict(b.routing), "created_by": f"hospital:{b.hospital_id}"}


def _route(b_amount: int, rescue_started_at: datetime, items: tuple[BillItem, ...], extended: bool, patient_ref: str | None,
           named_plate: str | None, incident: IncidentFacts, parties: list[Party], fled_plate: str | None,
           liability: Mapping[str, Any] | None, earlier: list[HospitalBill], province: str) -> tuple[int, int, str | None, dict[str, Any]]:
    """One bill's split given the bills routed before it in the accident (the 交强险 limit is per vehicle and
    accident, shared by its victims; the fund's cap counts what it already covers): ``(insurer_fen, fund_fen,
    insurer, routing)``."""
    shares = dict((liability or {}).get("shares") or {})
    ans = answering_vehicle(parties, hit_and_run=incident.hit_and_run, patient_id_number=_patient_id(parties, patient_ref),
                            fled_plate=fled_plate, named_plate=named_plate, liability=shares)
    rules = province_rules(province, incident.accident_date)
    used = sum(e.insurer_fen for e in earlier if ans.plate and (e.routing or {}).get("vehicle_plate") == ans.plate)
    bill = Bill(rescue_started_at=rescue_started_at, items=items, extended=extended)
    split = route_rescue_bill(bill, vehicle=ans.cover, rules=rules, at_fault=ans.at_fault,
                              already_paid_by_insurer_fen=used if ans.cover.insured else 0,
                              already_routed_fund_fen=sum(e.fund_fen for e in earlier))
    reasons = list(dict.fromkeys([*ans.reasons, *split.reasons]))
    routing = {"reasons": reasons, "limit_fen": split.limit_fen, "vehicle_plate": ans.plate,
               "fund_recovers_fen": split.fund_recovers_fen, "insurer_recovers_fen": split.insurer_recovers_fen,
               "province": rules.province, "provisional": ans.provisional,
               "liability": shares.get(ans.plate) if ans.plate else None,
               "liability_source": (liability or {}).get("source"), "patient_ref": patient_ref,
               "patient_role": ans.patient_role, "window_extended": extended}
    return split.insurer_fen, split.fund_fen, split.insurer_code, routing


def _items_of(b: HospitalBill) -> tuple[BillItem, ...]:
    return tuple(BillItem(amount_fen=i["amount_fen"], incurred_at=parse_aware(i["incurred_at"]) if i.get("incurred_at") else None,
                          description=i.get("description", "")) for i in b.items)


def record_bill(cmd: RecordBill, uow: HospitalsUnitOfWork, *, province: str) -> dict[str, Any]:
    """A rescue-cost bill in fen on a confirmed admission, routed to its payers on what is known now (who the
    patient is, which vehicle answers, liability if decided: provisional until it is) by the rules in force
    on the accident's day; the split goes onto ``hospitals.bills``."""
    with uow:
        a = _own(uow, cmd.hospital_id, cmd.admission_id)
        content = bill_content_hash(cmd)
        natural = bill_natural_key(cmd, content)
        existing = uow.bills.by_natural_key(cmd.hospital_id, natural)
        if existing is not None:  # the same bill again: its answer, nothing recorded or routed twice
            if existing.content_hash != content:
                raise BillConflict(f"invoice {cmd.invoice_number!r} was billed already with other content "
                                   f"(bill {existing.bill_id}); a new bill needs its own invoice number")
            return {**bill_json(existing), "existing": True}
        if a.status != "confirmed":
            raise AdmissionNotConfirmed("confirm the admission before billing it")
        amount, items = cmd.amount_fen, cmd.items
        if items and sum(i.amount_fen for i in items) != amount:
            raise BadBill(f"items add up to {sum(i.amount_fen for i in items)} fen, not amount_fen {amount}")
        items = items or (BillItem(amount_fen=amount),)
        incident = uow.incidents.get(a.incident_id)
        if incident is None:  # the notice came from dispatch before the intake's facts reached this store
            raise AdmissionError(f"the facts of incident {a.incident_id} have not reached the hospital desk yet; "
                                 "retry in a few seconds")
        parties = uow.incidents.parties(a.incident_id)
        vehicles = {(p.plate or "").strip().upper() for p in parties if p.plate}
        if cmd.vehicle_plate and cmd.vehicle_plate.strip().upper() not in vehicles:
            raise BadBill(f"vehicle_plate {cmd.vehicle_plate} is not a vehicle of this incident")
        ref = person_ref(cmd.patient_id_number)
        if ref is not None and _patient_id(parties, ref) is None:
            raise BadBill("patient_id_number names no party of this incident")
        earlier = uow.bills.of_incident(a.incident_id)
        insurer_fen, fund_fen, insurer, routing = _route(
            amount, cmd.rescue_started_at, items, cmd.window_extended, ref, cmd.vehicle_plate, incident, parties,
            uow.incidents.fled_plate(a.incident_id), uow.incidents.liability(a.incident_id), earlier, province)
        routing["named_plate"] = cmd.vehicle_plate.strip().upper() if cmd.vehicle_plate else None
        routing["revision"] = 0
        n = len(uow.bills.of_admission(cmd.admission_id))
        b = HospitalBill(
            bill_id=f"BILL-{cmd.admission_id[4:]}-{n + 1:03d}", admission_id=cmd.admission_id,
            incident_id=a.incident_id, hospital_id=cmd.hospital_id, amount_fen=amount,
            rescue_started_at=cmd.rescue_started_at,
            items=tuple({"amount_fen": i.amount_fen, "incurred_at": iso(i.incurred_at) if i.incurred_at else None,
                         "description": i.description} for i in items),
            insurer_fen=insurer_fen, fund_fen=fund_fen, insurer_code=insurer, routing=routing,
            created_at=cmd.at, created_by=cmd.actor, invoice_number=cmd.invoice_number, natural_key=natural,
            content_hash=content)
        uow.bills.add(b)
        uow.timeline.add(a.incident_id, "bill_recorded", cmd.at, bill_id=b.bill_id, amount_fen=amount,
                         insurer_fen=b.insurer_fen, fund_fen=b.fund_fen, provisional=routing["provisional"])
        uow.events.bill_recorded(a.incident_id, _bill_message(b, cmd.at), cmd.at)
        uow.commit()
    return bill_json(b)


_SPLIT_KEYS = ("vehicle_plate", "provisional", "liability", "reasons", "limit_fen")


def reroute_bills(uow: HospitalsUnitOfWork, incident_id: str, *, province: str, at: datetime) -> list[HospitalBill]:
    """Every bill of the incident routed again on what is known now, oldest first (each bill's share of the
    shared limit follows the ones before it). A bill whose split changed is saved one revision on, with its
    ``previous`` split, and told on ``hospitals.bills`` (change ``rerouted``): the fund and the insurer adjust
    from it. Returns the bills that changed. Call inside the unit of work."""
    incident = uow.incidents.get(incident_id)
    if incident is None:
        return []
    parties, fled = uow.incidents.parties(incident_id), uow.incidents.fled_plate(incident_id)
    liability = uow.incidents.liability(incident_id)
    done: list[HospitalBill] = []
    changed: list[HospitalBill] = []
    for b in uow.bills.of_incident(incident_id):
        r = b.routing or {}
        insurer_fen, fund_fen, insurer, routing = _route(
            b.amount_fen, b.rescue_started_at, _items_of(b), bool(r.get("window_extended")), r.get("patient_ref"),
            r.get("named_plate"), incident, parties, fled, liability, done, province)
        same = (insurer_fen, fund_fen, insurer) == (b.insurer_fen, b.fund_fen, b.insurer_code) and all(
            routing.get(k) == r.get(k) for k in _SPLIT_KEYS)
        if not same:
            revision = int(r.get("revision") or 0) + 1
            previous = {"revision": revision - 1, "insurer": b.insurer_code, "insurer_fen": b.insurer_fen,
                        "fund_fen": b.fund_fen, "vehicle_plate": r.get("vehicle_plate"),
                        "provisional": bool(r.get("provisional")), "reasons": list(r.get("reasons") or [])}
            reasons = list(dict.fromkeys([*routing["reasons"], "rerouted_on_liability"]))
            b = replace(b, insurer_fen=insurer_fen, fund_fen=fund_fen, insurer_code=insurer,
                        routing={**routing, "reasons": reasons, "named_plate": r.get("named_plate"),
                                 "revision": revision, "previous": previous, "rerouted_at": iso(at)})
            uow.bills.save(b)
            uow.timeline.add(incident_id, "bill_rerouted", at, bill_id=b.bill_id, revision=revision,
                             insurer_fen=insurer_fen, fund_fen=fund_fen, previous_insurer_fen=previous["insurer_fen"],
                             previous_fund_fen=previous["fund_fen"])
            uow.events.bill_recorded(incident_id, _bill_message(b, at, "rerouted"), at)
            changed.append(b)
        done.append(b)
    return changed


def _check_shares(shares: Mapping[str, str], parties: list[Party], fled: str | None) -> dict[str, str]:
    from accidentlink.vehicles import plate_of

    if not shares:
        raise BadLiability("shares must name at least one vehicle")
    known = {plate_of(p.plate) for p in parties if plate_of(p.plate)} | ({plate_of(fled)} if plate_of(fled) else set())
    out: dict[str, str] = {}
    for plate, degree in shares.items():
        key = plate_of(plate)
        if key is None or key not in known:
            raise BadLiability(f"plate {plate!r} is not a vehicle of this incident")
        if degree not in LIABILITY_DEGREES:
            raise BadLiability(f"liability must be one of {', '.join(LIABILITY_DEGREES)}; got {degree!r}")
        out[key] = degree
    return out


def record_liability(cmd: RecordLiability, uow: HospitalsUnitOfWork, *, province: str) -> dict[str, Any]:
    """Liability decided (程序规定 60 [O]): the police's determination at the joint desk, the quick-handling table's
    or the police's online one, or a review that changes it. Every bill of the incident is routed again at once
    (``reroute_bills``); the same determination twice changes nothing. Returns the determination and the bills."""
    with uow:
        if cmd.event_id and uow.inbox.seen(cmd.event_id):
            return {"incident_id": cmd.incident_id, "changed": False, "rerouted": []}
        incident = uow.incidents.get(cmd.incident_id)
        if incident is None:
            raise IncidentNotKnown(f"no incident {cmd.incident_id} at the hospitals' desk yet")
        parties = uow.incidents.parties(cmd.incident_id)
        shares = _check_shares(cmd.shares, parties, uow.incidents.fled_plate(cmd.incident_id))
        before = uow.incidents.liability(cmd.incident_id)
        changed: list[HospitalBill] = []
        new = before is None or dict(before.get("shares") or {}) != shares
        if new:
            uow.incidents.set_liability(cmd.incident_id, {"shares": shares, "source": cmd.source, "by": cmd.actor,
                                                          "at": iso(cmd.at)})
            uow.timeline.add(cmd.incident_id, "liability_determined", cmd.at, shares=shares, source=cmd.source,
                             review=before is not None)
            changed = reroute_bills(uow, cmd.incident_id, province=province, at=cmd.at)
        if cmd.event_id:
            uow.inbox.mark(cmd.event_id, cmd.at)
        out = {"incident_id": cmd.incident_id, "changed": new,
               "liability": {"shares": shares, "source": cmd.source if new else (before or {}).get("source"),
                             "at": iso(cmd.at) if new else (before or {}).get("at")},
               "rerouted": [b.bill_id for b in changed],
               "bills": [bill_json(b) for b in uow.bills.of_incident(cmd.incident_id)]}
        uow.commit()
    return out
