"""Dispatchers' view of unified incidents, and the live feed (server-sent events)."""
from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from accidentlink.bootstrap import Container
from connectors.sql import incidents as repo
from connectors.sql.models import IncidentRow
from web.auth import Principal
from web.deps import audit, container, idempotent, limit_param, require
from web.errors import NotFound, Unprocessable

router = APIRouter(tags=["incidents"])
dispatcher = require("dispatcher")


@router.get("/api/incidents", summary="Unified incidents, newest first")
def list_incidents(request: Request, limit: int = Depends(limit_param), status: str | None = None,
                   grade: str | None = Query(None, description="at least this statutory grade (493 art. 3): "
                                                               "general, larger, major, especially_major"),
                   p: Principal = Depends(dispatcher)) -> list[dict[str, Any]]:
    from accidentlink.severity import GRADE_CODES, grade_by_code

    if grade is not None and grade not in GRADE_CODES:
        raise Unprocessable(f"grade must be one of {', '.join(GRADE_CODES)}")
    c = container(request)
    with c.store("dispatch").read() as s:
        q = select(IncidentRow).order_by(IncidentRow.first_reported_at.desc(), IncidentRow.incident_id.desc()).limit(limit)
        if status:
            q = q.where(IncidentRow.status == status)
        if grade:  # graded by deaths (accidentlink.severity): at least the grade's lowest death count
            q = q.where(IncidentRow.fatalities >= grade_by_code(grade).min_deaths)
        return [repo.snapshot(s, r, with_timeline=False) for r in s.scalars(q)]


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


@router.post("/api/incidents/{incident_id}/close", summary="Close an incident (releases its units)")
def close(incident_id: str, body: CloseBody, request: Request, p: Principal = Depends(dispatcher)) -> Any:
    from dispatch.commands import CloseIncident
    from dispatch.services import close_incident

    c = container(request)

    def run() -> tuple[int, Any]:
        with c.store("dispatch").uow() as tx:  # the action and its audit line in one transaction
            done = close_incident(CloseIncident(incident_id, body.reason, body.police_classification, c.clock.now()),
                                  c.dispatch_uow("web", joining=tx.session))
            if done.changed:
                audit(c, tx.session, p, "incident.close", incident_id, reason=body.reason[:200],
                      police_classification=body.police_classification)
                tx.commit()
        return 200, {**dispatch_view(c, incident_id), "changed": done.changed}

    return idempotent(request, p, run)


class ReassignBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    service: str = Field(pattern="^(122|120)$")
    reason: str = Field("", max_length=500)


@router.post("/api/incidents/{incident_id}/reassign", summary="Release the service's unit and order the next nearest")
def reassign(incident_id: str, body: ReassignBody, request: Request, p: Principal = Depends(dispatcher)) -> Any:
    from dispatch.commands import ReassignUnit
    from dispatch.services import reassign_unit

    c = container(request)

    def run() -> tuple[int, Any]:
        with c.store("dispatch").uow() as tx:  # the action and its audit line in one transaction
            reassign_unit(ReassignUnit(incident_id, body.service, body.reason, p.name, c.clock.now()),
                          c.dispatch_uow("web", joining=tx.session), c.dispatch_fleet())
            audit(c, tx.session, p, "incident.reassign", incident_id, service=body.service, reason=body.reason[:200])
            tx.commit()
        return 200, dispatch_view(c, incident_id)

    return idempotent(request, p, run)


def dispatch_view(c: Container, incident_id: str) -> dict[str, Any]:
    """The incident as the dispatcher sees it after an action (dispatch's own timeline)."""
    with c.store("dispatch").read() as s:
        return repo.snapshot(s, s.get_one(IncidentRow, incident_id))
