"""Dispatchers' view of unified incidents, and the live feed (server-sent events)."""
from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, or_, select

from accidentlink.clock import iso

from accidentlink.bootstrap import Container
from connectors.sql import incidents as repo
from connectors.sql.models import IncidentRow
from web.auth import Principal
from web.strict_json import StrictJsonRoute
from web.deps import audit, container, idempotent, mutate, require
from web.errors import Conflict, NotFound, Unprocessable
from web.paging import encode_cursor, page_of, set_next

router = APIRouter(tags=["incidents"], route_class=StrictJsonRoute)  # duplicate keys: 422
dispatcher = require("dispatcher")


@router.get("/api/incidents", summary="Unified incidents, newest first (at most 200 a page; X-Next-Cursor for more; "
                                      "with flagged_first, those with no unit nearby first)")
def list_incidents(request: Request, response: Response,
                   limit: int = Query(100, description="items wanted, 1..5000; one answer holds at most 200 "
                                                       "(the rest: follow the X-Next-Cursor header)"),
                   cursor: str | None = Query(None, max_length=500, description="X-Next-Cursor of the previous page"),
                   status: str | None = None,
                   grade: str | None = Query(None, description="at least this statutory grade (493 art. 3): "
                                                               "general, larger, major, especially_major"),
                   flagged_first: bool = Query(False, description="the first page starts with the open incidents "
                                                                  "that have no unit nearby, whatever their age"),
                   p: Principal = Depends(dispatcher)) -> list[dict[str, Any]]:
    """Paged by keyset (first reported, id; both descending): an incident reported meanwhile is never shown
    twice nor skipped."""
    from datetime import datetime

    from accidentlink.severity import GRADE_CODES, grade_by_code

    if grade is not None and grade not in GRADE_CODES:
        raise Unprocessable(f"grade must be one of {', '.join(GRADE_CODES)}")
    page = page_of(request, limit, cursor)
    c = container(request)
    with c.store("dispatch").read() as s:
        q = select(IncidentRow).order_by(IncidentRow.first_reported_at.desc(), IncidentRow.incident_id.desc())
        if page.after is not None:
            try:
                at, last_id = datetime.fromisoformat(str(page.after[0])), str(page.after[1])
            except (ValueError, IndexError):
                raise Unprocessable("cursor is not one this list gave out") from None
            q = q.where(or_(IncidentRow.first_reported_at < at,
                            and_(IncidentRow.first_reported_at == at, IncidentRow.incident_id < last_id)))
        if status:
            q = q.where(IncidentRow.status == status)
        if grade:  # graded by deaths (accidentlink.severity): at least the grade's lowest death count
            q = q.where(IncidentRow.fatalities >= grade_by_code(grade).min_deaths)
        first: list[dict[str, Any]] = []
        if flagged_first and page.after is None and status in (None, "open"):
            flagged_q = _possibly_flagged()
            if grade:
                flagged_q = flagged_q.where(IncidentRow.fatalities >= grade_by_code(grade).min_deaths)
            ids = [r.incident_id for r in s.scalars(flagged_q.order_by(IncidentRow.first_reported_at.desc())
                                                    .limit(page.limit))]
            views = repo.snapshots(s, set(ids))  # one query per table
            first = [views[i] for i in ids if views[i]["no_unit_nearby"]]
        ids = {v["incident_id"] for v in first}
        rows = list(s.scalars(q.limit(page.limit + 1)))
        if len(rows) > page.limit:
            last = rows[page.limit - 1]
            set_next(request, response, encode_cursor(page.route, k=[iso(last.first_reported_at), last.incident_id]))
        return first + [repo.snapshot(s, r, with_timeline=False) for r in rows[:page.limit] if r.incident_id not in ids]


def _possibly_flagged() -> Any:
    """Open incidents that ever had a "no unit nearby" note (the exact flag is decided on their notes and orders)."""
    from sqlalchemy import String, cast

    from dispatch.desk import SHORTFALL_KINDS

    return select(IncidentRow).where(IncidentRow.status == "open",
                                     cast(IncidentRow.notes, String).like(f"%{SHORTFALL_KINDS[0]}%"))


