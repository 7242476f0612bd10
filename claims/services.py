"""Insurer claim use cases: first notice of loss, quick handling of minor crashes, 赔付前置 (paying the
hospital up front within the 交强险 medical limit), the insurer's steps, deadlines and fraud flags.

"警保联动": a claim opens at each party's insurer the moment the accident is known (条例 27 [O]: the
insurer answers a notice immediately). Every state change goes onto ``claims.events`` keyed by claim id.
"""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from accidentlink.clock import iso
from accidentlink.incidents import IncidentFacts
from accidentlink.masking import mask_record
from accidentlink.pipeline import Context, RawMessage, unseen_events
from accidentlink.reports import AccidentReport, Party
from claims.quick import check_quick_handling
from connectors.sql import batch
from connectors.sql import incidents as incident_repo
from connectors.sql.models import ClaimRow, IncidentRow, QuickCaseRow
from connectors.sql.outbox import emit, enqueue_sms
from streams.topics import insurer_topic

log = logging.getLogger("accidentlink.claims")
CONSUMER = "claims"
FRAUD_PERIOD = timedelta(days=90)


class ClaimNotFound(LookupError):
    pass


class ClaimConflict(Exception):
    pass


@lru_cache(maxsize=1)
def known_insurers() -> dict[str, dict[str, str]]:
    doc = json.loads(resources.files("claims").joinpath("rules/insurers.json").read_text("utf-8"))
    return doc["insurers"]


def party_of(d: dict[str, Any]) -> Party:
    fields = {k: d.get(k) for k in ("name", "phone", "id_number", "plate", "vehicle_type", "insurer", "ci_policy",
                                     "licensed", "drunk", "vehicle_stolen")}
    return Party(**fields)


def incident_report(report: AccidentReport, row: IncidentRow, parties: list[dict[str, Any]]) -> AccidentReport:
    """The report as the merged incident now stands (counts, hazards and all parties of all reports)."""
    return replace(report, injured=row.injured, fatalities=row.fatalities, vehicles_movable=row.vehicles_movable,
                   hit_and_run=row.hit_and_run, hazards=tuple(row.hazards or ()),
                   parties=tuple(party_of(p) for p in parties))


def claim_json(c: ClaimRow) -> dict[str, Any]:
    return {"claim_id": c.claim_id, "incident_id": c.incident_id, "insurer": c.insurer, "routed": c.routed,
            "plate": c.plate, "ci_policy": c.ci_policy, "party": mask_record(c.party), "status": c.status,
            "kind": c.kind, "facts": c.facts, "owed_to_hospital_fen": c.owed_to_hospital_fen,
            "assessed_fen": c.assessed_fen, "paid_fen": c.paid_fen, "flags": c.flags or [],
            "timestamps": c.timestamps or {}, "decision": c.decision, "overdue": c.overdue_flags or [],
            "opened_at": iso(c.opened_at), "updated_at": iso(c.updated_at), "version": c.version}


def publish(s: Session, owner: str, topics: Any, c: ClaimRow, change: str, now: datetime, **extra: Any) -> None:
    """One ``claims.events`` message per state change, and the same on the insurer's own topic once the
    claim is routed to a known insurer."""
    c.updated_at = now
    c.version = (c.version or 0) + 1
    c.timestamps = {**(c.timestamps or {}), change: iso(now)}
    value = {"schema": "claim/1", "event_id": f"{c.claim_id}:{c.version}:{change}", "claim_id": c.claim_id,
             "insurer": c.insurer, "incident_id": c.incident_id, "change": change, "at": iso(now), **extra,
             "claim": claim_json(c)}
    emit(s, owner, topics.name("claims.events"), c.claim_id, value, now)
    if c.routed and c.insurer in known_insurers():
        emit(s, owner, topics.name(insurer_topic(c.insurer)), c.claim_id, value, now)


def person_hash(value: str | None) -> str | None:
    """A keyed hash of an ID number or phone, so duplicates are found by index, not by reading people's data."""
    if not value:
        return None
    return hashlib.sha256(("accidentlink-person|" + value.strip().upper()).encode()).hexdigest()


