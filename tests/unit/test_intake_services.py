"""The intake's use cases (``accidentlink.intake_services``) on the in-memory fake of its ports
(``tests/fakes/intake.py``)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from accidentlink.areas import area_of
from accidentlink.clock import CST, iso
from accidentlink.incidents import IncidentFacts, incident_id_for
from accidentlink.intake_ports import IncidentClosed, IncidentReopened
from accidentlink.intake_services import close_incident, merge_report, reopen_incident
from accidentlink.reports import AccidentReport, parse_report
from connectors.geo import geodesic_m
from tests.fakes.intake import FakeIntakeUnitOfWork, IntakeState
from tests.support.reports import party, report

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=CST)
HERE = (36.3923, 115.8571)
M_PER_DEG_LAT = 111_000


class Intake:
    """The intake's store in memory, and the use cases called the way the entry points call them."""

    def __init__(self) -> None:
        self.state = IntakeState()

    def call(self, report_id: str, lat: float = HERE[0], lon: float = HERE[1], *, minutes: int = 0,
             **kw: Any) -> IncidentFacts:
        at = T0 + timedelta(minutes=minutes)
        r: AccidentReport = parse_report(json.dumps(report(lat=lat, lon=lon, at=at, report_id=report_id, **kw),
                                                    ensure_ascii=False))
        return merge_report(r, FakeIntakeUnitOfWork(self.state), geodesic_m, at=at + timedelta(seconds=5))

    def reopened(self, incident_id: str, event_id: str = "event_id:reopened-1") -> bool:
        return reopen_incident(IncidentReopened(event_id, incident_id, T0 + timedelta(hours=2)),
                               FakeIntakeUnitOfWork(self.state))

    def closed(self, incident_id: str, event_id: str = "event_id:closed-1") -> bool:
        return close_incident(IncidentClosed(event_id, incident_id, T0 + timedelta(hours=1)),
                              FakeIntakeUnitOfWork(self.state))


def test_two_callers_100_m_apart_make_one_incident_and_tell_of_each_report() -> None:
    intake = Intake()
    first = intake.call("122-A", injured=1)
    second = intake.call("120-A", HERE[0] + 100 / M_PER_DEG_LAT, HERE[1], minutes=3, source="120", injured=2)
    assert second.incident_id == first.incident_id == incident_id_for("122-A")
    assert second.report_ids == ("122-A", "120-A") and second.injured == 2 and second.sources == ("122", "120")
    assert [(c[1], c[3], c[4]) for c in intake.state.changes] == [
        ("created", 1, {"report_id": "122-A"}), ("report_merged", 2, {"report_id": "120-A"})]
    key, value, _at = intake.state.facts[-1]
    assert key == first.incident_id
    assert {k: value[k] for k in ("schema", "event_id", "change", "version")} == {
        "schema": "incident-facts/1", "event_id": f"{first.incident_id}:120-A", "change": "report_merged", "version": 2}
    assert value["at"] == iso(T0 + timedelta(minutes=3, seconds=5)) and value["report"]["report_id"] == "120-A"
    assert value["incident"]["report_ids"] == ["122-A", "120-A"] and value["incident"]["injured"] == 2


def test_a_third_caller_3_km_away_opens_an_incident_of_its_own() -> None:
    intake = Intake()
    a = intake.call("122-A")
    b = intake.call("120-A", HERE[0] + 100 / M_PER_DEG_LAT, HERE[1], minutes=1, source="120")
    c = intake.call("122-B", HERE[0] + 3000 / M_PER_DEG_LAT, HERE[1], minutes=2)
    assert a.incident_id == b.incident_id != c.incident_id
    assert c.report_ids == ("122-B",) and set(intake.state.incidents) == {a.incident_id, c.incident_id}
    assert [ch[1] for ch in intake.state.changes] == ["created", "report_merged", "created"]


def test_callers_on_either_side_of_an_area_edge_make_one_incident() -> None:
    west, east = (36.4312, 115.89985), (36.4313, 115.90045)
    assert area_of(*west) != area_of(*east)
    for first, second in ((west, east), (east, west)):
        intake = Intake()
        a = intake.call("122-W", *first, parties=[party("鲁P55501")])
        b = intake.call("120-E", *second, minutes=1, source="120", parties=[party("鲁P55501"), party("鲁P55502")])
        assert a.incident_id == b.incident_id and b.plates == ("鲁P55501", "鲁P55502")


def test_a_closed_incident_takes_no_more_reports() -> None:
    intake = Intake()
    a = intake.call("122-A")
    assert intake.closed(a.incident_id)
    assert not intake.closed(a.incident_id)  # the same event again: a no-op
    assert not intake.closed(a.incident_id, "event_id:closed-2")  # closed already
    b = intake.call("120-A", minutes=5, source="120")
    assert b.incident_id != a.incident_id and b.report_ids == ("120-A",)
    assert intake.state.incidents[a.incident_id].status == "closed"


def test_a_reopened_incident_takes_the_next_report_again() -> None:
    intake = Intake()
    a = intake.call("122-A")
    intake.closed(a.incident_id)
    assert intake.reopened(a.incident_id)
    assert not intake.reopened(a.incident_id)  # the same event again: a no-op
    assert not intake.reopened(a.incident_id, "event_id:reopened-2")  # open already
    b = intake.call("120-A", minutes=5, source="120")
    assert b.incident_id == a.incident_id and b.report_ids == ("122-A", "120-A")


