"""Incident repository: rows <-> ``IncidentFacts``, candidates for merging, snapshots for feeds."""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accidentlink.clock import iso
from accidentlink.incidents import MERGE_RADIUS_M, MERGE_WINDOW, IncidentFacts
from accidentlink.masking import mask_record
from connectors.sql.models import (
    IncidentRow, OrderRow, ReportRow, TimelineEntry, UnitRow,
)

INCIDENT_SCHEMA = "incident/1"


def facts_of(row: IncidentRow, report_ids: list[str] | None = None) -> IncidentFacts:
    return IncidentFacts(
        incident_id=row.incident_id, lat=row.lat, lon=row.lon, address=row.address,
        first_reported_at=row.first_reported_at, last_reported_at=row.last_reported_at,
        injured=row.injured, fatalities=row.fatalities, vehicles_movable=row.vehicles_movable,
        hit_and_run=row.hit_and_run, hazards=tuple(row.hazards or ()), plates=tuple(row.plates or ()),
        report_ids=tuple(report_ids or ()), sources=tuple(row.sources or ()), status=row.status,
    )


def report_ids_of(session: Session, incident_id: str) -> list[str]:
    return list(session.scalars(select(ReportRow.report_id).where(ReportRow.incident_id == incident_id)
                                .order_by(ReportRow.reported_at, ReportRow.report_id)))


def load_facts(session: Session, incident_id: str) -> IncidentFacts | None:
    row = session.get(IncidentRow, incident_id)
    return facts_of(row, report_ids_of(session, incident_id)) if row else None


def merge_candidates(session: Session, lat: float, lon: float, at: datetime) -> list[IncidentFacts]:
    """Open incidents inside a bounding box around the point and the time window (index-backed)."""
    dlat = MERGE_RADIUS_M / 111_000 * 1.2
    dlon = dlat / max(0.05, math.cos(math.radians(lat)))
    rows = session.scalars(select(IncidentRow).where(
        IncidentRow.status == "open",
        IncidentRow.lat.between(lat - dlat, lat + dlat), IncidentRow.lon.between(lon - dlon, lon + dlon),
        IncidentRow.last_reported_at >= at - MERGE_WINDOW,
        IncidentRow.first_reported_at <= at + MERGE_WINDOW,
    )).all()
    return [facts_of(r, report_ids_of(session, r.incident_id)) for r in rows]


def save_facts(session: Session, f: IncidentFacts, now: datetime) -> IncidentRow:
    row = session.get(IncidentRow, f.incident_id)
    if row is None:
        row = IncidentRow(incident_id=f.incident_id, created_at=now, status="open", version=0, notes=[],
                          quick_handling=False)
        session.add(row)
    row.lat, row.lon, row.address = f.lat, f.lon, f.address
    row.first_reported_at, row.last_reported_at = f.first_reported_at, f.last_reported_at
    row.injured, row.fatalities = f.injured, f.fatalities
    row.vehicles_movable, row.hit_and_run = f.vehicles_movable, f.hit_and_run
    row.hazards, row.plates, row.sources = list(f.hazards), list(f.plates), list(f.sources)
    row.severity = f.severity
    row.updated_at = now
    row.version = (row.version or 0) + 1
    return row


def add_timeline(session: Session, incident_id: str, at: datetime, kind: str, **detail: Any) -> None:
    session.add(TimelineEntry(incident_id=incident_id, at=at, kind=kind, detail=detail))


def touch(session: Session, incident_id: str, now: datetime) -> IncidentRow:
    row = session.get(IncidentRow, incident_id)
    row.updated_at = now
    row.version = (row.version or 0) + 1
    return row


def parties_of(session: Session, incident_id: str) -> list[dict[str, Any]]:
    """Every party named by any report of the incident, one per plate (or per person without one)."""
    seen: dict[str, dict[str, Any]] = {}
    for payload in session.scalars(select(ReportRow.payload).where(ReportRow.incident_id == incident_id)
                                   .order_by(ReportRow.reported_at)):
        for p in payload.get("parties") or []:
            k = (p.get("plate") or "").strip().upper() or p.get("id_number") or p.get("phone") or p.get("name") or ""
            if k:
                seen.setdefault(k, p)
    return list(seen.values())


def snapshot(session: Session, row: IncidentRow, *, with_timeline: bool = True) -> dict[str, Any]:
    """The incident as dispatchers see it (contract: report_ids, orders, unit statuses, hospital_id,
    timeline). Personal data is masked."""
    orders = session.scalars(select(OrderRow).where(OrderRow.incident_id == row.incident_id)
                             .order_by(OrderRow.issued_at)).all()
    units = {u.unit_id: u for u in session.scalars(select(UnitRow).where(
        UnitRow.unit_id.in_([o.unit_id for o in orders])))} if orders and with_timeline else {}
    from hospitals import admission_id_for  # deterministic: no query

    out: dict[str, Any] = {
        "incident_id": row.incident_id, "status": row.status, "severity": row.severity,
        "location": {"lat": row.lat, "lon": row.lon, "address": row.address},
        "first_reported_at": iso(row.first_reported_at), "last_reported_at": iso(row.last_reported_at),
        "injured": row.injured, "fatalities": row.fatalities, "vehicles_movable": row.vehicles_movable,
        "hit_and_run": row.hit_and_run, "hazards": row.hazards, "plates": row.plates, "sources": row.sources,
        "report_ids": report_ids_of(session, row.incident_id),
        "hospital_id": row.hospital_id, "quick_handling": row.quick_handling,
        "admission_id": admission_id_for(row.incident_id, row.hospital_id) if row.hospital_id else None,
        "notes": row.notes or [],
        "orders": [{
            "order_id": o.order_id, "service": o.service, "unit_id": o.unit_id, "distance_m": o.distance_m,
            "eta_s": o.eta_s, "issued_at": iso(o.issued_at), "state": o.state, "unit_status": o.unit_status,
            "status_times": o.status_times or {}, "replaces_order_id": o.replaces_order_id,
            "unit_name": units[o.unit_id].name if o.unit_id in units else None,
        } for o in orders],
        "units": {o.unit_id: o.unit_status for o in orders if o.state == "active"},
        "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
        "closed_at": iso(row.closed_at) if row.closed_at else None, "version": row.version,
    }
    if with_timeline:
        out["timeline"] = [{"at": iso(t.at), "kind": t.kind, **mask_record(t.detail)} for t in session.scalars(
            select(TimelineEntry).where(TimelineEntry.incident_id == row.incident_id).order_by(TimelineEntry.id))]
    return out


def incident_event(session: Session, row: IncidentRow, change: str, now: datetime, **extra: Any) -> dict[str, Any]:
    """The value of one ``incidents`` message: what changed, and the incident after the change."""
    return {"schema": INCIDENT_SCHEMA, "event_id": f"{row.incident_id}:{row.version}:{change}",
            "incident_id": row.incident_id, "change": change, "at": iso(now), **extra,
            "incident": snapshot(session, row, with_timeline=False)}
