"""The dispatch services on the in-memory store (``tests.fakes.dispatch``) and the real spatial index: what
a dispatcher would see after each use case, in milliseconds, without a database or a broker."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from accidentlink.clock import FixedClock
from connectors.geo import HospitalIndex, UnitIndex
from dispatch.commands import (
    CloseIncident, DispatchIncident, EscalationRound, OtherContextChange, ReassignUnit, UpdateUnitStatus,
)
from dispatch.errors import IncidentClosed, InvalidTransition
from dispatch.records import Incident, Party, UnitState
from dispatch.resources import Hospital
from dispatch.services import (
    close_incident, dispatch_incident, due_for_escalation, escalate_unacknowledged, note_from_other_context,
    reassign_unit, update_unit_status,
)
from dispatch.targets import default_targets
from dispatch.units_index import UnitsIndex
from tests.fakes.dispatch import FakeDispatchUnitOfWork

T0 = FixedClock().now()
SCENE = (36.3923, 115.8571)  # 聊临路梁水镇段
UNITS = {  # unit id -> (service, lat, lon): the near ones a few hundred metres away, the far ones kilometres
    "P-NEAR": ("122", 36.3950, 115.8600), "P-FAR": ("122", 36.4200, 115.9000),
    "A-NEAR": ("120", 36.3960, 115.8610), "A-FAR": ("120", 36.4300, 115.9100),
}
HOSPITALS = [Hospital("H-NEAR", "第三人民医院", 36.4000, 115.8700, "liaocheng", 2, True, True),
             Hospital("H-FAR", "人民医院", 36.4700, 115.9600, "liaocheng", 3, True, True)]
TWO_CARS = (Party("鲁P12345"), Party("鲁P67890"))


@pytest.fixture
def uow() -> FakeDispatchUnitOfWork:
    fake = FakeDispatchUnitOfWork()
    for unit_id, (service, lat, lon) in UNITS.items():
        fake.state.units[unit_id] = UnitState(unit_id, service, f"{unit_id} 组", lat, lon, "available",
                                              T0 - timedelta(hours=1), phone=f"+86139{len(fake.state.units):08d}")
    return fake


@pytest.fixture
def fleet() -> UnitsIndex:
    return UnitsIndex(UnitIndex(), HospitalIndex(HOSPITALS), default_targets())


def crash(uow: FakeDispatchUnitOfWork, incident_id: str = "INC-S-1", parties: tuple[Party, ...] = TWO_CARS,
          **facts: Any) -> str:
    """Dispatch's copy of a crash, as the pipeline records it before the services run."""
    kw: dict[str, Any] = {"injured": 0, "vehicles_movable": True, **facts}
    copy = Incident(incident_id, *SCENE, address="聊临路梁水镇段", first_reported_at=T0, last_reported_at=T0, **kw)
    stored = uow.state.incidents.get(incident_id)
    uow.state.incidents[incident_id] = copy if stored is None else replace(stored, **kw)  # a later call: new facts
    uow.state.parties[incident_id] = parties
    uow.state.updated_at[incident_id] = T0
    return incident_id


def dispatch(uow: FakeDispatchUnitOfWork, fleet: UnitsIndex, incident_id: str, at: Any = T0) -> Any:
    with uow:
        return dispatch_incident(DispatchIncident(incident_id, at), uow, fleet)


def status(uow: FakeDispatchUnitOfWork, unit_id: str, new: str, at: Any) -> Any:
    with uow:
        return update_unit_status(UpdateUnitStatus(unit_id, new, at), uow)


def escalate(uow: FakeDispatchUnitOfWork, fleet: UnitsIndex, at: Any) -> int:
    with uow:
        due = due_for_escalation(EscalationRound(at, 60), uow)
    if not due:
        return 0
    with uow:
        return escalate_unacknowledged(due, uow, fleet)


def active(uow: FakeDispatchUnitOfWork, incident_id: str = "INC-S-1") -> dict[str, str]:
    """service -> unit id of the incident's active orders."""
    return {o.service: o.unit_id for o in uow.state.orders.values() if o.incident_id == incident_id and o.state == "active"}


def unit_status(uow: FakeDispatchUnitOfWork, unit_id: str) -> tuple[str, str | None]:
    u = uow.state.units[unit_id]
    return u.status, u.incident_id


