"""Joint 120/122 dispatch use cases: order units for an incident, escalate unacknowledged orders,
follow unit statuses, close, reassign, keep other contexts' notes. "联合接警、统一布警、同步出警"
(公交管〔2020〕161号 [S]).

Every service has one shape: ``verb(command_or_event, uow, *collaborators) -> result``. It loads from the
unit of work (``dispatch.ports.DispatchUnitOfWork``), lets the domain decide (``dispatch.choose``,
``dispatch.lifecycle``), records what happened (orders, messages, texts, timeline) and commits. Both
orders of an incident are issued in the same unit of work (same step); the store books a unit only
while it is available, so a unit is never double-booked; a redelivered incident finds its active
orders and orders nothing twice.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from accidentlink.clock import iso
from dispatch import texts
from dispatch.choose import (
    Candidate, DispatchPlan, IncidentFacts, UnitOrder, candidates, choose_hospital, next_candidate, plan_dispatch, reach_m,
)
from dispatch.commands import (
    CloseIncident, DispatchIncident, Escalation, EscalationRound, OrderChosenUnit, OtherContextChange, ReassignUnit,
    ReopenIncident, UpdateUnitStatus,
)
from dispatch.desk import straight_line_m
from dispatch.errors import (
    IncidentClosed, NoHospitalAvailable, NoUnitAvailable, NoUnitNearby, PatientAboard, ServiceBusy, UnitNotAvailable,
)
from dispatch.figures import order_figures
from dispatch.lifecycle import check_transition
from dispatch.notes import repeats_the_wait, with_note
from dispatch.ports import DispatchUnitOfWork, Fleet
from dispatch.records import Incident, Note, Order, Party
from dispatch.texts import order_text

log = logging.getLogger("accidentlink.dispatch")

ORDERS_TOPIC = "dispatch.orders"
ORDER_SCHEMA = "dispatch-order/1"
BOOKING_ATTEMPTS = 5  # a unit taken between the choice and the booking: choose again, this many times
WAITING_LOOKBACK = timedelta(hours=6)  # incidents still waiting for a unit, among those changed this recently
WAITING_AT_MOST = 200
NOTED_CHANGES = ("quick_refused",)  # other contexts' incident changes that become notes on dispatch's incident
STANDS_DOWN = ("available", "out_of_service")  # a unit's statuses that end its order
PATIENT_ABOARD = ("transporting",)  # an ambulance carrying a patient: closing its incident asks first (issue 15)


@dataclass(frozen=True)
class UnitStatusChange:
    unit_id: str
    status: str
    previous: str
    changed: bool
    order_id: str | None = None
    figures: dict[str, Any] | None = None


@dataclass(frozen=True)
class Closed:
    incident_id: str
    changed: bool


# ---------------------------------------------------------------- ordering units
def dispatch_incident(cmd: DispatchIncident, uow: DispatchUnitOfWork, fleet: Fleet) -> tuple[Order, ...]:
    """Order what the incident still lacks: police, ambulance, destination hospital. Idempotent."""
    issued = _dispatch(cmd, uow, fleet)
    uow.commit()
    return issued


def _dispatch(cmd: DispatchIncident, uow: DispatchUnitOfWork, fleet: Fleet) -> tuple[Order, ...]:
    at = cmd.at
    incident = uow.incidents.get(cmd.incident_id)
    if incident is None or incident.status != "open":
        return ()
    fleet.refresh(uow.units)
    orders = uow.orders.of_incident(incident.incident_id)
    active = {o.service for o in orders if o.state == "active"}
    tried = {o.unit_id for o in orders}
    facts = incident_facts(incident, uow.incidents.parties(incident.incident_id))
    try:
        with fleet.choosing():
            plan: DispatchPlan = plan_dispatch(facts, fleet.units, fleet.hospitals, fleet.travel, targets=fleet.targets,
                                               available=fleet.available, exclude=tried)
    except NoHospitalAvailable:
        _note(incident, "no_hospital", texts.no_hospital(), uow, at)
        return ()
    if plan.quick_handling:
        if not incident.quick_handling:
            incident = replace(incident, quick_handling=True)
            uow.incidents.save(incident)
            _note(incident, "quick_handling", texts.quick_handling(), uow, at)
        return ()
    if incident.quick_handling:  # a later report showed it is not minor after all
        incident = replace(incident, quick_handling=False)
        uow.incidents.save(incident)
    hospital_name = fleet.hospitals.hospital(plan.hospital_id).name if plan.hospital_id else None
    short = [svc for svc in plan.short if svc not in active]
    why_short: dict[str, NoUnitAvailable] = {e.service: e for e in plan.shortfalls}
    issued: list[Order] = []
    for o in plan.orders:
        if o.service in active:
            continue
        for _attempt in range(BOOKING_ATTEMPTS):
            order = _issue(incident, o, plan.reasons, orders, uow, fleet, at, hospital_name=hospital_name,
                           replaces=cmd.replaces.get(o.service))
            fleet.mark(o.unit_id, "dispatched")  # booked now, or taken by someone else meanwhile
            if order is not None:
                issued.append(order)
                break
            tried.add(o.unit_id)  # taken between the choice and the booking: choose again without it
            try:
                with fleet.choosing():
                    o, _ = next_candidate(facts, fleet.units, fleet.travel, service=o.service, tried=tried,
                                          available=fleet.available, targets=fleet.targets)
            except NoUnitAvailable as e:
                short.append(o.service)
                why_short[o.service] = e
                break
    if plan.hospital_id and incident.hospital_id is None and plan.ambulance is not None:
        incident = _assign_hospital(incident, plan, hospital_name, uow, at)
    short = list(dict.fromkeys(short))
    for service in short:  # last, so the escalation round sees the incident waits
        text, extra = _shortfall(service, why_short.get(service), fleet)
        incident = _note(incident, "no_unit_available", text, uow, at, extra, same_within=len(short))
    return tuple(issued)


def _shortfall(service: str, e: NoUnitAvailable | None, fleet: Fleet) -> tuple[tuple[str, str], dict[str, Any]]:
    """The "no unit nearby" note of one service (附近无可用单位): nothing was ordered from beyond the unit's
    reach (targets.json ``unit_reach_m``); the nearest free unit and its distance, for the dispatcher."""
    reach = e.reach_m if isinstance(e, NoUnitNearby) else reach_m(service, fleet.targets)
    nearest = e.nearest if isinstance(e, NoUnitNearby) else None
    name = (fleet.contact(nearest[0])[0] or nearest[0]) if nearest else None
    dist = int(round(nearest[1])) if nearest else None
    return (texts.no_unit_nearby(service, reach, name, dist),
            {"service": service, "reach_m": reach, "nearest_unit_id": nearest[0] if nearest else None,
             "nearest_unit_name": name, "nearest_distance_m": dist})


def incident_facts(incident: Incident, parties: tuple[Party, ...]) -> IncidentFacts:
    """What the choice of units needs to know, with the reasons police must come that the parties show."""
    flags: list[str] = []
    vehicles = [p for p in parties if p.plate]
    if any(p.unlicensed for p in parties):
        flags.append("no_licence")
    if any(p.drunk for p in parties):
        flags.append("drunk")
    if any(not p.insured for p in vehicles):
        flags.append("no_compulsory_insurance")
    return IncidentFacts(incident_id=incident.incident_id, lat=incident.lat, lon=incident.lon, injured=incident.injured,
                         fatalities=incident.fatalities, hazards=incident.hazards,
                         vehicles_movable=incident.vehicles_movable, hit_and_run=incident.hit_and_run,
                         parties_count=len(vehicles) if vehicles else len(parties), police_flags=tuple(flags))


def _issue(incident: Incident, o: UnitOrder, reasons: tuple[str, ...], orders: list[Order], uow: DispatchUnitOfWork,
           fleet: Fleet, at: datetime, *, replaces: str | None, hospital_name: str | None) -> Order | None:
    """Book the unit if it is still available and issue its order (Kafka message, SMS, incident change)."""
    if not uow.units.book(o.unit_id, incident.incident_id, at):
        return None
    name, phone = fleet.contact(o.unit_id)
    number = 1 + sum(1 for x in orders if x.service == o.service)
    order = Order(order_id=f"ORD-{incident.incident_id[4:]}-{o.service}-{number}", incident_id=incident.incident_id,
                  service=o.service, unit_id=o.unit_id, distance_m=o.distance_m, eta_s=o.eta_s, issued_at=at,
                  status_times={"dispatched": at}, replaces_order_id=replaces, reasons=reasons)
    uow.orders.add(order)
    orders.append(order)
    uow.messages.publish(ORDERS_TOPIC, incident.incident_id, {
        "incident_id": incident.incident_id, "order_id": order.order_id, "service": o.service, "unit_id": o.unit_id,
        "distance_m": o.distance_m, "issued_at": iso(at), "eta_s": o.eta_s, "unit_name": name,
        "replaces_order_id": replaces, "schema": ORDER_SCHEMA}, at)
    if phone:
        uow.texts.owe(f"order:{order.order_id}", phone, order_text(incident, order, hospital_name), "dispatch_order", at,
                      incident.incident_id)
    uow.timeline.add(incident.incident_id, at, "unit_assigned", order_id=order.order_id, service=o.service,
                     unit_id=o.unit_id, unit_name=name, distance_m=o.distance_m, eta_s=o.eta_s, replaces_order_id=replaces)
    uow.messages.incident_changed(incident.incident_id, "unit_assigned", at, order_id=order.order_id, service=o.service,
                                  unit_id=o.unit_id)
    return order


def _assign_hospital(incident: Incident, plan: DispatchPlan, hospital_name: str | None, uow: DispatchUnitOfWork,
                     at: datetime) -> Incident:
    """The destination hospital; its pre-arrival notice travels to the hospitals context with the change
    (its own store records it)."""
    from hospitals import admission_id_for  # the hospitals context's own id rule (a pure function)

    assert plan.hospital_id is not None and plan.ambulance is not None
    incident = replace(incident, hospital_id=plan.hospital_id)
    uow.incidents.save(incident)
    eta = at + timedelta(seconds=(plan.ambulance.eta_s + (plan.hospital_eta_s or 0)))
    admission_id = admission_id_for(incident.incident_id, plan.hospital_id)
    injuries = {"injured": incident.injured, "fatalities": incident.fatalities, "trapped": "trapped" in incident.hazards,
                "serious": plan.serious, "hazards": list(incident.hazards)}
    uow.timeline.add(incident.incident_id, at, "hospital_assigned", hospital_id=plan.hospital_id,
                     hospital_name=hospital_name, admission_id=admission_id, eta_at=iso(eta),
                     reasons=[r for r in plan.reasons if "hospital" in r or "医院" in r])
    uow.messages.incident_changed(incident.incident_id, "hospital_assigned", at, hospital_id=plan.hospital_id,
                                  admission_id=admission_id, patients=max(1, incident.injured + incident.fatalities),
                                  injuries=injuries, eta_at=iso(eta))
    return incident


def _note(incident: Incident, kind: str, text: tuple[str, str], uow: DispatchUnitOfWork, at: datetime,
          extra: dict[str, Any] | None = None, *, same_within: int = 1) -> Incident:
    """A note the dispatcher reads (on the incident, its timeline and its feed), in Chinese (``text``) and
    English (``text_en``, dispatch/texts.py); the same note again among the last ``same_within`` is kept once,
    and "awaiting a unit" is said once per wait, the notes bounded (dispatch/notes.py)."""
    zh, en = text
    if any(n.kind == kind and n.text == zh for n in incident.notes[-same_within:]) \
            or repeats_the_wait(incident.notes, kind, zh):
        return incident
    more = {"text_en": en, **(extra or {})}
    incident = replace(incident, notes=with_note(incident.notes, Note(at, kind, zh, more)))
    zh = incident.notes[-1].text
    uow.incidents.save(incident)
    uow.timeline.add(incident.incident_id, at, kind, text=zh, **more)
    uow.messages.incident_changed(incident.incident_id, kind, at, text=zh, **more)
    return incident


def _release(order: Order, state: str, why: tuple[str, str], uow: DispatchUnitOfWork, at: datetime,
             fleet: Fleet | None = None) -> None:
    """End an order; its unit becomes available again (the unit keeps where it is)."""
    uow.orders.save(replace(order, state=state, status_times={**order.status_times, state: at}))
    if uow.units.release(order.unit_id, order.incident_id, at) and fleet is not None:
        fleet.mark(order.unit_id, "available")
    uow.timeline.add(order.incident_id, at, f"order_{state}", order_id=order.order_id, unit_id=order.unit_id,
                     why=why[0], why_en=why[1])
    uow.messages.incident_changed(order.incident_id, "unit_status", at, order_id=order.order_id, unit_id=order.unit_id,
                                  unit_status="available", order_state=state)


# ---------------------------------------------------------------- the escalation round
def due_for_escalation(cmd: EscalationRound, uow: DispatchUnitOfWork) -> Escalation:
    """What the round would do, read only: orders nobody acknowledged in time, incidents waiting for a
    free unit. Most rounds find nothing, and then take no write lock at all."""
    late = uow.orders.unacknowledged(cmd.at - timedelta(seconds=cmd.ack_timeout_s))
    waiting = [i for i, last in uow.incidents.latest_notes(cmd.at - WAITING_LOOKBACK, WAITING_AT_MOST)
               if _waits_for_a_unit(last)]
    return Escalation(cmd.at, cmd.ack_timeout_s, tuple(o.order_id for o in late), tuple(o.incident_id for o in late),
                      tuple(waiting))


def escalate_unacknowledged(cmd: Escalation, uow: DispatchUnitOfWork, fleet: Fleet) -> int:
    """Release units that did not acknowledge in time and order the next nearest; retry incidents still
    waiting for a free unit. Returns how many orders were escalated."""
    at, timeout_s = cmd.at, cmd.ack_timeout_s
    uow.lock_incidents(set(cmd.waiting_incident_ids) | set(cmd.late_incident_ids))
    n = 0
    for o in uow.orders.get_many(cmd.late_order_ids):
        if o.state != "active" or o.unit_status != "dispatched":  # acknowledged or ended meanwhile
            continue
        _release(o, "released", texts.ack_timeout(timeout_s), uow, at, fleet)
        incident = uow.incidents.get(o.incident_id)
        assert incident is not None  # an order's incident is never removed
        _note(incident, "escalated", texts.escalated(o.service, fleet.contact(o.unit_id)[0] or o.unit_id, timeout_s),
              uow, at, {"service": o.service, "unit_id": o.unit_id})
        _dispatch(DispatchIncident(o.incident_id, at, replaces={o.service: o.order_id}), uow, fleet)
        n += 1
    for incident_id in cmd.waiting_incident_ids:
        incident = uow.incidents.get(incident_id)
        if incident is not None and incident.status == "open" and _waits_for_a_unit(incident.last_note):  # still
            _dispatch(DispatchIncident(incident_id, at), uow, fleet)
    uow.commit()
    return n


def _waits_for_a_unit(last: Note | None) -> bool:
    return last is not None and last.kind == "no_unit_available"


# ---------------------------------------------------------------- the dispatchers' and units' actions
def update_unit_status(cmd: UpdateUnitStatus, uow: DispatchUnitOfWork) -> UnitStatusChange:
    """A unit's new status (dispatched → acknowledged → en_route → on_scene → transporting → at_hospital
    → available), with its time on the order: the response-time figures come from these."""
    at = cmd.at
    unit = uow.units.get(cmd.unit_id)
    if unit is not None and unit.incident_id:  # the lock the pipeline and the escalation round take too
        uow.lock_incidents([unit.incident_id])
        unit = uow.units.get(cmd.unit_id)  # as it stands now that nobody else can change it
    if unit is None:
        raise LookupError(f"no unit {cmd.unit_id}")
    old = unit.status
    if old == cmd.status:
        return UnitStatusChange(cmd.unit_id, cmd.status, old, changed=False)
    check_transition(old, cmd.status)
    order = uow.orders.active_of_unit(cmd.unit_id)
    unit = replace(unit, status=cmd.status, status_at=at)
    if cmd.lat is not None and cmd.lon is not None:
        unit = replace(unit, lat=cmd.lat, lon=cmd.lon)
    if cmd.status in STANDS_DOWN:
        unit = replace(unit, incident_id=None)
    uow.units.save(unit)
    figures = None
    if order is not None:
        times = {**order.status_times, cmd.status: at}
        state = ("completed" if "on_scene" in times else "cancelled") if cmd.status in STANDS_DOWN else order.state
        order = replace(order, unit_status=cmd.status, status_times=times, state=state)
        uow.orders.save(order)
        uow.timeline.add(order.incident_id, at, "unit_status", unit_id=cmd.unit_id, status=cmd.status,
                         order_id=order.order_id, note=cmd.note[:200])
        uow.messages.incident_changed(order.incident_id, "unit_status", at, unit_id=cmd.unit_id, unit_status=cmd.status,
                                      order_id=order.order_id)
        incident = uow.incidents.get(order.incident_id)
        assert incident is not None
        figures = order_figures(order, incident.first_reported_at)
    uow.commit()
    return UnitStatusChange(cmd.unit_id, cmd.status, old, changed=True, order_id=order.order_id if order else None,
                            figures=figures)


def _open_for_update(incident_id: str, uow: DispatchUnitOfWork) -> Incident:
    """A dispatcher's action on one incident: under the incident's lock, as the pipeline and escalation take it."""
    uow.lock_incidents([incident_id])
    incident = uow.incidents.get(incident_id)
    if incident is None:
        raise LookupError(f"no incident {incident_id}")
    return incident


def close_incident(cmd: CloseIncident, uow: DispatchUnitOfWork) -> Closed:
    """Close the incident: its active orders end (completed when the unit reached the scene) and their
    units are free again."""
    at = cmd.at
    incident = _open_for_update(cmd.incident_id, uow)
    if incident.status == "closed":
        return Closed(incident.incident_id, changed=False)
    orders = uow.orders.of_incident(incident.incident_id)
    aboard = tuple(o.unit_id for o in orders if o.state == "active" and o.service == "120"
                   and o.unit_status in PATIENT_ABOARD)
    if aboard and not cmd.confirmed:
        raise PatientAboard(aboard)
    for o in orders:
        if o.state == "active":
            _release(o, "completed" if "on_scene" in o.status_times else "cancelled", texts.incident_closed(), uow, at)
    reason = cmd.reason[:500]
    note = Note(at, "closed", reason, {"police_classification": cmd.police_classification})
    uow.incidents.save(replace(incident, status="closed", closed_at=at, notes=incident.notes + (note,)))
    uow.timeline.add(incident.incident_id, at, "closed", reason=reason, police_classification=cmd.police_classification)
    uow.messages.incident_changed(incident.incident_id, "closed", at, police_classification=cmd.police_classification)
    uow.commit()
    return Closed(incident.incident_id, changed=True)


def reassign_unit(cmd: ReassignUnit, uow: DispatchUnitOfWork, fleet: Fleet) -> tuple[Order, ...]:
    """Release the service's unit on the incident and order the next nearest (never the same one again)."""
    at, reason = cmd.at, cmd.reason[:200]
    incident = _open_for_update(cmd.incident_id, uow)
    if incident.status != "open":
        raise IncidentClosed(f"incident {incident.incident_id} is closed")
    replaced = {}
    for o in uow.orders.of_incident(incident.incident_id):
        if o.service == cmd.service and o.state == "active":
            _release(o, "released", texts.released_by_dispatcher(reason), uow, at, fleet)
            replaced[cmd.service] = o.order_id
    incident = _note(incident, "reassigned", texts.reassigned(cmd.service, cmd.by, reason), uow, at, {"service": cmd.service})
    issued = _dispatch(DispatchIncident(incident.incident_id, at, replaces=replaced), uow, fleet)
    uow.commit()
    return issued


