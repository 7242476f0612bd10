"""Joint 120/122 dispatch use cases: order units for an incident, escalate unacknowledged orders,
follow unit statuses, reassign, close. "联合接警、统一布警、同步出警" (公交管〔2020〕161号 [S]).

Both orders of an incident are issued in one transaction (same step), each unit is booked with a
conditional update (a unit is never double-booked; partial unique indexes back it), and a
redelivered incident finds its active orders and orders nothing twice.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from accidentlink.clock import iso
from accidentlink.incidents import IncidentFacts as Unified
from accidentlink.masking import mask_text
from accidentlink.pipeline import Context
from accidentlink.reports import AccidentReport
from connectors.sql import batch
from connectors.sql import incidents as repo
from connectors.sql.models import HospitalRow, IncidentRow, OrderRow, UnitRow
from connectors.sql.outbox import enqueue_sms
from dispatch.choose import DispatchPlan, IncidentFacts, UnitOrder, next_candidate, plan_dispatch
from dispatch.errors import NoHospitalAvailable, NoUnitAvailable
from dispatch.lifecycle import check_transition
from dispatch.ports import StraightLineTravelTime
from dispatch.resources import Hospital
from dispatch.targets import Targets, default_targets

log = logging.getLogger("accidentlink.dispatch")

ACTIVE_UNIT = ("dispatched", "acknowledged", "en_route", "on_scene", "transporting", "at_hospital")


class Dispatcher:
    """Spatial indexes over units and hospitals (kept in step with the database) and the rules."""

    def __init__(self, db: Any, clock: Any, topics: Any, targets: Targets, ack_timeout_s: int):
        from connectors.geo import HospitalIndex, UnitIndex

        self.db, self.clock, self.topics, self.targets = db, clock, topics, targets
        self.ack_timeout_s = ack_timeout_s
        self.travel = StraightLineTravelTime.from_targets(targets)
        self.units = UnitIndex()
        self._lock = threading.Lock()
        self._synced_at: datetime | None = None
        self._checked = 0.0
        self._full_at = 0.0
        self.status: dict[str, str] = {}
        self.info: dict[str, tuple[str, str | None]] = {}  # unit id -> (name, phone), for orders and texts
        self._synced_for: Any = None
        with db.read() as s:
            hospitals = [Hospital(h.hospital_id, h.name, h.lat, h.lon, h.city, h.trauma_level, h.green_channel, h.approx)
                         for h in s.scalars(select(HospitalRow))]
            self.sync(s, every_s=0)
        self.hospitals = HospitalIndex(hospitals)

    def sync(self, s: Session, every_s: float = 0.0) -> None:
        """Pick up units added, moved or changed in status since the last look (an index on
        ``status_at`` keeps this cheap). A stale "available" costs only a failed conditional booking."""
        if every_s and time.monotonic() - self._checked < every_s:
            return
        current = batch.current(s)
        if current is not None and current is self._synced_for:
            return  # once per pipeline batch
        self._synced_for = current
        full = time.monotonic() - self._full_at > 30  # now and then read everything: nothing stays stale
        self._checked = time.monotonic()
        q = select(UnitRow.unit_id, UnitRow.lat, UnitRow.lon, UnitRow.service, UnitRow.status, UnitRow.status_at,
                   UnitRow.name, UnitRow.phone)
        if self._synced_at is not None and not full:
            q = q.where(UnitRow.status_at > self._synced_at)
        if full:
            self._full_at = time.monotonic()
        with self._lock:
            for uid, lat, lon, service, status, at, name, phone in s.execute(q):
                if uid in self.units:
                    self.units.move(uid, lat, lon, service)
                else:
                    self.units.add(uid, lat, lon, service)
                self.status[uid] = status
                self.info[uid] = (name, phone)
                self._synced_at = max(self._synced_at or at, at)

    def forget(self) -> None:
        with self._lock:
            self._synced_at, self._full_at, self._synced_for = None, 0.0, None

    def available(self, unit_id: str) -> bool:
        return self.status.get(unit_id) == "available"


# ---------------------------------------------------------------- helpers
def _facts(s: Session, row: IncidentRow, parties: list[dict[str, Any]]) -> IncidentFacts:
    flags: list[str] = []
    vehicles = [p for p in parties if p.get("plate")]
    if any(p.get("licensed") is False for p in parties):
        flags.append("no_licence")
    if any(p.get("drunk") for p in parties):
        flags.append("drunk")
    if any(not (p.get("insurer") and p.get("ci_policy")) for p in vehicles):
        flags.append("no_compulsory_insurance")
    return IncidentFacts(incident_id=row.incident_id, lat=row.lat, lon=row.lon, injured=row.injured,
                         fatalities=row.fatalities, hazards=tuple(row.hazards or ()),
                         vehicles_movable=row.vehicles_movable, hit_and_run=row.hit_and_run,
                         parties_count=len(vehicles) if vehicles else len(parties), police_flags=tuple(flags))


def _orders_of(s: Session, incident_id: str) -> list[OrderRow]:
    """The incident's orders, read once per pipeline batch (an incident this batch created has none)."""
    def read() -> list[OrderRow]:
        return list(s.scalars(select(OrderRow).where(OrderRow.incident_id == incident_id)))

    cached = batch.cache(s, "orders")
    if cached is None:
        return read()
    if incident_id not in cached:
        with s.no_autoflush:  # inside a batch, the orders it issued are in the cache already
            cached[incident_id] = [] if batch.created_here(s, incident_id) else read()
    return cached[incident_id]


