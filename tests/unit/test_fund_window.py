"""The rescue window and per-province rules (办法 MoF order 107, 2022; 试行办法 MoF order 56 [S])."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from importlib import resources

import pytest

from accidentlink.clock import CST
from fund.payer import VehicleCover, route_rescue_bill
from fund.provinces import UnknownProvince, check_rules, configured_provinces, province_rules
from fund.window import Bill, BillItem, fund_eligible_fen, rescue_window_end, split_by_window

START = datetime(2026, 3, 2, 8, 0, tzinfo=CST)
RULES_2026 = province_rules("default", date(2026, 3, 2))
RULES_2021 = province_rules("default", date(2021, 6, 1))


def bill(*items: tuple[int, timedelta | None], extended: bool = False, start: datetime = START) -> Bill:
    return Bill(start, tuple(BillItem(a, None if d is None else start + d) for a, d in items), extended)


def test_window_is_seven_days_from_2022():
    """办法 (MoF order 107, 2022) [S]: the first 7 days from the start of rescue."""
    assert RULES_2026.rescue_window == timedelta(days=7)
    assert rescue_window_end(START, RULES_2026) == START + timedelta(days=7)


def test_window_was_72_hours_before_2022():
    """试行办法 (MoF order 56) art. 12 [S]: 72 hours."""
    assert RULES_2021.rescue_window == timedelta(hours=72)
    assert province_rules("default", date(2021, 12, 31)).rescue_window == timedelta(hours=72)
    assert province_rules("default", date(2022, 1, 1)).rescue_window == timedelta(days=7)


def test_costs_after_the_seventh_day_are_not_the_funds():
    """办法 2022 [S]: the window is half-open, a cost at exactly 7 days is outside."""
    b = bill((1_000_000, timedelta(hours=1)), (200_000, timedelta(days=6, hours=23)), (300_000, timedelta(days=7)))
    s = split_by_window(b, RULES_2026)
    assert (s.inside_fen, s.outside_fen) == (1_200_000, 300_000)
    assert fund_eligible_fen(b, RULES_2026) == 1_200_000


def test_same_bill_under_the_72_hour_rule_leaves_more_outside():
    """试行办法 art. 12 [S]."""
    b = bill((1_000_000, timedelta(hours=1)), (200_000, timedelta(hours=80)))
    assert fund_eligible_fen(b, RULES_2021) == 1_000_000


def test_items_without_a_date_count_as_inside():
    b = bill((500_000, None), (100_000, timedelta(days=30)))
    assert fund_eligible_fen(b, RULES_2026) == 500_000


def test_hospital_written_reasons_extend_the_window():
    """办法 2022 [S]: longer only with the hospital's written reasons."""
    b = bill((1_000_000, timedelta(hours=1)), (300_000, timedelta(days=9)), extended=True)
    assert fund_eligible_fen(b, RULES_2026) == 1_300_000


def test_a_bare_amount_is_all_inside():
    assert fund_eligible_fen(250_000, RULES_2026) == 250_000


def test_routing_a_bill_applies_limit_then_window():
    """条例 24 [O] then 办法 2022 [S]: insurer takes the earliest costs, fund the in-window rest."""
    b = bill((2_500_000, timedelta(days=1)), (500_000, timedelta(days=10)))
    s = route_rescue_bill(b, vehicle=VehicleCover(has_ci=True, insurer_code="PICC"), rules=RULES_2026, at_fault=True)
    assert (s.insurer_fen, s.fund_fen, s.uncovered_fen) == (1_800_000, 700_000, 500_000)
    u = route_rescue_bill(b, vehicle=VehicleCover(has_ci=False), rules=RULES_2026)
    assert (u.insurer_fen, u.fund_fen, u.uncovered_fen) == (0, 2_500_000, 500_000)


def test_naive_times_on_a_bill_are_refused():
    with pytest.raises(ValueError):
        Bill(datetime(2026, 3, 2, 8), ())


def test_deadlines_are_versioned_review_five_days_before_2022_three_after():
    """试行办法 arts. 13, 15, 16 [S]; 办法 2022 [S]: review 5 -> 3 working days, payment within 2."""
    d21, d26 = RULES_2021.deadlines, RULES_2026.deadlines
    assert (d21.police_notice, d21.fund_review, d21.payment, d21.funeral_payment) == (3, 5, None, 3)
    assert (d26.police_notice, d26.fund_review, d26.payment, d26.funeral_payment) == (3, 3, 2, 3)


def test_shandong_overrides_only_what_it_lists():
    """[U] provincial settings: Shandong second approver above 50,000 yuan; window from the national rule."""
    sd = province_rules("Shandong", date(2026, 3, 2))
    assert sd.second_approval_threshold_fen == 5_000_000
    assert sd.rescue_window == timedelta(days=7) and sd.cash_cap_fen is None
    assert sd.may_apply("rescue", "victim") and not RULES_2026.may_apply("rescue", "victim")
    assert RULES_2026.second_approval_threshold_fen is None


def test_unknown_province_is_an_error_not_a_silent_default():
    with pytest.raises(UnknownProvince):
        province_rules("atlantis", date(2026, 3, 2))


def test_every_rule_entry_cites_a_source_and_all_versions_load():
    check_rules()
    doc = json.loads(resources.files("fund").joinpath("rules/provinces.json").read_text("utf-8"))
    assert {"default", "shandong"} <= set(configured_provinces())
    for p in doc["provinces"].values():
        assert p["source"]
        for v in p.values():
            for e in v if isinstance(v, list) else [v] if isinstance(v, dict) else []:
                assert e["source"], e
    hol = json.loads(resources.files("fund").joinpath("rules/holidays.json").read_text("utf-8"))
    assert all(y["source"] for y in hol["years"].values())
