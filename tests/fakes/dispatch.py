"""The dispatch store in memory (``FakeDispatchUnitOfWork``), for testing the dispatch services in seconds.

It keeps the same promises as ``connectors.sql.dispatch.SqlDispatchUnitOfWork``, and
``tests/integration/test_dispatch_ports.py`` runs one contract against both: a unit is booked only while
available, one active order per service per incident and per unit, a text owed once per dedupe key,
nothing kept without ``commit()``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Collection, Iterable, Mapping

from accidentlink.clock import iso
from dispatch.ports import OrderConflict
from dispatch.records import Incident, Note, Order, Party, UnitState


@dataclass(frozen=True)
class Message:
    topic: str
    key: str
    value: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class Text:
    dedupe_key: str
    to: str
    body: str
    purpose: str
    at: datetime
    incident_id: str | None


@dataclass
class DispatchState:
    """What the fake store holds (what was committed, or a unit of work's own copy of it)."""

    incidents: dict[str, Incident] = field(default_factory=dict)
    parties: dict[str, tuple[Party, ...]] = field(default_factory=dict)
    updated_at: dict[str, datetime] = field(default_factory=dict)  # incident id -> its last change
    orders: dict[str, Order] = field(default_factory=dict)
    units: dict[str, UnitState] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    texts: dict[str, Text] = field(default_factory=dict)
    timeline: list[tuple[str, datetime, str, dict[str, Any]]] = field(default_factory=list)
    inbox: set[str] = field(default_factory=set)
    locked: list[str] = field(default_factory=list)

    def changes(self, incident_id: str) -> list[str]:
        """The incident's changes put onto ``incidents``, in order."""
        return [m.value["change"] for m in self.messages if m.topic == "incidents" and m.key == incident_id]


class FakeIncidents:
    def __init__(self, state: DispatchState):
        self.state = state

    def get(self, incident_id: str) -> Incident | None:
        return self.state.incidents.get(incident_id)

    def add(self, incident: Incident, at: datetime) -> None:
        self.state.incidents[incident.incident_id] = incident
        self.state.updated_at[incident.incident_id] = at

    def save(self, incident: Incident) -> None:
        stored = self.state.incidents[incident.incident_id]
        self.state.incidents[incident.incident_id] = replace(
            stored, status=incident.status, hospital_id=incident.hospital_id, quick_handling=incident.quick_handling,
            notes=incident.notes, closed_at=incident.closed_at)

    def parties(self, incident_id: str) -> tuple[Party, ...]:
        return self.state.parties.get(incident_id, ())

    def latest_notes(self, updated_after: datetime, limit: int) -> list[tuple[str, Note | None]]:
        recent = sorted(((at, i) for i, at in self.state.updated_at.items()
                         if at > updated_after and self.state.incidents[i].status == "open"), reverse=True)
        return [(i, self.state.incidents[i].last_note) for _at, i in recent[:limit]]


class FakeOrders:
    def __init__(self, state: DispatchState):
        self.state = state

    def _sorted(self, orders: Iterable[Order]) -> list[Order]:
        return sorted(orders, key=lambda o: (o.issued_at, o.order_id))

    def of_incident(self, incident_id: str) -> list[Order]:
        return self._sorted(o for o in self.state.orders.values() if o.incident_id == incident_id)

    def add(self, order: Order) -> None:
        for o in self.state.orders.values():
            clash = o.order_id == order.order_id or (o.state == order.state == "active" and (
                (o.incident_id, o.service) == (order.incident_id, order.service) or o.unit_id == order.unit_id))
            if clash:
                raise OrderConflict(f"order {order.order_id} refused: {o.order_id} is active")
        self.state.orders[order.order_id] = order

    def save(self, order: Order) -> None:
        stored = self.state.orders[order.order_id]
        self.state.orders[order.order_id] = replace(stored, state=order.state, unit_status=order.unit_status,
                                                    status_times=dict(order.status_times))

    def get_many(self, order_ids: Collection[str]) -> list[Order]:
        return sorted((self.state.orders[i] for i in set(order_ids) if i in self.state.orders), key=lambda o: o.order_id)

    def unacknowledged(self, issued_before: datetime) -> list[Order]:
        return sorted((o for o in self.state.orders.values() if o.state == "active" and o.unit_status == "dispatched"
                       and o.issued_at < issued_before), key=lambda o: o.order_id)

    def active_of_unit(self, unit_id: str) -> Order | None:
        return next((o for o in self.state.orders.values() if o.unit_id == unit_id and o.state == "active"), None)


class FakeUnits:
    def __init__(self, state: DispatchState):
        self.state = state

    def get(self, unit_id: str) -> UnitState | None:
        return self.state.units.get(unit_id)

    def save(self, unit: UnitState) -> None:
        stored = self.state.units[unit.unit_id]
        self.state.units[unit.unit_id] = replace(stored, status=unit.status, status_at=unit.status_at, lat=unit.lat,
                                                 lon=unit.lon, incident_id=unit.incident_id)

    def book(self, unit_id: str, incident_id: str, at: datetime) -> bool:
        unit = self.state.units.get(unit_id)
        if unit is None or unit.status != "available":
            return False
        self.state.units[unit_id] = replace(unit, status="dispatched", status_at=at, incident_id=incident_id)
        return True

    def release(self, unit_id: str, incident_id: str, at: datetime) -> bool:
        unit = self.state.units.get(unit_id)
        if unit is None or unit.incident_id != incident_id:
            return False
        self.state.units[unit_id] = replace(unit, status="available", status_at=at, incident_id=None)
        return True

    def changed_since(self, since: datetime | None) -> list[UnitState]:
        return [u for u in self.state.units.values() if since is None or u.status_at > since]


class FakeMessages:
    def __init__(self, state: DispatchState):
        self.state = state

    def publish(self, topic: str, key: str, value: Mapping[str, Any], at: datetime) -> None:
        self.state.messages.append(Message(topic, key, dict(value), at))

    def incident_changed(self, incident_id: str, change: str, at: datetime, **extra: Any) -> None:
        self.state.updated_at[incident_id] = at
        self.state.messages.append(Message("incidents", incident_id, {
            "incident_id": incident_id, "change": change, "at": iso(at), **extra}, at))


class FakeTexts:
    def __init__(self, state: DispatchState):
        self.state = state

    def owe(self, dedupe_key: str, to: str, body: str, purpose: str, at: datetime,
            incident_id: str | None = None) -> bool:
        if dedupe_key in self.state.texts:
            return False
        self.state.texts[dedupe_key] = Text(dedupe_key, to, body, purpose, at, incident_id)
        return True


class FakeTimeline:
    def __init__(self, state: DispatchState):
        self.state = state

    def add(self, incident_id: str, at: datetime, kind: str, **detail: Any) -> None:
        self.state.timeline.append((incident_id, at, kind, detail))


class FakeInbox:
    def __init__(self, state: DispatchState):
        self.state = state

    def seen(self, event_id: str) -> bool:
        return event_id in self.state.inbox

    def mark(self, event_id: str, at: datetime) -> None:
        self.state.inbox.add(event_id)


class FakeDispatchUnitOfWork:
    """A ``DispatchUnitOfWork`` in memory. ``state`` is what was committed; each ``with`` block works on a
    copy of it and keeps its work only when the service calls ``commit()``. Reusable: one per test."""

    def __init__(self, state: DispatchState | None = None):
        self.state = state or DispatchState()
        self.commits = 0
        self._work: DispatchState | None = None

    def __enter__(self) -> "FakeDispatchUnitOfWork":
        self._begin()
        return self

    def __exit__(self, *exc: object) -> None:
        self._work = None

    def _begin(self) -> None:
        work = self._work = copy.deepcopy(self.state)
        self.incidents, self.orders, self.units = FakeIncidents(work), FakeOrders(work), FakeUnits(work)
        self.messages, self.texts, self.timeline = FakeMessages(work), FakeTexts(work), FakeTimeline(work)
        self.inbox = FakeInbox(work)

    def commit(self) -> None:
        assert self._work is not None, "commit outside a unit of work"
        self.state = self._work
        self.commits += 1
        self._begin()

    def lock_incidents(self, incident_ids: Iterable[str]) -> None:
        assert self._work is not None
        self._work.locked += [f"dispatch-incident:{i}" for i in incident_ids]
