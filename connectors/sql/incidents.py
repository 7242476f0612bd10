"""Incident repository: rows <-> ``IncidentFacts``, candidates for merging, snapshots for feeds."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accidentlink.areas import merge_box
from accidentlink.clock import iso
from accidentlink.incidents import MERGE_WINDOW, IncidentFacts
from accidentlink.masking import mask_record, mask_text
from accidentlink.severity import grade_of
from connectors.sql import batch
from connectors.sql.models import (
    IncidentRow, OrderRow, ReportRow, TimelineEntry, UnitRow,
)
from connectors.sql.outbox import emit

INCIDENT_SCHEMA = "incident/1"
FREE_TEXT = {"text", "reason", "reasons", "note", "description"}  # a change's fields a person may have typed


def facts_of(row: IncidentRow, report_ids: list[str] | None = None) -> IncidentFacts:
    return IncidentFacts(
        incident_id=row.incident_id, lat=row.lat, lon=row.lon, address=row.address,
        first_reported_at=row.first_reported_at, last_reported_at=row.last_reported_at,
        injured=row.injured, fatalities=row.fatalities, vehicles_movable=row.vehicles_movable,
        hit_and_run=row.hit_and_run, hazards=tuple(row.hazards or ()), plates=tuple(row.plates or ()),
        report_ids=tuple(report_ids or ()), sources=tuple(row.sources or ()), status=row.status,
    )


def reports_of(session: Session, incident_id: str) -> list[tuple[datetime, str, dict[str, Any]]]:
    """(reported_at, report_id, payload) of the incident's reports in order; read once per pipeline batch."""
    buffered = batch.current(session)
    if buffered is not None and incident_id in buffered.reports:
        return buffered.reports[incident_id]
    rows = [tuple(r) for r in session.execute(
        select(ReportRow.reported_at, ReportRow.report_id, ReportRow.payload).where(ReportRow.incident_id == incident_id)
        .order_by(ReportRow.reported_at, ReportRow.report_id))]
    if buffered is not None:
        buffered.reports[incident_id] = rows  # type: ignore[assignment]
    return rows  # type: ignore[return-value]


def prefetch_reports(session: Session, incident_ids: set[str]) -> None:
    """Read the reports of many incidents in one query into the batch's cache."""
    buffered = batch.current(session)
    missing = sorted(i for i in incident_ids if buffered is None or i not in buffered.reports)
    if buffered is None or not missing:
        return
    for i in missing:
        buffered.reports[i] = []
    for incident_id, at, report_id, payload in session.execute(
            select(ReportRow.incident_id, ReportRow.reported_at, ReportRow.report_id, ReportRow.payload)
            .where(ReportRow.incident_id.in_(missing)).order_by(ReportRow.reported_at, ReportRow.report_id)):
        buffered.reports[incident_id].append((at, report_id, payload))


def hold_incidents(session: Session, incident_ids: set[str]) -> None:
    """Read these incidents and their reports into the batch, one query each."""
    buffered = batch.current(session)
    if buffered is None or not incident_ids:
        return
    for r in session.scalars(select(IncidentRow).where(IncidentRow.incident_id.in_(incident_ids))):
        buffered.hold(r)
    prefetch_reports(session, set(buffered.incidents) & incident_ids)


def add_report(session: Session, row: ReportRow, created: bool) -> None:
    session.add(row)
    buffered = batch.current(session)
    if buffered is not None:
        known = [] if created else list(reports_of(session, row.incident_id))
        known.append((row.reported_at, row.report_id, row.payload))
        known.sort(key=lambda r: (r[0], r[1]))
        buffered.reports[row.incident_id] = known


def report_ids_of(session: Session, incident_id: str) -> list[str]:
    return [r[1] for r in reports_of(session, incident_id)]


def incident(session: Session, incident_id: str) -> IncidentRow | None:
    """The incident row; inside a pipeline batch, without a query when the batch already holds it (a row
    added and not yet flushed is not in the session's identity map, and looking it up would flush)."""
    buffered = batch.current(session)
    if buffered is not None and incident_id in buffered.incidents:
        return buffered.incidents[incident_id]
    row = session.get(IncidentRow, incident_id)
    if buffered is not None and row is not None:
        buffered.hold(row)
    return row


def prefetch_candidates(session: Session, points: list[tuple[float, float, datetime]]) -> None:
    """Read, with one indexed query, every open incident a batch's new reports could merge into (by the
    0.01° cells their boxes touch, and the time window), and hold them in the batch; ``merge_candidates``
    then needs no query for those reports."""
    buffered = batch.current(session)
    if buffered is None or not points:
        return
    cells = {c for lat, lon, _at in points for c in batch.box_cells(lat, lon, *merge_box(lat))} - buffered.covered
    if not cells:
        return
    first, last = min(p[2] for p in points), max(p[2] for p in points)
    keys = sorted(batch.key_of(c) for c in cells)
    with session.no_autoflush:
        for row in session.scalars(select(IncidentRow).where(
                IncidentRow.status == "open", IncidentRow.cell.in_(keys),
                IncidentRow.last_reported_at >= first - MERGE_WINDOW, IncidentRow.first_reported_at <= last + MERGE_WINDOW)):
            if row.incident_id not in buffered.incidents:  # the batch's own copy is newer
                buffered.hold(row)
    buffered.covered |= cells