class RecentClaims:
    """The recent claims that share a plate or a person with a batch's parties, read in one query, and
    kept up to date with the claims the batch opens (``fraud_flags`` then needs no query per claim)."""

    def __init__(self, s: Session, plates: set[str], hashes: set[str], now: datetime):
        self.plates, self.hashes = plates, hashes
        self.by_plate: dict[str, list[str]] = {}
        self.by_person: dict[str, list[tuple[str, str]]] = {}
        if plates or hashes:
            for claim_id, plate, id_hash, phone_hash in s.execute(
                    select(ClaimRow.claim_id, ClaimRow.plate, ClaimRow.id_hash, ClaimRow.phone_hash).where(
                        ClaimRow.opened_at >= now - FRAUD_PERIOD,
                        or_(ClaimRow.plate.in_(plates), ClaimRow.id_hash.in_(hashes), ClaimRow.phone_hash.in_(hashes)))):
                self.add(claim_id, plate, id_hash, phone_hash)

    def add(self, claim_id: str, plate: str, id_hash: str | None, phone_hash: str | None) -> None:
        # a flag names at most 10 other claims: 12 per key are enough (one may be the claim itself)
        same = self.by_plate.setdefault(plate, [])
        if len(same) < 12:
            same.append(claim_id)
        for h in {id_hash, phone_hash} - {None}:
            person = self.by_person.setdefault(h, [])  # type: ignore[arg-type]
            if len(person) < 12:
                person.append((claim_id, plate))

    def covers(self, plate: str, id_hash: str | None, phone_hash: str | None) -> bool:
        return plate in self.plates and all(h in self.hashes for h in (id_hash, phone_hash) if h)

    def same_plate(self, claim_id: str, plate: str) -> list[str]:
        return [c for c in self.by_plate.get(plate, []) if c != claim_id][:10]

    def same_person(self, plate: str, id_hash: str | None, phone_hash: str | None) -> list[str]:
        out: list[str] = []
        for h in (id_hash, phone_hash):
            for c, p in self.by_person.get(h, []) if h else []:
                if p != plate and c not in out:
                    out.append(c)
        return out[:10]


def fraud_flags(s: Session, claim_id: str, plate: str, id_hash: str | None, phone_hash: str | None,
                now: datetime, recent: RecentClaims | None = None) -> list[dict[str, Any]]:
    """The same plate or person in other claims within the period: flagged for a person, never decided."""
    since = now - FRAUD_PERIOD
    flags = []
    if recent is not None and recent.covers(plate, id_hash, phone_hash):
        same_plate, others = recent.same_plate(claim_id, plate), recent.same_person(plate, id_hash, phone_hash)
    else:
        same_plate = list(s.scalars(select(ClaimRow.claim_id).where(
            ClaimRow.plate == plate, ClaimRow.claim_id != claim_id, ClaimRow.opened_at >= since).limit(10)))
        person = [c for c in (ClaimRow.id_hash == id_hash if id_hash else None,
                              ClaimRow.phone_hash == phone_hash if phone_hash else None) if c is not None]
        others = list(s.scalars(select(ClaimRow.claim_id).where(or_(*person), ClaimRow.plate != plate,
                                                                 ClaimRow.opened_at >= since).limit(10))) if person else []
    if same_plate:
        flags.append({"code": "same_plate_recent_claims", "zh": f"同一车牌近{FRAUD_PERIOD.days}天内另有{len(same_plate)}起理赔",
                      "en": f"the same plate is in {len(same_plate)} other claim(s) within {FRAUD_PERIOD.days} days",
                      "claims": same_plate})
    if others:
        flags.append({"code": "same_person_recent_claims", "zh": f"同一当事人近期另有{len(others)}起理赔（其他车辆）",
                      "en": f"the same person is in {len(others)} other claim(s) with other vehicles",
                      "claims": others})
    return flags


def claim_id_for(incident_id: str, plate: str, taken: set[str]) -> str:
    """The same id each time a vehicle's claim is opened (re-delivery finds it by plate), and never the
    id of another vehicle's claim in the incident: a hash prefix two plates share gets a suffix."""
    base = f"CLM-{incident_id[4:]}-{hashlib.sha1(plate.encode()).hexdigest()[:8].upper()}"
    claim_id, n = base, 1
    while claim_id in taken:
        n += 1
        claim_id = f"{base}-{n}"
    return claim_id


