"""交强险 settlement: what the compulsory insurer pays per category, knock-for-knock, hospital direct payment.

Knock-for-knock's payments (each insurer pays its own insured's vehicle damage) are made by the claims service
(``claims.knock_service``) from the conditions here.

All amounts are integer fen; nothing here rounds (every result is a min or a difference of fen).
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from typing import NamedTuple

from accidentlink.clock import CST
from accidentlink.money import check_fen
from accidentlink.reports import Party
from claims.limits import CiLimits, ci_limits_on
from claims.reasons import Reason

CATEGORIES = ("death_disability", "medical", "property")


@dataclass(frozen=True)
class CategorySettlement:
    claimed_fen: int
    limit_remaining_fen: int
    paid_by_ci_fen: int
    excess_fen: int


@dataclass(frozen=True)
class CiSettlement:
    limits: CiLimits
    death_disability: CategorySettlement
    medical: CategorySettlement
    property: CategorySettlement

    @property
    def paid_by_ci_fen(self) -> int:
        return self.death_disability.paid_by_ci_fen + self.medical.paid_by_ci_fen + self.property.paid_by_ci_fen

    @property
    def excess_fen(self) -> int:
        return self.death_disability.excess_fen + self.medical.excess_fen + self.property.excess_fen


def accident_day(value: date | datetime) -> date:
    """The calendar day of the accident in China Standard Time (the limit version depends on it)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("accident time must carry an offset")
        return value.astimezone(CST).date()
    return value


def _settle(claimed: int, limit: int, already_paid: int) -> CategorySettlement:
    remaining = max(limit - already_paid, 0)
    paid = min(claimed, remaining)
    return CategorySettlement(claimed_fen=claimed, limit_remaining_fen=remaining, paid_by_ci_fen=paid, excess_fen=claimed - paid)


def ci_settlement(
    accident_date: date | datetime,
    at_fault: bool,
    medical_fen: int,
    death_disability_fen: int,
    property_fen: int,
    *,
    already_paid_medical_fen: int = 0,
    already_paid_death_disability_fen: int = 0,
    already_paid_property_fen: int = 0,
) -> CiSettlement:
    """交强险 pays each category up to its limit in force on the accident date: 条例 21, 23 [O]; amounts domain.md §2 [S].

    The limits are per accident, shared by all victims: ``already_paid_*`` is what earlier victims
    of the same accident have had from the same policy.
    """
    amounts = {
        "medical_fen": medical_fen, "death_disability_fen": death_disability_fen, "property_fen": property_fen,
        "already_paid_medical_fen": already_paid_medical_fen,
        "already_paid_death_disability_fen": already_paid_death_disability_fen,
        "already_paid_property_fen": already_paid_property_fen,
    }
    for name, value in amounts.items():
        check_fen(value, name)
    limits = ci_limits_on(accident_day(accident_date), at_fault=at_fault)
    return CiSettlement(
        limits=limits,
        death_disability=_settle(death_disability_fen, limits.death_disability_fen, already_paid_death_disability_fen),
        medical=_settle(medical_fen, limits.medical_fen, already_paid_medical_fen),
        property=_settle(property_fen, limits.property_fen, already_paid_property_fen),
    )


class DirectPayment(NamedTuple):
    insurer_pays_fen: int
    excess_fen: int


def hospital_direct_payment(bill_fen: int, medical_limit_remaining_fen: int) -> DirectPayment:
    """赔付前置: the insurer pays the hospital up to the remaining 交强险 medical limit; the excess goes on (条例 24 [O]: fund for the excess; 淄博 警保医, domain.md §5 [S])."""
    check_fen(bill_fen, "bill_fen")
    check_fen(medical_limit_remaining_fen, "medical_limit_remaining_fen")
    paid = min(bill_fen, medical_limit_remaining_fen)
    return DirectPayment(insurer_pays_fen=paid, excess_fen=bill_fen - paid)


# --- knock-for-knock (互碰自赔) -------------------------------------------------------------------