def _unit_sms(row: IncidentRow, order: OrderRow, hospital_name: str | None) -> str:
    what = "出警" if order.service == "122" else "出车"
    place = mask_text(row.address) if row.address else f"{row.lat:.5f},{row.lon:.5f}"
    parts = [f"【AccidentLink】{what}指令 {order.order_id}: {place}",
             f"伤{row.injured} 亡{row.fatalities}" + (" 有人被困" if "trapped" in (row.hazards or []) else ""),
             f"距离{order.distance_m / 1000:.1f}km 预计{max(1, order.eta_s // 60)}分钟"]
    if hospital_name and order.service == "120":
        parts.append(f"送往{hospital_name}")
    parts.append("回复1确认接单")
    return "，".join(parts)


def book(ctx: Context, d: Dispatcher, row: IncidentRow, o: UnitOrder, reasons: tuple[str, ...], orders: list[OrderRow],
         *, replaces: str | None = None, hospital_name: str | None = None) -> OrderRow | None:
    """Book the unit if it is still available and issue its order (Kafka message, SMS, incident change)."""
    s = ctx.session
    b = batch.current(s)
    if b is not None and b.fast:  # booked when the batch is written (trusting the status synced at its start)
        if not d.available(o.unit_id):
            return None
        b.bookings.append(batch.booking_params(o.unit_id, ctx.now, row.incident_id))
    else:
        if inspect(row).pending:  # the unit will refer to the incident: write the incident first
            s.flush()
        if not s.connection().execute(batch.booking(), batch.booking_params(o.unit_id, ctx.now, row.incident_id)).rowcount:
            return None
    name, phone = d.info.get(o.unit_id, (None, None))
    number = 1 + sum(1 for x in orders if x.service == o.service)
    order = OrderRow(order_id=f"ORD-{row.incident_id[4:]}-{o.service}-{number}", incident_id=row.incident_id, service=o.service,
                     unit_id=o.unit_id, distance_m=o.distance_m, eta_s=o.eta_s, issued_at=ctx.now, state="active",
                     unit_status="dispatched", status_times={"dispatched": iso(ctx.now)}, replaces_order_id=replaces,
                     reasons=list(reasons), overdue_flags=[])
    s.add(order)
    orders.append(order)
    ctx.emit("dispatch.orders", row.incident_id, {
        "incident_id": row.incident_id, "order_id": order.order_id, "service": o.service, "unit_id": o.unit_id,
        "distance_m": o.distance_m, "issued_at": iso(ctx.now), "eta_s": o.eta_s, "unit_name": name,
        "replaces_order_id": replaces, "schema": "dispatch-order/1"})
    if phone:
        enqueue_sms(s, ctx.consumer, f"order:{order.order_id}", phone,
                    _unit_sms(row, order, hospital_name), "dispatch_order", ctx.now, row.incident_id)
    repo.add_timeline(s, row.incident_id, ctx.now, "unit_assigned", order_id=order.order_id, service=o.service,
                      unit_id=o.unit_id, unit_name=name, distance_m=o.distance_m, eta_s=o.eta_s,
                      replaces_order_id=replaces)
    ctx.incident_changed(row.incident_id, "unit_assigned", order_id=order.order_id, service=o.service, unit_id=o.unit_id)
    return order


