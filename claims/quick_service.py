"""The parties' online quick handling (快处快赔) of a minor crash: confirm the facts, add three photos,
pick the situation from the region's standard list, sign; liability follows the local table
(程序规定 60-61 [O]; lists are local rules [S]); a dispute or a case the table cannot settle goes to a
police officer's online determination queue (程序规定 20 [O]). The outcome (self-negotiation agreement
or electronic determination, with the fields of 程序规定 21 [O]) goes to both parties by SMS and to
both insurers on ``claims.events``.

The use cases have the shape of ``claims.services``: ``verb(command, uow, *collaborators) -> result`` over the
claims unit of work (``claims.ports.ClaimsUnitOfWork``); the photos go to a ``claims.ports.PhotoStore``.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from datetime import datetime
from typing import Any, Mapping

from accidentlink.clock import iso
from accidentlink.masking import mask_name, mask_phone
from claims.agreement import (
    ACCIDENT_FORMS, PHOTO_KINDS, POLICE_DETERMINATION, SELF_NEGOTIATION, Photo, PhotoCheck, agreement_party,
    build_agreement, check_photos, missing_fields,
)
from claims.commands import AddPhoto, ConfirmBySms, ConfirmFacts, DetermineLiability, PoliceQueueQuery, QuickCaseQuery
from claims.liability import DEGREES, determine_liability, liability_table
from claims.ports import ClaimsUnitOfWork, IncidentCopy, OwedText, PhotoStore, QuickCase, QuickParty, QuickPhoto
from claims.reasons import Reason
from claims.knock_service import settle_knock_for_knock
from claims.settlement import every_side_at_fault
from claims.services import ClaimConflict, ClaimNotFound, publish

MAX_PHOTO_BYTES = 150 * 1024
IMAGE_MAGIC = {b"\xff\xd8\xff": "jpg", b"\x89PNG\r\n\x1a\n": "png", b"RIFF": "webp"}
CONFIRM_WORDS = {"1", "确认", "是", "yes", "y", "ok"}


class QuickError(ValueError):
    """A request the quick-handling flow refuses (HTTP 422 unless a subclass says otherwise)."""


def _case(uow: ClaimsUnitOfWork, quick_id: str) -> QuickCase:
    q = uow.quick_cases.get(quick_id)
    if q is None:
        raise ClaimNotFound(f"no quick-handling case {quick_id}")
    return q


def _incident(uow: ClaimsUnitOfWork, q: QuickCase) -> IncidentCopy:
    inc = uow.incidents.get(q.incident_id)
    if inc is None:
        raise LookupError(f"claims has no copy of incident {q.incident_id}")
    return inc


def _party(q: QuickCase, token: str | None) -> QuickParty:
    """The party holding this link, or not found (a wrong link reveals nothing)."""
    h = hashlib.sha256((token or "").encode()).hexdigest()
    for p in q.parties:
        if p.token_hash == h:
            return p
    raise ClaimNotFound(f"no quick-handling case {q.quick_id}")


def _photo_check(q: QuickCase) -> PhotoCheck:
    return check_photos([Photo(kind=ph.kind, uri=ph.sha256) for ph in q.photos])


def _signed(q: QuickCase) -> dict[str, Mapping[str, Any]]:
    """The parties' signed confirmations, by plate (an SMS reply confirms the facts, it signs nothing)."""
    return {k: v for k, v in q.confirmations.items() if not k.startswith("sms:")}


def _reason_json(r: Reason) -> dict[str, Any]:
    return {"code": r.code, "zh": r.zh, "en": r.en, "source": r.source}


