"""No unit is ordered silently from beyond the area it serves (issue 15): the reach rule (targets.json
``unit_reach_m``), the "no unit nearby" flag, and what the dispatcher does about it (add a chosen unit,
reassign to a chosen unit), closing with a patient aboard, reopening."""
from __future__ import annotations

from datetime import timedelta

import pytest

from connectors.geo import HospitalIndex, UnitIndex
from dispatch.commands import CloseIncident, OrderChosenUnit, ReopenIncident
from dispatch.desk import shortfalls, straight_line_m
from dispatch.errors import PatientAboard, ServiceBusy, UnitNotAvailable
from dispatch.records import UnitState
from dispatch.services import (
    close_incident, order_chosen_unit, reopen_incident, unit_candidates,
)
from dispatch.targets import default_targets
from dispatch.units_index import UnitsIndex
from tests.fakes.dispatch import FakeDispatchUnitOfWork
from tests.unit.test_dispatch_services import (
    HOSPITALS, SCENE, T0, active, crash, dispatch, escalate, status, unit_status,
)

ZIBO = {"Z-122": ("122", 36.8067, 118.0179), "Z-120": ("120", 36.8100, 118.0200)}  # 张店, ~190 km from 梁水镇
LOCAL = {"L-122": ("122", 36.3950, 115.8600), "L-120": ("120", 36.3960, 115.8610)}


def _uow(units: dict[str, tuple[str, float, float]]) -> FakeDispatchUnitOfWork:
    fake = FakeDispatchUnitOfWork()
    for uid, (svc, lat, lon) in units.items():
        fake.state.units[uid] = UnitState(uid, svc, f"{uid} 组", lat, lon, "available", T0 - timedelta(hours=1))
    return fake


@pytest.fixture
def fleet() -> UnitsIndex:
    return UnitsIndex(UnitIndex(), HospitalIndex(HOSPITALS), default_targets())


def _note_dicts(uow: FakeDispatchUnitOfWork, incident_id: str) -> list[dict]:
    return [{"at": n.at.isoformat(), "kind": n.kind, "text": n.text, **n.extra}
            for n in uow.state.incidents[incident_id].notes]


def _flags(uow: FakeDispatchUnitOfWork, incident_id: str) -> list[dict]:
    inc = uow.state.incidents[incident_id]
    orders = [(o.service, o.issued_at, o.state) for o in uow.state.orders.values() if o.incident_id == incident_id]
    return shortfalls(inc.status, _note_dicts(uow, incident_id), orders)


def test_the_reach_rule_is_data_with_its_source() -> None:
    t = default_targets()
    assert t.unit_reach_m["120"] == 20000 and t.unit_reach_m["122"] == 30000
    assert "domain.md §5" in t.cite("unit_reach_m") and "[S/U]" in t.cite("unit_reach_m")


def test_a_zibo_unit_is_never_ordered_to_a_liaocheng_crash_and_the_incident_is_flagged_with_the_distance(
        fleet: UnitsIndex) -> None:
    uow = _uow(ZIBO)
    incident_id = crash(uow, injured=1, vehicles_movable=False)
    assert dispatch(uow, fleet, incident_id) == ()
    assert active(uow) == {}
    assert unit_status(uow, "Z-122") == unit_status(uow, "Z-120") == ("available", None)
    flags = {f["service"]: f for f in _flags(uow, incident_id)}
    assert set(flags) == {"122", "120"}
    far = straight_line_m(*SCENE, 36.8100, 118.0200)
    assert far > 150_000
    assert flags["120"]["nearest_unit_id"] == "Z-120" and abs(flags["120"]["nearest_distance_m"] - far) < 0.01 * far
    assert flags["120"]["text"].startswith("附近无可用救护车") and "公里" in flags["120"]["text"]
    assert flags["120"]["text_en"].startswith("No ambulance unit nearby")


def test_escalation_does_not_reach_beyond_either(fleet: UnitsIndex) -> None:
    uow = _uow({**LOCAL, **ZIBO})
    incident_id = crash(uow, injured=1, vehicles_movable=False)
    dispatch(uow, fleet, incident_id)
    assert active(uow) == {"122": "L-122", "120": "L-120"}
    escalate(uow, fleet, T0 + timedelta(minutes=2))  # neither local unit acknowledged
    assert active(uow) == {}, "the Zibo units are not ordered by escalation"
    assert unit_status(uow, "Z-120")[0] == "available"
    assert {f["service"] for f in _flags(uow, incident_id)} == {"122", "120"}


