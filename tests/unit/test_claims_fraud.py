"""Duplicate-claim flags for a person to review (never a decision); period and threshold are rules data [U]."""
from __future__ import annotations

from datetime import timedelta

import pytest

from claims.fraud import SAME_PERSON, SAME_PLATE, FraudRules, duplicate_flags, fraud_rules, fraud_rules_from_dict


def test_the_period_and_threshold_come_from_the_rules_file() -> None:
    rules = fraud_rules()
    assert (rules.period_days, rules.min_claims, rules.period) == (90, 2, timedelta(days=90))


def test_a_clean_claim_raises_no_flag() -> None:
    assert duplicate_flags((), ()) == []


def test_the_same_plate_or_person_in_other_claims_is_flagged_naming_the_claims() -> None:
    flags = duplicate_flags(("CLM-1", "CLM-2"), ("CLM-3",))
    assert [(f.code, f.claims) for f in flags] == [(SAME_PLATE, ("CLM-1", "CLM-2")), (SAME_PERSON, ("CLM-3",))]
    assert "90天" in flags[0].zh and "90 days" in flags[0].en and "review" in flags[1].en


def test_a_higher_threshold_needs_more_claims() -> None:
    rules = FraudRules(period_days=30, min_claims=3)
    assert duplicate_flags(("CLM-1",), ("CLM-2",), rules) == []
    assert [f.code for f in duplicate_flags(("CLM-1", "CLM-2"), (), rules)] == [SAME_PLATE]


@pytest.mark.parametrize("doc", [{"period_days": 0, "min_claims": 2}, {"period_days": 30, "min_claims": 1}])
def test_nonsense_rules_are_refused(doc: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        fraud_rules_from_dict(doc)
