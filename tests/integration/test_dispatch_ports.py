"""The dispatch ports' contract, run against the in-memory fake (``tests.fakes.dispatch``) and the SQL
adapter (``connectors.sql.dispatch``, on the dispatch store of the ``migrated`` database: SQLite, or
PostgreSQL when TEST_DATABASE_URL is set), so that the fake the service tests use cannot drift from the
store the platform uses. What each side queued (messages, texts, timeline) is read back by a small
probe of its own; everything else goes through the ports."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import pytest

from accidentlink.clock import FixedClock
from dispatch.ports import DispatchUnitOfWork, OrderConflict
from dispatch.records import Incident, Note, Order, UnitState

pytestmark = pytest.mark.integration

T0 = FixedClock().now()


class Backend(Protocol):
    """One implementation of the ports, with what the tests need to seed and to look at."""

    @property
    def uow(self) -> Callable[[], DispatchUnitOfWork]: ...

    def seed_unit(self, unit: UnitState) -> None: ...

    def messages(self) -> list[tuple[str, str, dict[str, Any]]]: ...

    def texts(self) -> list[tuple[str, str, str]]: ...

    def timeline(self, incident_id: str) -> list[tuple[str, dict[str, Any]]]: ...


class FakeBackend:
    def __init__(self) -> None:
        from tests.fakes.dispatch import FakeDispatchUnitOfWork

        self.fake = FakeDispatchUnitOfWork()
        self.uow = lambda: self.fake

    def seed_unit(self, unit: UnitState) -> None:
        self.fake.state.units[unit.unit_id] = unit

    def messages(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(m.topic, m.key, m.value) for m in self.fake.state.messages]

    def texts(self) -> list[tuple[str, str, str]]:
        return [(t.dedupe_key, t.to, t.body) for t in self.fake.state.texts.values()]

    def timeline(self, incident_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(kind, detail) for i, _at, kind, detail in self.fake.state.timeline if i == incident_id]


class SqlBackend:
    def __init__(self, url: str) -> None:
        from accidentlink.pipeline import TopicNames
        from connectors.sql.db import Database
        from connectors.sql.dispatch import SqlDispatchUnitOfWork

        self.db = Database(url)
        self.uow = lambda: SqlDispatchUnitOfWork(self.db, "dispatch", TopicNames())

    def _rows(self, *columns: Any, where: Any = None, order: Any = None) -> list[Any]:
        from sqlalchemy import select

        q = select(*columns)
        if where is not None:
            q = q.where(where)
        with self.db.read() as s:
            return list(s.execute(q.order_by(order)).all()) if order is not None else list(s.execute(q).all())

    def seed_unit(self, unit: UnitState) -> None:
        from connectors.sql.models import UnitRow

        with self.db.uow() as u:
            u.session.add(UnitRow(unit_id=unit.unit_id, service=unit.service, kind="patrol", name=unit.name,
                                  lat=unit.lat, lon=unit.lon, home="POST-1", phone=unit.phone, status=unit.status,
                                  status_at=unit.status_at, incident_id=unit.incident_id, version=1))
            u.commit()

    def messages(self) -> list[tuple[str, str, dict[str, Any]]]:
        from connectors.sql.models import OutboxMessage as M

        return [(t, k.decode(), json.loads(v)) for t, k, v in self._rows(M.topic, M.key, M.value, order=M.id)]

    def texts(self) -> list[tuple[str, str, str]]:
        from connectors.sql.models import SmsMessage as S

        return [tuple(r) for r in self._rows(S.dedupe_key, S.to, S.body, order=S.id)]  # type: ignore[misc]

    def timeline(self, incident_id: str) -> list[tuple[str, dict[str, Any]]]:
        from connectors.sql.models import TimelineEntry as E

        return [(k, d) for k, d in self._rows(E.kind, E.detail, where=E.incident_id == incident_id, order=E.id)]


@pytest.fixture(params=["fake", "sql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "fake":
        yield FakeBackend()
        return
    from connectors.sql.stores import url_for

    sql = SqlBackend(url_for("dispatch", request.getfixturevalue("migrated"), tmp_path, env={}))
    try:
        yield sql
    finally:
        sql.db.dispose()


def _incident(incident_id: str = "INC-P-1", **kw: Any) -> Incident:
    facts: dict[str, Any] = dict(lat=36.3923, lon=115.8571, address="聊临路梁水镇段", first_reported_at=T0,
                                 last_reported_at=T0 + timedelta(minutes=3), injured=2, fatalities=0,
                                 vehicles_movable=False, hit_and_run=False, hazards=("trapped",),
                                 plates=("鲁P12345",), sources=("122", "120"))
    return Incident(incident_id, **{**facts, **kw})


def _unit(unit_id: str, service: str = "122", status: str = "available", at: datetime = T0) -> UnitState:
    return UnitState(unit_id, service, f"unit {unit_id}", 36.40, 115.86, status, at, phone="+8613900000009")


def _order(order_id: str, incident_id: str = "INC-P-1", service: str = "122", unit_id: str = "U-1",
           **kw: Any) -> Order:
    return Order(order_id, incident_id, service, unit_id, distance_m=1200, eta_s=150, issued_at=T0,
                 status_times={"dispatched": T0}, reasons=("police must attend",), **kw)


def _with_incidents_and_units(b: Backend, incident_ids: tuple[str, ...] = ("INC-P-1",),
                              units: tuple[UnitState, ...] = (_unit("U-1"),)) -> None:
    for u in units:
        b.seed_unit(u)
    with b.uow() as uow:
        for i in incident_ids:
            uow.incidents.add(_incident(i), T0)
        uow.commit()


# ---------------------------------------------------------------- incidents
def test_an_incident_copy_is_saved_and_read_back(backend: Backend) -> None:
    copy = _incident(notes=(Note(T0, "no_unit_available", "无可用120单位"),))
    with backend.uow() as uow:
        assert uow.incidents.get(copy.incident_id) is None
        uow.incidents.add(copy, T0)
        uow.commit()
    with backend.uow() as uow:
        assert uow.incidents.get(copy.incident_id) == copy
        closing = Note(T0 + timedelta(hours=1), "closed", "现场处理完毕", {"police_classification": "injury"})
        uow.incidents.save(replace(copy, status="closed", hospital_id="LC-H-LC3", quick_handling=True,
                                            notes=copy.notes + (closing,), closed_at=T0 + timedelta(hours=1),
                                            injured=9))
        uow.commit()
    with backend.uow() as uow:
        got = uow.incidents.get(copy.incident_id)
    assert got is not None
    assert (got.status, got.hospital_id, got.quick_handling, got.closed_at) == \
        ("closed", "LC-H-LC3", True, T0 + timedelta(hours=1))
    assert got.notes[-1] == closing and got.last_note == closing
    assert got.injured == 2, "the facts are the intake's: saving dispatch's state leaves them as copied"



def test_an_incident_without_reports_names_no_parties(backend: Backend) -> None:
    _with_incidents_and_units(backend)
    with backend.uow() as uow:
        assert uow.incidents.parties("INC-P-1") == ()


def test_the_latest_notes_are_those_of_open_incidents_changed_recently_newest_first(backend: Backend) -> None:
    _with_incidents_and_units(backend, ("INC-P-1", "INC-P-2", "INC-P-3"))
    with backend.uow() as uow:
        waiting = Note(T0, "no_unit_available", "无可用120单位")
        uow.incidents.save(replace(_incident("INC-P-2"), notes=(waiting,)))
        uow.incidents.save(replace(_incident("INC-P-3"), status="closed", notes=(waiting,)))
        uow.messages.incident_changed("INC-P-1", "unit_status", T0 + timedelta(minutes=1))
        uow.messages.incident_changed("INC-P-2", "no_unit_available", T0 + timedelta(minutes=2), text="无可用120单位")
        uow.messages.incident_changed("INC-P-3", "closed", T0 + timedelta(minutes=3))
        uow.commit()
    with backend.uow() as uow:
        assert uow.incidents.latest_notes(T0, 10) == [("INC-P-2", waiting), ("INC-P-1", None)]
        assert uow.incidents.latest_notes(T0, 1) == [("INC-P-2", waiting)]
        assert uow.incidents.latest_notes(T0 + timedelta(minutes=2), 10) == []


def test_nothing_is_kept_without_commit(backend: Backend) -> None:
    backend.seed_unit(_unit("U-1"))
    with backend.uow() as uow:
        uow.incidents.add(_incident(), T0)
        assert uow.units.book("U-1", "INC-P-1", T0)
        uow.texts.owe("order:X", "+8613900000009", "出警", "dispatch_order", T0, "INC-P-1")
    with backend.uow() as uow:
        assert uow.incidents.get("INC-P-1") is None
        unit = uow.units.get("U-1")
        assert unit is not None and unit.status == "available"
    assert backend.texts() == []


# ---------------------------------------------------------------- units
def test_a_unit_is_booked_only_while_available(backend: Backend) -> None:
    _with_incidents_and_units(backend, ("INC-P-1", "INC-P-2"), (_unit("U-1"), _unit("U-2", status="out_of_service")))
    at = T0 + timedelta(seconds=5)
    with backend.uow() as uow:
        assert uow.units.book("U-1", "INC-P-1", at) is True
        assert uow.units.book("U-1", "INC-P-2", at) is False, "a second booking of the same unit is refused"
        assert uow.units.book("U-2", "INC-P-2", at) is False, "a unit out of service is not booked"
        assert uow.units.book("U-NONE", "INC-P-2", at) is False
        assert uow.units.get("U-1") == UnitState("U-1", "122", "unit U-1", 36.40, 115.86, "dispatched", at,
                                                 phone="+8613900000009", incident_id="INC-P-1")
        uow.commit()
    with backend.uow() as uow:
        assert uow.units.book("U-1", "INC-P-2", at) is False
        unit = uow.units.get("U-1")
        assert unit is not None and unit.incident_id == "INC-P-1"


def test_releasing_a_unit_frees_it_only_from_its_own_incident(backend: Backend) -> None:
    _with_incidents_and_units(backend, ("INC-P-1", "INC-P-2"))
    later = T0 + timedelta(minutes=20)
    with backend.uow() as uow:
        assert uow.units.book("U-1", "INC-P-1", T0)
        assert uow.units.release("U-1", "INC-P-2", later) is False
        assert uow.units.get("U-1").status == "dispatched"  # type: ignore[union-attr]
        assert uow.units.release("U-1", "INC-P-1", later) is True
        uow.commit()
    with backend.uow() as uow:
        unit = uow.units.get("U-1")
        assert unit is not None and (unit.status, unit.incident_id, unit.status_at) == ("available", None, later)
        assert uow.units.book("U-1", "INC-P-2", later), "a released unit can be booked again"


def test_a_units_status_and_position_are_saved(backend: Backend) -> None:
    _with_incidents_and_units(backend)
    at = T0 + timedelta(minutes=4)
    with backend.uow() as uow:
        unit = uow.units.get("U-1")
        assert unit is not None
        uow.units.save(replace(unit, status="out_of_service", status_at=at, lat=36.41, lon=115.87, name="ignored"))
        uow.commit()
    with backend.uow() as uow:
        assert uow.units.get("U-1") == UnitState("U-1", "122", "unit U-1", 36.41, 115.87, "out_of_service", at,
                                                 phone="+8613900000009")



def test_units_changed_since_a_time_are_those_whose_status_changed_after_it(backend: Backend) -> None:
    _with_incidents_and_units(backend, units=(_unit("U-1"), _unit("U-2", service="120")))
    with backend.uow() as uow:
        assert sorted(u.unit_id for u in uow.units.changed_since(None)) == ["U-1", "U-2"]
        assert uow.units.changed_since(T0) == []
        uow.units.book("U-2", "INC-P-1", T0 + timedelta(seconds=1))
        assert [(u.unit_id, u.status) for u in uow.units.changed_since(T0)] == [("U-2", "dispatched")]


# ---------------------------------------------------------------- orders
def test_one_active_order_per_service_per_incident_and_per_unit(backend: Backend) -> None:
    _with_incidents_and_units(backend, ("INC-P-1", "INC-P-2"), (_unit("U-1"), _unit("U-2"), _unit("U-3", "120")))
    with backend.uow() as uow:
        police = _order("ORD-P-1-122-1")
        uow.orders.add(police)
        with pytest.raises(OrderConflict):
            uow.orders.add(_order("ORD-P-1-122-2", unit_id="U-2"))  # a second police order for the incident
        with pytest.raises(OrderConflict):
            uow.orders.add(_order("ORD-P-2-122-1", incident_id="INC-P-2"))  # U-1 is on INC-P-1 already
        uow.orders.add(_order("ORD-P-1-120-1", service="120", unit_id="U-3"))  # the ambulance goes with it
        uow.orders.save(replace(police, state="released", status_times={"dispatched": T0, "released": T0}))
        uow.orders.add(_order("ORD-P-1-122-2", unit_id="U-2", replaces_order_id=police.order_id))  # a new one now
        uow.commit()
    with backend.uow() as uow:
        orders = uow.orders.of_incident("INC-P-1")
    assert [(o.order_id, o.state) for o in orders] == [
        ("ORD-P-1-120-1", "active"), ("ORD-P-1-122-1", "released"), ("ORD-P-1-122-2", "active")]
    assert orders[2] == _order("ORD-P-1-122-2", unit_id="U-2", replaces_order_id="ORD-P-1-122-1")



def test_orders_are_found_by_id_by_unit_and_when_unacknowledged(backend: Backend) -> None:
    _with_incidents_and_units(backend, units=(_unit("U-1"), _unit("U-3", "120")))
    with backend.uow() as uow:
        uow.orders.add(_order("ORD-P-1-122-1"))
        uow.orders.add(_order("ORD-P-1-120-1", service="120", unit_id="U-3"))
        uow.commit()
    with backend.uow() as uow:
        assert [o.order_id for o in uow.orders.get_many(["ORD-P-1-122-1", "ORD-P-1-120-1", "ORD-NONE"])] == \
            ["ORD-P-1-120-1", "ORD-P-1-122-1"]
        assert uow.orders.get_many([]) == []
        ambulance = uow.orders.active_of_unit("U-3")
        assert ambulance is not None and ambulance.order_id == "ORD-P-1-120-1"
        assert uow.orders.active_of_unit("U-2") is None
        uow.orders.save(replace(ambulance, unit_status="acknowledged",
                                      status_times={**ambulance.status_times, "acknowledged": T0 + timedelta(seconds=30)}))
        assert uow.orders.unacknowledged(T0) == []  # none issued before the order time itself
        assert [o.order_id for o in uow.orders.unacknowledged(T0 + timedelta(seconds=61))] == ["ORD-P-1-122-1"]
        uow.commit()
    with backend.uow() as uow:
        saved = uow.orders.active_of_unit("U-3")
    assert saved is not None and saved.status_times["acknowledged"] == T0 + timedelta(seconds=30)


# ---------------------------------------------------------------- what is queued for others
def test_messages_are_queued_as_given_and_texts_once_per_dedupe_key(backend: Backend) -> None:
    _with_incidents_and_units(backend)
    order = {"incident_id": "INC-P-1", "order_id": "ORD-P-1-122-1", "service": "122", "unit_id": "U-1",
             "schema": "dispatch-order/1"}
    with backend.uow() as uow:
        uow.messages.publish("dispatch.orders", "INC-P-1", order, T0)
        uow.messages.incident_changed("INC-P-1", "unit_assigned", T0, order_id="ORD-P-1-122-1", unit_id="U-1")
        assert uow.texts.owe("order:ORD-P-1-122-1", "+8613900000009", "出警指令", "dispatch_order", T0, "INC-P-1")
        assert not uow.texts.owe("order:ORD-P-1-122-1", "+8613900000009", "again", "dispatch_order", T0, "INC-P-1")
        uow.commit()
    with backend.uow() as uow:
        assert not uow.texts.owe("order:ORD-P-1-122-1", "+8613900000009", "later", "dispatch_order", T0, "INC-P-1")
        uow.commit()
    (topic, key, value), (topic2, key2, change) = backend.messages()
    assert (topic, key, value) == ("dispatch.orders", "INC-P-1", order)
    assert (topic2, key2) == ("incidents", "INC-P-1")
    assert {k: change[k] for k in ("incident_id", "change", "order_id", "unit_id")} == {
        "incident_id": "INC-P-1", "change": "unit_assigned", "order_id": "ORD-P-1-122-1", "unit_id": "U-1"}
    assert backend.texts() == [("order:ORD-P-1-122-1", "+8613900000009", "出警指令")]


def test_timeline_entries_are_kept_in_order(backend: Backend) -> None:
    _with_incidents_and_units(backend)
    with backend.uow() as uow:
        uow.timeline.add("INC-P-1", T0, "unit_assigned", order_id="ORD-P-1-122-1", unit_id="U-1")
        uow.timeline.add("INC-P-1", T0, "closed", reason="现场处理完毕", police_classification=None)
        uow.commit()
    assert backend.timeline("INC-P-1") == [("unit_assigned", {"order_id": "ORD-P-1-122-1", "unit_id": "U-1"}),
                                           ("closed", {"reason": "现场处理完毕", "police_classification": None})]


def test_the_inbox_remembers_an_event_once_committed(backend: Backend) -> None:
    with backend.uow() as uow:
        assert not uow.inbox.seen("event_id:INC-P-1:7:quick_refused")
        uow.inbox.mark("event_id:INC-P-1:7:quick_refused", T0)
    with backend.uow() as uow:
        assert not uow.inbox.seen("event_id:INC-P-1:7:quick_refused"), "not committed: not kept"
        uow.inbox.mark("event_id:INC-P-1:7:quick_refused", T0)
        uow.commit()
    with backend.uow() as uow:
        assert uow.inbox.seen("event_id:INC-P-1:7:quick_refused")
        assert not uow.inbox.seen("event_id:INC-P-1:8:quick_refused")


def test_locks_on_incidents_can_be_taken_more_than_once_in_a_unit_of_work(backend: Backend) -> None:
    _with_incidents_and_units(backend)
    with backend.uow() as uow:
        uow.lock_incidents(["INC-P-1", "INC-P-2"])
        uow.lock_incidents(["INC-P-1"])
        assert uow.incidents.get("INC-P-1") is not None
        uow.commit()
