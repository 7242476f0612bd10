"""Payer routing: every row of domain.md §1 (条例 22, 24 [O]; 道路交通安全法 75 [S])."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, strategies as st

from accidentlink.reports import Party
from fund.payer import CostKind, VehicleCover, route_bill
from fund.payer_reasons import PAYER_REASONS

DAY = date(2026, 11, 22)
INSURED = VehicleCover(has_ci=True, insurer_code="PICC")


def test_insured_vehicle_pays_a_bill_within_the_medical_limit():
    """条例 24 [O]: 交强险 first, up to the medical limit."""
    s = route_bill(1_200_000, vehicle=INSURED, accident_date=DAY, at_fault=True)
    assert (s.insurer_fen, s.fund_fen, s.uncovered_fen, s.insurer_code) == (1_200_000, 0, 0, "PICC")


def test_fund_pays_only_the_excess_over_the_medical_limit():
    """条例 24(1) [O]: the fund advances the costs above the 交强险 limit."""
    s = route_bill(2_500_000, vehicle=INSURED, accident_date=DAY, at_fault=True)
    assert (s.insurer_fen, s.fund_fen) == (1_800_000, 700_000)
    assert "above_ci_limit" in s.reasons and s.fund_recovers_fen == 700_000
    assert PAYER_REASONS["above_ci_limit"].source == "条例 24(1) [O]"


def test_fund_pays_all_when_the_vehicle_has_no_ci():
    """条例 24(2) [O]."""
    s = route_bill(2_500_000, vehicle=VehicleCover(has_ci=False), accident_date=DAY, at_fault=True)
    assert (s.insurer_fen, s.fund_fen, s.insurer_code) == (0, 2_500_000, None)
    assert s.reasons == ("no_ci",)


def test_hit_and_run_by_an_unknown_vehicle_is_all_the_funds_and_recovered_later():
    """条例 24(3) [O]; recovery once the driver is found (程序规定 48 [O])."""
    s = route_bill(900_000, vehicle=VehicleCover.from_party(None, hit_and_run=True), accident_date=DAY)
    assert (s.insurer_fen, s.fund_fen) == (0, 900_000)
    assert "hit_and_run_vehicle_unknown" in s.reasons
    assert s.fund_recovers_fen == 900_000 and not s.debtor_known


def test_hit_and_run_by_an_identified_uninsured_vehicle_is_all_the_funds():
    """条例 24(2)-(3) [O]."""
    v = VehicleCover(has_ci=False, hit_and_run=True)
    s = route_bill(900_000, vehicle=v, accident_date=DAY)
    assert (s.insurer_fen, s.fund_fen) == (0, 900_000) and "hit_and_run_uninsured" in s.reasons
    assert s.debtor_known


def test_hit_and_run_by_an_identified_insured_vehicle_uses_its_insurer_first():
    """domain.md §1: insurer within the limit, fund for any excess (条例 24 [O])."""
    v = VehicleCover(has_ci=True, insurer_code="CPIC", hit_and_run=True)
    s = route_bill(2_000_000, vehicle=v, accident_date=DAY, at_fault=True)
    assert (s.insurer_fen, s.fund_fen, s.insurer_code) == (1_800_000, 200_000, "CPIC")
    assert "hit_and_run_insured" in s.reasons


@pytest.mark.parametrize("flag", ["driver_unlicensed", "driver_drunk", "vehicle_stolen", "deliberate"])
def test_insurer_advances_within_the_limit_and_recovers_from_the_driver(flag: str):
    """条例 22 [O]: unlicensed, drunk, stolen or deliberate: insurer advances rescue costs, recovers."""
    v = VehicleCover(has_ci=True, insurer_code="PINGAN", **{flag: True})
    s = route_bill(2_500_000, vehicle=v, accident_date=DAY, at_fault=True)
    assert (s.insurer_fen, s.fund_fen) == (1_800_000, 700_000)
    assert s.insurer_recovers_fen == 1_800_000
    assert "insurer_advances_then_recovers" in s.reasons and flag in s.reasons


def test_insurer_pays_no_property_loss_in_the_article_22_situations():
    """条例 22 [O]: no property loss for a drunk driver's crash; never the fund (条例 24 [O])."""
    v = VehicleCover(has_ci=True, insurer_code="PICC", driver_drunk=True)
    s = route_bill(150_000, vehicle=v, accident_date=DAY, kind=CostKind.PROPERTY, at_fault=True)
    assert (s.insurer_fen, s.fund_fen, s.uncovered_fen) == (0, 0, 150_000)
    assert "insurer_pays_no_property_loss" in s.reasons