def _note(ctx: Context, row: IncidentRow, kind: str, text: str) -> None:
    notes = list(row.notes or [])
    if notes and notes[-1].get("kind") == kind and notes[-1].get("text") == text:
        return
    row.notes = notes + [{"at": iso(ctx.now), "kind": kind, "text": text}]
    repo.add_timeline(ctx.session, row.incident_id, ctx.now, kind, text=text)
    ctx.incident_changed(row.incident_id, kind, text=text)


def ensure_dispatch(ctx: Context, d: Dispatcher, incident_id: str, replaces: dict[str, str] | None = None) -> None:
    """Order what the incident still lacks: police, ambulance, destination hospital. Idempotent."""
    s = ctx.session
    row = repo.incident(s, incident_id)
    if row is None or row.status != "open":
        return
    d.sync(s)
    orders = _orders_of(s, incident_id)
    active = {o.service: o for o in orders if o.state == "active"}
    tried = {o.unit_id for o in orders}
    facts = _facts(s, row, repo.parties_of(s, incident_id))
    available = d.available
    try:
        with d._lock:
            plan: DispatchPlan = plan_dispatch(facts, d.units, d.hospitals, d.travel, targets=d.targets,
                                               available=available, exclude=tried)
    except NoHospitalAvailable as e:
        _note(ctx, row, "no_hospital", str(e))
        return
    if plan.quick_handling:
        if not row.quick_handling:
            row.quick_handling = True
            _note(ctx, row, "quick_handling", "; ".join(plan.reasons))
        return
    if row.quick_handling:  # a later report showed it is not minor after all
        row.quick_handling = False
    hospital_name = None
    if plan.hospital_id:
        hospital_name = d.hospitals.hospital(plan.hospital_id).name
    short = [svc for svc in plan.short if svc not in active]
    for o in plan.orders:
        if o.service in active:
            continue
        for _attempt in range(5):
            booked = book(ctx, d, row, o, plan.reasons, orders, hospital_name=hospital_name,
                          replaces=(replaces or {}).get(o.service))
            d.status[o.unit_id] = "dispatched"  # booked now, or taken by someone else meanwhile
            if booked:
                break
            # taken between the choice and the booking: choose again without it
            tried.add(o.unit_id)
            with d._lock:
                try:
                    o, _ = next_candidate(facts, d.units, d.travel, service=o.service, tried=tried,
                                          available=available, targets=d.targets)
                except NoUnitAvailable:
                    short.append(o.service)
                    break
    if plan.hospital_id and row.hospital_id is None and plan.ambulance is not None:
        from hospitals import admission_id_for

        row.hospital_id = plan.hospital_id
        eta = ctx.now + timedelta(seconds=(plan.ambulance.eta_s + (plan.hospital_eta_s or 0)))
        adm_id = admission_id_for(incident_id, plan.hospital_id)
        injuries = {"injured": row.injured, "fatalities": row.fatalities, "trapped": "trapped" in (row.hazards or []),
                    "serious": plan.serious, "hazards": row.hazards or []}
        repo.add_timeline(s, incident_id, ctx.now, "hospital_assigned", hospital_id=plan.hospital_id,
                          hospital_name=hospital_name, admission_id=adm_id, eta_at=iso(eta),
                          reasons=[r for r in plan.reasons if "hospital" in r or "医院" in r])
        # the pre-arrival notice travels to the hospitals context with the change (its own store records it)
        ctx.incident_changed(incident_id, "hospital_assigned", hospital_id=plan.hospital_id, admission_id=adm_id,
                             patients=max(1, row.injured + row.fatalities), injuries=injuries, eta_at=iso(eta))
    for service in dict.fromkeys(short):  # last, so the escalation round sees the incident waits
        _note(ctx, row, "no_unit_available", f"no available {service} unit: retrying (无可用{service}单位，系统将重试)")


