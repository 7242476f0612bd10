"""The parties' online quick handling (快处快赔) of a minor crash: confirm the facts, add three photos,
pick the situation from the region's standard list, sign; liability follows the local table
(程序规定 60-61 [O]; lists are local rules [S]); a dispute or a case the table cannot settle goes to a
police officer's online determination queue (程序规定 20 [O]). The outcome (self-negotiation agreement
or electronic determination, with the fields of 程序规定 21 [O]) goes to both parties by SMS and to
both insurers on ``claims.events``.
"""
from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accidentlink.clock import iso
from accidentlink.masking import mask_name, mask_phone
from claims.agreement import (
    ACCIDENT_FORMS, POLICE_DETERMINATION, SELF_NEGOTIATION, Photo, agreement_party, build_agreement, check_photos,
    missing_fields,
)
from claims.liability import DEGREES, EQUAL, determine_liability, liability_table
from claims.services import ClaimConflict, ClaimNotFound, party_of, publish
from connectors.sql import incidents as incident_repo
from connectors.sql.models import ClaimRow, IncidentRow, QuickCaseRow
from connectors.sql.outbox import emit, enqueue_sms

PHOTO_KINDS = ("front_side", "rear_side", "impact_point", "other")
MAX_PHOTO_BYTES = 150 * 1024
IMAGE_MAGIC = {b"\xff\xd8\xff": "jpg", b"\x89PNG\r\n\x1a\n": "png", b"RIFF": "webp"}
CONFIRM_WORDS = {"1", "确认", "是", "yes", "y", "ok"}


class QuickError(ValueError):
    """A request the quick-handling flow refuses (HTTP 422 unless a subclass says otherwise)."""


def _case(s: Session, quick_id: str) -> QuickCaseRow:
    q = s.get(QuickCaseRow, quick_id)
    if q is None:
        raise ClaimNotFound(f"no quick-handling case {quick_id}")
    return q


def _party(q: QuickCaseRow, token: str | None) -> dict[str, Any]:
    """The party holding this link, or not found (a wrong link reveals nothing)."""
    h = hashlib.sha256((token or "").encode()).hexdigest()
    for p in q.parties:
        if p["token_hash"] == h:
            return p
    raise ClaimNotFound(f"no quick-handling case {q.quick_id}")


def case_view(s: Session, quick_id: str, token: str | None) -> dict[str, Any]:
    q = _case(s, quick_id)
    me = _party(q, token)
    inc = s.get(IncidentRow, q.incident_id)
    table = liability_table(q.region)
    return {
        "quick_id": q.quick_id, "status": q.status, "region": table.region,
        "me": {"plate": me["plate"], "name": me.get("name"), "insurer": me.get("insurer"),
               "phone": mask_phone(me.get("phone")), "confirmed": me["plate"] in q.confirmations},
        "parties": [{"plate": p["plate"], "insurer": p.get("insurer"), "name": mask_name(p.get("name")),
                     "confirmed": p["plate"] in q.confirmations} for p in q.parties],
        "accident": {"at": iso(inc.first_reported_at), "address": inc.address, "lat": inc.lat, "lon": inc.lon},
        "photos": [{"kind": ph["kind"], "by": ph["by"], "at": ph["at"]} for ph in q.photos],
        "photo_check": _photo_check(q).__dict__,
        "situations": [{"code": x.code, "zh": x.zh, "en": x.en, "category": x.category} for x in table.situations],
        "accident_forms": list(ACCIDENT_FORMS),
        "outcome": q.outcome,
    }


def _photo_check(q: QuickCaseRow) -> Any:
    return check_photos([Photo(kind=ph["kind"], uri=ph["sha256"]) for ph in q.photos])


def add_photo(s: Session, var_dir: Path, quick_id: str, token: str | None, kind: str, data_b64: str, now: datetime) -> dict[str, Any]:
    """One scene photo (front-side, rear-side, point of impact; domain.md §4 [S]); kept outside the database."""
    q = _case(s, quick_id)
    me = _party(q, token)
    if q.status != "open":
        raise ClaimConflict(f"the case is {q.status}; photos can no longer be added")
    if kind not in PHOTO_KINDS:
        raise QuickError(f"photo kind must be one of {', '.join(PHOTO_KINDS)}")
    try:
        data = base64.b64decode(data_b64, validate=True)
    except (ValueError, TypeError):
        raise QuickError("photo data must be base64") from None
    if not data or len(data) > MAX_PHOTO_BYTES:
        raise QuickError(f"a photo must be between 1 byte and {MAX_PHOTO_BYTES // 1024} KiB")
    ext = next((e for magic, e in IMAGE_MAGIC.items() if data.startswith(magic)), None)
    if ext is None:
        raise QuickError("a photo must be a JPEG, PNG or WebP image")
    digest = hashlib.sha256(data).hexdigest()
    folder = Path(var_dir) / "photos" / quick_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{digest}.{ext}").write_bytes(data)
    if not any(ph["sha256"] == digest and ph["kind"] == kind for ph in q.photos):
        q.photos = q.photos + [{"kind": kind, "sha256": digest, "by": me["plate"], "at": iso(now), "ext": ext}]
        q.updated_at = now
    return {"photos": len(q.photos), "photo_check": _photo_check(q).__dict__}


