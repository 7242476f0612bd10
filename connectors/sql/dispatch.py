"""The dispatch store behind the dispatch ports (``dispatch.ports``): rows <-> ``dispatch.records``, and the
``dispatch`` consumer group's entry points, which drive ``dispatch.services``.

A ``SqlDispatchUnitOfWork`` is a transaction of its own on the dispatch store (the escalation round, the
``incidents`` consumer), a read-only one (the escalation round's first look takes no write lock), or part
of a transaction its caller owns and commits (``joining``): a pipeline batch, or an HTTP request that writes
its audit line beside the action. Inside a pipeline batch (``connectors.sql.batch``) the fast pass writes in
bulk at the batch's end: units are booked by one conditional statement then, and a unit taken meanwhile
fails the whole batch, which is done again carefully, each message in its own savepoint and each booking
checked at once. An incident's orders are read once per batch (``DispatchHandler.prepare``). The services
see none of this.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Callable, Collection, Iterable, Mapping, Protocol

from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accidentlink.clock import Clock, iso
from accidentlink.incidents import IncidentFacts
from accidentlink.pipeline import Context, RawMessage, TopicNames, changes_among, readable_events
from accidentlink.reports import AccidentReport
from connectors.sql import batch
from connectors.sql import incidents as repo
from connectors.sql.db import Database, UnitOfWork
from connectors.sql.models import HospitalRow, IncidentRow, OrderRow, UnitRow
from connectors.sql.outbox import emit, enqueue_sms
from connectors.sql.store_uow import SqlInbox, StoreUnitOfWork
from dispatch.commands import DispatchIncident, EscalationRound, OtherContextChange
from dispatch.ports import OrderConflict
from dispatch.records import Incident, Note, Order, Party, UnitState
from dispatch.resources import Hospital
from dispatch.services import (
    NOTED_CHANGES, dispatch_incident, due_for_escalation, escalate_unacknowledged, note_from_other_context,
)
from dispatch.targets import Targets, default_targets
from dispatch.units_index import UnitsIndex

CONSUMER = "dispatch"
ESCALATE_EVERY_S = 2.0


# ---------------------------------------------------------------- rows <-> records
def _set(row: Any, **values: Any) -> None:
    """Assign only what differs (an unchanged JSON column is not written again)."""
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)


def note_from_json(d: Mapping[str, Any]) -> Note:
    return Note(at=datetime.fromisoformat(d["at"]), kind=d["kind"], text=d.get("text", ""),
                extra={k: v for k, v in d.items() if k not in ("at", "kind", "text")})


def note_json(n: Note) -> dict[str, Any]:
    return {"at": iso(n.at), "kind": n.kind, "text": n.text, **n.extra}


def incident_from_row(row: IncidentRow) -> Incident:
    return Incident(
        incident_id=row.incident_id, lat=row.lat, lon=row.lon, address=row.address,
        first_reported_at=row.first_reported_at, last_reported_at=row.last_reported_at, injured=row.injured,
        fatalities=row.fatalities, vehicles_movable=row.vehicles_movable, hit_and_run=row.hit_and_run,
        hazards=tuple(row.hazards or ()), plates=tuple(row.plates or ()), sources=tuple(row.sources or ()),
        status=row.status, hospital_id=row.hospital_id, quick_handling=bool(row.quick_handling),
        notes=tuple(note_from_json(n) for n in row.notes or ()), closed_at=row.closed_at)


def facts_of(incident: Incident) -> IncidentFacts:
    return IncidentFacts(
        incident_id=incident.incident_id, lat=incident.lat, lon=incident.lon, address=incident.address,
        first_reported_at=incident.first_reported_at, last_reported_at=incident.last_reported_at,
        injured=incident.injured, fatalities=incident.fatalities, vehicles_movable=incident.vehicles_movable,
        hit_and_run=incident.hit_and_run, hazards=incident.hazards, plates=incident.plates, report_ids=(),
        sources=incident.sources, status=incident.status)


def party_from_json(p: Mapping[str, Any]) -> Party:
    return Party(plate=p.get("plate") or None, unlicensed=p.get("licensed") is False, drunk=bool(p.get("drunk")),
                 insured=bool(p.get("insurer") and p.get("ci_policy")))


def times_json(times: Mapping[str, datetime]) -> dict[str, str]:
    return {k: iso(v) for k, v in times.items()}


def order_from_row(row: OrderRow) -> Order:
    return Order(
        order_id=row.order_id, incident_id=row.incident_id, service=row.service, unit_id=row.unit_id,
        distance_m=row.distance_m, eta_s=row.eta_s, issued_at=row.issued_at, state=row.state,
        unit_status=row.unit_status,
        status_times={k: datetime.fromisoformat(v) for k, v in (row.status_times or {}).items()},
        replaces_order_id=row.replaces_order_id, reasons=tuple(row.reasons or ()))


def order_row(order: Order) -> OrderRow:
    return OrderRow(
        order_id=order.order_id, incident_id=order.incident_id, service=order.service, unit_id=order.unit_id,
        distance_m=order.distance_m, eta_s=order.eta_s, issued_at=order.issued_at, state=order.state,
        unit_status=order.unit_status, status_times=times_json(order.status_times),
        replaces_order_id=order.replaces_order_id, reasons=list(order.reasons), overdue_flags=[])


# in the order of ``UnitState``'s fields
UNIT_COLUMNS = (UnitRow.unit_id, UnitRow.service, UnitRow.name, UnitRow.lat, UnitRow.lon, UnitRow.status,
                UnitRow.status_at, UnitRow.phone, UnitRow.incident_id)


def hospital_from_row(h: HospitalRow) -> Hospital:
    return Hospital(h.hospital_id, h.name, h.lat, h.lon, h.city, h.trauma_level, h.green_channel, h.approx)


# ---------------------------------------------------------------- repositories
class SqlIncidents:
    def __init__(self, session: Session):
        self.session = session

    def get(self, incident_id: str) -> Incident | None:
        row = repo.incident(self.session, incident_id)
        return incident_from_row(row) if row is not None else None

    def add(self, incident: Incident, at: datetime) -> None:
        self._own_state(repo.save_facts(self.session, facts_of(incident), at, new=True), incident)

    def save(self, incident: Incident) -> None:
        row = repo.incident(self.session, incident.incident_id)
        assert row is not None, f"no copy of {incident.incident_id} to save"
        self._own_state(row, incident)

    @staticmethod
    def _own_state(row: IncidentRow, incident: Incident) -> None:
        _set(row, status=incident.status, hospital_id=incident.hospital_id, quick_handling=incident.quick_handling,
             notes=[note_json(n) for n in incident.notes], closed_at=incident.closed_at)

    def parties(self, incident_id: str) -> tuple[Party, ...]:
        return tuple(party_from_json(p) for p in repo.parties_of(self.session, incident_id))

    def latest_notes(self, updated_after: datetime, limit: int) -> list[tuple[str, Note | None]]:
        rows = self.session.execute(select(IncidentRow.incident_id, IncidentRow.notes).where(
            IncidentRow.status == "open", IncidentRow.updated_at > updated_after)
            .order_by(IncidentRow.updated_at.desc()).limit(limit))
        return [(i, note_from_json(notes[-1]) if notes else None) for i, notes in rows]


class SqlOrders:
    """Inside a pipeline batch, an incident's orders are read once (``prefetch``: all the batch's
    incidents in one query) and kept in the batch's cache with the orders it issues."""

    def __init__(self, session: Session):
        self.session = session

    def _query(self, *where: Any) -> list[OrderRow]:
        return list(self.session.scalars(select(OrderRow).where(*where).order_by(OrderRow.issued_at, OrderRow.order_id)))

    def prefetch(self, incident_ids: Collection[str]) -> None:
        s = self.session
        cached = batch.cache(s, "orders")
        missing = set(incident_ids) - set(cached or ())
        if cached is None or not missing:
            return
        for i in missing:
            cached[i] = []
        with s.no_autoflush:
            for row in self._query(OrderRow.incident_id.in_(missing)):
                cached[row.incident_id].append(row)

    def _rows_of(self, incident_id: str) -> list[OrderRow]:
        s = self.session
        cached = batch.cache(s, "orders")
        if cached is None:
            return self._query(OrderRow.incident_id == incident_id)
        if incident_id not in cached:
            with s.no_autoflush:  # inside a batch, the orders it issued are in the cache already
                cached[incident_id] = [] if batch.created_here(s, incident_id) else self._query(
                    OrderRow.incident_id == incident_id)
        rows: list[OrderRow] = cached[incident_id]
        return rows

    def of_incident(self, incident_id: str) -> list[Order]:
        return [order_from_row(r) for r in self._rows_of(incident_id)]

    def add(self, order: Order) -> None:
        s, row = self.session, order_row(order)
        cached = batch.cache(s, "orders")
        if cached is not None:  # written with the batch: a conflict then fails it, and it is done carefully
            s.add(row)
            if order.incident_id in cached:
                cached[order.incident_id].append(row)
            return
        s.flush()
        try:
            with s.begin_nested():
                s.add(row)
                s.flush()
        except IntegrityError as e:
            raise OrderConflict(f"order {order.order_id} refused: {e.orig}") from None

    def save(self, order: Order) -> None:
        cached = batch.cache(self.session, "orders") or {}
        row = next((r for r in cached.get(order.incident_id, ()) if r.order_id == order.order_id), None)
        row = row or self.session.get_one(OrderRow, order.order_id)
        _set(row, state=order.state, unit_status=order.unit_status, status_times=times_json(order.status_times))

    def get_many(self, order_ids: Collection[str]) -> list[Order]:
        if not order_ids:
            return []
        return [order_from_row(r) for r in self.session.scalars(
            select(OrderRow).where(OrderRow.order_id.in_(list(order_ids))).order_by(OrderRow.order_id))]

    def unacknowledged(self, issued_before: datetime) -> list[Order]:
        return [order_from_row(r) for r in self.session.scalars(select(OrderRow).where(
            OrderRow.state == "active", OrderRow.unit_status == "dispatched", OrderRow.issued_at < issued_before)
            .order_by(OrderRow.order_id))]

    def active_of_unit(self, unit_id: str) -> Order | None:
        row = self.session.scalar(select(OrderRow).where(OrderRow.unit_id == unit_id, OrderRow.state == "active"))
        return order_from_row(row) if row is not None else None


