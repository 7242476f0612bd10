"""Who pays a victim's costs: the 交强险 insurer, the rescue fund, or neither (yet).

The routing table is domain.md §1 (条例 22, 24 [O]; 道路交通安全法 75 [S]). Amounts are integer
fen; a split always adds up to the bill: ``insurer_fen + fund_fen + uncovered_fen == bill_fen``.
``uncovered_fen`` is what neither pays under these rules (costs after the rescue window, above a
provincial cash cap, property loss past the insurer): it is left to ordinary compensation by the
party at fault (民法典 1213 [S]), or basic medical insurance (公交管〔2020〕161号 [S]).

Several vehicles: a victim's bill is routed against ONE vehicle, the one that struck the victim
(once liability is decided, the one found liable), and that vehicle's 交强险 limit, which all its
victims share per accident. We do not add up the limits of every vehicle involved: it is the
simplest reading the parties can check, it never makes the fund pay less than it owes the victim,
and what the fund advances in excess it recovers from the party responsible.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum

from accidentlink.money import check_fen
from accidentlink.reports import Party
from claims import ci_limits_on
from claims.settlement import hospital_direct_payment
from fund.provinces import ProvinceRules
from fund.window import Bill, split_by_window


class CostKind(str, Enum):
    RESCUE = "rescue"      # 抢救费用 (条例 41): the 交强险 medical limit
    FUNERAL = "funeral"    # 丧葬费: the 交强险 death/disability limit
    PROPERTY = "property"  # property loss: never the fund (条例 24 [O])


@dataclass(frozen=True)
class VehicleCover:
    """What routing needs to know of the vehicle that struck the victim."""

    has_ci: bool
    insurer_code: str | None = None
    identified: bool = True       # False: a hit-and-run vehicle nobody has found
    hit_and_run: bool = False
    driver_unlicensed: bool = False
    driver_drunk: bool = False
    vehicle_stolen: bool = False
    deliberate: bool = False
    motor_vehicle: bool = True    # False: a non-motor party (bicycle, pedestrian) was liable
    own_vehicle: bool = False     # the victim's own vehicle (they drove or rode in it): not a third party (条例 3, 21)

    @property
    def insured(self) -> bool:
        """A known vehicle with 交强险 in force that answers for this victim (never for its own occupants)."""
        return self.identified and self.has_ci and not self.own_vehicle

    @property
    def exclusions(self) -> tuple[str, ...]:
        """The 条例 22 [O] situations: insurer advances rescue costs, then recovers from the driver."""
        flags = (("driver_unlicensed", self.driver_unlicensed), ("driver_drunk", self.driver_drunk),
                 ("vehicle_stolen", self.vehicle_stolen), ("deliberate", self.deliberate))
        return tuple(name for name, on in flags if on)

    @classmethod
    def from_party(cls, party: Party | None, *, hit_and_run: bool = False) -> VehicleCover:
        """From a report's party; ``None`` is a vehicle nobody identified."""
        if party is None:
            return cls(has_ci=False, identified=False, hit_and_run=hit_and_run)
        return cls(
            has_ci=party.has_ci, insurer_code=party.insurer if party.has_ci else None,
            hit_and_run=hit_and_run, driver_unlicensed=party.licensed is False,
            driver_drunk=party.drunk is True, vehicle_stolen=party.vehicle_stolen is True,
        )


@dataclass(frozen=True)
class PayerSplit:
    """One bill split between payers; the three shares add up to ``bill_fen``."""

    bill_fen: int
    insurer_fen: int
    fund_fen: int
    uncovered_fen: int
    insurer_code: str | None
    limit_fen: int                 # the 交强险 limit applied (per accident, shared); 0 without insurer
    reasons: tuple[str, ...]
    insurer_recovers_fen: int      # 条例 22 [O]: the insurer recovers this from the driver
    fund_recovers_fen: int         # 道路交通安全法 75 [S]: the fund recovers this from the party responsible
    debtor_known: bool             # False while a hit-and-run vehicle is unknown
    uncovered_payer: str | None = None  # who is asked first for ``uncovered_fen``

    def __post_init__(self) -> None:
        if self.insurer_fen + self.fund_fen + self.uncovered_fen != self.bill_fen:
            raise AssertionError("payer split does not add up to the bill")