# ---------------------------------------------------------------- the party's page
def case_view(q: QuickCase, inc: IncidentCopy, me: QuickParty) -> dict[str, Any]:
    """The case as the party holding a link sees it."""
    table = liability_table(q.region)
    return {
        "quick_id": q.quick_id, "status": q.status, "region": table.region,
        "me": {"plate": me.plate, "name": me.name, "insurer": me.insurer,
               "phone": mask_phone(me.phone), "confirmed": me.plate in q.confirmations},
        "parties": [{"plate": p.plate, "insurer": p.insurer, "name": mask_name(p.name),
                     "confirmed": p.plate in q.confirmations} for p in q.parties],
        "accident": {"at": iso(inc.first_reported_at), "address": inc.address, "lat": inc.lat, "lon": inc.lon},
        "photos": [{"kind": ph.kind, "by": ph.by, "at": iso(ph.at)} for ph in q.photos],
        "photo_check": _photo_check(q).__dict__,
        "situations": [{"code": x.code, "zh": x.zh, "en": x.en, "category": x.category} for x in table.situations],
        "accident_forms": list(ACCIDENT_FORMS),
        "outcome": q.outcome,
    }


def view_case(query: QuickCaseQuery, uow: ClaimsUnitOfWork) -> dict[str, Any]:
    with uow:
        q = _case(uow, query.quick_id)
        me = _party(q, query.token)
        return case_view(q, _incident(uow, q), me)


def add_photo(cmd: AddPhoto, uow: ClaimsUnitOfWork, photos: PhotoStore) -> dict[str, Any]:
    """One scene photo (front-side, rear-side, point of impact; domain.md §4 [S]); kept outside the database."""
    with uow:
        q = _case(uow, cmd.quick_id)
        me = _party(q, cmd.token)
        if q.status != "open":
            raise ClaimConflict(f"the case is {q.status}; photos can no longer be added")
        if cmd.kind not in PHOTO_KINDS:
            raise QuickError(f"photo kind must be one of {', '.join(PHOTO_KINDS)}")
        try:
            data = base64.b64decode(cmd.data_base64, validate=True)
        except (ValueError, TypeError):
            raise QuickError("photo data must be base64") from None
        if not data or len(data) > MAX_PHOTO_BYTES:
            raise QuickError(f"a photo must be between 1 byte and {MAX_PHOTO_BYTES // 1024} KiB")
        ext = next((e for magic, e in IMAGE_MAGIC.items() if data.startswith(magic)), None)
        if ext is None:
            raise QuickError("a photo must be a JPEG, PNG or WebP image")
        digest = hashlib.sha256(data).hexdigest()
        photos.keep(q.quick_id, f"{digest}.{ext}", data)
        if not any(ph.sha256 == digest and ph.kind == cmd.kind for ph in q.photos):
            q = replace(q, photos=q.photos + (QuickPhoto(cmd.kind, digest, me.plate, cmd.at, ext),), updated_at=cmd.at)
            uow.quick_cases.save(q)
        uow.commit()
    return {"photos": len(q.photos), "photo_check": _photo_check(q).__dict__}


def confirm(cmd: ConfirmFacts, uow: ClaimsUnitOfWork) -> dict[str, Any]:
    """A party confirms the facts, names its situations (or disputes) and signs; once every party has, the
    table settles liability or the case goes to the police."""
    with uow:
        q = _case(uow, cmd.quick_id)
        me = _party(q, cmd.token)
        if q.status != "open":
            raise ClaimConflict(f"the case is {q.status}")
        photos = _photo_check(q)
        if not photos.ok:
            raise QuickError("photos first: " + "; ".join(photos.problems))
        signature = cmd.signature.strip()
        if not signature:
            raise QuickError("sign with your name to confirm")
        form = cmd.accident_form
        if form is not None and form not in ACCIDENT_FORMS:
            raise QuickError(f"accident_form must be one of {', '.join(ACCIDENT_FORMS)}")
        q = replace(q, updated_at=cmd.at, confirmations={**q.confirmations, me.plate: {
            "situations": [str(c) for c in cmd.situations], "disputed": cmd.disputed, "signature": signature[:60],
            "weather": cmd.weather[:40], "point_of_impact": cmd.point_of_impact[:100], "accident_form": form,
            "licence_number": (cmd.licence_number or "")[:40] or None, "at": iso(cmd.at)}})
        inc = _incident(uow, q)
        if all(p.plate in q.confirmations for p in q.parties):
            q = _decide(uow, q, inc, cmd.at)
        uow.quick_cases.save(q)
        uow.commit()
    return case_view(q, inc, me)