class SqlUnits:
    def __init__(self, session: Session):
        self.session = session

    def get(self, unit_id: str) -> UnitState | None:
        found = self.session.execute(select(*UNIT_COLUMNS).where(UnitRow.unit_id == unit_id)).first()
        return UnitState(*found) if found is not None else None

    def save(self, unit: UnitState) -> None:
        row = self.session.get_one(UnitRow, unit.unit_id)
        _set(row, status=unit.status, status_at=unit.status_at, lat=unit.lat, lon=unit.lon,
             incident_id=unit.incident_id)
        row.version += 1

    def book(self, unit_id: str, incident_id: str, at: datetime) -> bool:
        s = self.session
        params = batch.booking_params(unit_id, at, incident_id)
        b = batch.current(s)
        if b is not None and b.fast:  # booked when the batch is written, with one statement for all
            booked = batch.cache(s, "booked_units")
            assert booked is not None
            if unit_id in booked:
                return False
            booked[unit_id] = incident_id
            b.bookings.append(params)
            return True
        row = repo.incident(s, incident_id)
        if row is not None and inspect(row).pending:  # the unit will refer to the incident: write the incident first
            s.flush()
        return bool(s.connection().execute(batch.booking(), params).rowcount)

    def release(self, unit_id: str, incident_id: str, at: datetime) -> bool:
        row = self.session.get(UnitRow, unit_id)
        if row is None or row.incident_id != incident_id:
            return False
        row.status, row.incident_id, row.status_at = "available", None, at
        row.version += 1
        return True

    def changed_since(self, since: datetime | None) -> list[UnitState]:
        q = select(*UNIT_COLUMNS)
        if since is not None:
            q = q.where(UnitRow.status_at > since)
        return [UnitState(*r) for r in self.session.execute(q)]