@pytest.mark.parametrize("vehicle", [INSURED, VehicleCover(has_ci=False), VehicleCover.from_party(None, hit_and_run=True)])
def test_property_loss_is_never_paid_by_the_fund(vehicle: VehicleCover):
    """条例 24 [O]: the fund advances rescue and funeral costs only."""
    s = route_bill(500_000, vehicle=vehicle, accident_date=DAY, kind=CostKind.PROPERTY, at_fault=True)
    assert s.fund_fen == 0 and "property_never_by_fund" in s.reasons
    if vehicle.insured:
        assert s.insurer_fen == 200_000  # property limit at fault: 2,000 yuan


def test_non_motor_party_sends_the_bill_to_basic_medical_insurance_first():
    """公交管〔2020〕161号 [S]: neither 交强险 nor the fund; basic medical insurance pays first."""
    s = route_bill(300_000, vehicle=VehicleCover(has_ci=False, motor_vehicle=False), accident_date=DAY)
    assert (s.insurer_fen, s.fund_fen, s.uncovered_fen) == (0, 0, 300_000)
    assert s.uncovered_payer == "basic_medical_insurance"


def test_not_at_fault_vehicle_uses_the_1800_yuan_limit():
    """银保监发〔2020〕41号 [S] (domain.md §2): not at fault, medical 1,800 yuan."""
    s = route_bill(500_000, vehicle=INSURED, accident_date=DAY, at_fault=False)
    assert (s.insurer_fen, s.fund_fen) == (180_000, 320_000)


def test_undetermined_fault_assumes_at_fault():
    """domain.md §1 routing: until liability is decided, the larger (at-fault) limit applies."""
    s = route_bill(2_500_000, vehicle=INSURED, accident_date=DAY, at_fault=None)
    assert s.insurer_fen == 1_800_000 and "fault_undetermined_assumed_at_fault" in s.reasons


def test_accident_on_2020_09_18_uses_the_10000_yuan_medical_limit():
    """保监发〔2008〕1号 [S]: medical 10,000 yuan before 2020-09-19."""
    s = route_bill(2_500_000, vehicle=INSURED, accident_date=date(2020, 9, 18), at_fault=True)
    assert (s.insurer_fen, s.fund_fen) == (1_000_000, 1_500_000)


def test_accident_on_2020_09_19_uses_the_18000_yuan_medical_limit():
    """银保监发〔2020〕41号 [S]: medical 18,000 yuan from 2020-09-19."""
    s = route_bill(2_500_000, vehicle=INSURED, accident_date=date(2020, 9, 19), at_fault=True)
    assert (s.insurer_fen, s.fund_fen) == (1_800_000, 700_000)


def test_medical_limit_is_shared_by_all_bills_of_the_accident():
    """domain.md §2: limits are per accident, shared by all victims."""
    s = route_bill(1_500_000, vehicle=INSURED, accident_date=DAY, at_fault=True, already_paid_by_insurer_fen=1_000_000)
    assert (s.insurer_fen, s.fund_fen) == (800_000, 700_000)
    used_up = route_bill(400_000, vehicle=INSURED, accident_date=DAY, at_fault=True,
                         already_paid_by_insurer_fen=1_800_000)
    assert (used_up.insurer_fen, used_up.fund_fen) == (0, 400_000) and "ci_limit_used_up" in used_up.reasons


