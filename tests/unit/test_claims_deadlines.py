"""Insurer deadlines: 条例 28-29 [O] (1, 5, 10 days); calendar days by default [U]; the period ends at
24:00 of its last day, the starting day not counted (民法典 201, 203 [S])."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from importlib import resources

import pytest

from claims.deadlines import ClaimTimestamps, claim_deadlines, deadline_rules, overdue, rules_from_dict

CST = timezone(timedelta(hours=8))
OPENED = datetime(2026, 11, 20, 10, 0, tzinfo=CST)  # a Friday


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=CST)


def shipped() -> dict:
    return json.loads(resources.files("claims").joinpath("rules/deadlines.json").read_text("utf-8"))


def test_every_step_in_the_shipped_rules_cites_its_source():
    rules = deadline_rules()
    assert {s.step: s.days for s in rules.steps} == {"list_documents": 1, "decide_cover": 5, "pay": 10}
    assert all("条例 2" in s.source for s in rules.steps) and rules.day_kind == "calendar"


def test_documents_are_listed_by_the_end_of_the_day_after_the_claim():
    """条例 28 [O]: within 1 day; a claim on Fri 20 Nov 10:00 is due by 24:00 Sat 21 Nov."""
    due = claim_deadlines(ClaimTimestamps(opened_at=OPENED))
    assert list(due) == ["list_documents"] and due["list_documents"].due == at(22)


def test_cover_is_due_five_calendar_days_after_complete_documents():
    """条例 29 [O]."""
    ts = ClaimTimestamps(opened_at=OPENED, documents_requested_at=at(20, 15), documents_complete_at=at(23, 9))
    assert claim_deadlines(ts)["decide_cover"].due == at(29)


def test_payment_is_due_ten_days_after_the_agreement():
    """条例 29 [O]."""
    ts = ClaimTimestamps(opened_at=OPENED, agreed_at=datetime(2026, 11, 25, 16, tzinfo=CST))
    assert claim_deadlines(ts)["pay"].due == datetime(2026, 12, 6, tzinfo=CST)


def test_a_step_whose_clock_has_not_started_has_no_deadline():
    assert "pay" not in claim_deadlines(ClaimTimestamps(opened_at=OPENED))


def test_days_are_counted_in_china_time_whatever_the_offset_given():
    """01:00 UTC on 20 Nov is 09:00 China time on 20 Nov; 17:00 UTC on 20 Nov is already 21 Nov in China."""
    late = datetime(2026, 11, 20, 17, 0, tzinfo=timezone.utc)
    assert claim_deadlines(ClaimTimestamps(opened_at=late))["list_documents"].due == at(23)


def test_an_open_step_past_its_due_time_is_overdue():
    ts = ClaimTimestamps(opened_at=OPENED)
    assert overdue(ts, now=at(21, 23)) == []
    late = overdue(ts, now=at(22, 1))
    assert [(o.step, o.still_open) for o in late] == [("list_documents", True)]


def test_a_step_done_late_is_reported_as_done_late():
    ts = ClaimTimestamps(opened_at=OPENED, documents_requested_at=at(22, 9))
    [o] = overdue(ts, now=at(30))
    assert o.step == "list_documents" and o.done_at == at(22, 9) and not o.still_open


def test_a_step_done_in_time_is_not_overdue():
    ts = ClaimTimestamps(opened_at=OPENED, documents_requested_at=at(21, 23))
    assert overdue(ts, now=at(30)) == []


def test_working_days_skip_weekends_and_configured_holidays():
    """Configurable [U]: 1 working day from Friday ends Monday; a holiday Monday pushes it to Tuesday."""
    doc = shipped() | {"day_kind": "working"}
    assert claim_deadlines(ClaimTimestamps(opened_at=OPENED), rules_from_dict(doc))["list_documents"].due == at(24)
    doc["holidays"] = ["2026-11-23"]
    assert claim_deadlines(ClaimTimestamps(opened_at=OPENED), rules_from_dict(doc))["list_documents"].due == at(25)
    doc["extra_workdays"] = ["2026-11-21"]
    assert claim_deadlines(ClaimTimestamps(opened_at=OPENED), rules_from_dict(doc))["list_documents"].due == at(22)


def test_elapsed_counting_is_an_option():
    doc = shipped() | {"period_end": "elapsed"}
    due = claim_deadlines(ClaimTimestamps(opened_at=OPENED), rules_from_dict(doc))["list_documents"].due
    assert due == OPENED + timedelta(days=1)


def test_a_rule_without_a_source_is_refused():
    doc = shipped()
    doc["steps"][0]["source"] = ""
    with pytest.raises(ValueError, match="source"):
        rules_from_dict(doc)


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        claim_deadlines(ClaimTimestamps(opened_at=datetime(2026, 11, 20, 10)))
