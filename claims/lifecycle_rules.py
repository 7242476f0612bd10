"""Checks on the insurer's steps that the body of a request must satisfy (money in fen, reasons in writing)."""
from __future__ import annotations

from typing import Any

from accidentlink.money import check_fen


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
        return {"paid_fen": amount}
    return {}