def _limit_fen(kind: CostKind, accident_date: date, at_fault: bool) -> int:
    """The 交强险 limit for the cost (条例 23 [O]): medical for rescue, death/disability for funeral."""
    limits = ci_limits_on(accident_date, at_fault=at_fault)
    return {CostKind.RESCUE: limits.medical_fen, CostKind.FUNERAL: limits.death_disability_fen,
            CostKind.PROPERTY: limits.property_fen}[kind]


def route_bill(
    bill_fen: int,
    *,
    vehicle: VehicleCover,
    accident_date: date,
    at_fault: bool | None = None,
    kind: CostKind = CostKind.RESCUE,
    already_paid_by_insurer_fen: int = 0,
    already_routed_fund_fen: int = 0,
    fund_eligible_fen: int | None = None,
    cash_cap_fen: int | None = None,
) -> PayerSplit:
    """Split one bill between insurer and fund (条例 22, 24 [O]; 道路交通安全法 75 [S]; domain.md §1).

    - ``at_fault`` None (liability not yet determined) uses the at-fault limit, the larger one.
    - ``already_paid_by_insurer_fen``: the vehicle's limit already used in this accident by
      earlier bills (of any victim): the limit is per accident, shared.
    - ``already_routed_fund_fen``: what the fund already advanced for this victim; it counts
      against ``cash_cap_fen`` (a provincial cap per victim, None = no cap).
    - ``fund_eligible_fen``: of this bill, the fen inside the rescue window (None = all). The
      insurer's share is taken from the earliest costs, so the fund gets the in-window remainder.
    """
    for name, value in (("bill_fen", bill_fen), ("already_paid_by_insurer_fen", already_paid_by_insurer_fen),
                        ("already_routed_fund_fen", already_routed_fund_fen)):
        check_fen(value, name)
    if fund_eligible_fen is not None:
        check_fen(fund_eligible_fen, "fund_eligible_fen")
    if cash_cap_fen is not None:
        check_fen(cash_cap_fen, "cash_cap_fen")
    kind = CostKind(kind)
    reasons: list[str] = []
    if not vehicle.motor_vehicle:
        # Neither 交强险 nor the fund covers a non-motor party's accident; basic medical
        # insurance pays first when that party does not pay or is unknown (公交管〔2020〕161号 [S]).
        return PayerSplit(bill_fen, 0, 0, bill_fen, None, 0, ("non_motor_party",), 0, 0, vehicle.identified,
                          "basic_medical_insurance" if kind is not CostKind.PROPERTY else "party_liable")
    if vehicle.insured:
        reasons.append("fault_undetermined_assumed_at_fault" if at_fault is None
                       else "insured_at_fault" if at_fault else "insured_not_at_fault")
    limit = _limit_fen(kind, accident_date, at_fault is not False)
    remaining_limit = max(0, limit - already_paid_by_insurer_fen)
    exclusions = vehicle.exclusions if vehicle.insured else ()

    if kind is CostKind.PROPERTY:
        reasons.append("property_never_by_fund")
        insurer = 0
        if not vehicle.insured:
            reasons.append("no_ci" if vehicle.identified else "hit_and_run_vehicle_unknown")
        elif exclusions:
            reasons += ["insurer_pays_no_property_loss", *exclusions]
        else:
            insurer = min(bill_fen, remaining_limit)
            reasons.append("ci_within_limit")
        return PayerSplit(bill_fen, insurer, 0, bill_fen - insurer, vehicle.insurer_code if vehicle.insured else None,
                          limit if vehicle.insured else 0, tuple(reasons), 0, 0, vehicle.identified,
                          "party_liable" if bill_fen > insurer else None)

    if vehicle.insured:
        insurer, excess = hospital_direct_payment(bill_fen, remaining_limit)  # 赔付前置 within the limit
        if kind is CostKind.FUNERAL:
            reasons.append("ci_death_disability_first")
        if vehicle.hit_and_run:
            reasons.append("hit_and_run_insured")
        if remaining_limit == 0:
            reasons.append("ci_limit_used_up")
        elif insurer:
            reasons.append("ci_within_limit")
        if excess:
            reasons.append("above_ci_limit")
        if exclusions:
            reasons += ["insurer_advances_then_recovers", *exclusions]
        in_window = excess if fund_eligible_fen is None else max(0, min(fund_eligible_fen, bill_fen) - insurer)
    else:
        insurer = 0
        excess = bill_fen
        if vehicle.own_vehicle:
            reasons.append("own_vehicle_not_third_party")
        elif not vehicle.identified:
            reasons.append("hit_and_run_vehicle_unknown" if vehicle.hit_and_run else "vehicle_unknown")
        else:
            reasons.append("hit_and_run_uninsured" if vehicle.hit_and_run else "no_ci")
        in_window = bill_fen if fund_eligible_fen is None else min(fund_eligible_fen, bill_fen)

    fund = min(excess, in_window)
    if fund < excess:
        reasons.append("outside_rescue_window")
    if cash_cap_fen is not None:
        cap_left = max(0, cash_cap_fen - already_routed_fund_fen)
        if cap_left < fund:
            fund = cap_left
            reasons.append("above_fund_cash_cap")
    return PayerSplit(
        bill_fen=bill_fen, insurer_fen=insurer, fund_fen=fund, uncovered_fen=bill_fen - insurer - fund,
        insurer_code=vehicle.insurer_code if vehicle.insured else None,
        limit_fen=limit if vehicle.insured else 0, reasons=tuple(reasons),
        insurer_recovers_fen=insurer if exclusions else 0, fund_recovers_fen=fund,
        debtor_known=vehicle.identified,
        uncovered_payer="party_liable" if bill_fen > insurer + fund else None,
    )


