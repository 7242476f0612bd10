"""The police's and the parties' working-day timers (程序规定, domain.md §4; dispatch/rules/police_timers.json)."""
from __future__ import annotations

from datetime import datetime, timedelta

from accidentlink.clock import CST
from dispatch.police_timers import police_timer_rules, police_timers

MON = datetime(2026, 11, 23, 9, 0, tzinfo=CST)  # a Monday in a year the holiday calendar covers


def _by(timers):  # type: ignore[no-untyped-def]
    return {t.timer: t for t in timers}


def test_a_crash_with_casualties_has_10_working_days_for_the_determination_and_is_overdue_after() -> None:
    t = _by(police_timers(MON, True, [], MON + timedelta(days=1)))
    assert set(t) == {"determination_ordinary"}
    assert t["determination_ordinary"].due.date().isoformat() == "2026-12-07"  # 10 working days after Monday
    assert t["determination_ordinary"].state == "running" and not t["determination_ordinary"].flagged
    late = _by(police_timers(MON, True, [], datetime(2026, 12, 8, 9, 0, tzinfo=CST)))["determination_ordinary"]
    assert late.state == "overdue" and late.flagged
    last_day = _by(police_timers(MON, True, [], datetime(2026, 12, 7, 9, 0, tzinfo=CST)))["determination_ordinary"]
    assert last_day.state == "due"


def test_a_property_only_crash_has_3_working_days_and_a_determination_ends_it() -> None:
    t = _by(police_timers(MON, False, [], MON))
    assert set(t) == {"determination_simplified"} and t["determination_simplified"].due.day == 26
    done = _by(police_timers(MON, False, [("quick_outcome", MON + timedelta(hours=2))], MON + timedelta(days=30)))
    assert done["determination_simplified"].state == "done"


def test_after_the_determination_the_parties_have_3_days_to_ask_for_a_review_and_10_for_mediation() -> None:
    at = MON + timedelta(hours=2)
    t = _by(police_timers(MON, True, [("liability_recorded", at)], MON + timedelta(days=1)))
    assert t["review_request"].due.date().isoformat() == "2026-11-26" and t["mediation_request"].state == "running"
    later = _by(police_timers(MON, True, [("liability_recorded", at)], MON + timedelta(days=6)))
    assert later["review_request"].state == "expired" and later["review_request"].owner == "parties"


def test_a_review_request_starts_the_police_30_working_days_to_decide() -> None:
    det, req = MON + timedelta(hours=2), MON + timedelta(days=1)
    t = _by(police_timers(MON, True, [("liability_recorded", det), ("liability_review_requested", req)],
                          MON + timedelta(days=2)))
    assert t["review_request"].state == "done" and t["review_decision"].state == "running"
    decided = _by(police_timers(MON, True, [("liability_recorded", det), ("liability_review_requested", req),
                                            ("liability_review_decided", req + timedelta(days=3))],
                                MON + timedelta(days=90)))
    assert decided["review_decision"].state == "done"
    late = _by(police_timers(MON, True, [("liability_recorded", det), ("liability_review_requested", req)],
                             MON + timedelta(days=90)))
    assert late["review_decision"].state == "overdue"


def test_a_timer_counted_through_a_year_the_calendar_does_not_cover_is_flagged() -> None:
    start = datetime(2028, 3, 1, 9, 0, tzinfo=CST)
    (t,) = police_timers(start, True, [], start)
    assert t.calendar_years == (2028,) and t.flagged and t.to_json()["calendar_years"] == [2028]


def test_every_timer_cites_its_source() -> None:
    rules = police_timer_rules()
    assert {r.timer: r.working_days for r in rules.timers} == {
        "determination_simplified": 3, "determination_ordinary": 10, "review_request": 3, "review_decision": 30,
        "mediation_request": 10}
    assert all("程序规定" in r.source for r in rules.timers)
