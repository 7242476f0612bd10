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
from claims.commands import (
    AddPhoto, AnswerOwnVehicle, ConfirmBySms, ConfirmFacts, DetermineLiability, ObjectToLiability, PoliceQueueQuery,
    QuickCaseQuery, QuickFileQuery,
)
from claims.liability import DEGREES, determine_liability, liability_table
from claims.ports import ClaimsUnitOfWork, IncidentCopy, OwedText, PhotoStore, QuickCase, QuickParty, QuickPhoto
from claims.quick import AnswerAssessment, after_signing_notice, assess_answers, own_answer, own_vehicle_answers
from claims.reasons import Reason
from claims.knock_service import settle_knock_for_knock
from claims.settlement import every_side_at_fault
from claims.services import ClaimConflict, ClaimNotFound, known_insurers, publish

MAX_PHOTO_BYTES = 150 * 1024
MAX_SIGNATURE_BYTES = 100 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
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
def _answers(q: QuickCase) -> dict[str, str | None]:
    """Each party's answer about its own vehicle (None: not answered yet)."""
    return {p.plate: (q.situations.get(p.plate) or {}).get("own_vehicle") for p in q.parties}


def _answer_mode(q: QuickCase) -> bool:
    """Whether the parties answer about their own vehicles (the phone page) rather than tick shared situations."""
    return any(isinstance(v, dict) and v.get("own_vehicle") for v in q.situations.values())


def _assessment(q: QuickCase) -> AnswerAssessment:
    return assess_answers(q.region, _answers(q))


def _answer_json(code: str | None) -> dict[str, Any] | None:
    a = own_answer(code) if code else None
    return {"code": code, "zh": a.zh, "en": a.en} if a else ({"code": code, "zh": code, "en": code} if code else None)


def _assessment_json(a: AnswerAssessment) -> dict[str, Any]:
    return {"state": a.state, "shares": a.shares, "reason": _reason_json(a.reason) if a.reason else None}


def _claims_json(uow: ClaimsUnitOfWork, q: QuickCase) -> list[dict[str, Any]]:
    """Each vehicle's claim number with its insurer's name and hotline (rules/insurers.json)."""
    known = known_insurers()
    out = []
    for c in sorted(uow.claims.of_incident(q.incident_id), key=lambda c: c.plate):
        ins = known.get(c.insurer) or {}
        out.append({"plate": c.plate, "claim_id": c.claim_id, "insurer": c.insurer, "insurer_name": ins.get("name"),
                    "hotline": ins.get("hotline")})
    return out


def _party_state(q: QuickCase, p: QuickParty) -> dict[str, Any]:
    mine = q.situations.get(p.plate) or {}
    conf = q.confirmations.get(p.plate) or {}
    return {"answer": _answer_json(mine.get("own_vehicle")), "objection": mine.get("objection"),
            "signature_sha256": conf.get("signature_png_sha256"), "signed": p.plate in q.confirmations}