def route_rescue_bill(
    bill: Bill,
    *,
    vehicle: VehicleCover,
    rules: ProvinceRules,
    at_fault: bool | None = None,
    already_paid_by_insurer_fen: int = 0,
    already_routed_fund_fen: int = 0,
) -> PayerSplit:
    """Route a hospital bill with its province's window and cap (条例 24 [O]; 办法 2022 [S])."""
    window = split_by_window(bill, rules)
    split = route_bill(
        bill.amount_fen, vehicle=vehicle, accident_date=rules.accident_date, at_fault=at_fault,
        already_paid_by_insurer_fen=already_paid_by_insurer_fen, already_routed_fund_fen=already_routed_fund_fen,
        fund_eligible_fen=window.inside_fen, cash_cap_fen=rules.cash_cap_fen,
    )
    return split



# ---------------------------------------------------------------- whose 交强险 answers for this victim
LIABILITY_DEGREES = ("full", "primary", "equal", "secondary", "none")  # 程序规定 60 [O], most to least


def at_fault_of(degree: str | None) -> bool | None:
    """A driver's liability as the 交强险 limit reads it: any share is at fault, ``none`` is not (domain.md §2
    [S]); None while undetermined (the bill's split is then provisional)."""
    if degree is None:
        return None
    if degree not in LIABILITY_DEGREES:
        raise ValueError(f"liability must be one of {', '.join(LIABILITY_DEGREES)}")
    return degree != "none"


@dataclass(frozen=True)
class Answering:
    """Which vehicle's 交强险 answers for one victim, and on which liability."""

    cover: VehicleCover
    plate: str | None                 # the answering vehicle, None when none is known
    at_fault: bool | None             # that vehicle's driver; None while liability is undetermined
    reasons: tuple[str, ...]          # why this vehicle (or none)
    patient_role: str | None = None
    candidates: int = 1               # motor vehicles that could answer (liability picks among several)

    @property
    def provisional(self) -> bool:
        """The split may change once liability is decided: fault is undetermined and an insurer answers (its
        limit depends on fault) or several vehicles could answer (the most liable will)."""
        return self.at_fault is None and (self.cover.insured or self.candidates > 1)