# ---------------------------------------------------------------- the pipeline
class DispatchHandler:
    """The ``dispatch`` consumer group: every report's incident gets what it lacks; a timer
    escalates orders nobody acknowledged and retries incidents still waiting for a free unit."""

    def __init__(self, dispatcher: Dispatcher):
        self.d = dispatcher

    @classmethod
    def build(cls, c: Any) -> "DispatchHandler":
        targets = default_targets()
        ack = c.settings.ack_timeout_s or targets.acknowledge_timeout_s
        return cls(Dispatcher(c.store("dispatch"), c.clock, c.topics, targets, ack))

    def prepare(self, ctx: Context, reports: list[AccidentReport]) -> None:
        """Once per batch: the orders of the incidents other pipelines already recorded, in one query."""
        s = ctx.session
        cached = batch.cache(s, "orders")
        incidents = ctx.existing_incidents - set(cached or ())
        if cached is None or not incidents:
            return
        for i in incidents:
            cached[i] = []
        with s.no_autoflush:
            for o in s.scalars(select(OrderRow).where(OrderRow.incident_id.in_(incidents))):
                cached[o.incident_id].append(o)

    def __call__(self, ctx: Context, report: AccidentReport, incident: Unified) -> None:
        ensure_dispatch(ctx, self.d, incident.incident_id)

    def rolled_back(self) -> None:
        """Work was rolled back: the unit statuses it set in memory may be wrong; read them all again."""
        self.d.forget()

    def timers(self) -> list[tuple[float, Any]]:
        return [(2.0, self.escalate)]

    def topics(self) -> dict[str, Any]:
        return {"incidents": self.on_incident_changes}

    def on_incident_changes(self, messages: list[Any]) -> None:
        """What other contexts say about an incident that its dispatcher should see: the claims pipeline's
        reason a minor crash may not be settled online becomes a note on dispatch's incident."""
        from accidentlink.pipeline import changes_among, unseen_events

        wanted = changes_among(messages, *NOTED_CHANGES)
        if not wanted:
            return
        d = self.d
        with d.db.uow() as uow:
            ctx = Context(uow, "dispatch", d.clock.now(), d.topics)
            for v in unseen_events(uow.session, "dispatch", wanted, "event_id", ctx.now):
                row = uow.session.get(IncidentRow, v["incident_id"])
                if not isinstance(v.get("text"), str):
                    continue
                if row is None:
                    log.warning("a %s note for %s came before dispatch's copy of the incident", v["change"],
                                v["incident_id"])
                    continue
                if not any(n.get("kind") == v["change"] for n in row.notes or []):
                    row.notes = (row.notes or []) + [{"at": iso(ctx.now), "kind": v["change"], "text": v["text"]}]
                    repo.add_timeline(uow.session, row.incident_id, ctx.now, v["change"], text=v["text"])
            uow.commit()


    def escalate(self) -> int:
        """Release units that did not acknowledge in time and order the next nearest; retry waiting incidents.
        Most rounds find nothing to do: they look in a read transaction and never take the write lock."""
        from accidentlink.pipeline import Context

        d = self.d
        now = d.clock.now()
        with d.db.read() as s:
            late_ids = list(s.scalars(select(OrderRow.order_id).where(
                OrderRow.state == "active", OrderRow.unit_status == "dispatched",
                OrderRow.issued_at < now - timedelta(seconds=d.ack_timeout_s))))
            waiting = [i for i, notes in s.execute(select(IncidentRow.incident_id, IncidentRow.notes).where(
                IncidentRow.status == "open", IncidentRow.updated_at > now - timedelta(hours=6))
                .order_by(IncidentRow.updated_at.desc()).limit(200)) if _waits_for_a_unit(notes)]
        if not late_ids and not waiting:
            return 0
        n = 0
        with d.db.uow() as uow:
            touched = set(waiting) | set(uow.session.scalars(select(OrderRow.incident_id).where(
                OrderRow.order_id.in_(late_ids))))
            uow.lock_all([f"dispatch-incident:{i}" for i in touched])  # as the pipeline's batches take them
            ctx = Context(uow, "dispatch", d.clock.now(), d.topics)
            s = uow.session
            late = s.scalars(select(OrderRow).where(OrderRow.order_id.in_(late_ids), OrderRow.state == "active",
                                                    OrderRow.unit_status == "dispatched")).all()  # still late
            for o in late:
                release(ctx, o, "released", f"no acknowledgement within {d.ack_timeout_s}s (超时未确认)")
                row = s.get(IncidentRow, o.incident_id)
                _note(ctx, row, "escalated", f"{o.service} unit {o.unit_id} did not acknowledge within "
                                              f"{d.ack_timeout_s}s; ordering the next nearest (升级派单)")
                ensure_dispatch(ctx, d, o.incident_id, replaces={o.service: o.order_id})
                n += 1
            for incident_id in waiting:
                row = s.get(IncidentRow, incident_id)
                if row.status == "open" and _waits_for_a_unit(row.notes):  # still waiting
                    ensure_dispatch(ctx, d, incident_id)
            uow.commit()
        return n


