"""Knock-for-knock (互碰自赔) in the claims service: once every side of a minor crash is at fault and each
insurer has assessed its own insured's vehicle loss, each insurer pays its own insured's vehicle damage
(domain.md §2 [S]; the conditions in ``claims.settlement.knock_for_knock_reasons``).

Called inside the caller's claims unit of work (after a quick-handling outcome, and after each assessment);
each claim of the incident gets ``facts.knock_for_knock`` and a ``knock_for_knock`` change on
``claims.events`` when what applies changes.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Callable

from claims.agreement import POLICE_DETERMINATION, SELF_NEGOTIATION
from claims.ports import ClaimFile, ClaimsUnitOfWork
from claims.settlement import every_side_at_fault, knock_for_knock_reasons, knock_for_knock_rules

Publish = Callable[..., ClaimFile]


def knock_for_knock_state(claims: list[ClaimFile], *, injured: int, fatalities: int) -> dict[str, dict[str, Any]]:
    """Per claim id, whether knock-for-knock applies and why not. Empty when liability is not known yet or
    some side is not at fault (then the ordinary 交强险 settlement applies)."""
    shares = next((c.facts.get("liability", {}).get("shares") for c in claims
                   if (c.facts.get("liability") or {}).get("shares")), None)
    if not shares or not every_side_at_fault(shares):
        return {}
    # the parties' agreement: their quick-handling case (every party confirmed it; liability agreed or determined
    # online). A determination recorded otherwise carries no such agreement [U: insurers to confirm].
    quick = all((c.facts.get("liability") or {}).get("kind") in (SELF_NEGOTIATION, POLICE_DETERMINATION)
                for c in claims)
    losses = {c.plate: c.assessed_fen for c in claims if c.assessed_fen is not None}
    reasons = knock_for_knock_reasons([c.party for c in claims], losses, both_at_fault=True, agreed=quick,
                                      vehicle_damage_only=injured == 0 and fatalities == 0)
    rules = knock_for_knock_rules()
    out = {}
    for c in claims:
        applies = not reasons
        out[c.claim_id] = {
            "applies": applies, "shares": dict(shares),
            "own_vehicle_fen": c.assessed_fen if applies else None,
            "max_loss_per_party_fen": rules.max_loss_per_party_fen, "source": rules.source,
            "reasons": [{"code": r.code, "zh": r.zh, "en": r.en} for r in reasons]}
    return out


def settle_knock_for_knock(uow: ClaimsUnitOfWork, incident_id: str, at: datetime, publish: Publish) -> list[ClaimFile]:
    """Record on each claim of the incident what knock-for-knock means for it, and tell ``claims.events`` when
    that changed. Returns the claims that changed."""
    incident = uow.incidents.get(incident_id)
    claims = list(uow.claims.of_incident(incident_id))
    if incident is None or len(claims) < 2:
        return []
    state = knock_for_knock_state(claims, injured=incident.injured, fatalities=incident.fatalities)
    changed = []
    for c in claims:
        new = state.get(c.claim_id)
        if new is None or c.facts.get("knock_for_knock") == new:
            continue
        c = replace(c, facts={**c.facts, "knock_for_knock": new})
        c = publish(uow, c, "knock_for_knock", at, applies=new["applies"], own_vehicle_fen=new["own_vehicle_fen"],
                    reasons=[r["code"] for r in new["reasons"]])
        uow.claims.save(c)
        changed.append(c)
    return changed