def answering_vehicle(parties: list[Party] | tuple[Party, ...], *, hit_and_run: bool = False,
                      patient_id_number: str | None = None, fled_plate: str | None = None,
                      named_plate: str | None = None, liability: dict[str, str] | None = None) -> Answering:
    """The vehicle whose 交强险 pays this victim's costs (条例 3, 21, 24 [O]; domain.md §1-2).

    - The victim (``patient_id_number`` among the parties) is never a third party to the vehicle that carried
      them: its 交强险 never pays for its driver or occupants (条例 3, 21 [O]); another vehicle's does, and
      where none other answers the fund covers them (since 2022, domain.md §2 [S]).
    - Hit-and-run: only the fleeing vehicle answers (a ``fled`` party, or ``fled_vehicle.plate`` naming a
      party); while it is unknown the fund pays all (条例 24(3) [O]). An identified fleeing vehicle whose
      insurance nobody reported is treated as uninsured (the fund advances, then recovers).
    - Otherwise the motor vehicles other than the victim's own: ``named_plate`` when the bill names one,
      else the most liable once liability is decided, else the first the reports list (122 lists the
      vehicle that caused the crash first). Non-motor vehicles and pedestrians never carry 交强险.
    - ``liability``: plate -> degree (full, primary, equal, secondary, none) when decided.
    """
    from accidentlink.vehicles import FLED, is_motor_vehicle, own_vehicle_plate, plate_of, role_of

    liability = {plate_of(k): v for k, v in (liability or {}).items()}
    patient = None
    if patient_id_number:
        want = patient_id_number.strip().upper()
        patient = next((p for p in parties if (p.id_number or "").strip().upper() == want), None)
    role = role_of(patient) if patient else None
    own = own_vehicle_plate(patient) if patient else None
    motor = [p for p in parties if is_motor_vehicle(p) and plate_of(p.plate)]
    by_plate = {plate_of(p.plate): p for p in motor}
    reasons: list[str] = []

    def found(p: Party, *why: str, candidates: int = 1) -> Answering:
        plate = plate_of(p.plate)
        degree = liability.get(plate)
        return Answering(VehicleCover.from_party(p, hit_and_run=hit_and_run), plate, at_fault_of(degree), tuple(why),
                         role, candidates)

    if hit_and_run:
        fled = next((p for p in motor if role_of(p) == FLED), None)
        if fled is None and plate_of(fled_plate):
            fled = by_plate.get(plate_of(fled_plate))
            if fled is None:  # the plate is known, the vehicle's insurance is not
                return Answering(VehicleCover(has_ci=False, identified=True, hit_and_run=True), plate_of(fled_plate),
                                 None, ("hit_and_run_uninsured",), role)
        if fled is None or plate_of(fled.plate) == own:
            return Answering(VehicleCover(has_ci=False, identified=False, hit_and_run=True), None, None,
                             ("hit_and_run_vehicle_unknown",), role)
        return found(fled, "hit_and_run_insured" if fled.has_ci else "hit_and_run_uninsured")

    others = [p for p in motor if plate_of(p.plate) != own and role_of(p) != FLED] or \
        [p for p in motor if plate_of(p.plate) != own]
    if named_plate and plate_of(named_plate) != own and plate_of(named_plate) in by_plate:
        return found(by_plate[plate_of(named_plate)])
    if own is not None and own in by_plate and not others:
        # a single-vehicle crash: the victim's own vehicle only; its 交强险 does not cover them
        return Answering(VehicleCover(has_ci=False, identified=True, own_vehicle=True), own, None,
                         ("own_vehicle_not_third_party",), role)
    if others:
        if liability:
            rank = {d: i for i, d in enumerate(LIABILITY_DEGREES)}
            others = sorted(others, key=lambda p: rank.get(liability.get(plate_of(p.plate)) or "none", len(rank)))
        if own is not None and own in by_plate:
            reasons.append("other_vehicle_answers")
        return found(others[0], *reasons, candidates=len(others))
    victim = patient
    non_motor_liable = any(p is not victim and not is_motor_vehicle(p) and role_of(p) != "occupant" for p in parties)
    if non_motor_liable and not motor:
        return Answering(VehicleCover(has_ci=False, identified=True, motor_vehicle=False), None, None,
                         ("non_motor_party",), role)
    return Answering(VehicleCover(has_ci=False, identified=False), None, None, ("vehicle_unknown",), role)