NOTED_CHANGES = ("quick_refused",)  # other contexts' incident changes that become notes on dispatch's incident


def _waits_for_a_unit(notes: list[dict[str, Any]] | None) -> bool:
    return bool(notes) and notes[-1].get("kind") == "no_unit_available"  # type: ignore[index]


def release(ctx: Context, o: OrderRow, state: str, why: str) -> None:
    """End an order; its unit becomes available again (the unit record keeps where it is)."""
    s = ctx.session
    o.state = state
    o.status_times = {**(o.status_times or {}), state: iso(ctx.now)}
    unit = s.get(UnitRow, o.unit_id)
    if unit is not None and unit.incident_id == o.incident_id:
        unit.status, unit.incident_id, unit.status_at = "available", None, ctx.now
        unit.version += 1
    repo.add_timeline(s, o.incident_id, ctx.now, f"order_{state}", order_id=o.order_id, unit_id=o.unit_id, why=why)
    ctx.incident_changed(o.incident_id, "unit_status", order_id=o.order_id, unit_id=o.unit_id, unit_status="available",
                         order_state=state)


# ---------------------------------------------------------------- the dispatcher's actions (HTTP)
_dispatchers: dict[int, Dispatcher] = {}


def dispatcher_for(c: Any) -> Dispatcher:
    d = _dispatchers.get(id(c))
    if d is None:
        targets = default_targets()
        d = _dispatchers[id(c)] = Dispatcher(c.store("dispatch"), c.clock, c.topics, targets, c.settings.ack_timeout_s)
    return d


def _web_ctx(uow: Any, c: Any) -> Context:
    return Context(uow, "web", c.clock.now(), c.topics)


def update_unit_status(c: Any, unit_id: str, status: str, p: Any, audit: Any, *, lat: float | None = None,
                       lon: float | None = None, note: str = "") -> dict[str, Any]:
    """A unit's new status (dispatched → acknowledged → en_route → on_scene → transporting → at_hospital
    → available), with its time on the order: the response-time figures come from these."""
    with c.store("dispatch").uow() as uow:
        s = uow.session
        unit = s.get(UnitRow, unit_id)
        if unit.incident_id:  # the same lock as the pipeline and the escalation round take for the incident
            uow.lock(f"dispatch-incident:{unit.incident_id}")
            s.refresh(unit)
        ctx = _web_ctx(uow, c)
        old = unit.status
        if old == status:
            return {"unit_id": unit_id, "status": status, "changed": False}
        check_transition(old, status)
        order = s.scalar(select(OrderRow).where(OrderRow.unit_id == unit_id, OrderRow.state == "active"))
        unit.status, unit.status_at, unit.version = status, ctx.now, unit.version + 1
        if lat is not None and lon is not None:
            unit.lat, unit.lon = lat, lon
        out: dict[str, Any] = {"unit_id": unit_id, "status": status, "previous": old, "changed": True}
        if order is not None:
            order.unit_status = status
            order.status_times = {**(order.status_times or {}), status: iso(ctx.now)}
            if status in ("available", "out_of_service"):
                order.state = "completed" if "on_scene" in order.status_times else "cancelled"
                unit.incident_id = None
            repo.add_timeline(s, order.incident_id, ctx.now, "unit_status", unit_id=unit_id, status=status,
                              order_id=order.order_id, note=note[:200])
            ctx.incident_changed(order.incident_id, "unit_status", unit_id=unit_id, unit_status=status,
                                 order_id=order.order_id)
            out["order_id"] = order.order_id
            out["figures"] = order_figures(s.get(IncidentRow, order.incident_id), order)
        elif status in ("available", "out_of_service"):
            unit.incident_id = None
        audit(c, s, p, "unit.status", unit_id, status=status, previous=old)
        uow.commit()
    return out


