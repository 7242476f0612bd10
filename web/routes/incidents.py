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
from web.deps import audit, container, idempotent, require
from web.errors import NotFound, Unprocessable
from web.paging import encode_cursor, page_of, set_next

router = APIRouter(tags=["incidents"])
dispatcher = require("dispatcher")


@router.get("/api/incidents", summary="Unified incidents, newest first (at most 200 a page; X-Next-Cursor for more)")
def list_incidents(request: Request, response: Response,
                   limit: int = Query(100, description="items wanted, 1..5000; one answer holds at most 200 "
                                                       "(the rest: follow the X-Next-Cursor header)"),
                   cursor: str | None = Query(None, max_length=500, description="X-Next-Cursor of the previous page"),
                   status: str | None = None, p: Principal = Depends(dispatcher)) -> list[dict[str, Any]]:
    """Paged by keyset (first reported, id; both descending): an incident reported meanwhile is never shown
    twice nor skipped."""
    from datetime import datetime

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
        rows = list(s.scalars(q.limit(page.limit + 1)))
        if len(rows) > page.limit:
            last = rows[page.limit - 1]
            set_next(request, response, encode_cursor(page.route, k=[iso(last.first_reported_at), last.incident_id]))
        return [repo.snapshot(s, r, with_timeline=False) for r in rows[:page.limit]]


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
    return out


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