def case_view(q: QuickCase, inc: IncidentCopy, me: QuickParty, claims: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The case as the party holding a link sees it."""
    table = liability_table(q.region)
    return {
        "quick_id": q.quick_id, "status": q.status, "region": table.region,
        "me": {"plate": me.plate, "name": me.name, "insurer": me.insurer,
               "phone": mask_phone(me.phone), "confirmed": me.plate in q.confirmations, **_party_state(q, me)},
        "parties": [{"plate": p.plate, "insurer": p.insurer, "name": mask_name(p.name),
                     "confirmed": p.plate in q.confirmations, **_party_state(q, p)} for p in q.parties],
        "accident": {"at": iso(inc.first_reported_at), "address": inc.address, "lat": inc.lat, "lon": inc.lon},
        "photos": [{"kind": ph.kind, "by": ph.by, "at": iso(ph.at), "sha256": ph.sha256} for ph in q.photos],
        "photo_check": _photo_check(q).__dict__,
        "situations": [{"code": x.code, "zh": x.zh, "en": x.en, "category": x.category} for x in table.situations],
        "own_vehicle_answers": [{"code": a.code, "zh": a.zh, "en": a.en} for a in own_vehicle_answers(q.region)],
        "liability_preview": _assessment_json(_assessment(q)),
        "accident_forms": list(ACCIDENT_FORMS),
        "outcome": q.outcome,
        "claims": claims or [],
        "after_signing": after_signing_notice(),
    }


def view_case(query: QuickCaseQuery, uow: ClaimsUnitOfWork) -> dict[str, Any]:
    with uow:
        q = _case(uow, query.quick_id)
        me = _party(q, query.token)
        return case_view(q, _incident(uow, q), me, _claims_json(uow, q))


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


def answer_own_vehicle(cmd: AnswerOwnVehicle, uow: ClaimsUnitOfWork) -> dict[str, Any]:
    """A party says what its own vehicle was doing. Once both have answered, the answers are checked against
    each other: a contradiction is a dispute and goes to the police at once (程序规定 20 [O]); otherwise each
    party sees the liability that will result and signs or objects."""
    with uow:
        q = _case(uow, cmd.quick_id)
        me = _party(q, cmd.token)
        if q.status != "open":
            raise ClaimConflict(f"the case is {q.status}")
        if _signed(q):
            raise ClaimConflict("a party has already signed the liability shown; object to it instead of changing "
                                "your answer")
        if cmd.own_vehicle not in {a.code for a in own_vehicle_answers(q.region)}:
            raise QuickError("own_vehicle must be one of " + ", ".join(a.code for a in own_vehicle_answers(q.region)))
        q = replace(q, updated_at=cmd.at, situations={**q.situations, me.plate: {
            **(q.situations.get(me.plate) or {}), "own_vehicle": cmd.own_vehicle, "answered_at": iso(cmd.at),
            "weather": cmd.weather[:40], "point_of_impact": cmd.point_of_impact[:100]}})
        assessment = _assessment(q)
        inc = _incident(uow, q)
        if assessment.state == "contradiction":
            q = _to_police(uow, q, _reason_json(assessment.reason), cmd.at)  # type: ignore[arg-type]
        uow.quick_cases.save(q)
        uow.commit()
        return case_view(q, inc, me, _claims_json(uow, q))


def object_to_liability(cmd: ObjectToLiability, uow: ClaimsUnitOfWork) -> dict[str, Any]:
    """A party objects before the agreement binds: nothing binds, the police decide online (程序规定 20 [O])."""
    with uow:
        q = _case(uow, cmd.quick_id)
        me = _party(q, cmd.token)
        if q.status != "open":
            raise ClaimConflict(f"the case is {q.status}; an objection now is made as the notice after signing says")
        text = cmd.reason.strip()[:500]
        if not text:
            raise QuickError("say what you object to")
        q = replace(q, updated_at=cmd.at, situations={**q.situations, me.plate: {
            **(q.situations.get(me.plate) or {}), "objection": {"reason": text, "at": iso(cmd.at)}}})
        q = _to_police(uow, q, {"code": "objection", "zh": f"{me.plate} 对责任有异议：{text}",
                                "en": f"{me.plate} objects to the liability: {text}", "source": "程序规定 20 [O]"}, cmd.at)
        inc = _incident(uow, q)
        uow.quick_cases.save(q)
        uow.commit()
        return case_view(q, inc, me, _claims_json(uow, q))


def _keep_signature(q: QuickCase, data_base64: str, photos: PhotoStore | None) -> str:
    """The signature drawn on the screen, kept as a PNG beside the photos; returns its SHA-256."""
    if photos is None:
        raise QuickError("signatures cannot be kept here")
    try:
        data = base64.b64decode(data_base64, validate=True)
    except (ValueError, TypeError):
        raise QuickError("signature_png must be base64") from None
    if not data.startswith(PNG_MAGIC) or len(data) > MAX_SIGNATURE_BYTES or len(data) < 64:
        raise QuickError(f"signature_png must be a PNG image of at most {MAX_SIGNATURE_BYTES // 1024} KiB")
    digest = hashlib.sha256(data).hexdigest()
    photos.keep(q.quick_id, f"{digest}.png", data)
    return digest


def confirm(cmd: ConfirmFacts, uow: ClaimsUnitOfWork, photos: PhotoStore | None = None) -> dict[str, Any]:
    """A party confirms the facts, names its situations (or disputes) and signs; once every party has, the
    table settles liability or the case goes to the police."""
    with uow:
        q = _case(uow, cmd.quick_id)
        me = _party(q, cmd.token)
        if q.status != "open":
            raise ClaimConflict(f"the case is {q.status}")
        check = _photo_check(q)
        if not check.ok:
            raise QuickError("photos first: " + "; ".join(check.problems))
        signature = (cmd.signature or "").strip()
        if not signature and not cmd.signature_png:
            raise QuickError("sign to confirm: draw your signature (or type your name)")
        form = cmd.accident_form
        if form is not None and form not in ACCIDENT_FORMS:
            raise QuickError(f"accident_form must be one of {', '.join(ACCIDENT_FORMS)}")
        extra: dict[str, Any] = {}
        if _answer_mode(q):  # sign the liability shown from both answers, nothing else
            preview = _assessment(q)
            if preview.state == "waiting":
                raise ClaimConflict("both parties answer about their own vehicle first; the liability is shown "
                                    "before anyone signs")
            if preview.state != "settled":
                raise ClaimConflict("the answers cannot settle liability; the police decide")
            mine = q.situations.get(me.plate) or {}
            extra = {"own_vehicle": mine.get("own_vehicle"), "signed_shares": preview.shares,
                     "weather": cmd.weather[:40] or mine.get("weather", ""),
                     "point_of_impact": cmd.point_of_impact[:100] or mine.get("point_of_impact", "")}
        if cmd.signature_png:
            extra["signature_png_sha256"] = _keep_signature(q, cmd.signature_png, photos)
        q = replace(q, updated_at=cmd.at, confirmations={**q.confirmations, me.plate: {
            "situations": [str(c) for c in cmd.situations], "disputed": cmd.disputed,
            "signature": (signature or me.name or me.plate)[:60],
            "weather": cmd.weather[:40], "point_of_impact": cmd.point_of_impact[:100], "accident_form": form,
            "licence_number": (cmd.licence_number or "")[:40] or None, "at": iso(cmd.at), **extra}})
        inc = _incident(uow, q)
        if all(p.plate in q.confirmations for p in q.parties):
            q = _decide(uow, q, inc, cmd.at)
        uow.quick_cases.save(q)
        uow.commit()
        return case_view(q, inc, me, _claims_json(uow, q))


def _decide(uow: ClaimsUnitOfWork, q: QuickCase, inc: IncidentCopy, at: datetime) -> QuickCase:
    conf = _signed(q)
    disputed = any(c.get("disputed") for c in conf.values())
    if _answer_mode(q) and not disputed:
        preview = _assessment(q)
        if preview.state == "settled" and all(c.get("signed_shares") == preview.shares for c in conf.values()):
            return _settle(uow, q, inc, preview.shares, SELF_NEGOTIATION, _reason_json(preview.reason), at)  # type: ignore[arg-type]
        return _to_police(uow, q, {"code": "signed_other_liability", "zh": "双方签字时看到的责任不一致，请交警在线认定",
                                   "en": "the parties signed different liabilities: the police decide online",
                                   "source": "程序规定 20 [O]"}, at)
    outcome = determine_liability(q.region, {plate: c["situations"] for plate, c in conf.items()}, disputed=disputed)
    if outcome.settled and not outcome.needs_police:
        return _settle(uow, q, inc, outcome.shares, SELF_NEGOTIATION, _reason_json(outcome.reason), at)
    return _to_police(uow, q, _reason_json(outcome.reason), at)


def _to_police(uow: ClaimsUnitOfWork, q: QuickCase, reason: dict[str, Any], at: datetime) -> QuickCase:
    """Into the police's online determination queue (程序规定 20 [O]), with the reason the officer reads."""
    q = replace(q, status="police_queue", updated_at=at, outcome={"kind": "pending_police", "reason": reason})
    uow.timeline.add(q.incident_id, "quick_to_police", at, quick_id=q.quick_id, reason=reason["zh"])
    uow.events.quick_changed(q.quick_id, {"schema": "quick-case/1", "quick_id": q.quick_id, "incident_id": q.incident_id,
                                          "change": "police_queue", "at": iso(at), "reason": reason}, at)
    return q


def _settle(uow: ClaimsUnitOfWork, q: QuickCase, inc: IncidentCopy, shares: dict[str, str], kind: str,
            reason: dict[str, Any], at: datetime) -> QuickCase:
    """The agreement or determination: to both parties by SMS, onto both claims, and onto ``claims.quick``."""
    conf = _signed(q)
    answers = [a for a in q.situations.values() if isinstance(a, Mapping)]

    def first(key: str) -> Any:  # what the first party to give it said (a signature, else an answer)
        return next((c.get(key) for c in [*conf.values(), *answers] if c.get(key)), None)
    agreement = build_agreement(
        occurred_at=inc.first_reported_at, place=inc.address or f"{inc.lat:.5f},{inc.lon:.5f}",
        weather=first("weather"), accident_form=first("accident_form") or "collision_other",
        point_of_impact=first("point_of_impact"), kind=kind,
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
                                   "signed": ap.signed, "name": mask_name(ap.name),
                                   "signature_sha256": (conf.get(ap.plate or "") or {}).get("signature_png_sha256"),
                                   "own_vehicle": _answer_json((q.situations.get(ap.plate or "") or {}).get("own_vehicle"))}
                                  for ap in agreement.parties]}})
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
def police_case_json(q: QuickCase) -> dict[str, Any]:
    """A case as the officer sees it: both parties' answers, objections, photos and why it waits."""
    return {"quick_id": q.quick_id, "incident_id": q.incident_id, "region": q.region, "status": q.status,
            "outcome": q.outcome,
            "parties": [{"plate": p.plate, "insurer": p.insurer, "name": mask_name(p.name),
                         "situations": (q.confirmations.get(p.plate) or {}).get("situations"),
                         "disputed": (q.confirmations.get(p.plate) or {}).get("disputed"),
                         **_party_state(q, p)} for p in q.parties],
            "photos": len(q.photos),
            "photo_files": [{"kind": ph.kind, "by": ph.by, "at": iso(ph.at), "sha256": ph.sha256} for ph in q.photos],
            "updated_at": iso(q.updated_at)}


def police_queue(query: PoliceQueueQuery, uow: ClaimsUnitOfWork) -> list[dict[str, Any]]:
    with uow:
        cases = uow.quick_cases.waiting_for_police(query.limit)
    return [police_case_json(q) for q in cases]


def quick_file(query: QuickFileQuery, uow: ClaimsUnitOfWork, photos: PhotoStore) -> tuple[bytes, str]:
    """A scene photo or drawn signature of the case, by its SHA-256: (bytes, media type). A party sees its own
    case's files by its link token; an officer's request carries no token (the route checks the role)."""
    with uow:
        q = _case(uow, query.quick_id)
        if query.token is not None:
            _party(q, query.token)
        known = {ph.sha256: ph.ext for ph in q.photos}
        known.update({c["signature_png_sha256"]: "png" for c in q.confirmations.values()
                      if isinstance(c, Mapping) and c.get("signature_png_sha256")})
    ext = known.get(query.sha256)
    data = photos.read(q.quick_id, f"{query.sha256}.{ext}") if ext else None
    if data is None:
        raise ClaimNotFound(f"no file {query.sha256[:12]} in case {query.quick_id}")
    return data, {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}.get(ext or "", "application/octet-stream")


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
