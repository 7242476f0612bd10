"""Whose 交强险 answers for a victim, on which liability (``fund.payer.answering_vehicle``), and the split that
follows (``route_bill``): domain.md §1-3, 条例 3, 21, 23, 24 [O]. Pure rules, no store."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from accidentlink import vehicles
from accidentlink.reports import Party
from fund.payer import CostKind, answering_vehicle, at_fault_of, route_bill
from fund.payer_reasons import PAYER_REASONS

DAY = date(2026, 11, 22)
A = Party(name="张某", id_number="371502199001011234", plate="鲁P12345", vehicle_type="car", insurer="PICC",
          ci_policy="POL-A")
B = Party(name="王某", id_number="371502199202021234", plate="鲁P67890", vehicle_type="car", insurer="CPIC",
          ci_policy="POL-B")
OCCUPANT_OF_A = Party(name="赵某", id_number="371502200003031234", role="occupant", vehicle_plate="鲁P12345")
WALKER = Party(name="李某", id_number="371502198504041234", role="pedestrian")
RIDER = Party(name="孙某", id_number="371502199505051234", role="cyclist", vehicle_type="e_bike", plate="鲁P电0001")


def split(parties, patient=None, *, bill=2_500_000, liability=None, hit_and_run=False, fled=None, kind=CostKind.RESCUE):
    ans = answering_vehicle(parties, patient_id_number=patient, liability=liability, hit_and_run=hit_and_run,
                            fled_plate=fled)
    return ans, route_bill(bill, vehicle=ans.cover, accident_date=DAY, at_fault=ans.at_fault, kind=kind)


def test_liability_undetermined_is_provisional_on_the_at_fault_limit() -> None:
    ans, s = split([A, WALKER], WALKER.id_number)
    assert ans.provisional and ans.plate == "鲁P12345"
    assert (s.insurer_fen, s.fund_fen) == (1_800_000, 700_000) and "fault_undetermined_assumed_at_fault" in s.reasons


def test_a_driver_found_not_at_fault_owes_at_most_1800_yuan_and_the_fund_the_rest() -> None:
    ans, s = split([A, WALKER], WALKER.id_number, liability={"鲁P12345": "none"})
    assert not ans.provisional and ans.at_fault is False
    assert (s.insurer_fen, s.fund_fen, s.uncovered_fen) == (180_000, 2_320_000, 0)
    assert "insured_not_at_fault" in s.reasons and "above_ci_limit" in s.reasons


def test_before_2020_09_19_the_not_at_fault_medical_limit_is_1000_yuan() -> None:
    ans = answering_vehicle([A, WALKER], patient_id_number=WALKER.id_number, liability={"鲁P12345": "none"})
    s = route_bill(500_000, vehicle=ans.cover, accident_date=date(2020, 9, 18), at_fault=ans.at_fault)
    assert s.insurer_fen == 100_000


@pytest.mark.parametrize("degree,at_fault", [("full", True), ("primary", True), ("equal", True), ("secondary", True),
                                             ("none", False), (None, None)])
def test_every_share_of_liability_is_at_fault_except_none(degree, at_fault) -> None:
    assert at_fault_of(degree) is at_fault


def test_an_occupant_of_the_insured_car_is_not_its_third_party_the_other_car_answers() -> None:
    ans, s = split([A, B, OCCUPANT_OF_A], OCCUPANT_OF_A.id_number)
    assert ans.plate == "鲁P67890" and s.insurer_code == "CPIC" and "other_vehicle_answers" in ans.reasons


def test_an_occupant_of_the_only_vehicle_is_covered_by_the_fund_never_by_its_own_insurer() -> None:
    ans, s = split([A, OCCUPANT_OF_A], OCCUPANT_OF_A.id_number)
    assert s.insurer_fen == 0 and s.insurer_code is None and s.fund_fen == 2_500_000
    assert "own_vehicle_not_third_party" in s.reasons


def test_the_driver_of_a_single_vehicle_crash_is_not_paid_by_their_own_policy() -> None:
    _, s = split([A], A.id_number)
    assert s.insurer_fen == 0 and s.fund_fen == 2_500_000


def test_a_hit_and_run_with_the_fleeing_vehicle_unknown_goes_all_to_the_fund_not_the_victims_car() -> None:
    ans, s = split([A], A.id_number, hit_and_run=True)
    assert ans.plate is None and (s.insurer_fen, s.fund_fen) == (0, 2_500_000)
    assert s.reasons[0] == "hit_and_run_vehicle_unknown" and not ans.provisional
    _, s = split([A, WALKER], WALKER.id_number, hit_and_run=True)  # the listed car is the victim's side, not the fled one
    assert s.insurer_fen == 0 and s.fund_fen == 2_500_000


def test_an_identified_insured_fleeing_vehicle_pays_within_its_limit() -> None:
    fled = Party(plate="鲁P99999", role="fled", insurer="PINGAN", ci_policy="POL-F")
    ans, s = split([fled, WALKER], WALKER.id_number, hit_and_run=True)
    assert ans.plate == "鲁P99999" and s.insurer_code == "PINGAN" and s.insurer_fen == 1_800_000
    _, s = split([A, WALKER], WALKER.id_number, hit_and_run=True, fled="鲁P88888")  # plate known, insurance not
    assert s.insurer_fen == 0 and "hit_and_run_uninsured" in s.reasons


def test_the_most_liable_vehicle_answers_once_liability_is_decided() -> None:
    ans, _ = split([A, B, WALKER], WALKER.id_number, liability={"鲁P12345": "secondary", "鲁P67890": "primary"})
    assert ans.plate == "鲁P67890" and ans.at_fault is True


def test_a_victim_hit_by_a_cyclist_only_goes_to_basic_medical_insurance() -> None:
    _, s = split([RIDER, WALKER], WALKER.id_number)
    assert s.reasons == ("non_motor_party",) and s.uncovered_payer == "basic_medical_insurance"


def test_funeral_costs_take_the_death_and_disability_limit_first() -> None:
    _, s = split([A, WALKER], WALKER.id_number, bill=5_000_000, kind=CostKind.FUNERAL)
    assert s.insurer_fen == 5_000_000 and s.fund_fen == 0 and "ci_death_disability_first" in s.reasons
    _, s = split([A, WALKER], WALKER.id_number, bill=5_000_000, kind=CostKind.FUNERAL, liability={"鲁P12345": "none"})
    assert (s.insurer_fen, s.fund_fen) == (1_800_000, 3_200_000)  # not at fault: 18,000 yuan death limit


# ---------------------------------------------------------------- one non-motor list
@pytest.mark.parametrize("party,motor", [
    (Party(plate="鲁P电0001", vehicle_type="e_bike"), False), (Party(plate="鲁P00001", vehicle_type="电动自行车"), False),
    (Party(vehicle_type="bicycle"), False), (Party(vehicle_type="tricycle"), False), (RIDER, False),
    (WALKER, False), (OCCUPANT_OF_A, False), (Party(plate="鲁P12345"), True), (Party(vehicle_type="truck"), True),
    (Party(name="某"), False)])
def test_a_plate_never_makes_a_non_motor_vehicle_a_motor_vehicle(party, motor) -> None:
    assert vehicles.is_motor_vehicle(party) is motor


def test_no_context_keeps_a_non_motor_list_of_its_own() -> None:
    root = Path(__file__).resolve().parents[2]
    for folder in ("fund", "claims", "hospitals", "dispatch"):
        for f in (root / folder).rglob("*.py"):
            text = f.read_text("utf-8")
            assert not re.search(r'"(e_bike|electric_bicycle|ebike)"', text), f"{f} lists non-motor types itself"


def test_every_reason_code_routing_emits_has_chinese_and_english() -> None:
    root = Path(__file__).resolve().parents[2]
    text = (root / "fund" / "payer.py").read_text("utf-8") + (root / "hospitals" / "services.py").read_text("utf-8")
    emitted = set(re.findall(r'reasons\.append\("([a-z_]+)"', text)) | set(re.findall(r'\("([a-z_]+)",\)', text))
    emitted |= set(re.findall(r'"(hit_and_run_[a-z_]+|own_vehicle_[a-z_]+|other_vehicle_answers|rerouted_on_liability)"',
                              text))
    assert emitted and emitted <= set(PAYER_REASONS), emitted - set(PAYER_REASONS)
    for r in PAYER_REASONS.values():
        assert r.zh and r.en and r.source and re.search(r"[\u4e00-\u9fff]", r.zh), r.code
