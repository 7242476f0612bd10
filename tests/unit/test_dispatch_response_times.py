"""dispatch.response_times: figures per order, late completed steps, and late open steps."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta, timezone

import pytest

from accidentlink.clock import CST
from dispatch.response_times import Timestamps, is_night, overdue_steps, response_figures
from dispatch.targets import default_targets

DAY = datetime(2026, 11, 22, 10, 0, 0, tzinfo=CST)
NIGHT = datetime(2026, 11, 22, 23, 30, 0, tzinfo=CST)


def at(base: datetime, s: int) -> datetime:
    return base + timedelta(seconds=s)


def test_figures_of_a_complete_ambulance_run():
    ts = Timestamps("120", DAY, at(DAY, 30), at(DAY, 50), at(DAY, 120), at(DAY, 600), at(DAY, 1500))
    f = response_figures(ts)
    assert (f.intake_to_order_s, f.order_to_ack_s, f.order_to_out_s, f.order_to_on_scene_s,
            f.intake_to_on_scene_s, f.on_scene_to_hospital_s) == (30, 20, 90, 570, 600, 900)
    assert f.overdue == () and not f.night


def test_ambulance_out_after_three_minutes_is_flagged_with_its_source():
    ts = Timestamps("120", DAY, at(DAY, 10), at(DAY, 20), at(DAY, 10 + 181), at(DAY, 500))
    (late,) = response_figures(ts).overdue
    assert (late.step, late.elapsed_s, late.target_s) == ("out", 181, 180)
    assert "3 min" in late.source and "[S]" in late.source


def test_ambulance_response_is_measured_from_the_call_against_15_minutes():
    ts = Timestamps("120", DAY, at(DAY, 40), at(DAY, 50), at(DAY, 100), at(DAY, 901))
    assert [o.step for o in response_figures(ts).overdue] == ["on_scene"]


def test_police_on_scene_target_is_5_minutes_by_day_and_10_at_night():
    day = Timestamps("122", DAY, at(DAY, 10), at(DAY, 20), at(DAY, 30), at(DAY, 10 + 400))
    night = Timestamps("122", NIGHT, at(NIGHT, 10), at(NIGHT, 20), at(NIGHT, 30), at(NIGHT, 10 + 400))
    assert [(o.step, o.target_s) for o in response_figures(day).overdue] == [("on_scene", 300)]
    assert response_figures(night).overdue == () and response_figures(night).night


def test_night_wraps_midnight_in_china_standard_time():
    assert is_night(datetime(2026, 1, 1, 5, 59, tzinfo=CST))
    assert not is_night(datetime(2026, 1, 1, 6, 0, tzinfo=CST))
    assert is_night(datetime(2026, 1, 1, 22, 0, tzinfo=CST))
    assert is_night(datetime(2026, 1, 1, 15, 0, tzinfo=timezone.utc))  # 23:00 CST
    daytime_only = replace(default_targets(), night_start=time(1, 0), night_end=time(5, 0))
    assert not is_night(datetime(2026, 1, 1, 23, 0, tzinfo=CST), daytime_only)


def test_open_order_not_acknowledged_in_time_is_listed_for_escalation():
    ts = Timestamps("122", DAY, ordered_at=at(DAY, 20))
    assert overdue_steps(ts, at(DAY, 20 + 60)) == ()
    (late,) = overdue_steps(ts, at(DAY, 20 + 61))
    assert (late.step, late.elapsed_s, late.target_s) == ("acknowledge", 61, 60)


def test_open_steps_late_now_are_listed_and_done_steps_are_not():
    ts = Timestamps("120", DAY, ordered_at=at(DAY, 10), acknowledged_at=at(DAY, 30))
    assert [o.step for o in overdue_steps(ts, at(DAY, 200))] == ["out"]
    assert [o.step for o in overdue_steps(ts, at(DAY, 1000))] == ["out", "on_scene"]
    moving = replace(ts, out_at=at(DAY, 100))
    assert [o.step for o in overdue_steps(moving, at(DAY, 1000))] == ["on_scene"]


def test_an_incident_with_no_order_yet_is_late_after_the_order_target():
    ts = Timestamps("122", DAY)
    assert [o.step for o in overdue_steps(ts, at(DAY, 61))] == ["order"]


def test_a_later_step_counts_as_done_for_an_earlier_missing_one():
    ts = Timestamps("120", DAY, ordered_at=at(DAY, 10), on_scene_at=at(DAY, 300))
    assert overdue_steps(ts, at(DAY, 2000)) == ()


def test_naive_or_out_of_order_timestamps_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        Timestamps("122", datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="before ordered_at"):
        Timestamps("122", DAY, ordered_at=at(DAY, 100), acknowledged_at=at(DAY, 50))
    with pytest.raises(ValueError, match="service"):
        Timestamps("119", DAY)
    with pytest.raises(ValueError, match="timezone-aware"):
        overdue_steps(Timestamps("122", DAY), datetime(2026, 1, 1))