def open_claims(ctx: Context, incident_id: str, report: AccidentReport, base_url: str, region: str) -> None:
    """One claim per insured vehicle of the incident (idempotent), and the quick-handling case when eligible."""
    s = ctx.session
    row = incident_repo.incident(s, incident_id)
    parties = incident_repo.parties_of(s, incident_id)
    merged = incident_report(report, row, parties)
    elig = check_quick_handling(merged)
    kind = "quick" if elig.eligible else ("injury" if row.injured or row.fatalities else "property")
    cached = batch.cache(s, "claims") or {}  # inside a pipeline batch: what it read or opened so far
    recent = cached.get("recent")
    by_incident = cached.setdefault("existing", {})
    if incident_id not in by_incident:
        with s.no_autoflush:  # inside a batch, the claims it opened are in the cache already
            by_incident[incident_id] = {} if batch.created_here(s, incident_id) else {
                c.plate: c for c in s.scalars(select(ClaimRow).where(ClaimRow.incident_id == incident_id))}
    existing = by_incident[incident_id]
    known = known_insurers()
    for p in parties:
        plate = (p.get("plate") or "").strip().upper()
        insurer = (p.get("insurer") or "").strip().upper()
        if not plate or not insurer:
            continue
        if plate in existing:
            c = existing[plate]
            if c.kind != kind and c.status in ("opened", "awaiting_routing"):
                c.kind = kind
                publish(s, ctx.consumer, ctx.topics, c, "kind_changed", ctx.now, kind=kind)
            continue
        claim_id = claim_id_for(incident_id, plate, {e.claim_id for e in existing.values()})
        facts = {"reported_at": iso(row.first_reported_at), "location": {"lat": row.lat, "lon": row.lon,
                 "address": row.address}, "injured": row.injured, "fatalities": row.fatalities,
                 "vehicles_movable": row.vehicles_movable, "hit_and_run": row.hit_and_run,
                 "hazards": row.hazards or [], "vehicles": [q.get("plate") for q in parties if q.get("plate")],
                 "quick_handling": {"eligible": elig.eligible,
                                    "reasons": [{"code": r.code, "zh": r.zh, "en": r.en} for r in elig.reasons]}}
        c = ClaimRow(claim_id=claim_id, incident_id=incident_id, insurer=insurer, routed=insurer in known, plate=plate,
                     ci_policy=p.get("ci_policy"), party=p, id_hash=person_hash(p.get("id_number")),
                     phone_hash=person_hash(p.get("phone")), status="opened" if insurer in known else "awaiting_routing",
                     kind=kind, facts=facts, owed_to_hospital_fen=0, flags=[], timestamps={}, overdue_flags=[],
                     opened_at=ctx.now, updated_at=ctx.now, version=0)
        c.flags = fraud_flags(s, claim_id, plate, c.id_hash, c.phone_hash, ctx.now, recent)
        s.add(c)
        if recent is not None:
            recent.add(claim_id, plate, c.id_hash, c.phone_hash)
        existing[plate] = c
        publish(s, ctx.consumer, ctx.topics, c, "opened", ctx.now)
        incident_repo.add_timeline(s, incident_id, ctx.now, "claim_opened", claim_id=claim_id, insurer=insurer,
                                   plate=plate, routed=c.routed)
    if elig.eligible:
        open_quick_case(ctx, row, parties, base_url, region)
    elif row.injured == 0 and row.fatalities == 0 and len([p for p in parties if p.get("plate")]) >= 1:
        text = "不适用线上快处 / not for online quick handling: " + "; ".join(f"{r.zh} ({r.en})" for r in elig.reasons)
        if not any(n.get("kind") == "quick_refused" for n in row.notes or []):
            row.notes = (row.notes or []) + [{"at": iso(ctx.now), "kind": "quick_refused", "text": text}]
            incident_repo.add_timeline(s, incident_id, ctx.now, "quick_refused", text=text)
            ctx.incident_changed(incident_id, "quick_refused", text=text)


def quick_link_token(quick_id: str, plate: str, secret: str) -> str:
    return hashlib.sha256(f"{quick_id}|{plate}|{secret}".encode()).hexdigest()[:32]