def _decide(uow: ClaimsUnitOfWork, q: QuickCase, inc: IncidentCopy, at: datetime) -> QuickCase:
    conf = _signed(q)
    disputed = any(c.get("disputed") for c in conf.values())
    outcome = determine_liability(q.region, {plate: c["situations"] for plate, c in conf.items()}, disputed=disputed)
    if outcome.settled and not outcome.needs_police:
        return _settle(uow, q, inc, outcome.shares, SELF_NEGOTIATION, _reason_json(outcome.reason), at)
    q = replace(q, status="police_queue", outcome={"kind": "pending_police", "reason": _reason_json(outcome.reason)})
    uow.timeline.add(q.incident_id, "quick_to_police", at, quick_id=q.quick_id, reason=outcome.reason.zh)
    uow.events.quick_changed(q.quick_id, {"schema": "quick-case/1", "quick_id": q.quick_id, "incident_id": q.incident_id,
                                          "change": "police_queue", "at": iso(at), "reason": q.outcome["reason"]}, at)
    return q


def _settle(uow: ClaimsUnitOfWork, q: QuickCase, inc: IncidentCopy, shares: dict[str, str], kind: str,
            reason: dict[str, Any], at: datetime) -> QuickCase:
    """The agreement or determination: to both parties by SMS, onto both claims, and onto ``claims.quick``."""
    conf = _signed(q)
    first = next(iter(conf.values()), {})
    agreement = build_agreement(
        occurred_at=inc.first_reported_at, place=inc.address or f"{inc.lat:.5f},{inc.lon:.5f}",
        weather=first.get("weather") or None, accident_form=first.get("accident_form") or "collision_other",
        point_of_impact=first.get("point_of_impact") or None, kind=kind,
        parties=[agreement_party(p.party, shares.get(p.plate), licence_number=(conf.get(p.plate) or {}).get(
            "licence_number"), signed=p.plate in conf) for p in q.parties])
    both_at_fault = every_side_at_fault(shares)  # equal, or primary and secondary: every side at fault
    q = replace(q, status="agreed" if kind == SELF_NEGOTIATION else "determined", updated_at=at, outcome={
        "kind": kind, "shares": shares, "reason": reason, "decided_at": iso(at),
        "missing_fields": missing_fields(agreement), "knock_for_knock_possible": both_at_fault,
        "agreement": {"occurred_at": iso(agreement.occurred_at) if agreement.occurred_at else None,
                      "place": agreement.place, "weather": agreement.weather,
                      "accident_form": agreement.accident_form, "point_of_impact": agreement.point_of_impact,
                      "parties": [{"plate": ap.plate, "insurer": ap.insurer, "policy_number": ap.policy_number,
                                   "vehicle_type": ap.vehicle_type, "liability": ap.liability,
                                   "signed": ap.signed, "name": mask_name(ap.name)} for ap in agreement.parties]}})
    words = {"full": "全部责任", "primary": "主要责任", "equal": "同等责任", "secondary": "次要责任", "none": "无责任"}
    text = "；".join(f"{plate} {words.get(d, d)}" for plate, d in shares.items())
    what = "自行协商协议" if kind == SELF_NEGOTIATION else "交警在线认定"
    for p in q.parties:
        if p.phone:
            uow.texts.owe(OwedText(f"quick-outcome:{q.quick_id}:{p.plate}", p.phone,
                                   f"【AccidentLink】事故{q.quick_id}{what}：{text}。已送达双方保险公司，请等待定损理赔。",
                                   "quick_outcome", q.incident_id), at)
    for c in uow.claims.of_incident(q.incident_id):
        c = replace(c, facts={**c.facts, "liability": {"kind": kind, "shares": shares, "own_share": shares.get(c.plate)}})
        uow.claims.save(publish(uow, c, "liability_determined", at, kind=kind, shares=shares,
                                own_share=shares.get(c.plate)))
    settle_knock_for_knock(uow, q.incident_id, at, publish)
    uow.timeline.add(q.incident_id, "quick_outcome", at, quick_id=q.quick_id, outcome=kind, shares=shares)
    uow.events.quick_changed(q.quick_id, {"schema": "quick-case/1", "quick_id": q.quick_id, "incident_id": q.incident_id,
                                          "change": q.status, "at": iso(at), "outcome": q.outcome}, at)
    return q