@dataclass(frozen=True)
class KnockForKnockRules:
    min_vehicles: int
    max_loss_per_party_fen: int
    source: str
    at_fault_liabilities: frozenset[str] = frozenset({"full", "primary", "equal", "secondary"})


@lru_cache(maxsize=1)
def knock_for_knock_rules() -> KnockForKnockRules:
    doc = json.loads(resources.files("claims").joinpath("rules/knock_for_knock.json").read_text("utf-8"))
    rules = KnockForKnockRules(int(doc["min_vehicles"]), check_fen(doc["max_loss_per_party_fen"], "max_loss_per_party_fen"),
                               doc["source"], frozenset(doc["at_fault_liabilities"]))
    if "none" in rules.at_fault_liabilities:
        raise ValueError("knock_for_knock.json: 'none' liability is not at fault")
    if rules.min_vehicles < 2:
        raise ValueError("knock_for_knock.json: min_vehicles must be at least 2")
    return rules


def _plate(party: Party) -> str:
    return (party.plate or "").strip().upper()


def every_side_at_fault(shares: Mapping[str, str], rules: KnockForKnockRules | None = None) -> bool:
    """Two or more sides, each with some liability (equal, or primary and secondary, ...): 互碰自赔's "both
    sides at fault" (domain.md §2 [S]; degrees 程序规定 60 [O])."""
    rules = rules or knock_for_knock_rules()
    return len(shares) >= 2 and all(v in rules.at_fault_liabilities for v in shares.values())


def knock_for_knock_reasons(
    parties: Sequence[Party],
    losses_fen: Mapping[str, int],
    both_at_fault: bool,
    agreed: bool,
    *,
    vehicle_damage_only: bool = True,
    rules: KnockForKnockRules | None = None,
) -> list[Reason]:
    """Why knock-for-knock does not apply (empty: it applies). 互碰自赔, domain.md §4 [S]."""
    rules = rules or knock_for_knock_rules()
    src = rules.source
    out: list[Reason] = []
    losses = {k.strip().upper(): v for k, v in losses_fen.items()}
    plates = [_plate(p) for p in parties]
    if len(parties) < rules.min_vehicles or len(set(plates)) != len(plates) or not all(plates):
        out.append(Reason("vehicles", f"需{rules.min_vehicles}辆及以上有号牌的机动车",
                          f"needs {rules.min_vehicles} or more distinct plated vehicles", src))
    for p in parties:
        if not p.has_ci:
            out.append(Reason("no_compulsory_insurance", f"{_plate(p) or '?'} 未投保交强险",
                              f"{_plate(p) or '?'} has no 交强险", src))
    if not vehicle_damage_only:
        out.append(Reason("not_vehicle_damage_only", "损失不限于车辆损失（有人伤或其他财物损失）",
                          "the loss is not vehicle damage only", src))
    for plate in plates:
        loss = losses.get(plate)
        if loss is None:
            out.append(Reason("loss_unknown", f"{plate} 损失金额未定", f"{plate}: loss not assessed", src))
        elif check_fen(loss, f"losses_fen[{plate}]") > rules.max_loss_per_party_fen:
            out.append(Reason("loss_above_threshold", f"{plate} 损失超过互碰自赔限额",
                              f"{plate}: loss {loss} fen is above {rules.max_loss_per_party_fen} fen", src))
    if not both_at_fault:
        out.append(Reason("not_both_at_fault", "并非各方均有责任", "not every party is at fault", src))
    if not agreed:
        out.append(Reason("not_agreed", "当事人未同意互碰自赔", "the parties have not agreed to knock-for-knock", src))
    return out


def knock_for_knock_applies(
    parties: Sequence[Party],
    losses_fen: Mapping[str, int],
    both_at_fault: bool,
    agreed: bool,
    *,
    vehicle_damage_only: bool = True,
    rules: KnockForKnockRules | None = None,
) -> bool:
    """2+ vehicles all with 交强险, vehicle damage only, each loss ≤ the threshold, all at fault, agreed: 互碰自赔 domain.md §4 [S]."""
    return not knock_for_knock_reasons(parties, losses_fen, both_at_fault, agreed,
                                       vehicle_damage_only=vehicle_damage_only, rules=rules)
