"""Units (police patrols, ambulances) and their status lifecycle."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from accidentlink.clock import iso
from connectors.sql.models import UnitRow
from web.auth import Principal
from web.strict_json import StrictJsonRoute
from web.deps import audit, caller, container, idempotent, limit_param, paged, require
from web.errors import Forbidden, NotFound

router = APIRouter(tags=["units"], route_class=StrictJsonRoute)  # duplicate keys: 422

STATUSES = "^(available|dispatched|acknowledged|en_route|on_scene|transporting|at_hospital|out_of_service)$"


def unit_json(u: UnitRow) -> dict[str, Any]:
    return {"unit_id": u.unit_id, "service": u.service, "kind": u.kind, "name": u.name, "lat": u.lat, "lon": u.lon,
            "status": u.status, "home": u.home, "incident_id": u.incident_id, "status_at": iso(u.status_at)}


@router.get("/api/units", summary="Every unit with its post and status")
def list_units(request: Request, limit: int = Depends(limit_param), service: str | None = None,
               status: str | None = None, p: Principal = Depends(require("dispatcher"))) -> list[dict[str, Any]]:
    c = container(request)
    with c.store("dispatch").read() as s:
        q = select(UnitRow).order_by(UnitRow.status_at.desc(), UnitRow.unit_id).limit(limit)
        if service:
            q = q.where(UnitRow.service == service)
        if status:
            q = q.where(UnitRow.status == status)
        return paged(request, [unit_json(u) for u in s.scalars(q)])


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    status: str = Field(pattern=STATUSES)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    note: str = Field("", max_length=500)


@router.post("/api/units/{unit_id}/status", summary="Report a unit's new status (dispatcher, or the unit's own token)")
def set_status(unit_id: str, body: StatusBody, request: Request, p: Principal = Depends(caller)) -> Any:
    from dispatch.commands import UpdateUnitStatus
    from dispatch.services import update_unit_status

    if p.role not in ("dispatcher", "unit"):
        raise Forbidden(f"role '{p.role}' may not change unit status")
    c = container(request)
    with c.store("dispatch").read() as s:
        exists = s.get(UnitRow, unit_id) is not None
    if p.role == "unit" and p.unit_id != unit_id:
        raise Forbidden("a unit token may change only its own unit")
    if not exists:
        raise NotFound(f"no unit {unit_id}")

    def run() -> tuple[int, Any]:
        with c.store("dispatch").uow() as tx:  # the action and its audit line in one transaction
            done = update_unit_status(UpdateUnitStatus(unit_id, body.status, c.clock.now(), lat=body.lat, lon=body.lon,
                                                       note=body.note), c.dispatch_uow("web", joining=tx.session))
            if done.changed:
                audit(c, tx.session, p, "unit.status", unit_id, status=body.status, previous=done.previous)
                tx.commit()
        out: dict[str, Any] = {"unit_id": done.unit_id, "status": done.status}
        if done.changed:
            out["previous"] = done.previous
        out["changed"] = done.changed
        if done.order_id is not None:
            out["order_id"], out["figures"] = done.order_id, done.figures
        return 200, out

    return idempotent(request, p, run)
