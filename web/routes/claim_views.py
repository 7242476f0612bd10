"""What the insurer's desk shows of a claim beyond its record (issue 15 item 5): the statutory deadlines with the
time left, the 交强险 limits that apply to it, the quick-handling result (liability, photos, the signed agreement)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from accidentlink.clock import CST, iso, parse_aware
from claims.deadlines import ClaimTimestamps, claim_deadlines, deadline_rules
from claims.limits import ci_limits_on
from claims.ports import QuickCase

DAYS = {s.step: s.days for s in deadline_rules().steps}
AT_FAULT = {"full", "primary", "equal", "secondary"}  # 条例 23: a driver with any share of liability


def _deadlines(c: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    t = {k: parse_aware(v) for k, v in (c.get("timestamps") or {}).items() if v}
    ts = ClaimTimestamps(opened_at=parse_aware(c["opened_at"]), documents_requested_at=t.get("documents_requested"),
                         documents_complete_at=t.get("documents_complete"),
                         cover_decided_at=t.get("cover_decided") or t.get("refused"), agreed_at=t.get("agreed"),
                         paid_at=t.get("paid"))
    return [{"step": d.step, "days": DAYS.get(d.step), "due": iso(d.due), "done_at": iso(d.done_at) if d.done_at else None,
             "seconds_left": None if d.done_at else int((d.due - now).total_seconds()), "source": d.source}
            for d in claim_deadlines(ts).values()]


def _limits(c: dict[str, Any]) -> dict[str, Any]:
    """The 交强险 limits for the vehicle's driver as liability stands (not yet determined: at fault, 条例 23)."""
    facts = c.get("facts") or {}
    share = (facts.get("liability") or {}).get("own_share")
    at_fault = share is None or share in AT_FAULT
    reported = facts.get("reported_at") or c["opened_at"]
    day = parse_aware(reported).astimezone(CST).date() if reported else date.today()
    lim = ci_limits_on(day, at_fault=at_fault)
    return {"at_fault": at_fault, "liability": share, "medical_fen": lim.medical_fen,
            "death_disability_fen": lim.death_disability_fen, "property_fen": lim.property_fen,
            "total_fen": lim.total_fen, "for_kind_fen": {"injury": lim.medical_fen + lim.death_disability_fen,
                                                           "property": lim.property_fen,
                                                           "quick": lim.property_fen}.get(c.get("kind"), lim.total_fen),
            "source": lim.source}


def desk_view(c: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {**c, "deadlines": _deadlines(c, now), "ci_limit": _limits(c)}


def quick_view(q: QuickCase, claim_id: str) -> dict[str, Any]:
    """The quick handling of the claim's crash as the insurer reads it: the outcome (liability per plate, who
    decided, the agreement and who signed it), the photos (served by the claim's photo route), and each party's
    drawn signature where the phone page kept one."""
    signatures = {}
    for plate, conf in (q.confirmations or {}).items():
        sig = conf.get("signature") if isinstance(conf, dict) else None
        if isinstance(sig, dict) and sig.get("sha256"):
            signatures[plate] = {"sha256": sig["sha256"], "url": f"/api/claims/{claim_id}/photos/{sig['sha256']}.png"
                                 if sig.get("kept", True) else None}
        elif isinstance(sig, str) and sig.startswith("data:image/png;base64,"):
            signatures[plate] = {"data_url": sig}
    return {"quick_id": q.quick_id, "status": q.status, "outcome": dict(q.outcome) if q.outcome else None,
            "eligibility": dict(q.eligibility), "signed": sorted((q.confirmations or {}).keys()),
            "signatures": signatures,
            "photos": [{"kind": p.kind, "by": p.by, "at": iso(p.at),
                        "url": f"/api/claims/{claim_id}/photos/{p.sha256}.{p.ext}"} for p in q.photos]}
