"""交强险 settlement (条例 21, 23 [O]; limits domain.md §2 [S]), knock-for-knock (domain.md §4 [S]),
hospital direct payment (赔付前置, domain.md §5 [S])."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from accidentlink.reports import Party
from claims.settlement import (
    KnockForKnockRules, ci_settlement, hospital_direct_payment, knock_for_knock_applies,
    knock_for_knock_reasons,
)

CST = timezone(timedelta(hours=8))
OLD, NEW = date(2020, 9, 18), date(2020, 9, 19)


@pytest.mark.parametrize("day, at_fault, limits", [
    (OLD, True, (11_000_000, 1_000_000, 200_000)),
    (NEW, True, (18_000_000, 1_800_000, 200_000)),
    (OLD, False, (1_100_000, 100_000, 10_000)),
    (NEW, False, (1_800_000, 180_000, 10_000)),
])
def test_the_limits_in_force_on_the_accident_date_apply(day, at_fault, limits):
    """银保监发〔2020〕41号 [S]: new limits from 2020-09-19; accidents the day before keep the old ones."""
    s = ci_settlement(day, at_fault, medical_fen=10**9, death_disability_fen=10**9, property_fen=10**9)
    assert (s.death_disability.paid_by_ci_fen, s.medical.paid_by_ci_fen, s.property.paid_by_ci_fen) == limits
    assert s.limits.effective_from == (OLD.replace(year=2008, month=2, day=1) if day == OLD else NEW)


def test_the_limit_version_follows_the_china_time_date_of_the_accident():
    """23:30 on 18 Sep in UTC is 07:30 on 19 Sep in China: the new limits."""
    s = ci_settlement(datetime(2020, 9, 18, 23, 30, tzinfo=timezone.utc), True, 2_000_000, 0, 0)
    assert s.medical.paid_by_ci_fen == 1_800_000 and s.medical.excess_fen == 200_000


def test_amounts_within_the_limits_are_paid_in_full():
    s = ci_settlement(NEW, True, medical_fen=1_200_000, death_disability_fen=0, property_fen=150_000)
    assert s.paid_by_ci_fen == 1_350_000 and s.excess_fen == 0


def test_the_excess_per_category_is_reported():
    s = ci_settlement(NEW, True, medical_fen=2_500_000, death_disability_fen=0, property_fen=300_000)
    assert (s.medical.excess_fen, s.property.excess_fen) == (700_000, 100_000)


def test_earlier_victims_use_up_the_shared_per_accident_limit():
    s = ci_settlement(NEW, True, 1_000_000, 0, 0, already_paid_medical_fen=1_500_000)
    assert (s.medical.limit_remaining_fen, s.medical.paid_by_ci_fen, s.medical.excess_fen) == (300_000, 300_000, 700_000)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "100"])
def test_amounts_must_be_whole_non_negative_fen(bad):
    with pytest.raises((ValueError, TypeError)):
        ci_settlement(NEW, True, bad, 0, 0)


@given(st.integers(0, 10**10), st.integers(0, 10**10), st.integers(0, 10**10), st.booleans(),
       st.sampled_from([OLD, NEW]))
def test_paid_plus_excess_always_equals_the_claim(med, dd, prop, at_fault, day):
    s = ci_settlement(day, at_fault, med, dd, prop)
    for cat, claimed in ((s.medical, med), (s.death_disability, dd), (s.property, prop)):
        assert cat.paid_by_ci_fen + cat.excess_fen == claimed and cat.paid_by_ci_fen <= cat.limit_remaining_fen


def test_hospital_is_paid_up_front_within_the_remaining_medical_limit():
    assert hospital_direct_payment(2_500_000, 1_800_000) == (1_800_000, 700_000)
    assert hospital_direct_payment(500_000, 1_800_000) == (500_000, 0)
    assert hospital_direct_payment(500_000, 0).excess_fen == 500_000


def car(plate: str, insured: bool = True) -> Party:
    return Party(plate=plate, vehicle_type="car", insurer="PICC" if insured else None,
                 ci_policy=f"POL-{plate}" if insured else None)


A, B = car("鲁P11111"), car("鲁P22222")


def test_knock_for_knock_applies_to_two_insured_cars_with_small_losses_both_at_fault_and_agreed():
    assert knock_for_knock_applies([A, B], {"鲁P11111": 200_000, "鲁P22222": 80_000}, both_at_fault=True, agreed=True)


@pytest.mark.parametrize("parties, losses, at_fault, agreed, kw, code", [
    ([A, B], {"鲁P11111": 200_001, "鲁P22222": 1}, True, True, {}, "loss_above_threshold"),
    ([A, car("鲁P22222", insured=False)], {"鲁P11111": 1, "鲁P22222": 1}, True, True, {}, "no_compulsory_insurance"),
    ([A], {"鲁P11111": 1}, True, True, {}, "vehicles"),
    ([A, B], {"鲁P11111": 1, "鲁P22222": 1}, False, True, {}, "not_both_at_fault"),
    ([A, B], {"鲁P11111": 1, "鲁P22222": 1}, True, False, {}, "not_agreed"),
    ([A, B], {"鲁P11111": 1}, True, True, {}, "loss_unknown"),
    ([A, B], {"鲁P11111": 1, "鲁P22222": 1}, True, True, {"vehicle_damage_only": False}, "not_vehicle_damage_only"),
], ids=["loss above 2000 yuan", "one uninsured", "single vehicle", "one not at fault", "not agreed",
        "loss not assessed", "other losses"])
def test_knock_for_knock_does_not_apply_when_a_condition_fails(parties, losses, at_fault, agreed, kw, code):
    assert not knock_for_knock_applies(parties, losses, at_fault, agreed, **kw)
    assert code in [r.code for r in knock_for_knock_reasons(parties, losses, at_fault, agreed, **kw)]


def test_the_knock_for_knock_threshold_is_configurable():
    rules = KnockForKnockRules(min_vehicles=2, max_loss_per_party_fen=300_000, source="test")
    assert knock_for_knock_applies([A, B], {"鲁P11111": 250_000, "鲁P22222": 1}, True, True, rules=rules)