@router.get("/api/incidents/counts", summary="Counts for the dispatcher's desk, from the store (never from a page)")
def incident_counts(request: Request, p: Principal = Depends(dispatcher)) -> dict[str, Any]:
    """Open and closed incidents, open ones by severity, those with no unit nearby, those with an order late
    right now (its acknowledgement, turnout or arrival past its target: dispatch/rules/targets.json), and
    orders waiting for an acknowledgement."""
    from sqlalchemy import func

    from accidentlink.clock import iso
    from accidentlink.severity import grade_by_code
    from connectors.sql.dispatch import order_from_row
    from connectors.sql.models import OrderRow
    from dispatch.desk import shortfalls
    from dispatch.figures import order_figures

    c = container(request)
    now = c.clock.now()
    with c.store("dispatch").read() as s:
        by_status = dict(s.execute(select(IncidentRow.status, func.count()).group_by(IncidentRow.status)).all())
        by_severity = dict(s.execute(select(IncidentRow.severity, func.count()).where(IncidentRow.status == "open")
                                     .group_by(IncidentRow.severity)).all())
        first = dict(s.execute(select(IncidentRow.incident_id, IncidentRow.first_reported_at)
                               .where(IncidentRow.status == "open")).all())
        overdue: set[str] = set()
        late_orders = pending = 0
        for o in s.scalars(select(OrderRow).where(OrderRow.state == "active")):
            if o.incident_id not in first:
                continue
            pending += o.unit_status == "dispatched"
            f = order_figures(order_from_row(o), first[o.incident_id], now)
            if f and f.get("overdue_now"):
                late_orders += 1
                overdue.add(o.incident_id)
        flagged = 0
        candidates = list(s.scalars(_possibly_flagged()))
        if candidates:
            orders: dict[str, list[tuple[str, Any, str]]] = {r.incident_id: [] for r in candidates}
            for o in s.execute(select(OrderRow.incident_id, OrderRow.service, OrderRow.issued_at, OrderRow.state)
                               .where(OrderRow.incident_id.in_(list(orders)))):
                orders[o[0]].append((o[1], o[2], o[3]))
            flagged = sum(1 for r in candidates if shortfalls(r.status, r.notes or [], orders[r.incident_id]))
        graded = s.scalar(select(func.count()).select_from(IncidentRow).where(
            IncidentRow.status == "open", IncidentRow.fatalities >= grade_by_code("larger").min_deaths)) or 0
    return {"at": iso(now), "open": by_status.get("open", 0), "closed": by_status.get("closed", 0),
            "all": sum(by_status.values()), "open_by_severity": by_severity, "no_unit_nearby": flagged,
            "overdue": len(overdue), "overdue_orders": late_orders, "pending_ack": pending,
            "open_graded": graded}



@router.get("/api/incidents/stream", summary="Live feed of incident changes (text/event-stream)",
            responses={200: {"content": {"text/event-stream": {}}}})
async def stream(request: Request, p: Principal = Depends(dispatcher)) -> StreamingResponse:
    feed = request.app.state.feed

    q = feed.subscribe() if feed is not None else None  # subscribed before the first byte: nothing missed

    async def events() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n: connected\n\n"
        if q is None:
            return
        try:
            while True:
                try:
                    value = await asyncio.wait_for(q.get(), timeout=15)
                except asyncio.TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keep-alive\n\n"
                    continue
                data = json.dumps(value, ensure_ascii=False)
                yield f"id: {value.get('event_id', '')}\nevent: incident\ndata: {data}\n\n".encode("utf-8")
        finally:
            feed.unsubscribe(q)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/api/incidents/{incident_id}", summary="One incident with report ids, orders, units, hospital and timeline")
def get_incident(incident_id: str, request: Request, p: Principal = Depends(dispatcher)) -> dict[str, Any]:
    """The incident with its `grade` (国务院令 493 art. 3), its orders with response-time figures, its timeline
    across contexts, and `police_timers`: the police's and the parties' working-day limits (程序规定; determination
    3 or 10, review request 3, review decision 30, mediation request 10), each with `due`, `state` (running, due,
    overdue, expired, done), `flagged` and `calendar_years` (years the holiday calendar does not cover)."""
    from connectors.sql.dispatch import order_from_row
    from connectors.sql.models import OrderRow
    from dispatch.figures import order_figures

    c = container(request)
    with c.store("dispatch").read() as s:
        row = s.get(IncidentRow, incident_id)
        if row is None:
            raise NotFound(f"no incident {incident_id}")
        out = repo.snapshot(s, row)
        now = c.clock.now()
        for o in out["orders"]:  # response-time figures against the targets, and what is late right now
            o["figures"] = order_figures(order_from_row(s.get_one(OrderRow, o["order_id"])), row.first_reported_at, now)
    out["timeline"] = whole_timeline(c, incident_id, out["timeline"])
    out["police_timers"] = police_timers_view(out, now)
    out["callers"] = callers(c, incident_id)
    return out