def test_funeral_costs_use_the_death_and_disability_limit():
    """条例 24 [O]: the fund advances funeral costs above the insurer's death/disability limit."""
    s = route_bill(2_000_000, vehicle=INSURED, accident_date=DAY, at_fault=True, kind=CostKind.FUNERAL)
    assert (s.insurer_fen, s.fund_fen) == (2_000_000, 0)
    s = route_bill(2_000_000, vehicle=VehicleCover(has_ci=False), accident_date=DAY, kind=CostKind.FUNERAL)
    assert s.fund_fen == 2_000_000


def test_costs_outside_the_rescue_window_are_left_to_the_party_liable():
    """办法 (MoF order 107, 2022) [S]: the fund pays the in-window costs; the insurer takes the earliest."""
    s = route_bill(3_000_000, vehicle=INSURED, accident_date=DAY, at_fault=True, fund_eligible_fen=2_500_000)
    assert (s.insurer_fen, s.fund_fen, s.uncovered_fen) == (1_800_000, 700_000, 500_000)
    assert "outside_rescue_window" in s.reasons and s.uncovered_payer == "party_liable"


def test_a_provincial_cash_cap_limits_the_funds_share_per_victim():
    """[U] provincial cash cap (domain.md §3): configurable, counted with what the fund already advanced."""
    s = route_bill(2_000_000, vehicle=VehicleCover(has_ci=False), accident_date=DAY,
                   cash_cap_fen=1_500_000, already_routed_fund_fen=1_000_000)
    assert (s.fund_fen, s.uncovered_fen) == (500_000, 1_500_000) and "above_fund_cash_cap" in s.reasons


def test_vehicle_cover_reads_the_reports_party_flags():
    p = Party(plate="鲁P12345", insurer="PICC", ci_policy="PDZA1", licensed=False, drunk=True)
    v = VehicleCover.from_party(p)
    assert v.insured and v.insurer_code == "PICC" and v.exclusions == ("driver_unlicensed", "driver_drunk")
    assert not VehicleCover.from_party(Party(plate="鲁P1", insurer="PICC")).insured  # no policy number


def test_negative_or_float_amounts_are_refused():
    with pytest.raises(ValueError):
        route_bill(-1, vehicle=INSURED, accident_date=DAY)
    with pytest.raises(ValueError):
        route_bill(100.0, vehicle=INSURED, accident_date=DAY)  # type: ignore[arg-type]


vehicles = st.builds(
    VehicleCover, has_ci=st.booleans(), insurer_code=st.sampled_from([None, "PICC"]), identified=st.booleans(),
    hit_and_run=st.booleans(), driver_unlicensed=st.booleans(), driver_drunk=st.booleans(),
    vehicle_stolen=st.booleans(), deliberate=st.booleans(), motor_vehicle=st.booleans(),
)
fen = st.integers(min_value=0, max_value=50_000_000)


@given(bill=fen, vehicle=vehicles, day=st.dates(date(2008, 2, 1), date(2030, 12, 31)),
       at_fault=st.sampled_from([True, False, None]), kind=st.sampled_from(list(CostKind)),
       paid=fen, routed=fen, eligible=st.none() | fen, cap=st.none() | fen)
def test_split_adds_up_and_fund_never_pays_more_than_the_unpaid_excess(
        bill, vehicle, day, at_fault, kind, paid, routed, eligible, cap):
    """Style §5: splits add up; the fund pays at most the excess the insurer leaves unpaid."""
    s = route_bill(bill, vehicle=vehicle, accident_date=day, at_fault=at_fault, kind=kind,
                   already_paid_by_insurer_fen=paid, already_routed_fund_fen=routed,
                   fund_eligible_fen=eligible, cash_cap_fen=cap)
    assert s.insurer_fen + s.fund_fen + s.uncovered_fen == bill
    assert min(s.insurer_fen, s.fund_fen, s.uncovered_fen) >= 0
    assert s.fund_fen <= bill - s.insurer_fen
    assert s.insurer_fen <= max(0, s.limit_fen - paid) or s.insurer_fen == 0
    if eligible is not None:
        assert s.fund_fen <= eligible
    if cap is not None:
        assert s.fund_fen <= max(0, cap - routed)
    if kind is CostKind.PROPERTY:
        assert s.fund_fen == 0
    if not vehicle.insured:
        assert s.insurer_fen == 0
