"""Checks on the insurer's steps that the body of a request must satisfy (money in fen, reasons in writing)."""
from __future__ import annotations

from typing import Any

from accidentlink.clock import parse_aware
from accidentlink.money import check_fen
from claims.limits import ci_limits_on


def check_action(claim: Any, action: str, body: dict[str, Any]) -> dict[str, Any]:
    """Returns what the ``claims.events`` message adds; raises ValueError (HTTP 422) for a bad body."""
    if action == "assess":
        return {"assessed_fen": check_fen(body.get("amount_fen"))}
    if action == "decide":
        if not isinstance(body.get("accepted"), bool):
            raise ValueError("decide needs 'accepted': true or false")
        if body["accepted"] is False and not str(body.get("reasons") or "").strip():
            raise ValueError("a refusal needs written reasons (条例 29)")
        return {"accepted": body["accepted"]}
    if action == "pay":
        kfk = (claim.facts or {}).get("knock_for_knock") or {}
        if kfk.get("applies"):  # 互碰自赔: the insurer pays its own insured's vehicle damage, no more (domain.md §2)
            own = kfk["own_vehicle_fen"]
            amount = body.get("amount_fen", own)
            if check_fen(amount) > own:
                raise ValueError(f"knock-for-knock: pay at most the own vehicle's assessed damage ({own} fen)")
            return {"paid_fen": amount, "knock_for_knock": True}
        amount = body.get("amount_fen", claim.assessed_fen)
        check_fen(amount)
        bound, why = payment_bound(claim)
        if amount > bound:
            raise PaymentAboveBound(f"pay at most {bound} fen ({why}); {amount} fen asked", bound)
        return {"paid_fen": amount}
    return {}


class PaymentAboveBound(ValueError):
    """An insurer's payment above what was assessed, or above the 交强险 limit (HTTP 422 with ``allowed_fen``)."""

    def __init__(self, message: str, allowed_fen: int):
        super().__init__(message)
        self.allowed_fen = allowed_fen


def payment_bound(claim: Any) -> tuple[int, str]:
    """The most the insurer may pay on the claim, and why: the assessed amount (定损); for a 交强险 claim also the
    total limit for the crash's date and the driver's liability (条例 23 [O]; ``claims.limits``: a driver with
    no share of the liability gets the not-at-fault limits, an undetermined one counts as at fault, as
    ``fund.payer`` does)."""
    assessed = claim.assessed_fen or 0
    bound, why = assessed, f"the assessed amount {assessed} fen"
    if claim.ci_policy:
        facts = claim.facts or {}
        crash = parse_aware(facts["reported_at"]).date() if facts.get("reported_at") else claim.opened_at.date()
        own_share = ((facts.get("liability") or {}).get("own_share"))
        limits = ci_limits_on(crash, at_fault=own_share != "none")
        if limits.total_fen < bound:
            bound = limits.total_fen
            why = (f"the 交强险 limit of {limits.total_fen} fen for a crash on {crash.isoformat()}, "
                   f"{'at fault' if limits.at_fault else 'not at fault'}")
    return bound, why