def confirm(s: Session, topics: Any, quick_id: str, token: str | None, body: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A party confirms the facts, names its situations (or disputes) and signs."""
    q = _case(s, quick_id)
    me = _party(q, token)
    if q.status != "open":
        raise ClaimConflict(f"the case is {q.status}")
    photos = _photo_check(q)
    if not photos.ok:
        raise QuickError("photos first: " + "; ".join(photos.problems))
    signature = str(body.get("signature") or "").strip()
    if not signature:
        raise QuickError("sign with your name to confirm")
    codes = [str(c) for c in body.get("situations") or []]
    form = body.get("accident_form")
    if form is not None and form not in ACCIDENT_FORMS:
        raise QuickError(f"accident_form must be one of {', '.join(ACCIDENT_FORMS)}")
    q.confirmations = {**q.confirmations, me["plate"]: {
        "situations": codes, "disputed": bool(body.get("disputed")), "signature": signature[:60],
        "weather": str(body.get("weather") or "")[:40], "point_of_impact": str(body.get("point_of_impact") or "")[:100],
        "accident_form": form, "licence_number": str(body.get("licence_number") or "")[:40] or None, "at": iso(now)}}
    q.updated_at = now
    if all(p["plate"] in q.confirmations for p in q.parties):
        _decide(s, topics, q, now)
    return case_view(s, quick_id, token)


def _decide(s: Session, topics: Any, q: QuickCaseRow, now: datetime) -> None:
    conf = {k: v for k, v in q.confirmations.items() if not k.startswith("sms:")}
    disputed = any(c.get("disputed") for c in conf.values())
    outcome = determine_liability(q.region, {plate: c["situations"] for plate, c in conf.items()}, disputed=disputed)
    if outcome.settled and not outcome.needs_police:
        _settle(s, topics, q, outcome.shares, SELF_NEGOTIATION, {"code": outcome.reason.code, "zh": outcome.reason.zh,
                                                                 "en": outcome.reason.en, "source": outcome.reason.source}, now)
    else:
        q.status = "police_queue"
        q.outcome = {"kind": "pending_police", "reason": {"code": outcome.reason.code, "zh": outcome.reason.zh,
                                                          "en": outcome.reason.en, "source": outcome.reason.source}}
        incident_repo.add_timeline(s, q.incident_id, now, "quick_to_police", quick_id=q.quick_id,
                                   reason=outcome.reason.zh)
        emit(s, "web", topics.name("claims.quick"), q.quick_id,
             {"schema": "quick-case/1", "quick_id": q.quick_id, "incident_id": q.incident_id, "change": "police_queue",
              "at": iso(now), "reason": q.outcome["reason"]}, now)


def _settle(s: Session, topics: Any, q: QuickCaseRow, shares: dict[str, str], kind: str, reason: dict[str, Any],
            now: datetime) -> None:
    inc = s.get(IncidentRow, q.incident_id)
    conf = {k: v for k, v in q.confirmations.items() if not k.startswith("sms:")}
    first = next(iter(conf.values()), {})
    agreement = build_agreement(
        occurred_at=inc.first_reported_at, place=inc.address or f"{inc.lat:.5f},{inc.lon:.5f}",
        weather=first.get("weather") or None, accident_form=first.get("accident_form") or "collision_other",
        point_of_impact=first.get("point_of_impact") or None, kind=kind,
        parties=[agreement_party(party_of(p), shares.get(p["plate"]), licence_number=(conf.get(p["plate"]) or {}).get(
            "licence_number"), signed=p["plate"] in conf) for p in q.parties])
    both_at_fault = len(shares) >= 2 and all(v == EQUAL for v in shares.values())
    q.status = "agreed" if kind == SELF_NEGOTIATION else "determined"
    q.outcome = {"kind": kind, "shares": shares, "reason": reason, "decided_at": iso(now),
                 "missing_fields": missing_fields(agreement), "knock_for_knock_possible": both_at_fault,
                 "agreement": {"occurred_at": iso(agreement.occurred_at) if agreement.occurred_at else None,
                               "place": agreement.place, "weather": agreement.weather,
                               "accident_form": agreement.accident_form, "point_of_impact": agreement.point_of_impact,
                               "parties": [{"plate": ap.plate, "insurer": ap.insurer, "policy_number": ap.policy_number,
                                            "vehicle_type": ap.vehicle_type, "liability": ap.liability,
                                            "signed": ap.signed, "name": mask_name(ap.name)} for ap in agreement.parties]}}
    q.updated_at = now
    words = {"full": "全部责任", "primary": "主要责任", "equal": "同等责任", "secondary": "次要责任", "none": "无责任"}
    text = "；".join(f"{plate} {words.get(d, d)}" for plate, d in shares.items())
    what = "自行协商协议" if kind == SELF_NEGOTIATION else "交警在线认定"
    for p in q.parties:
        if p.get("phone"):
            enqueue_sms(s, "web", f"quick-outcome:{q.quick_id}:{p['plate']}", p["phone"],
                        f"【AccidentLink】事故{q.quick_id}{what}：{text}。已送达双方保险公司，请等待定损理赔。",
                        "quick_outcome", now, q.incident_id)
    for c in s.scalars(select(ClaimRow).where(ClaimRow.incident_id == q.incident_id)):
        c.facts = {**c.facts, "liability": {"kind": kind, "shares": shares, "own_share": shares.get(c.plate)}}
        publish(s, "web", topics, c, "liability_determined", now, kind=kind, shares=shares, own_share=shares.get(c.plate))
    incident_repo.add_timeline(s, q.incident_id, now, "quick_outcome", quick_id=q.quick_id, outcome=kind, shares=shares)
    emit(s, "web", topics.name("claims.quick"), q.quick_id,
         {"schema": "quick-case/1", "quick_id": q.quick_id, "incident_id": q.incident_id, "change": q.status,
          "at": iso(now), "outcome": q.outcome}, now)


def police_queue(s: Session, limit: int) -> list[dict[str, Any]]:
    rows = s.scalars(select(QuickCaseRow).where(QuickCaseRow.status == "police_queue")
                     .order_by(QuickCaseRow.updated_at).limit(limit))
    return [{"quick_id": q.quick_id, "incident_id": q.incident_id, "region": q.region, "outcome": q.outcome,
             "parties": [{"plate": p["plate"], "insurer": p.get("insurer"),
                          "situations": (q.confirmations.get(p["plate"]) or {}).get("situations"),
                          "disputed": (q.confirmations.get(p["plate"]) or {}).get("disputed")} for p in q.parties],
             "photos": len(q.photos), "updated_at": iso(q.updated_at)} for q in rows]


def police_determine(s: Session, topics: Any, quick_id: str, shares: dict[str, str], reason: str, officer: str,
                     now: datetime) -> dict[str, Any]:
    """The officer's electronic accident determination (程序规定 20, 60 [O])."""
    q = _case(s, quick_id)
    if q.status != "police_queue":
        raise ClaimConflict(f"the case is {q.status}, not waiting for the police")
    plates = {p["plate"] for p in q.parties}
    if set(shares) != plates:
        raise QuickError(f"shares must name exactly the plates {', '.join(sorted(plates))}")
    bad = [d for d in shares.values() if d not in DEGREES]
    if bad:
        raise QuickError(f"liability must be one of {', '.join(DEGREES)}")
    if not reason.strip():
        raise QuickError("the determination needs its reasons")
    _settle(s, topics, q, shares, POLICE_DETERMINATION,
            {"code": "police_determination", "zh": reason, "en": reason, "source": "程序规定 20, 60 [O]", "by": officer}, now)
    return {"quick_id": q.quick_id, "status": q.status, "outcome": q.outcome}


def confirm_by_sms(c: Any, from_phone: str, body: str) -> str:
    """A party replies to the SMS link: "1" confirms the facts (the photos and signature stay on the page)."""
    now = c.clock.now()
    with c.store("claims").uow() as uow:
        s = uow.session
        for q in s.scalars(select(QuickCaseRow).where(QuickCaseRow.status == "open").order_by(
                QuickCaseRow.created_at.desc()).limit(500)):
            me = next((p for p in q.parties if p.get("phone") == from_phone), None)
            if me is None:
                continue
            if body.strip().lower() not in CONFIRM_WORDS:
                return "回复1确认事故事实；照片和签字请在短信链接中完成。"
            q.confirmations = {**q.confirmations, f"sms:{me['plate']}": {"at": iso(now), "facts_confirmed": True}}
            q.updated_at = now
            incident_repo.add_timeline(s, q.incident_id, now, "quick_sms_confirmed", quick_id=q.quick_id, plate=me["plate"])
            uow.commit()
            return f"已确认事故{q.quick_id}的事实。请打开短信链接上传照片并签字。"
    return ""
