"""What the dispatcher's desk shows of an incident beyond its facts: which services have no unit nearby
(the "no unit nearby" flag, 附近无可用单位, put first), and what is overdue right now. Pure functions over
the incident's notes and orders as the store keeps them (issue 15)."""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Iterable, Mapping

SHORTFALL_KINDS = ("no_unit_available",)  # the note a service with no free unit within its reach leaves


def straight_line_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine, mean Earth radius): within 0.5 % of the geodesic, enough
    to show a dispatcher how far a unit they choose is."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(min(1.0, a)))


def _at(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v
    try:
        return datetime.fromisoformat(v)
    except (TypeError, ValueError):
        return None


def shortfalls(status: str, notes: Iterable[Mapping[str, Any]],
               orders: Iterable[tuple[str, datetime, str]]) -> list[dict[str, Any]]:
    """The services of an open incident still without a unit nearby: for each, its latest "no unit nearby"
    note (reach, the nearest free unit and its distance), unless a unit of that service was ordered since
    (by the system or the dispatcher). ``notes`` as stored (dicts with at, kind, service, ...); ``orders`` as
    (service, issued_at, state). Most urgent first is the caller's business; this keeps note order."""
    if status != "open":
        return []
    latest: dict[str, Mapping[str, Any]] = {}
    for n in notes:
        if n.get("kind") in SHORTFALL_KINDS and n.get("service"):
            latest[n["service"]] = n
    if not latest:
        return []
    out = []
    orders = list(orders)
    for service, n in latest.items():
        at = _at(n.get("at"))
        covered = any(svc == service and (state == "active" or (at is not None and issued >= at))
                      for svc, issued, state in orders)
        if not covered:
            out.append({k: n.get(k) for k in ("service", "at", "reach_m", "nearest_unit_id", "nearest_unit_name",
                                               "nearest_distance_m", "text", "text_en")})
    return out