# ---------------------------------------------------------------- ordering units
def test_an_injured_crash_gets_the_nearest_police_and_ambulance_in_one_step_with_the_hospital_notice(
        uow: FakeDispatchUnitOfWork, fleet: UnitsIndex) -> None:
    incident_id = crash(uow, injured=1, vehicles_movable=False)
    issued = dispatch(uow, fleet, incident_id)
    assert [(o.service, o.unit_id) for o in issued] == [("122", "P-NEAR"), ("120", "A-NEAR")]
    assert uow.commits == 1, "both orders in the same step"
    assert unit_status(uow, "P-NEAR") == unit_status(uow, "A-NEAR") == ("dispatched", incident_id)
    assert uow.state.incidents[incident_id].hospital_id == "H-NEAR"
    orders = [m.value for m in uow.state.messages if m.topic == "dispatch.orders"]
    assert [(o["service"], o["unit_id"], o["schema"]) for o in orders] == [("122", "P-NEAR", "dispatch-order/1"),
                                                                          ("120", "A-NEAR", "dispatch-order/1")]
    assert uow.state.changes(incident_id) == ["unit_assigned", "unit_assigned", "hospital_assigned"]
    notice = [m.value for m in uow.state.messages if m.value.get("change") == "hospital_assigned"][0]
    assert notice["hospital_id"] == "H-NEAR" and notice["admission_id"].startswith("ADM-") and notice["patients"] == 1
    texts = {t.dedupe_key: t for t in uow.state.texts.values()}
    assert sorted(texts) == sorted(f"order:{o.order_id}" for o in issued)
    ambulance_text = texts[f"order:{issued[1].order_id}"].body
    assert "出车指令" in ambulance_text and "送往第三人民医院" in ambulance_text and "回复1确认接单" in ambulance_text


def test_a_crash_nobody_is_hurt_in_but_police_must_attend_gets_police_only(
        uow: FakeDispatchUnitOfWork, fleet: UnitsIndex) -> None:
    incident_id = crash(uow, vehicles_movable=False)
    dispatch(uow, fleet, incident_id)
    assert active(uow) == {"122": "P-NEAR"}
    assert uow.state.incidents[incident_id].hospital_id is None
    assert "hospital_assigned" not in uow.state.changes(incident_id)


def test_a_minor_two_car_crash_is_left_to_online_quick_handling_until_a_later_call_says_someone_is_hurt(
        uow: FakeDispatchUnitOfWork, fleet: UnitsIndex) -> None:
    incident_id = crash(uow)
    assert dispatch(uow, fleet, incident_id) == ()
    assert uow.state.incidents[incident_id].quick_handling and active(uow) == {}
    assert [n.kind for n in uow.state.incidents[incident_id].notes] == ["quick_handling"]
    dispatch(uow, fleet, incident_id)  # redelivered: the same note is not added twice
    assert len(uow.state.incidents[incident_id].notes) == 1
    crash(uow, injured=1)
    dispatch(uow, fleet, incident_id)
    assert not uow.state.incidents[incident_id].quick_handling
    assert active(uow) == {"122": "P-NEAR", "120": "A-NEAR"}


def test_a_second_call_that_adds_injured_adds_the_ambulance_once(uow: FakeDispatchUnitOfWork, fleet: UnitsIndex) -> None:
    incident_id = crash(uow, vehicles_movable=False)
    dispatch(uow, fleet, incident_id)
    crash(uow, injured=1, vehicles_movable=False)  # the pipeline's copy after the 120 call
    for _ in range(2):  # the second time is a redelivery
        dispatch(uow, fleet, incident_id, T0 + timedelta(minutes=2))
    assert active(uow) == {"122": "P-NEAR", "120": "A-NEAR"}
    assert len(uow.state.orders) == 2 and len(uow.state.texts) == 2
    assert uow.state.changes(incident_id).count("hospital_assigned") == 1