def reopen_incident(cmd: ReopenIncident, uow: DispatchUnitOfWork) -> Closed:
    """Reopen a closed incident (the dispatcher's decision): open again, with a note; units are then added
    by the dispatcher (nothing is ordered by itself: the crews already went once). ``changed`` False when open."""
    incident = _open_for_update(cmd.incident_id, uow)
    if incident.status == "open":
        return Closed(incident.incident_id, changed=False)
    zh, en = texts.reopened(cmd.by, cmd.reason[:200])
    incident = replace(incident, status="open", closed_at=None,
                       notes=incident.notes + (Note(cmd.at, "reopened", zh, {"text_en": en}),))
    uow.incidents.save(incident)
    uow.timeline.add(incident.incident_id, cmd.at, "reopened", text=zh, text_en=en)
    uow.messages.incident_changed(incident.incident_id, "reopened", cmd.at, text=zh, text_en=en)
    uow.commit()
    return Closed(incident.incident_id, changed=True)


def unit_candidates(incident_id: str, service: str, uow: DispatchUnitOfWork, fleet: Fleet,
                    k: int = 8) -> tuple[Candidate, ...]:
    """The nearest free units of a service for the dispatcher to choose from, whatever their distance
    (each says whether it is within its reach). Read only."""
    incident = uow.incidents.get(incident_id)
    if incident is None:
        raise LookupError(f"no incident {incident_id}")
    fleet.refresh(uow.units)
    with fleet.choosing():
        return candidates(incident.lat, incident.lon, fleet.units, fleet.travel, service=service,
                          available=fleet.available, targets=fleet.targets, k=k)