def merge_candidates(session: Session, lat: float, lon: float, at: datetime) -> list[IncidentFacts]:
    """Open incidents inside a bounding box around the point and the time window (index-backed).
    Inside a pipeline batch the query does not flush, and is not made at all when the batch read the
    box's cells at its start (``prefetch_candidates``): incidents the batch holds are checked in memory."""
    dlat, dlon = merge_box(lat)
    buffered = batch.current(session)
    if buffered is None:
        session.flush()  # outside a batch the query must see what the session holds
    found: list[str] = []
    if buffered is None or not buffered.covered.issuperset(batch.box_cells(lat, lon, dlat, dlon)):
        t = IncidentRow.__table__.c
        found = session.connection().execute(select(t.incident_id).where(  # no flush, no ORM: usually nothing
            t.status == "open", t.lat.between(lat - dlat, lat + dlat), t.lon.between(lon - dlon, lon + dlon),
            t.last_reported_at >= at - MERGE_WINDOW, t.first_reported_at <= at + MERGE_WINDOW)).scalars().all()
    with session.no_autoflush:  # the batch's cache holds every report it added: nothing to flush for
        rows = {i: r for i in found if (r := incident(session, i)) is not None}
        if buffered is not None:
            for r in buffered.near(lat, lon, dlat, dlon):
                inside = (r.status == "open" and lat - dlat <= r.lat <= lat + dlat and lon - dlon <= r.lon <= lon + dlon
                          and r.last_reported_at >= at - MERGE_WINDOW and r.first_reported_at <= at + MERGE_WINDOW)
                if inside:
                    rows[r.incident_id] = r
                else:
                    rows.pop(r.incident_id, None)  # changed in this batch and no longer a candidate
        prefetch_reports(session, set(rows))
        return [facts_of(r, report_ids_of(session, r.incident_id)) for r in rows.values()]


def save_facts(session: Session, f: IncidentFacts, now: datetime, *, new: bool = False) -> IncidentRow:
    row = None if new else incident(session, f.incident_id)
    if row is None:
        row = IncidentRow(incident_id=f.incident_id, created_at=now, status="open", version=0, notes=[],
                          quick_handling=False)
        session.add(row)
    row.lat, row.lon, row.address = f.lat, f.lon, f.address
    row.cell = batch.cell_key(f.lat, f.lon)
    row.first_reported_at, row.last_reported_at = f.first_reported_at, f.last_reported_at
    row.injured, row.fatalities = f.injured, f.fatalities
    row.vehicles_movable, row.hit_and_run = f.vehicles_movable, f.hit_and_run
    row.hazards, row.plates, row.sources = list(f.hazards), list(f.plates), list(f.sources)
    row.severity = f.severity
    row.updated_at = now
    row.version = (row.version or 0) + 1
    buffered = batch.current(session)
    if buffered is not None:
        buffered.hold(row)
        if new:
            buffered.created.add(f.incident_id)
    return row


def add_timeline(session: Session, incident_id: str, at: datetime, kind: str, **detail: Any) -> None:
    buffered = batch.current(session)
    if buffered is not None:  # a pipeline batch writes its timeline entries in one statement at the end
        buffered.timeline.append({"incident_id": incident_id, "at": at, "kind": kind, "detail": detail})
    else:
        session.add(TimelineEntry(incident_id=incident_id, at=at, kind=kind, detail=detail))


def touch(session: Session, incident_id: str, now: datetime) -> IncidentRow:
    row = incident(session, incident_id)
    row.updated_at = now
    row.version = (row.version or 0) + 1
    return row


def parties_of(session: Session, incident_id: str) -> list[dict[str, Any]]:
    """Every party named by any report of the incident, one per plate (or per person without one)."""
    seen: dict[str, dict[str, Any]] = {}
    for _at, _id, payload in reports_of(session, incident_id):
        for p in payload.get("parties") or []:
            k = (p.get("plate") or "").strip().upper() or p.get("id_number") or p.get("phone") or p.get("name") or ""
            if k:
                seen.setdefault(k, p)
    return list(seen.values())


def facts_view(row: IncidentRow, report_ids: list[str]) -> dict[str, Any]:
    """The incident as a store without dispatch's orders knows it (the intake's, a pipeline's copy): its
    facts. No ``version``: versions count one store's changes, and a reader merges these into what it has."""
    return {
        "incident_id": row.incident_id, "status": row.status, "severity": row.severity,
        "grade": grade_of(row.fatalities).code,
        "location": {"lat": row.lat, "lon": row.lon, "address": mask_text(row.address) if row.address else row.address},
        "first_reported_at": iso(row.first_reported_at), "last_reported_at": iso(row.last_reported_at),
        "injured": row.injured, "fatalities": row.fatalities, "vehicles_movable": row.vehicles_movable,
        "hit_and_run": row.hit_and_run, "hazards": row.hazards, "plates": row.plates, "sources": row.sources,
        "report_ids": report_ids, "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
    }