def test_a_crash_with_no_free_ambulance_waits_and_gets_the_first_one_free_again(
        uow: FakeDispatchUnitOfWork, fleet: UnitsIndex) -> None:
    for a in ("A-NEAR", "A-FAR"):
        uow.state.units[a] = replace(uow.state.units[a], status="out_of_service")
    incident_id = crash(uow, injured=1, vehicles_movable=False)
    dispatch(uow, fleet, incident_id)
    assert active(uow) == {"122": "P-NEAR"}
    assert uow.state.incidents[incident_id].notes[-1].kind == "no_unit_available"
    assert escalate(uow, fleet, T0 + timedelta(seconds=10)) == 0 and active(uow) == {"122": "P-NEAR"}
    status(uow, "A-FAR", "available", T0 + timedelta(seconds=20))
    escalate(uow, fleet, T0 + timedelta(seconds=30))
    assert active(uow) == {"122": "P-NEAR", "120": "A-FAR"}
    assert uow.state.incidents[incident_id].hospital_id == "H-NEAR"


# ---------------------------------------------------------------- escalation
def test_an_unacknowledged_unit_is_replaced_by_the_next_nearest(uow: FakeDispatchUnitOfWork, fleet: UnitsIndex) -> None:
    incident_id = crash(uow, injured=1, vehicles_movable=False)
    first = {o.service: o for o in dispatch(uow, fleet, incident_id)}
    status(uow, "A-NEAR", "acknowledged", T0 + timedelta(seconds=30))  # the ambulance acknowledges in time
    assert escalate(uow, fleet, T0 + timedelta(seconds=59)) == 0, "not late yet"
    assert escalate(uow, fleet, T0 + timedelta(seconds=61)) == 1
    police = [o for o in uow.state.orders.values() if o.service == "122"]
    assert [(o.unit_id, o.state) for o in police] == [("P-NEAR", "released"), ("P-FAR", "active")]
    assert police[1].replaces_order_id == first["122"].order_id
    assert unit_status(uow, "P-NEAR") == ("available", None)
    assert active(uow)["120"] == "A-NEAR", "the acknowledged ambulance stays"
    assert [n.kind for n in uow.state.incidents[incident_id].notes] == ["escalated"]
    assert f"dispatch-incident:{incident_id}" in uow.state.locked
    assert escalate(uow, fleet, T0 + timedelta(seconds=62)) == 0, "the new unit has its own minute"


# ---------------------------------------------------------------- the dispatchers' and units' actions
def test_closing_an_incident_releases_its_units(uow: FakeDispatchUnitOfWork, fleet: UnitsIndex) -> None:
    incident_id = crash(uow, injured=1, vehicles_movable=False)
    dispatch(uow, fleet, incident_id)
    for st, minutes in (("acknowledged", 1), ("en_route", 2), ("on_scene", 9)):
        status(uow, "A-NEAR", st, T0 + timedelta(minutes=minutes))
    with uow:
        done = close_incident(CloseIncident(incident_id, "现场处理完毕", "injury", T0 + timedelta(minutes=30)), uow)
    assert done.changed
    messages = len(uow.state.messages)
    assert {o.unit_id: o.state for o in uow.state.orders.values()} == {"P-NEAR": "cancelled", "A-NEAR": "completed"}
    assert unit_status(uow, "P-NEAR") == unit_status(uow, "A-NEAR") == ("available", None)
    closed = uow.state.incidents[incident_id]
    assert closed.status == "closed" and closed.closed_at == T0 + timedelta(minutes=30)
    assert closed.notes[-1].extra == {"police_classification": "injury"}
    assert uow.state.changes(incident_id)[-1] == "closed"
    with uow:
        again = close_incident(CloseIncident(incident_id, "x", None, T0 + timedelta(hours=1)), uow)
    assert not again.changed and len(uow.state.messages) == messages, "closing again changes nothing"
    assert dispatch(uow, fleet, incident_id) == (), "a closed incident orders nothing"


def test_a_units_status_steps_are_checked_and_timed(uow: FakeDispatchUnitOfWork, fleet: UnitsIndex) -> None:
    incident_id = crash(uow, injured=1, vehicles_movable=False)
    dispatch(uow, fleet, incident_id)
    with pytest.raises(InvalidTransition):
        status(uow, "A-NEAR", "on_scene", T0 + timedelta(minutes=1))  # skips acknowledging and setting out
    steps = ("acknowledged", "en_route", "on_scene", "transporting", "at_hospital", "available")
    for minutes, st in enumerate(steps, start=1):
        done = status(uow, "A-NEAR", st, T0 + timedelta(minutes=minutes))
        assert done.changed and done.order_id is not None
    assert done.previous == "at_hospital" and done.figures["order_to_on_scene_s"] == 180
    order = next(o for o in uow.state.orders.values() if o.unit_id == "A-NEAR")
    assert order.state == "completed" and set(order.status_times) == {"dispatched", *steps}
    assert unit_status(uow, "A-NEAR") == ("available", None)
    assert not status(uow, "A-NEAR", "available", T0 + timedelta(minutes=9)).changed, "a repeat changes nothing"