class SqlMessages:
    def __init__(self, tx: UnitOfWork, owner: str, topics: TopicNames):
        self.tx, self.owner, self.topics = tx, owner, topics

    def publish(self, topic: str, key: str, value: Mapping[str, Any], at: datetime) -> None:
        emit(self.tx.session, self.owner, self.topics.name(topic), key, dict(value), at)

    def incident_changed(self, incident_id: str, change: str, at: datetime, **extra: Any) -> None:
        Context(self.tx, self.owner, at, self.topics).incident_changed(incident_id, change, **extra)


class SqlTexts:
    def __init__(self, session: Session, owner: str):
        self.session, self.owner = session, owner

    def owe(self, dedupe_key: str, to: str, body: str, purpose: str, at: datetime,
            incident_id: str | None = None) -> bool:
        return enqueue_sms(self.session, self.owner, dedupe_key, to, body, purpose, at, incident_id)


class SqlTimeline:
    def __init__(self, session: Session):
        self.session = session

    def add(self, incident_id: str, at: datetime, kind: str, **detail: Any) -> None:
        repo.add_timeline(self.session, incident_id, at, kind, **detail)


# ---------------------------------------------------------------- the unit of work
class SqlDispatchUnitOfWork(StoreUnitOfWork):
    """``dispatch.ports.DispatchUnitOfWork`` on the dispatch store (``connectors.sql.store_uow``); its owner is
    ``dispatch``, or ``web`` for the dispatchers' and units' actions."""

    incidents: SqlIncidents
    orders: SqlOrders
    units: SqlUnits
    messages: SqlMessages
    texts: SqlTexts
    timeline: SqlTimeline
    inbox: SqlInbox

    def _bind(self, s: Session) -> None:
        assert self._tx is not None
        self.incidents, self.orders, self.units = SqlIncidents(s), SqlOrders(s), SqlUnits(s)
        self.messages, self.texts = SqlMessages(self._tx, self.owner, self._topics), SqlTexts(s, self.owner)
        self.timeline, self.inbox = SqlTimeline(s), SqlInbox(s, self.owner)

    def lock_incidents(self, incident_ids: Iterable[str]) -> None:
        self.lock_all(incident_locks(incident_ids))


