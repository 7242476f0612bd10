"""Insurer claim use cases: first notice of loss, quick handling of minor crashes, 赔付前置 (paying the
hospital up front within the 交强险 medical limit), the insurer's steps, deadlines and fraud flags.

"警保联动": a claim opens at each party's insurer the moment the accident is known (条例 27 [O]: the
insurer answers a notice immediately). Every state change goes onto ``claims.events`` keyed by claim id.

Every use case has one shape, ``verb(event_or_command, uow, *, collaborators) -> result``: it enters the
claims unit of work (``claims.ports.ClaimsUnitOfWork``), loads, calls the domain (``claims.quick``,
``claims.deadlines``, ``claims.lifecycle_rules``), records what changed and what others are told, commits,
and returns what the caller shows. The desk's read models are functions over the unit of work too. The
parties' quick handling has its own module, ``claims.quick_service``.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from accidentlink.clock import iso
from accidentlink.masking import mask_record
from accidentlink.reports import AccidentReport, Party
from claims.commands import BillReceived, ClaimQuery, ClaimsQuery, IncidentReported, RouteClaim, TakeClaimStep
from claims.ports import (
    ClaimFile, ClaimFlag, ClaimsUnitOfWork, CoverDecision, IncidentCopy, IncidentNote, OverdueFlag, OwedText,
    QuickCase, QuickParty, party_json,
)
from claims.fraud import duplicate_flags, fraud_rules
from claims.quick import check_quick_handling

SETTLED = ("paid", "refused", "closed")  # no statutory step is owed any more


class ClaimNotFound(LookupError):
    pass


class ClaimConflict(Exception):
    pass


@lru_cache(maxsize=1)
def known_insurers() -> dict[str, dict[str, str]]:
    doc = json.loads(resources.files("claims").joinpath("rules/insurers.json").read_text("utf-8"))
    return doc["insurers"]


def incident_report(report: AccidentReport, incident: IncidentCopy, parties: tuple[Party, ...]) -> AccidentReport:
    """The report as the merged incident now stands (counts, hazards and all parties of all reports)."""
    return replace(report, injured=incident.injured, fatalities=incident.fatalities,
                   vehicles_movable=incident.vehicles_movable, hit_and_run=incident.hit_and_run,
                   hazards=incident.hazards, parties=parties)


def claim_json(c: ClaimFile, *, full_identity: bool = False) -> dict[str, Any]:
    """The claim as staff see it: personal data masked, free text included (``facts``); with ``full_identity``
    (the claim's own insurer reading one claim, audited by the caller) its insured party in full."""
    return {"claim_id": c.claim_id, "incident_id": c.incident_id, "insurer": c.insurer, "routed": c.routed,
            "plate": c.plate, "ci_policy": c.ci_policy,
            "party": party_json(c.party) if full_identity else mask_record(party_json(c.party)), "status": c.status,
            "kind": c.kind, "facts": mask_record(c.facts), "owed_to_hospital_fen": c.owed_to_hospital_fen,
            "assessed_fen": c.assessed_fen, "paid_fen": c.paid_fen, "flags": [f.to_json() for f in c.flags],
            "timestamps": {k: iso(v) for k, v in c.timestamps.items()},
            "decision": c.decision.to_json() if c.decision else None,
            "overdue": [o.to_json() for o in c.overdue_flags], "opened_at": iso(c.opened_at),
            "updated_at": iso(c.updated_at), "version": c.version}


def publish(uow: ClaimsUnitOfWork, c: ClaimFile, change: str, at: datetime, **extra: Any) -> ClaimFile:
    """One ``claims.events`` message per state change, and the same on the insurer's own topic once the
    claim is routed to a known insurer. Returns the claim one version on; the caller keeps it."""
    c = replace(c, updated_at=at, version=c.version + 1, timestamps={**c.timestamps, change: at})
    value = {"schema": "claim/1", "event_id": f"{c.claim_id}:{c.version}:{change}", "claim_id": c.claim_id,
             "insurer": c.insurer, "incident_id": c.incident_id, "change": change, "at": iso(at), **extra,
             "claim": claim_json(c)}
    uow.events.claim_changed(c.claim_id, value, at)
    if c.routed and c.insurer in known_insurers():
        uow.events.to_insurer(c.insurer, c.claim_id, value, at)
    return c


def person_hash(value: str | None) -> str | None:
    """A keyed hash of an ID number or phone, so duplicates are found by index, not by reading people's data."""
    if not value:
        return None
    return hashlib.sha256(("accidentlink-person|" + value.strip().upper()).encode()).hexdigest()


def fraud_flags(uow: ClaimsUnitOfWork, claim_id: str, plate: str, id_hash: str | None, phone_hash: str | None,
                at: datetime) -> tuple[ClaimFlag, ...]:
    """The same plate or person in other claims within the period (``claims.fraud``, ``rules/fraud.json``):
    flagged for a person, never decided."""
    rules = fraud_rules()
    shared = uow.recent.sharing(claim_id, plate, id_hash, phone_hash, since=at - rules.period)
    return tuple(ClaimFlag(f.code, f.zh, f.en, f.claims)
                 for f in duplicate_flags(tuple(shared.same_plate), tuple(shared.same_person), rules))


def claim_id_for(incident_id: str, plate: str, taken: set[str]) -> str:
    """The same id each time a vehicle's claim is opened (re-delivery finds it by plate), and never the
    id of another vehicle's claim in the incident: a hash prefix two plates share gets a suffix."""
    base = f"CLM-{incident_id[4:]}-{hashlib.sha1(plate.encode()).hexdigest()[:8].upper()}"
    claim_id, n = base, 1
    while claim_id in taken:
        n += 1
        claim_id = f"{base}-{n}"
    return claim_id


# ---------------------------------------------------------------- first notice of loss
def open_claims_for_incident(event: IncidentReported, uow: ClaimsUnitOfWork, *, base_url: str,
                             region: str) -> list[ClaimFile]:
    """One claim per insured vehicle of the incident (idempotent), and the quick-handling case when eligible;
    a minor crash that may not be settled online is noted on the incident, with the reasons, for dispatch.
    Returns the incident's claims."""
    at, incident_id = event.at, event.incident_id
    with uow:
        incident = uow.incidents.get(incident_id)
        if incident is None:
            raise LookupError(f"claims has no copy of incident {incident_id}")
        parties = uow.incidents.parties(incident_id)
        elig = check_quick_handling(incident_report(event.report, incident, parties))
        kind = "quick" if elig.eligible else ("injury" if incident.injured or incident.fatalities else "property")
        existing = {c.plate: c for c in uow.claims.of_incident(incident_id)}
        known = known_insurers()
        for p in parties:
            plate = (p.plate or "").strip().upper()
            insurer = (p.insurer or "").strip().upper()
            if not plate or not insurer:
                continue
            if plate in existing:
                c = existing[plate]
                if c.kind != kind and c.status in ("opened", "awaiting_routing"):
                    c = replace(c, kind=kind)
                    c = existing[plate] = publish(uow, c, "kind_changed", at, kind=kind)
                    uow.claims.save(c)
                continue
            claim_id = claim_id_for(incident_id, plate, {e.claim_id for e in existing.values()})
            facts = {"reported_at": iso(incident.first_reported_at),
                     "location": {"lat": incident.lat, "lon": incident.lon, "address": incident.address},
                     "injured": incident.injured, "fatalities": incident.fatalities,
                     "vehicles_movable": incident.vehicles_movable, "hit_and_run": incident.hit_and_run,
                     "hazards": list(incident.hazards), "vehicles": [q.plate for q in parties if q.plate],
                     "quick_handling": {"eligible": elig.eligible,
                                        "reasons": [{"code": r.code, "zh": r.zh, "en": r.en} for r in elig.reasons]}}
            id_hash, phone_hash = person_hash(p.id_number), person_hash(p.phone)
            c = ClaimFile(claim_id, incident_id, insurer, insurer in known, plate, p.ci_policy, p, id_hash, phone_hash,
                          status="opened" if insurer in known else "awaiting_routing", kind=kind, facts=facts,
                          opened_at=at, updated_at=at,
                          flags=fraud_flags(uow, claim_id, plate, id_hash, phone_hash, at))
            c = existing[plate] = publish(uow, c, "opened", at)
            uow.claims.add(c)
            uow.timeline.add(incident_id, "claim_opened", at, claim_id=claim_id, insurer=insurer, plate=plate,
                             routed=c.routed)
        if elig.eligible:
            _open_quick_case(uow, incident, parties, base_url, region, at)
        elif incident.injured == 0 and incident.fatalities == 0 and any(p.plate for p in parties):
            text = "不适用线上快处 / not for online quick handling: " + "; ".join(f"{r.zh} ({r.en})" for r in elig.reasons)
            if not any(n.kind == "quick_refused" for n in incident.notes):
                uow.incidents.add_note(incident_id, IncidentNote(at, "quick_refused", text))
                uow.timeline.add(incident_id, "quick_refused", at, text=text)
                uow.events.incident_changed(incident_id, "quick_refused", at, text=text)
        uow.commit()
    return list(existing.values())


def quick_link_token(quick_id: str, plate: str, secret: str) -> str:
    return hashlib.sha256(f"{quick_id}|{plate}|{secret}".encode()).hexdigest()[:32]


def _open_quick_case(uow: ClaimsUnitOfWork, incident: IncidentCopy, parties: tuple[Party, ...], base_url: str,
                     region: str, at: datetime) -> None:
    """The incident's quick-handling case, once, with a link per party (by SMS to those with a phone)."""
    if uow.quick_cases.opened_for(incident.incident_id):
        return
    quick_id = "QK-" + incident.incident_id[4:]
    secret = secrets.token_hex(16)
    qparties = []
    for p in parties:
        plate = (p.plate or "").strip().upper()
        if not plate:
            continue
        token = quick_link_token(quick_id, plate, secret)
        qparties.append(QuickParty(plate, hashlib.sha256(token.encode()).hexdigest(), p.phone, p.insurer, p.name,
                                   p.id_number, p.vehicle_type, p.ci_policy))
        if p.phone:
            # the secret in the fragment: never sent to a server, never in a Referer (the page reads it)
            link = f"{base_url.rstrip('/')}/quick/{quick_id}#t={token}"
            body = (f"【AccidentLink】您{incident.address or ''}的轻微事故（人未伤、车能动）可线上快处快赔。请先将车辆移至安全处，"
                    f"再打开链接确认事实、上传照片并签字：{link} 也可回复1确认事实。")
            uow.texts.owe(OwedText(f"quick-link:{quick_id}:{plate}", p.phone, body, "quick_link", incident.incident_id),
                          at)
    uow.quick_cases.add(QuickCase(quick_id, incident.incident_id, region, "open", tuple(qparties), created_at=at,
                                  updated_at=at))
    uow.timeline.add(incident.incident_id, "quick_case_opened", at, quick_id=quick_id, parties=len(qparties))


# ---------------------------------------------------------------- hospitals' bills, timers
def _direct_payment_cap(c: ClaimFile, claimed_fen: int, at_fault: bool | None) -> int:
    """What the insurer owes hospitals of this accident at most: the 交强险 medical limit in force on the crash
    date for its driver's liability (undetermined: at fault), through ``claims.settlement`` (条例 21, 23 [O])."""
    from accidentlink.clock import parse_aware
    from claims.settlement import ci_settlement

    reported = c.facts.get("reported_at")
    day = parse_aware(reported) if reported else c.opened_at
    return ci_settlement(day, at_fault is not False, claimed_fen, 0, 0).medical.paid_by_ci_fen


def _set_bill_share(uow: ClaimsUnitOfWork, c: ClaimFile, event: BillReceived, insurer_fen: int) -> ClaimFile:
    """This bill's share on the claim (replacing an earlier revision's), the claim's total owed to hospitals
    capped by its 交强险 limit, and one ``claims.events`` message saying what changed; if the insurer already
    paid more than it now owes, the difference is recorded as owed back to it (never paid twice)."""
    bills = [b for b in (c.facts.get("hospital_bills") or []) if b.get("bill_id") != event.bill_id]
    before = next((b for b in (c.facts.get("hospital_bills") or []) if b.get("bill_id") == event.bill_id), None)
    if insurer_fen:
        bills.append({"bill_id": event.bill_id, "hospital_id": event.hospital_id, "insurer_fen": insurer_fen,
                      "amount_fen": event.amount_fen, "revision": event.revision, "liability": event.liability,
                      "provisional": event.provisional})
    claimed = sum(int(b.get("insurer_fen") or 0) for b in bills)
    at_fault = None if event.liability is None else event.liability != "none"
    owed = min(claimed, _direct_payment_cap(c, claimed, at_fault))
    facts = {**c.facts, "hospital_bills": bills}
    extra: dict[str, Any] = {"bill_id": event.bill_id, "hospital_id": event.hospital_id, "insurer_fen": insurer_fen,
                             "owed_to_hospital_fen": owed, "provisional": event.provisional, "liability": event.liability}
    if event.revision:
        extra.update(revision=event.revision, previous_insurer_fen=int((before or {}).get("insurer_fen") or 0))
        owed_back = max(0, (c.paid_fen or 0) - owed) if c.status == "paid" else 0
        facts["owed_back_fen"] = owed_back
        extra["owed_back_fen"] = owed_back
    c = replace(c, owed_to_hospital_fen=owed, facts=facts)
    if event.revision:
        return publish(uow, c, "hospital_share_rerouted", event.at, **extra)
    return publish(uow, c, "hospital_bill_owed", event.at, **extra)


def owe_hospital_share(event: BillReceived, uow: ClaimsUnitOfWork) -> ClaimFile | None:
    """赔付前置: the insurer of the vehicle pays the hospital directly within the medical limit for the crash date
    and its driver's liability; the fund covers only the excess (the same split, ``fund.route_rescue_bill``, so no
    fen is owed twice). A re-routed bill (liability decided) moves its share: off the claim of the vehicle that
    answered before, onto the one that answers now, each told on ``claims.events`` once per revision. Returns
    the claim that now owes, if any."""
    with uow:
        if uow.inbox.seen(event.event_id):
            return None
        c = None
        if event.incident_id:
            if event.revision and event.previous_plate and event.previous_plate != event.vehicle_plate:
                old = uow.claims.for_vehicle(event.incident_id, event.previous_plate)
                if old is not None and any(b.get("bill_id") == event.bill_id for b in old.facts.get("hospital_bills") or []):
                    uow.claims.save(_set_bill_share(uow, old, event, 0))
            found = uow.claims.for_vehicle(event.incident_id, event.vehicle_plate) if event.vehicle_plate else None
            known = found is not None and any(b.get("bill_id") == event.bill_id
                                              for b in found.facts.get("hospital_bills") or [])
            if found is not None and (event.insurer_fen > 0 or known):
                c = _set_bill_share(uow, found, event, event.insurer_fen)
                uow.claims.save(c)
        uow.inbox.mark(event.event_id, event.at)
        uow.commit()
    return c


def claim_overdue(c: ClaimFile, now: datetime) -> list[OverdueFlag]:
    """The insurer's steps past their statutory due time (条例 28-29 [O]; claims/deadlines.py)."""
    from claims.deadlines import ClaimTimestamps, overdue

    t = c.timestamps
    ts = ClaimTimestamps(opened_at=c.opened_at, documents_requested_at=t.get("documents_requested"),
                         documents_complete_at=t.get("documents_complete"), cover_decided_at=t.get("cover_decided")
                         or t.get("refused"), agreed_at=t.get("agreed"), paid_at=t.get("paid"))
    return [OverdueFlag(o.step, o.due, o.source, flagged_at=now) for o in overdue(ts, now) if o.still_open]


def flag_overdue(now: datetime, uow: ClaimsUnitOfWork) -> int:
    """Insurer steps past due are flagged once each; returns how many claims got a new flag."""
    n = 0
    with uow:
        for c in uow.claims.not_in(SETTLED):
            flagged = {f.step for f in c.overdue_flags}
            new = [o for o in claim_overdue(c, now) if o.step not in flagged]
            if new:
                c = replace(c, overdue_flags=c.overdue_flags + tuple(new))
                uow.claims.save(publish(uow, c, "overdue", now, steps=[o.step for o in new]))
                n += 1
        uow.commit()
    return n


# ---------------------------------------------------------------- the insurer's desk
# The insurer's steps, in the order of claims/lifecycle.py (条例 27-29 [O]): no step skipped, none repeated.
TRANSITIONS = {
    # action: (allowed from, to)
    "request-documents": (("opened", "routed"), "documents_requested"),
    "documents-complete": (("documents_requested",), "documents_complete"),
    "assess": (("documents_complete",), "assessed"),
    "decide": (("assessed",), "cover_decided"),
    "agree": (("cover_decided",), "agreed"),
    "pay": (("agreed",), "paid"),
}


def _own_claim(uow: ClaimsUnitOfWork, claim_id: str, insurer: str | None) -> ClaimFile:
    c = uow.claims.get(claim_id)
    if c is None or (insurer is not None and c.insurer != insurer):
        raise ClaimNotFound(f"no claim {claim_id}")  # another insurer's claim is not visible
    return c


def list_claims(query: ClaimsQuery, uow: ClaimsUnitOfWork) -> list[dict[str, Any]]:
    with uow:
        return [claim_json(c) for c in uow.claims.recent(query.limit, insurer=query.insurer, status=query.status,
                                                                search=query.search)]


def claim_detail(query: ClaimQuery, uow: ClaimsUnitOfWork, *, full_identity: bool = False) -> dict[str, Any]:
    """One of the insurer's own claims; ``full_identity``: its insured party unmasked (the insurer needs it to
    handle the claim; the caller writes the read to the audit trail)."""
    with uow:
        return claim_json(_own_claim(uow, query.claim_id, query.insurer), full_identity=full_identity)


def act(cmd: TakeClaimStep, uow: ClaimsUnitOfWork) -> dict[str, Any]:
    """One step of the insurer's handling (条例 27-29 [O]: documents, cover decision, payment)."""
    from claims.lifecycle_rules import check_action

    action, body = cmd.action, cmd.fields
    with uow:
        c = _own_claim(uow, cmd.claim_id, cmd.insurer)
        if action not in TRANSITIONS:
            raise ClaimNotFound(f"no action {action}")
        allowed, to = TRANSITIONS[action]
        if c.status == to or (action == "decide" and c.status == "refused"):
            raise ClaimConflict(f"claim {cmd.claim_id} is already {c.status}")
        if c.status not in allowed:
            raise ClaimConflict(f"claim {cmd.claim_id} is {c.status}; '{action}' needs one of {', '.join(allowed)}")
        extra = check_action(c, action, dict(body))
        if action == "assess":
            c = replace(c, assessed_fen=body["amount_fen"])
        elif action == "decide":
            c = replace(c, decision=CoverDecision(body["accepted"], body.get("reasons", ""), cmd.actor, cmd.at))
            if not body["accepted"]:
                to = "refused"
        elif action == "pay":
            c = replace(c, paid_fen=body.get("amount_fen", c.assessed_fen))
        by = cmd.actor.split(":")[1] if ":" in cmd.actor else cmd.actor
        c = publish(uow, replace(c, status=to), to, cmd.at, by=by, **extra)
        uow.claims.save(c)
        if action == "assess":  # each insurer's own assessment may complete knock-for-knock (互碰自赔)
            from claims.knock_service import settle_knock_for_knock
            c = next((k for k in settle_knock_for_knock(uow, c.incident_id, cmd.at, publish)
                      if k.claim_id == c.claim_id), c)
        uow.commit()
    return claim_json(c)


def route_claim(cmd: RouteClaim, uow: ClaimsUnitOfWork) -> dict[str, Any]:
    """An administrator routes a claim whose insurer code was unknown."""
    with uow:
        c = _own_claim(uow, cmd.claim_id, None)
        if c.routed:
            raise ClaimConflict(f"claim {cmd.claim_id} is already routed to {c.insurer}")
        if cmd.insurer.upper() not in known_insurers():
            raise ClaimConflict(f"insurer {cmd.insurer!r} is not known; route the claim to a known insurer")
        c = replace(c, insurer=cmd.insurer.upper(), routed=True, status="routed")
        c = publish(uow, c, "routed", cmd.at, routed_by=cmd.actor)
        uow.claims.save(c)
        uow.commit()
    return claim_json(c)