def open_quick_case(ctx: Context, row: IncidentRow, parties: list[dict[str, Any]], base_url: str, region: str) -> None:
    s = ctx.session
    known = (batch.cache(s, "claims") or {}).get("quick")  # incident id -> has a quick case, inside a batch
    if known is not None and batch.created_here(s, row.incident_id):
        known.setdefault(row.incident_id, False)
    if known is not None and row.incident_id in known:
        exists = known[row.incident_id]
    else:
        exists = s.scalar(select(QuickCaseRow.quick_id).where(QuickCaseRow.incident_id == row.incident_id)) is not None
    if exists:
        return
    if known is not None:
        known[row.incident_id] = True
    quick_id = "QK-" + row.incident_id[4:]
    secret = secrets.token_hex(16)
    qparties = []
    for p in parties:
        plate = (p.get("plate") or "").strip().upper()
        if not plate:
            continue
        token = quick_link_token(quick_id, plate, secret)
        qparties.append({"plate": plate, "token_hash": hashlib.sha256(token.encode()).hexdigest(),
                         "phone": p.get("phone"), "insurer": p.get("insurer"), "name": p.get("name"),
                         "id_number": p.get("id_number"), "vehicle_type": p.get("vehicle_type"),
                         "ci_policy": p.get("ci_policy")})
        if p.get("phone"):
            link = f"{base_url.rstrip('/')}/quick/{quick_id}?t={token}"
            body = (f"【AccidentLink】您{row.address or ''}的轻微事故（人未伤、车能动）可线上快处快赔。请先将车辆移至安全处，"
                    f"再打开链接确认事实、上传照片并签字：{link} 也可回复1确认事实。")
            enqueue_sms(s, ctx.consumer, f"quick-link:{quick_id}:{plate}", p["phone"], body, "quick_link", ctx.now,
                        row.incident_id)
    s.add(QuickCaseRow(quick_id=quick_id, incident_id=row.incident_id, region=region, status="open",
                       eligibility={"eligible": True}, parties=qparties, photos=[], situations={}, confirmations={},
                       outcome=None, created_at=ctx.now, updated_at=ctx.now))
    incident_repo.add_timeline(s, row.incident_id, ctx.now, "quick_case_opened", quick_id=quick_id,
                               parties=len(qparties))


class ClaimsHandler:
    """The ``claims`` consumer group: reports open claims (and quick cases); bills make the insurer owe
    the hospital its share within the 交强险 medical limit; a timer flags overdue insurer steps."""

    def __init__(self, db: Any, topics: Any, clock: Any, base_url: str, region: str):
        self.db, self.topics_, self.clock, self.base_url, self.region = db, topics, clock, base_url, region

    @classmethod
    def build(cls, c: Any) -> "ClaimsHandler":
        return cls(c.store("claims"), c.topics, c.clock, c.settings.base_url, c.settings.region)

    def prepare(self, ctx: Context, reports: list[AccidentReport]) -> None:
        """Once per batch, one query each: the recent claims its parties could be flagged against, and the
        claims and quick cases of the incidents other pipelines already recorded."""
        s = ctx.session
        cached = batch.cache(s, "claims")
        if cached is None:
            return
        plates = {(p.plate or "").strip().upper() for r in reports for p in r.parties} - {""}
        hashes = {h for r in reports for p in r.parties for h in (person_hash(p.id_number), person_hash(p.phone)) if h}
        cached["recent"] = RecentClaims(s, plates, hashes, ctx.now)
        incidents = set(ctx.existing_incidents)
        existing: dict[str, dict[str, ClaimRow]] = {i: {} for i in incidents}
        quick = dict.fromkeys(incidents, False)
        if incidents:
            for c in s.scalars(select(ClaimRow).where(ClaimRow.incident_id.in_(incidents))):
                existing[c.incident_id][c.plate] = c
            quick.update(dict.fromkeys(s.scalars(select(QuickCaseRow.incident_id).where(
                QuickCaseRow.incident_id.in_(incidents))), True))
        cached["existing"] = existing
        cached["quick"] = quick

    def __call__(self, ctx: Context, report: AccidentReport, incident: IncidentFacts) -> None:
        open_claims(ctx, incident.incident_id, report, self.base_url, self.region)

    def topics(self) -> dict[str, Any]:
        return {"hospitals.bills": self.on_bills}

    def timers(self) -> list[tuple[float, Any]]:
        return [(30.0, self.flag_overdue)]

    def on_bills(self, messages: list[RawMessage]) -> None:
        """赔付前置: the insurer of the vehicle pays the hospital directly within the medical limit; the fund
        covers only the excess (the same split, ``fund.route_rescue_bill``, so no fen is owed twice)."""
        now = self.clock.now()
        with self.db.uow() as uow:
            s = uow.session
            for bill in unseen_events(s, CONSUMER, messages, "bill_id", now):
                if bill.get("insurer_fen", 0) > 0 and bill.get("vehicle_plate"):
                    c = s.scalar(select(ClaimRow).where(ClaimRow.incident_id == bill["incident_id"],
                                                        ClaimRow.plate == bill["vehicle_plate"]))
                    if c is not None:
                        c.owed_to_hospital_fen = (c.owed_to_hospital_fen or 0) + bill["insurer_fen"]
                        c.facts = {**c.facts, "hospital_bills": (c.facts.get("hospital_bills") or []) + [
                            {"bill_id": bill["bill_id"], "hospital_id": bill["hospital_id"],
                             "insurer_fen": bill["insurer_fen"], "amount_fen": bill["amount_fen"]}]}
                        publish(s, CONSUMER, self.topics_, c, "hospital_bill_owed", now, bill_id=bill["bill_id"],
                                hospital_id=bill["hospital_id"], insurer_fen=bill["insurer_fen"])
            uow.commit()

    def flag_overdue(self) -> int:
        now = self.clock.now()
        n = 0
        with self.db.uow() as uow:
            s = uow.session
            for c in s.scalars(select(ClaimRow).where(ClaimRow.status.notin_(["paid", "refused", "closed"]))).all():
                late = claim_overdue(c, now)
                flagged = {f["step"] for f in c.overdue_flags or []}
                new = [o for o in late if o["step"] not in flagged]
                if new:
                    c.overdue_flags = (c.overdue_flags or []) + [{**o, "flagged_at": iso(now)} for o in new]
                    publish(s, CONSUMER, self.topics_, c, "overdue", now, steps=[o["step"] for o in new])
                    n += 1
            uow.commit()
        return n