def test_reassigning_orders_the_next_nearest_and_never_the_same_unit_again(
        uow: FakeDispatchUnitOfWork, fleet: UnitsIndex) -> None:
    incident_id = crash(uow, vehicles_movable=False)
    dispatch(uow, fleet, incident_id)
    with uow:
        reassign_unit(ReassignUnit(incident_id, "122", "车辆故障", "王调度", T0 + timedelta(minutes=1)), uow, fleet)
    assert active(uow) == {"122": "P-FAR"}
    assert unit_status(uow, "P-NEAR") == ("available", None)
    assert uow.state.incidents[incident_id].notes[-1].text == "调度员 王调度 改派交警：车辆故障"
    with uow:
        close_incident(CloseIncident(incident_id, "", None, T0 + timedelta(minutes=2)), uow)
    with uow, pytest.raises(IncidentClosed):
        reassign_unit(ReassignUnit(incident_id, "122", "", "王调度", T0 + timedelta(minutes=3)), uow, fleet)


# ---------------------------------------------------------------- what other contexts say
def test_a_note_from_another_context_is_kept_once(uow: FakeDispatchUnitOfWork) -> None:
    incident_id = crash(uow)
    refused = OtherContextChange("event_id:INC-S-1:4:quick_refused", incident_id, "quick_refused", "一方不同意快处", T0)
    with uow:
        assert note_from_other_context(refused, uow)
        assert not note_from_other_context(refused, uow), "the same event again"
        assert not note_from_other_context(replace(refused, event_id="event_id:INC-S-1:5:quick_refused"), uow), "same kind"
        assert not note_from_other_context(replace(refused, event_id="event_id:x", incident_id="INC-NONE"), uow)
    assert [(n.kind, n.text) for n in uow.state.incidents[incident_id].notes] == [("quick_refused", "一方不同意快处")]
    assert len(uow.state.inbox) == 3 and [e[2] for e in uow.state.timeline] == ["quick_refused"]


def test_the_dispatch_package_imports_no_adapter() -> None:
    """Services and domain reach the store, Kafka and the web only through their ports (style.md §1)."""
    import ast
    from pathlib import Path

    forbidden = ("sqlalchemy", "faust", "kafka", "fastapi", "twilio", "geopy", "connectors", "streams", "web",
                 "accidentlink.pipeline", "accidentlink.bootstrap")
    for path in sorted(Path(__file__).resolve().parents[2].joinpath("dispatch").glob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in modules if m.startswith(forbidden)], path.name


def test_an_incident_awaiting_both_units_for_an_hour_says_so_once_not_every_round(
        uow: FakeDispatchUnitOfWork, fleet: UnitsIndex) -> None:
    """Issue 14 item 6: with no police car nor ambulance free, every escalation round tried again and wrote
    "no available 122 unit" then "no available 120 unit": the notes (and the feed) grew two a round, without
    bound. Now the wait is said once, the incident is still retried every round, and is served when a unit
    is free."""
    for u in UNITS:
        uow.state.units[u] = replace(uow.state.units[u], status="out_of_service")
    incident_id = crash(uow, injured=1, vehicles_movable=False)
    dispatch(uow, fleet, incident_id)
    for i in range(1, 360):  # an hour of rounds, every 10 s
        escalate(uow, fleet, T0 + timedelta(seconds=10 * i))
    notes = uow.state.incidents[incident_id].notes
    assert [n.kind for n in notes] == ["no_unit_available", "no_unit_available"], [n.text for n in notes]
    assert uow.state.changes(incident_id).count("no_unit_available") == 2
    status(uow, "A-FAR", "available", T0 + timedelta(hours=1))
    escalate(uow, fleet, T0 + timedelta(hours=1, seconds=10))
    assert active(uow) == {"120": "A-FAR"}, "still retried after all those rounds"