# ---------------------------------------------------------------- the police's online determination
def police_queue(query: PoliceQueueQuery, uow: ClaimsUnitOfWork) -> list[dict[str, Any]]:
    with uow:
        cases = uow.quick_cases.waiting_for_police(query.limit)
    return [{"quick_id": q.quick_id, "incident_id": q.incident_id, "region": q.region, "outcome": q.outcome,
             "parties": [{"plate": p.plate, "insurer": p.insurer,
                          "situations": (q.confirmations.get(p.plate) or {}).get("situations"),
                          "disputed": (q.confirmations.get(p.plate) or {}).get("disputed")} for p in q.parties],
             "photos": len(q.photos), "updated_at": iso(q.updated_at)} for q in cases]


def police_determine(cmd: DetermineLiability, uow: ClaimsUnitOfWork) -> dict[str, Any]:
    """The officer's electronic accident determination (程序规定 20, 60 [O])."""
    with uow:
        q = _case(uow, cmd.quick_id)
        if q.status != "police_queue":
            raise ClaimConflict(f"the case is {q.status}, not waiting for the police")
        plates = {p.plate for p in q.parties}
        if set(cmd.shares) != plates:
            raise QuickError(f"shares must name exactly the plates {', '.join(sorted(plates))}")
        bad = [d for d in cmd.shares.values() if d not in DEGREES]
        if bad:
            raise QuickError(f"liability must be one of {', '.join(DEGREES)}")
        if not cmd.reason.strip():
            raise QuickError("the determination needs its reasons")
        q = _settle(uow, q, _incident(uow, q), dict(cmd.shares), POLICE_DETERMINATION,
                    {"code": "police_determination", "zh": cmd.reason, "en": cmd.reason, "source": "程序规定 20, 60 [O]",
                     "by": cmd.officer}, cmd.at)
        uow.quick_cases.save(q)
        uow.commit()
    return {"quick_id": q.quick_id, "status": q.status, "outcome": q.outcome}


# ---------------------------------------------------------------- a reply by SMS
def confirm_by_sms(cmd: ConfirmBySms, uow: ClaimsUnitOfWork) -> str:
    """A party replies to the SMS link: "1" confirms the facts (the photos and signature stay on the page).
    Returns the reply to text back ("" for a phone that has no open case)."""
    with uow:
        for q in uow.quick_cases.open_cases(500):
            me = next((p for p in q.parties if p.phone == cmd.from_phone), None)
            if me is None:
                continue
            if cmd.body.strip().lower() not in CONFIRM_WORDS:
                return "回复1确认事故事实；照片和签字请在短信链接中完成。"
            q = replace(q, updated_at=cmd.at, confirmations={
                **q.confirmations, f"sms:{me.plate}": {"at": iso(cmd.at), "facts_confirmed": True}})
            uow.quick_cases.save(q)
            uow.timeline.add(q.incident_id, "quick_sms_confirmed", cmd.at, quick_id=q.quick_id, plate=me.plate)
            uow.commit()
            return f"已确认事故{q.quick_id}的事实。请打开短信链接上传照片并签字。"
    return ""