def order_figures(inc: IncidentRow, order: OrderRow, now: datetime | None = None) -> dict[str, Any] | None:
    """Response-time figures of one order against the targets (domain.md §5), and what is late now."""
    from dispatch.response_times import Timestamps, overdue_steps, response_figures

    st = {k: datetime.fromisoformat(v) for k, v in (order.status_times or {}).items()}
    try:
        ts = Timestamps(service=order.service, intake_at=min(inc.first_reported_at, order.issued_at),
                        ordered_at=order.issued_at, acknowledged_at=st.get("acknowledged"), out_at=st.get("en_route"),
                        on_scene_at=st.get("on_scene"), at_hospital_at=st.get("at_hospital"))
    except ValueError:  # a unit reported steps out of order: show no figures rather than wrong ones
        return None
    f = response_figures(ts)
    out = {k: getattr(f, k) for k in ("intake_to_order_s", "order_to_ack_s", "order_to_out_s", "order_to_on_scene_s",
                                      "intake_to_on_scene_s", "on_scene_to_hospital_s", "night")}
    out["overdue"] = [str(o) for o in f.overdue]
    if now is not None and order.state == "active":
        out["overdue_now"] = [str(o) for o in overdue_steps(ts, now)]
    return out


def _incident_for_update(uow: Any, c: Any, incident_id: str) -> tuple[Context, IncidentRow]:
    """A dispatcher's action on one incident: under the incident's lock, as the pipeline and escalation take it."""
    uow.lock(f"dispatch-incident:{incident_id}")
    ctx = _web_ctx(uow, c)
    row = uow.session.get(IncidentRow, incident_id)
    if row is None:
        raise LookupError(f"no incident {incident_id}")
    return ctx, row


def close_incident(c: Any, incident_id: str, p: Any, reason: str, classification: str | None, audit: Any) -> dict[str, Any]:
    with c.store("dispatch").uow() as uow:
        ctx, row = _incident_for_update(uow, c, incident_id)
        s = uow.session
        if row.status == "closed":
            return {**repo.snapshot(s, row), "changed": False}
        for o in s.scalars(select(OrderRow).where(OrderRow.incident_id == incident_id, OrderRow.state == "active")):
            release(ctx, o, "completed" if (o.status_times or {}).get("on_scene") else "cancelled", "incident closed")
        row.status, row.closed_at = "closed", ctx.now
        row.notes = (row.notes or []) + [{"at": iso(ctx.now), "kind": "closed", "text": reason[:500],
                                          "police_classification": classification}]
        repo.add_timeline(s, incident_id, ctx.now, "closed", reason=reason[:500], police_classification=classification)
        ctx.incident_changed(incident_id, "closed", police_classification=classification)
        audit(c, s, p, "incident.close", incident_id, reason=reason[:200], police_classification=classification)
        uow.commit()
        return {**repo.snapshot(s, row), "changed": True}


def reassign_unit(c: Any, incident_id: str, service: str, p: Any, reason: str, audit: Any) -> dict[str, Any]:
    d = dispatcher_for(c)
    with c.store("dispatch").uow() as uow:
        ctx, row = _incident_for_update(uow, c, incident_id)
        s = uow.session
        if row.status != "open":
            raise NoUnitAvailable(service, "the incident is closed")
        replaced = {}
        for o in s.scalars(select(OrderRow).where(OrderRow.incident_id == incident_id, OrderRow.service == service,
                                                  OrderRow.state == "active")):
            release(ctx, o, "released", f"reassigned by the dispatcher: {reason[:200]}")
            replaced[service] = o.order_id
        _note(ctx, row, "reassigned", f"{service} reassigned by {p.name}: {reason[:200]}")
        ensure_dispatch(ctx, d, incident_id, replaces=replaced)
        audit(c, s, p, "incident.reassign", incident_id, service=service, reason=reason[:200])
        uow.commit()
        return repo.snapshot(s, row)
