"""Open incidents written straight into dispatch's store, for tests that need thousands of them fast (the
desk's counts and responsiveness): the rows dispatch's own copy would hold, with no orders."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.sql import batch


def incident_row(incident_id: str, lat: float, lon: float, at: datetime, *, injured: int = 0,
                 notes: list[dict[str, Any]] | None = None, address: str | None = None) -> dict[str, Any]:
    return {"incident_id": incident_id, "status": "open", "severity": "injury" if injured else "property",
            "lat": lat, "lon": lon, "address": address or f"测试路段 {incident_id[-6:]}", "first_reported_at": at,
            "last_reported_at": at, "injured": injured, "fatalities": 0, "vehicles_movable": not injured,
            "hit_and_run": False, "hazards": [], "plates": [], "sources": ["122"], "hospital_id": None,
            "quick_handling": False, "notes": notes or [], "created_at": at, "updated_at": at, "closed_at": None,
            "version": 1, "cell": batch.cell_key(lat, lon)}


def seed_incidents(session: Any, rows: list[dict[str, Any]]) -> None:
    from sqlalchemy import insert

    from connectors.sql.models import IncidentRow

    for i in range(0, len(rows), 500):
        session.execute(insert(IncidentRow.__table__), rows[i:i + 500])