def test_a_redelivered_report_changes_nothing() -> None:
    intake = Intake()
    intake.call("122-A", injured=1)
    facts = intake.call("120-A", minutes=2, source="120", injured=1)
    before = (dict(intake.state.versions), list(intake.state.changes), list(intake.state.facts),
              dict(intake.state.reports))
    again = intake.call("120-A", minutes=2, source="120", injured=1)
    assert again == facts
    assert (intake.state.versions, intake.state.changes, intake.state.facts, intake.state.reports) == before


# ---------------------------------------------------------------- callers naming only their own vehicle
def test_two_drivers_50_m_and_a_minute_apart_each_naming_only_their_own_plate_make_one_incident() -> None:
    intake = Intake()
    a = intake.call("122-D1", parties=[party("鲁P11111")])
    b = intake.call("122-D2", HERE[0] + 50 / M_PER_DEG_LAT, HERE[1], minutes=1, parties=[party("鲁P22222")])
    assert a.incident_id == b.incident_id
    assert b.plates == ("鲁P11111", "鲁P22222") and len(intake.state.incidents) == 1


def test_own_plate_callers_of_two_crashes_1_5_km_apart_stay_two_incidents() -> None:
    intake = Intake()
    a = intake.call("122-D1", parties=[party("鲁P11111")])
    b = intake.call("122-D2", HERE[0] + 1500 / M_PER_DEG_LAT, HERE[1], minutes=1, parties=[party("鲁P22222")])
    assert a.incident_id != b.incident_id and len(intake.state.incidents) == 2


def test_own_plate_callers_40_minutes_apart_at_one_spot_stay_two_incidents() -> None:
    intake = Intake()
    a = intake.call("122-D1", parties=[party("鲁P11111")])
    b = intake.call("122-D2", minutes=40, parties=[party("鲁P22222")])
    assert a.incident_id != b.incident_id


def test_another_plate_400_m_or_15_minutes_on_is_another_crash_though_a_plateless_caller_would_join() -> None:
    intake = Intake()
    a = intake.call("122-D1", parties=[party("鲁P11111")])
    far = intake.call("122-D2", HERE[0] + 400 / M_PER_DEG_LAT, HERE[1], minutes=1, parties=[party("鲁P22222")])
    late = intake.call("122-D3", minutes=15, parties=[party("鲁P33333")])
    bystander = intake.call("120-B", HERE[0] + 400 / M_PER_DEG_LAT, HERE[1], minutes=2, source="120")
    assert len({a.incident_id, far.incident_id, late.incident_id}) == 3
    assert bystander.incident_id in {a.incident_id, far.incident_id}


def test_a_caller_naming_two_other_plates_is_another_crash_even_next_door() -> None:
    intake = Intake()
    a = intake.call("122-D1", parties=[party("鲁P11111")])
    b = intake.call("122-X", HERE[0] + 30 / M_PER_DEG_LAT, HERE[1], minutes=1,
                    parties=[party("鲁P22222"), party("鲁P33333")])
    assert a.incident_id != b.incident_id


def test_a_driver_joins_the_incident_naming_their_plate_rather_than_a_nearer_one() -> None:
    intake = Intake()
    mine = intake.call("122-M", parties=[party("鲁P11111"), party("鲁P22222")])
    other = intake.call("122-O", HERE[0] + 150 / M_PER_DEG_LAT, HERE[1], parties=[party("鲁P33333"), party("鲁P44444")])
    joined = intake.call("122-J", HERE[0] + 140 / M_PER_DEG_LAT, HERE[1], minutes=1, parties=[party("鲁P22222")])
    assert joined.incident_id == mine.incident_id != other.incident_id


def test_merge_rules_are_data_with_a_reason_each_and_the_locks_cover_the_radius() -> None:
    import pytest

    from accidentlink.areas import areas_touched, merge_box
    from accidentlink.incidents import MERGE_RADIUS_M, merge_rules, merge_rules_from_dict

    rules = merge_rules()
    assert rules.radius_m == MERGE_RADIUS_M == 500 and rules.own_vehicle_radius_m == 200
    assert rules.window == timedelta(minutes=30) and rules.own_vehicle_window == timedelta(minutes=10)
    dlat, dlon = merge_box(36.4)
    assert dlat * M_PER_DEG_LAT >= MERGE_RADIUS_M, "the lock box holds the whole merge radius"
    # a report 450 m south of an area edge locks the area beyond the edge too
    assert len(areas_touched(36.4 - 450 / M_PER_DEG_LAT, 115.95)) == 2
    doc = {"radius_m": 500, "window_minutes": 30, "own_vehicle_radius_m": 600, "own_vehicle_window_minutes": 10,
           **{f"{k}_reason": "why" for k in ("radius_m", "window_minutes", "own_vehicle_radius_m",
                                                "own_vehicle_window_minutes")}}
    with pytest.raises(ValueError, match="own_vehicle_radius_m"):
        merge_rules_from_dict(doc)
    with pytest.raises(ValueError, match="reason"):
        merge_rules_from_dict({**doc, "own_vehicle_radius_m": 100, "radius_m_reason": ""})