def police_timers_view(incident: dict[str, Any], now: Any) -> list[dict[str, Any]]:
    """The police's and the parties' working-day timers (``dispatch.police_timers``), from the incident's facts
    and its timeline across contexts (the quick-handling outcome, a determination recorded at the desk)."""
    from datetime import datetime

    from dispatch.police_timers import police_timers

    events = [(e["kind"], datetime.fromisoformat(e["at"])) for e in incident.get("timeline") or []]
    casualties = bool(incident["injured"] or incident["fatalities"])
    return [t.to_json() for t in police_timers(datetime.fromisoformat(incident["first_reported_at"]), casualties,
                                               events, now)]


def callers(c: Any, incident_id: str) -> list[dict[str, Any]]:
    """What each caller said (source, time, description) and their callback number, masked: the dispatcher
    sees the full number only by asking for it (``.../callers/{report_id}/callback``, audited)."""
    from accidentlink.clock import iso
    from accidentlink.masking import mask_name, mask_phone, mask_text
    from connectors.sql.models import ReportRow

    with c.store("dispatch").read() as s:
        rows = s.scalars(select(ReportRow).where(ReportRow.incident_id == incident_id)
                         .order_by(ReportRow.reported_at, ReportRow.report_id)).all()
        out = []
        for r in rows:
            who = (r.payload or {}).get("reporter") or {}
            out.append({"report_id": r.report_id, "source": r.source, "reported_at": iso(r.reported_at),
                        "description": mask_text((r.payload or {}).get("description") or ""),
                        "caller": mask_name(who.get("name")), "callback": mask_phone(who.get("phone")),
                        "has_callback": bool(who.get("phone"))})
        return out


@router.get("/api/incidents/{incident_id}/callers/{report_id}/callback",
            summary="A caller's full callback number, to call them back (audited)")
def caller_callback(incident_id: str, report_id: str, request: Request, p: Principal = Depends(dispatcher)) -> Any:
    from connectors.sql.models import ReportRow

    c = container(request)
    with c.store("dispatch").read() as s:
        r = s.get(ReportRow, report_id)
        if r is None or r.incident_id != incident_id:
            raise NotFound(f"no report {report_id} on incident {incident_id}")
        phone = ((r.payload or {}).get("reporter") or {}).get("phone")
    if not phone:
        raise NotFound(f"report {report_id} gives no callback number")
    with c.store("dispatch").uow() as tx:
        audit(c, tx.session, p, "incident.callback_revealed", incident_id, report_id=report_id)
        tx.commit()
    return {"report_id": report_id, "callback": phone}


@router.get("/api/incidents/{incident_id}/candidates",
            summary="The nearest free units of a service, with distance, ETA and whether within the unit's reach")
def unit_candidates_route(incident_id: str, request: Request, service: str = Query(pattern="^(122|120)$"),
                          p: Principal = Depends(dispatcher)) -> list[dict[str, Any]]:
    from dispatch.services import unit_candidates

    c = container(request)
    fleet = c.dispatch_fleet()
    with c.store("dispatch").uow() as tx:  # read only: nothing is committed
        found = unit_candidates(incident_id, service, c.dispatch_uow("web", joining=tx.session), fleet)
    return [{"unit_id": x.unit_id, "name": fleet.contact(x.unit_id)[0] or x.unit_id, "service": x.service,
             "distance_m": x.distance_m, "eta_s": x.eta_s, "within_reach": x.within_reach} for x in found]


TIMELINE_STORES = ("hospitals", "fund", "claims")  # dispatch's own timeline is the incident's; these add theirs