def _view(row: IncidentRow, orders: list[OrderRow], report_ids: list[str], unit_names: dict[str, str]) -> dict[str, Any]:
    """Dispatch's incident: the facts, and its hospital, notes, orders and units."""
    from dispatch.desk import shortfalls
    from hospitals import admission_id_for  # deterministic: no query

    return {
        **facts_view(row, report_ids),
        "hospital_id": row.hospital_id, "quick_handling": row.quick_handling,
        "admission_id": admission_id_for(row.incident_id, row.hospital_id) if row.hospital_id else None,
        "notes": mask_record(row.notes or []),  # free text: a number typed into it is masked
        "orders": [{
            "order_id": o.order_id, "service": o.service, "unit_id": o.unit_id, "distance_m": o.distance_m,
            "eta_s": o.eta_s, "issued_at": iso(o.issued_at), "state": o.state, "unit_status": o.unit_status,
            "status_times": o.status_times or {}, "replaces_order_id": o.replaces_order_id,
            "unit_name": unit_names.get(o.unit_id),
        } for o in orders],
        "units": {o.unit_id: o.unit_status for o in orders if o.state == "active"},
        # services with no free unit within reach (issue 15: flagged and put first; the dispatcher decides)
        "no_unit_nearby": shortfalls(row.status, row.notes or [], [(o.service, o.issued_at, o.state) for o in orders]),
        "closed_at": iso(row.closed_at) if row.closed_at else None, "version": row.version,
    }


def snapshot(session: Session, row: IncidentRow, *, with_timeline: bool = True) -> dict[str, Any]:
    """The incident as dispatchers see it (contract: report_ids, orders, unit statuses, hospital_id,
    timeline). Personal data is masked."""
    orders = session.scalars(select(OrderRow).where(OrderRow.incident_id == row.incident_id)
                             .order_by(OrderRow.issued_at)).all()
    names = dict(session.execute(select(UnitRow.unit_id, UnitRow.name).where(
        UnitRow.unit_id.in_([o.unit_id for o in orders]))).all()) if orders and with_timeline else {}
    out = _view(row, list(orders), report_ids_of(session, row.incident_id), names)
    if with_timeline:
        out["timeline"] = [{"at": iso(t.at), "kind": t.kind, **mask_record(t.detail)} for t in session.scalars(
            select(TimelineEntry).where(TimelineEntry.incident_id == row.incident_id).order_by(TimelineEntry.id))]
    return out


def snapshots(session: Session, incident_ids: set[str], *, with_orders: bool = True) -> dict[str, dict[str, Any]]:
    """``snapshot(..., with_timeline=False)`` of many incidents with one query per table (without orders:
    ``facts_view``)."""
    ids = sorted(incident_ids)
    buffered = batch.current(session)
    rows = {i: buffered.incidents[i] for i in ids if i in buffered.incidents} if buffered is not None else {}
    if len(rows) < len(ids):
        rows.update((r.incident_id, r) for r in session.scalars(
            select(IncidentRow).where(IncidentRow.incident_id.in_([i for i in ids if i not in rows]))))
    if not with_orders:
        prefetch_reports(session, set(ids))
        return {i: facts_view(rows[i], report_ids_of(session, i)) for i in ids}
    orders: dict[str, list[OrderRow]] = {i: [] for i in ids}
    for o in session.scalars(select(OrderRow).where(OrderRow.incident_id.in_(ids)).order_by(OrderRow.issued_at)):
        orders[o.incident_id].append(o)
    prefetch_reports(session, set(ids))
    return {i: _view(rows[i], orders[i], report_ids_of(session, i), {}) for i in ids}


def event_value(view: dict[str, Any], change: str, at: datetime, version: int, extra: dict[str, Any]) -> dict[str, Any]:
    """The value of one ``incidents`` message: what changed, and the incident after the change."""
    extra = {k: mask_record(v) if k in FREE_TEXT else v for k, v in extra.items()}  # a public topic: masked
    return {"schema": INCIDENT_SCHEMA, "event_id": f"{view['incident_id']}:{version}:{change}",
            "incident_id": view["incident_id"], "change": change, "at": iso(at), **extra, "incident": view}


def facts_changed(session: Session, owner: str, topic: str, row: IncidentRow, change: str, at: datetime,
                  extra: dict[str, Any]) -> None:
    """The change onto ``incidents`` from a store without dispatch's orders: the incident's facts (``facts_view``)
    at its version; inside a pipeline batch, built once per incident at the batch's end (``WriteBatch.flush``)."""
    buffered = batch.current(session)
    if buffered is not None:
        buffered.incident_changes.append((row.incident_id, change, at, row.version, extra, topic, owner))
        return
    view = facts_view(row, report_ids_of(session, row.incident_id))
    emit(session, owner, topic, row.incident_id, event_value(view, change, at, row.version, extra), at)


def incident_event(session: Session, row: IncidentRow, change: str, now: datetime, **extra: Any) -> dict[str, Any]:
    """The value of one ``incidents`` message: what changed, and the incident after the change."""
    return event_value(snapshot(session, row, with_timeline=False), change, now, row.version, extra)