def incident_locks(incident_ids: Iterable[str]) -> list[str]:
    """Dispatch's lock per incident: its pipeline batches, the escalation round and the desk's actions take it."""
    return [f"dispatch-incident:{i}" for i in incident_ids]


class DispatchUows(Protocol):
    """How the wiring (``accidentlink.bootstrap.Container.dispatch_uow``) hands out dispatch's units of work."""

    def __call__(self, owner: str = ..., *, joining: Session | None = None,
                 read_only: bool = False) -> SqlDispatchUnitOfWork: ...


def load_fleet(db: Database, targets: Targets | None = None) -> UnitsIndex:
    """The units and hospitals of the dispatch store, in memory (one per process)."""
    from connectors.geo import HospitalIndex, UnitIndex

    with db.read() as s:
        hospitals = [hospital_from_row(h) for h in s.scalars(select(HospitalRow))]
        fleet = UnitsIndex(UnitIndex(), HospitalIndex(hospitals), targets or default_targets())
        fleet.refresh(SqlUnits(s))
    return fleet


# ---------------------------------------------------------------- the consumer group
class DispatchHandler:
    """The ``dispatch`` consumer group: every report's incident gets what it lacks; a timer escalates
    orders nobody acknowledged and retries incidents still waiting for a free unit; other contexts'
    incident changes become notes. Each entry point calls one use case with a unit of work."""

    def __init__(self, uows: DispatchUows, clock: Clock, fleet: UnitsIndex, ack_timeout_s: int | None = None):
        self.uows, self.clock, self.fleet = uows, clock, fleet
        self.ack_timeout_s = ack_timeout_s or fleet.targets.acknowledge_timeout_s
        self._batch: tuple[Context, SqlDispatchUnitOfWork] | None = None

    def _in_batch(self, ctx: Context) -> SqlDispatchUnitOfWork:
        """One unit of work per pipeline batch (the fleet reads the store's changes once per unit of work)."""
        if self._batch is None or self._batch[0] is not ctx:
            self._batch = (ctx, self.uows(ctx.consumer, joining=ctx.session))
        return self._batch[1]

    def prepare(self, ctx: Context, reports: list[AccidentReport]) -> None:
        """Once per batch: the orders of the incidents the store already had, in one query."""
        self._in_batch(ctx).orders.prefetch(ctx.existing_incidents)

    def __call__(self, ctx: Context, report: AccidentReport, incident: IncidentFacts) -> None:
        dispatch_incident(DispatchIncident(incident.incident_id, ctx.now), self._in_batch(ctx), self.fleet)

    def rolled_back(self) -> None:
        """Work was rolled back: the unit statuses it set in memory may be wrong; read them all again."""
        self.fleet.forget()

    def timers(self) -> list[tuple[float, Callable[[], int]]]:
        return [(ESCALATE_EVERY_S, self.escalate)]

    def topics(self) -> dict[str, Callable[[list[RawMessage]], None]]:
        return {"incidents": self.on_incident_changes}

    def escalate(self) -> int:
        """Look in a read transaction first: most rounds find nothing and never take the write lock."""
        with self.uows(CONSUMER, read_only=True) as uow:
            due = due_for_escalation(EscalationRound(self.clock.now(), self.ack_timeout_s), uow)
        if not due:
            return 0
        with self.uows(CONSUMER) as uow:
            return escalate_unacknowledged(replace(due, at=self.clock.now()), uow, self.fleet)

    def on_incident_changes(self, messages: list[RawMessage]) -> None:
        wanted = changes_among(messages, *NOTED_CHANGES)
        if not wanted:
            return
        with self.uows(CONSUMER) as uow:
            at = self.clock.now()
            for event_id, v in readable_events(CONSUMER, wanted, "event_id"):
                text = v.get("text")
                note_from_other_context(OtherContextChange(event_id, v["incident_id"], v["change"],
                                                           text if isinstance(text, str) else None, at), uow)
