"""Working-day timers across the 2026 holidays and make-up days (国务院办公厅 holiday notices)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from accidentlink.clock import CST
from fund.workdays import (
    add_working_days, calendar_from_dict, default_calendar, is_working_day, working_days_between,
)


def cst(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CST)


def end_of(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 23, 59, 59, tzinfo=CST)


def test_national_day_2026_holidays_are_not_working_days():
    # 2026 notice (2025-11-04): 10-01..10-07 off, 09-20 (Sun) and 10-10 (Sat) worked.
    assert not any(is_working_day(date(2026, 10, d)) for d in range(1, 8))
    assert is_working_day(date(2026, 9, 20))
    assert is_working_day(date(2026, 10, 10))
    assert not is_working_day(date(2026, 10, 11))


def test_spring_festival_2026_holidays_and_makeup_saturdays():
    # 2026 notice: 02-15..02-23 off, 02-14 (Sat) and 02-28 (Sat) worked.
    assert not any(is_working_day(date(2026, 2, d)) for d in range(15, 24))
    assert is_working_day(date(2026, 2, 14)) and is_working_day(date(2026, 2, 28))
    assert is_working_day(date(2026, 2, 24))


def test_2025_makeup_days_follow_the_2025_notice():
    # 国办发明电〔2024〕12号: 01-26 (Sun), 02-08 (Sat), 04-27 (Sun), 09-28 (Sun), 10-11 (Sat) worked.
    for d in (date(2025, 1, 26), date(2025, 2, 8), date(2025, 4, 27), date(2025, 9, 28), date(2025, 10, 11)):
        assert is_working_day(d)
    assert not is_working_day(date(2025, 10, 8))


def test_2027_is_marked_unconfirmed_until_its_notice():
    cal = default_calendar()
    assert 2027 in cal.unconfirmed_years and 2026 not in cal.unconfirmed_years
    assert not is_working_day(date(2027, 2, 8))  # 春节 statutory day (国务院令第795号)


def test_three_working_days_from_the_eve_of_national_day_end_on_the_makeup_saturday():
    # 3 working days after Wed 09-30: Thu 10-08, Fri 10-09, Sat 10-10 (make-up day).
    assert add_working_days(cst(2026, 9, 30), 3) == end_of(2026, 10, 10)


def test_a_makeup_sunday_counts_as_the_first_working_day():
    # Handled Sat 09-19: Sun 09-20 (make-up), Mon 09-21, Tue 09-22.
    assert add_working_days(cst(2026, 9, 19), 3) == end_of(2026, 9, 22)


def test_two_working_days_skip_the_mid_autumn_weekend():
    # Approved Thu 09-24: 09-25..27 off -> Mon 09-28, Tue 09-29.
    assert add_working_days(cst(2026, 9, 24), 2) == end_of(2026, 9, 29)


def test_review_across_spring_festival_counts_the_makeup_saturday_then_resumes_after():
    # Applied Fri 02-13: Sat 02-14 (make-up) = 1, holiday to 02-23, Tue 02-24 = 2, Wed 02-25 = 3.
    assert add_working_days(cst(2026, 2, 13), 3) == end_of(2026, 2, 25)
    # Applied Thu 02-26: Fri 02-27, Sat 02-28 (make-up), Mon 03-02.
    assert add_working_days(cst(2026, 2, 26), 3) == end_of(2026, 3, 2)


def test_days_are_counted_in_china_time_and_the_callers_offset_is_kept():
    # 2026-09-30T20:00Z is already 10-01 in China: the start day is the holiday 10-01.
    start = datetime(2026, 9, 30, 20, 0, tzinfo=timezone.utc)
    due = add_working_days(start, 3)
    assert due.utcoffset() == timedelta(0)
    assert due == end_of(2026, 10, 10)


def test_the_start_day_does_not_count():
    # 民法典 201: a period in days starts the day after.
    assert add_working_days(cst(2026, 11, 23), 1) == end_of(2026, 11, 24)
    assert add_working_days(cst(2026, 11, 23), 0) == end_of(2026, 11, 23)


def test_naive_datetimes_and_negative_counts_are_refused():
    with pytest.raises(ValueError):
        add_working_days(datetime(2026, 1, 5, 9), 1)
    with pytest.raises(ValueError):
        add_working_days(cst(2026, 1, 5), -1)


def test_working_days_between_spans_national_day():
    assert working_days_between(cst(2026, 9, 30), cst(2026, 10, 10)) == 3
    assert working_days_between(cst(2026, 10, 10), cst(2026, 9, 30)) == 0


def test_years_outside_the_calendar_fall_back_to_monday_to_friday():
    cal = default_calendar()
    assert not cal.covers(date(2028, 1, 3))
    assert is_working_day(date(2028, 1, 3)) and not is_working_day(date(2028, 1, 8))


def test_a_calendar_whose_makeup_day_is_a_weekday_is_rejected():
    doc = {"years": {"2026": {"source": "x", "holidays": [], "working_days": ["2026-01-05"]}}}
    with pytest.raises(ValueError):
        calendar_from_dict(doc)


@given(st.dates(date(2025, 1, 1), date(2027, 12, 1)), st.integers(min_value=1, max_value=25))
def test_add_then_count_working_days_round_trips(day: date, n: int):
    start = datetime.combine(day, datetime.min.time(), tzinfo=CST) + timedelta(hours=9)
    due = add_working_days(start, n)
    assert working_days_between(start, due) == n
    assert is_working_day(due.date())