def whole_timeline(c: Any, incident_id: str, own: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The incident's timeline across contexts: each context's own entries, from its own store, in time order."""
    from datetime import datetime

    from accidentlink.clock import iso
    from accidentlink.masking import mask_record
    from connectors.sql.models import TimelineEntry

    entries = list(own)
    for name in TIMELINE_STORES:
        with c.store(name).read() as s:
            entries += [{"at": iso(t.at), "kind": t.kind, **mask_record(t.detail)} for t in s.scalars(
                select(TimelineEntry).where(TimelineEntry.incident_id == incident_id).order_by(TimelineEntry.id))]
    return sorted(entries, key=lambda e: datetime.fromisoformat(e["at"]))  # stable: each store's order kept


class CloseBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    reason: str = Field("", max_length=500)
    police_classification: str | None = Field(None, max_length=60,
                                              description="what police closed it as (property, injury, death, not_an_accident, ...)")
    confirmed: bool = Field(False, description="close even though an ambulance still carries a patient (else 409)")


@router.post("/api/incidents/{incident_id}/close", summary="Close an incident (releases its units)")
def close(incident_id: str, body: CloseBody, request: Request, p: Principal = Depends(dispatcher)) -> Any:
    from dispatch import texts
    from dispatch.commands import CloseIncident
    from dispatch.errors import PatientAboard
    from dispatch.services import close_incident

    c = container(request)

    def run() -> tuple[int, Any]:
        with c.store("dispatch").uow() as tx:  # the action and its audit line in one transaction
            try:
                done = close_incident(CloseIncident(incident_id, body.reason, body.police_classification, c.clock.now(),
                                                    confirmed=body.confirmed),
                                      c.dispatch_uow("web", joining=tx.session))
            except PatientAboard as e:
                zh, en = texts.patient_aboard(list(e.unit_ids))
                raise Conflict(en, reason="patient_aboard", reason_zh=zh, reason_en=en, units=list(e.unit_ids),
                               needs_confirmation=True) from None
            if done.changed:
                audit(c, tx.session, p, "incident.close", incident_id, reason=body.reason[:200],
                      police_classification=body.police_classification)
                tx.commit()
        return 200, {**dispatch_view(c, incident_id), "changed": done.changed}

    return idempotent(request, p, run)


class ReopenBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    reason: str = Field("", max_length=500)


@router.post("/api/incidents/{incident_id}/reopen", summary="Reopen a closed incident (dispatcher)")
def reopen(incident_id: str, body: ReopenBody, request: Request, p: Principal = Depends(dispatcher)) -> Any:
    from dispatch.commands import ReopenIncident
    from dispatch.services import reopen_incident

    c = container(request)

    def run() -> tuple[int, Any]:
        with c.store("dispatch").uow() as tx:
            done = reopen_incident(ReopenIncident(incident_id, body.reason, p.name, c.clock.now()),
                                   c.dispatch_uow("web", joining=tx.session))
            if done.changed:
                audit(c, tx.session, p, "incident.reopen", incident_id, reason=body.reason[:200])
                tx.commit()
        return 200, {**dispatch_view(c, incident_id), "changed": done.changed}

    return idempotent(request, p, run)


class AddUnitBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    unit_id: str = Field(min_length=1, max_length=40)
    reason: str = Field("", max_length=500)


@router.post("/api/incidents/{incident_id}/units", summary="Order a unit the dispatcher chose (add a unit)")
def add_unit(incident_id: str, body: AddUnitBody, request: Request, p: Principal = Depends(dispatcher)) -> Any:
    return _order_chosen(request, p, incident_id, body.unit_id, body.reason, replace=False)


def _order_chosen(request: Request, p: Principal, incident_id: str, unit_id: str, reason: str, *, replace: bool) -> Any:
    from dispatch.commands import OrderChosenUnit
    from dispatch.errors import DispatchError
    from dispatch.services import order_chosen_unit

    c = container(request)

    def run() -> tuple[int, Any]:
        with c.store("dispatch").uow() as tx:
            try:
                order = order_chosen_unit(OrderChosenUnit(incident_id, unit_id, reason, p.name, c.clock.now(), replace),
                                          c.dispatch_uow("web", joining=tx.session), c.dispatch_fleet())
            except DispatchError as e:
                raise Conflict(str(e)) from None
            audit(c, tx.session, p, "incident.reassign" if replace else "incident.add_unit", incident_id,
                  unit_id=unit_id, service=order.service, distance_m=order.distance_m, reason=reason[:200])
            tx.commit()
        return 200, dispatch_view(c, incident_id)

    return idempotent(request, p, run)


class ReassignBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    service: str = Field(pattern="^(122|120)$")
    reason: str = Field("", max_length=500)
    unit_id: str | None = Field(None, max_length=40,
                                description="the unit the dispatcher chose instead (else the next nearest within reach)")


@router.post("/api/incidents/{incident_id}/reassign", summary="Release the service's unit and order the next nearest")
def reassign(incident_id: str, body: ReassignBody, request: Request, p: Principal = Depends(dispatcher)) -> Any:
    from dispatch.commands import ReassignUnit
    from dispatch.errors import DispatchError
    from dispatch.services import reassign_unit

    if body.unit_id:
        return _order_chosen(request, p, incident_id, body.unit_id, body.reason, replace=True)
    c = container(request)

    def run() -> tuple[int, Any]:
        with c.store("dispatch").uow() as tx:  # the action and its audit line in one transaction
            try:
                reassign_unit(ReassignUnit(incident_id, body.service, body.reason, p.name, c.clock.now()),
                              c.dispatch_uow("web", joining=tx.session), c.dispatch_fleet())
            except DispatchError as e:
                raise Conflict(str(e)) from None
            audit(c, tx.session, p, "incident.reassign", incident_id, service=body.service, reason=body.reason[:200])
            tx.commit()
        return 200, dispatch_view(c, incident_id)

    return idempotent(request, p, run)


@router.get("/api/incidents/{incident_id}/parties",
            summary="Who each party is (role, vehicle, non-motor or not) and the fleeing vehicle, personal data masked")
def incident_parties(incident_id: str, request: Request, p: Principal = Depends(dispatcher)) -> dict[str, Any]:
    from accidentlink.masking import mask_name, mask_text
    from accidentlink.vehicles import is_motor_vehicle, plate_of, role_of
    from connectors.sql.hospitals import party

    c = container(request)
    with c.store("dispatch").read() as s:
        if s.get(IncidentRow, incident_id) is None:
            raise NotFound(f"no incident {incident_id}")
        fled: dict[str, Any] | None = None
        for _at, _id, payload in repo.reports_of(s, incident_id):
            fled = {**(fled or {}), **{k: v for k, v in (payload.get("fled_vehicle") or {}).items() if v}} \
                if payload.get("fled_vehicle") else fled
        parties = [party(x) for x in repo.parties_of(s, incident_id)]
    if fled and fled.get("driver"):
        driver = str(fled["driver"])
        fled["driver"] = mask_name(driver) if len(driver) <= 4 else mask_text(driver)  # a name, or a description
    return {"incident_id": incident_id, "fled_vehicle": fled,
            "parties": [{"role": role_of(x), "plate": plate_of(x.plate), "vehicle_type": x.vehicle_type,
                         "vehicle_plate": plate_of(x.vehicle_plate), "insurer": x.insurer, "name": mask_name(x.name),
                         "motor_vehicle": is_motor_vehicle(x)} for x in parties]}


class LiabilityShare(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    plate: str = Field(min_length=1, max_length=20)
    liability: str = Field(pattern="^(full|primary|equal|secondary|none)$")


class LiabilityBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    shares: list[LiabilityShare] = Field(min_length=1, max_length=50)
    source: str = Field("joint_desk", pattern="^(joint_desk|review)$",
                        description="joint_desk: the police's determination; review: a review that changes it")


@router.post("/api/incidents/{incident_id}/liability",
             summary="Record the police's liability determination; every bill of the incident is routed again at once")
def liability(incident_id: str, body: LiabilityBody, request: Request, p: Principal = Depends(dispatcher)) -> Any:
    from hospitals.commands import RecordLiability
    from hospitals.services import record_liability

    c = container(request)
    with c.store("dispatch").read() as s:
        if s.get(IncidentRow, incident_id) is None:
            raise NotFound(f"no incident {incident_id}")
    shares: dict[str, str] = {}
    for share in body.shares:
        shares[share.plate.strip().upper()] = share.liability

    def record(s: Any, c: Any) -> Any:
        """In the hospitals' store (which routes bills), beside its audit line: the re-routed bills' messages go
        onto ``hospitals.bills`` through its outbox, for the fund and the insurers."""
        return record_liability(RecordLiability(incident_id, shares, body.source, p.actor, c.clock.now()),
                                c.hospitals_uow("web", joining=s), province=c.settings.province)

    def answer(s: Any, c: Any) -> Any:
        out = record(s, c)
        return {**dispatch_view(c, incident_id), "liability": out["liability"], "changed": out["changed"],
                "rerouted": out["rerouted"], "bills": out["bills"]}

    return mutate(request, p, "incident.liability", incident_id, answer, audit_detail={"shares": shares},
                  store="hospitals")


def dispatch_view(c: Container, incident_id: str) -> dict[str, Any]:
    """The incident as the dispatcher sees it after an action (dispatch's own timeline)."""
    with c.store("dispatch").read() as s:
        return repo.snapshot(s, s.get_one(IncidentRow, incident_id))