def test_the_dispatcher_sees_candidates_with_distances_and_orders_one_beyond_reach(fleet: UnitsIndex) -> None:
    uow = _uow(ZIBO)
    incident_id = crash(uow, injured=1, vehicles_movable=False)
    dispatch(uow, fleet, incident_id)
    with uow:
        found = unit_candidates(incident_id, "120", uow, fleet)
    assert [(c.unit_id, c.within_reach) for c in found] == [("Z-120", False)] and found[0].distance_m > 150_000
    with uow:
        order = order_chosen_unit(OrderChosenUnit(incident_id, "Z-120", "本地无车", "王调度", T0 + timedelta(minutes=1)),
                                  uow, fleet)
    assert order.unit_id == "Z-120" and order.distance_m > 150_000
    assert active(uow) == {"120": "Z-120"}
    assert [f["service"] for f in _flags(uow, incident_id)] == ["122"], "the ambulance flag cleared, police still short"
    last = uow.state.incidents[incident_id].notes[-1]
    assert last.kind == "unit_added" and "超出服务范围" in last.text and "beyond its reach" in last.extra["text_en"]
    assert uow.state.incidents[incident_id].hospital_id is not None, "an ambulance the dispatcher adds gets a hospital"


def test_adding_a_second_unit_of_a_service_is_refused_and_reassigning_to_a_chosen_unit_replaces_it(
        fleet: UnitsIndex) -> None:
    uow = _uow({**LOCAL, "L-120-B": ("120", 36.40, 115.87)})
    incident_id = crash(uow, injured=1, vehicles_movable=False)
    dispatch(uow, fleet, incident_id)
    with uow, pytest.raises(ServiceBusy):
        order_chosen_unit(OrderChosenUnit(incident_id, "L-120-B", "", "王调度", T0), uow, fleet)
    with uow, pytest.raises(UnitNotAvailable):
        order_chosen_unit(OrderChosenUnit(incident_id, "L-122", "", "王调度", T0, replace=True), uow, fleet)
    with uow:
        order_chosen_unit(OrderChosenUnit(incident_id, "L-120-B", "车辆故障", "王调度", T0 + timedelta(seconds=30),
                                          replace=True), uow, fleet)
    assert active(uow) == {"122": "L-122", "120": "L-120-B"}
    assert unit_status(uow, "L-120") == ("available", None)
    assert uow.state.incidents[incident_id].notes[-1].text == "调度员 王调度 将救护车改派给 L-120-B 组：车辆故障"


def test_closing_with_a_patient_aboard_asks_first_and_a_closed_incident_can_be_reopened(fleet: UnitsIndex) -> None:
    uow = _uow(LOCAL)
    incident_id = crash(uow, injured=1, vehicles_movable=False)
    dispatch(uow, fleet, incident_id)
    for i, st in enumerate(("acknowledged", "en_route", "on_scene", "transporting"), 1):
        status(uow, "L-120", st, T0 + timedelta(minutes=i))
    with uow, pytest.raises(PatientAboard) as asked:
        close_incident(CloseIncident(incident_id, "现场处理完毕", None, T0 + timedelta(minutes=9)), uow)
    assert asked.value.unit_ids == ("L-120",)
    assert uow.state.incidents[incident_id].status == "open"
    with uow:
        assert close_incident(CloseIncident(incident_id, "现场处理完毕", None, T0 + timedelta(minutes=9),
                                            confirmed=True), uow).changed
    assert uow.state.incidents[incident_id].status == "closed"
    with uow:
        assert reopen_incident(ReopenIncident(incident_id, "伤者增加", "王调度", T0 + timedelta(minutes=20)), uow).changed
    inc = uow.state.incidents[incident_id]
    assert inc.status == "open" and inc.closed_at is None and inc.notes[-1].kind == "reopened"
    assert "reopened" in uow.state.changes(incident_id)
    with uow:
        assert not reopen_incident(ReopenIncident(incident_id, "", "王调度", T0 + timedelta(minutes=21)), uow).changed