def claim_overdue(c: ClaimRow, now: datetime) -> list[dict[str, Any]]:
    """The insurer's steps past their statutory due time (条例 28-29 [O]; claims/deadlines.py)."""
    from claims.deadlines import ClaimTimestamps, overdue

    t = {k: datetime.fromisoformat(v) for k, v in (c.timestamps or {}).items()}
    ts = ClaimTimestamps(opened_at=c.opened_at, documents_requested_at=t.get("documents_requested"),
                         documents_complete_at=t.get("documents_complete"), cover_decided_at=t.get("cover_decided")
                         or t.get("refused"), agreed_at=t.get("agreed"), paid_at=t.get("paid"))
    return [{"step": o.step, "due": iso(o.due), "source": o.source} for o in overdue(ts, now) if o.still_open]


# ---------------------------------------------------------------- the insurer's desk (HTTP)
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


def own_claim(s: Session, claim_id: str, insurer: str | None) -> ClaimRow:
    c = s.get(ClaimRow, claim_id)
    if c is None or (insurer is not None and c.insurer != insurer):
        raise ClaimNotFound(f"no claim {claim_id}")  # another insurer's claim is not visible
    return c


def list_claims(s: Session, insurer: str | None, limit: int, status: str | None = None) -> list[dict[str, Any]]:
    q = select(ClaimRow)
    if insurer is not None:
        q = q.where(ClaimRow.insurer == insurer)
    if status:
        q = q.where(ClaimRow.status == status)
    return [claim_json(c) for c in s.scalars(q.order_by(ClaimRow.opened_at.desc(), ClaimRow.claim_id.desc()).limit(limit))]


def act(s: Session, topics: Any, claim_id: str, insurer: str, action: str, body: dict[str, Any], actor: str,
        now: datetime) -> dict[str, Any]:
    """One step of the insurer's handling (条例 27-29 [O]: documents, cover decision, payment)."""
    from claims.lifecycle_rules import check_action

    c = own_claim(s, claim_id, insurer)
    if action not in TRANSITIONS:
        raise ClaimNotFound(f"no action {action}")
    allowed, to = TRANSITIONS[action]
    if c.status == to or (action == "decide" and c.status == "refused"):
        raise ClaimConflict(f"claim {claim_id} is already {c.status}")
    if c.status not in allowed:
        raise ClaimConflict(f"claim {claim_id} is {c.status}; '{action}' needs one of {', '.join(allowed)}")
    extra = check_action(c, action, body)
    if action == "assess":
        c.assessed_fen = body["amount_fen"]
    elif action == "decide":
        c.decision = {"accepted": body["accepted"], "reasons": body.get("reasons", ""), "by": actor, "at": iso(now)}
        if not body["accepted"]:
            to = "refused"
    elif action == "pay":
        c.paid_fen = body.get("amount_fen", c.assessed_fen)
    c.status = to
    publish(s, "web", topics, c, to, now, by=actor.split(":")[1] if ":" in actor else actor, **extra)
    return claim_json(c)


def route_claim(s: Session, topics: Any, claim_id: str, insurer: str, actor: str, now: datetime) -> dict[str, Any]:
    """An administrator routes a claim whose insurer code was unknown."""
    c = own_claim(s, claim_id, None)
    if c.routed:
        raise ClaimConflict(f"claim {claim_id} is already routed to {c.insurer}")
    if insurer.upper() not in known_insurers():
        raise ClaimConflict(f"insurer {insurer!r} is not known; route the claim to a known insurer")
    c.insurer, c.routed, c.status = insurer.upper(), True, "routed"
    publish(s, "web", topics, c, "routed", now, routed_by=actor)
    return claim_json(c)
