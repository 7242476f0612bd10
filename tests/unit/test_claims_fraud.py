"""Duplicate-claim flags for a person to review (never a decision); window configurable [U]."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from claims.fraud import POLICE_OUTCOME_MISMATCH, SAME_PERSON, SAME_PLATE, ClaimFacts, duplicate_flags, fraud_rules

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 22, 9, tzinfo=CST)


def facts(claim_id: str, days_ago: float = 0, **kw) -> ClaimFacts:
    return ClaimFacts(claim_id=claim_id, accident_at=T0 - timedelta(days=days_ago), **kw)


NEW = facts("CLM-NEW", plates=("鲁P11111",), id_numbers=("371502199001011234",), phones=("+8613900000001",))


def test_a_clean_claim_raises_no_flag():
    assert duplicate_flags(NEW, [facts("CLM-1", 3, plates=("鲁P99999",))], period_days=30) == []


def test_the_same_plate_in_another_claim_within_the_period_is_flagged():
    flags = duplicate_flags(NEW, [facts("CLM-1", 10, plates=("鲁 P11111",)), facts("CLM-2", 20, plates=("鲁p11111",))],
                            period_days=30)
    assert [(f.kind, f.related_claim_ids) for f in flags] == [(SAME_PLATE, ("CLM-1", "CLM-2"))]
    assert "鲁P11111" in flags[0].zh and "review" in flags[0].en


def test_claims_outside_the_period_are_not_counted():
    assert duplicate_flags(NEW, [facts("CLM-1", 31, plates=("鲁P11111",))], period_days=30) == []
    assert duplicate_flags(NEW, [facts("CLM-1", 31, plates=("鲁P11111",))], period_days=60)


def test_the_same_person_by_id_number_or_phone_is_flagged_with_masked_data():
    others = [facts("CLM-1", 5, id_numbers=("371502199001011234",)), facts("CLM-2", 6, phones=("13900000001",))]
    flags = duplicate_flags(NEW, others, period_days=30)
    assert {(f.kind, f.related_claim_ids) for f in flags} == {(SAME_PERSON, ("CLM-1",)), (SAME_PERSON, ("CLM-2",))}
    text = " ".join(f.zh + f.en for f in flags)
    assert "371502199001011234" not in text and "13900000001" not in text


def test_the_new_claim_itself_is_not_its_own_duplicate():
    assert duplicate_flags(NEW, [NEW], period_days=30) == []


def test_a_higher_threshold_needs_more_claims():
    others = [facts("CLM-1", 5, plates=("鲁P11111",))]
    assert duplicate_flags(NEW, others, period_days=30, min_claims=3) == []
    with pytest.raises(ValueError):
        duplicate_flags(NEW, others, period_days=30, min_claims=1)


def test_a_claim_the_police_closed_as_something_else_is_flagged():
    new = facts("CLM-NEW", claimed_form="rear_end_collision", police_closed_as="side_collision")
    [flag] = duplicate_flags(new, [], period_days=30)
    assert flag.kind == POLICE_OUTCOME_MISMATCH and "side_collision" in flag.en


def test_a_claim_the_police_closed_as_no_accident_is_flagged_even_without_a_stated_form():
    [flag] = duplicate_flags(facts("CLM-NEW", police_closed_as="not_traffic_accident"), [], period_days=30)
    assert flag.kind == POLICE_OUTCOME_MISMATCH


def test_a_matching_police_outcome_is_not_flagged():
    new = facts("CLM-NEW", claimed_form="rear_end_collision", police_closed_as="rear_end_collision")
    assert duplicate_flags(new, [], period_days=30) == []


def test_the_default_period_comes_from_configuration():
    rules = fraud_rules()
    inside = [facts("CLM-1", rules.period_days - 1, plates=("鲁P11111",))]
    outside = [facts("CLM-1", rules.period_days + 1, plates=("鲁P11111",))]
    assert duplicate_flags(NEW, inside) and not duplicate_flags(NEW, outside)