def order_chosen_unit(cmd: OrderChosenUnit, uow: DispatchUnitOfWork, fleet: Fleet) -> Order:
    """The dispatcher orders the unit they chose ("add a unit"; with ``replace``, "reassign to this unit"):
    any distance, since the dispatcher decides, seeing it. The service's current unit is released only when
    replacing; a second active unit of one service is refused (``ServiceBusy``)."""
    at, reason = cmd.at, cmd.reason[:200]
    incident = _open_for_update(cmd.incident_id, uow)
    if incident.status != "open":
        raise IncidentClosed(f"incident {incident.incident_id} is closed")
    fleet.refresh(uow.units)
    unit = uow.units.get(cmd.unit_id)
    if unit is None:
        raise LookupError(f"no unit {cmd.unit_id}")
    if unit.status != "available":
        raise UnitNotAvailable(f"unit {cmd.unit_id} is {unit.status}, not available")
    orders = uow.orders.of_incident(incident.incident_id)
    current = [o for o in orders if o.state == "active" and o.service == unit.service]
    if current and not cmd.replace:
        raise ServiceBusy(f"incident {incident.incident_id} already has an active {unit.service} unit: reassign it")
    replaces = None
    for o in current:
        _release(o, "released", texts.released_by_dispatcher(reason), uow, at, fleet)
        replaces = o.order_id
    distance = straight_line_m(incident.lat, incident.lon, unit.lat, unit.lon)
    within = distance <= reach_m(unit.service, fleet.targets)
    choice = UnitOrder(unit.service, unit.unit_id, int(round(distance)), int(fleet.travel(distance, unit.service)))
    hospital_name = fleet.hospitals.hospital(incident.hospital_id).name if incident.hospital_id else None
    plan = None
    if unit.service == "120" and incident.hospital_id is None:
        facts = incident_facts(incident, uow.incidents.parties(incident.incident_id))
        with fleet.choosing():
            hid, hdist, why = choose_hospital(facts, fleet.hospitals, fleet.targets)
        hospital_name = fleet.hospitals.hospital(hid).name
        plan = DispatchPlan(incident.incident_id, False, None, choice, hid, int(round(hdist)),
                            int(fleet.travel(hdist, "120")), bool(why and "serious" in why[0]), why)
    reasons = (f"the dispatcher's choice ({cmd.by}), {distance / 1000:.1f} km"
               + ("" if within else ", beyond the unit's reach"),)
    order = _issue(incident, choice, reasons, orders, uow, fleet, at, replaces=replaces, hospital_name=hospital_name)
    fleet.mark(unit.unit_id, "dispatched")
    if order is None:
        raise UnitNotAvailable(f"unit {cmd.unit_id} was taken meanwhile")
    if plan is not None:
        incident = _assign_hospital(incident, plan, hospital_name, uow, at)
    name = fleet.contact(unit.unit_id)[0] or unit.name
    extra = {"service": unit.service, "unit_id": unit.unit_id, "distance_m": choice.distance_m, "within_reach": within}
    if cmd.replace:
        _note(incident, "reassigned", texts.reassigned(unit.service, cmd.by, reason, name), uow, at, extra)
    else:
        _note(incident, "unit_added", texts.unit_added(unit.service, cmd.by, name, choice.distance_m, within, reason),
              uow, at, extra)
    uow.commit()
    return order


# ---------------------------------------------------------------- what other contexts say
def note_from_other_context(event: OtherContextChange, uow: DispatchUnitOfWork) -> bool:
    """What another context says about an incident that its dispatcher should see (the claims pipeline's
    reason a minor crash may not be settled online) becomes a note on dispatch's incident, once.
    True when a note was added."""
    if uow.inbox.seen(event.event_id):
        return False
    added = False
    incident = uow.incidents.get(event.incident_id)
    if event.text is None:
        pass
    elif incident is None:
        log.warning("a %s note for %s came before dispatch's copy of the incident", event.change, event.incident_id)
    elif not any(n.kind == event.change for n in incident.notes):
        incident = replace(incident, notes=with_note(incident.notes, Note(event.at, event.change, event.text)))
        uow.incidents.save(incident)
        uow.timeline.add(incident.incident_id, event.at, event.change, text=incident.notes[-1].text)
        added = True
    uow.inbox.mark(event.event_id, event.at)
    uow.commit()
    return added
