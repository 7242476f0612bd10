"""Areas: how the intake partitions its work so that one area's merges happen in one place at a time.

An area is a cell of ``AREA_DEG`` degrees (0.1°: about 11 km north-south, 9 km east-west at 36°N,
a district of a city such as 聊城 or 淄博). Reports are re-keyed by the area they stand in, so one
area's reports go to one partition of ``intake.reports-by-area`` and one intake replica.

A crash next to an area edge may be reported from both sides. A report may merge with any open
incident within ``MERGE_RADIUS_M`` of it, whichever area that incident stands in (the candidate
query is by place, not by area), and before merging the intake takes a lock on every area the
report's merge radius touches (1, 2 or 4 areas), in sorted order so two batches never deadlock.
Two callers on either side of an edge therefore take the same locks, one waits for the other, and
the second finds the first's incident: one incident per crash, with no lock wider than an area.

``MERGE_RADIUS_M`` comes from ``accidentlink/rules/merge.json``; the tighter own-vehicle radius there may
never exceed it (``MergeRules`` refuses that), so the locks built here always cover every merge.
"""
from __future__ import annotations

import math

from accidentlink.incidents import MERGE_RADIUS_M

AREA_DEG = 0.1
_M_PER_DEG_LAT = 111_000.0


def area_of(lat: float, lon: float) -> str:
    """The area a point stands in, as the key of ``intake.reports-by-area``."""
    return f"A{math.floor(lat / AREA_DEG)}:{math.floor(lon / AREA_DEG)}"


def merge_box(lat: float, radius_m: float = MERGE_RADIUS_M) -> tuple[float, float]:
    """Half-sizes (degrees of latitude, of longitude) of a box around a point at ``lat`` that holds every
    point within ``radius_m`` of it (20 % to spare)."""
    dlat = radius_m / _M_PER_DEG_LAT * 1.2
    return dlat, dlat / max(0.05, math.cos(math.radians(lat)))


def areas_touched(lat: float, lon: float, radius_m: float = MERGE_RADIUS_M) -> list[str]:
    """Every area within ``radius_m`` of the point (a slightly larger box), sorted."""
    dlat, dlon = merge_box(lat, radius_m)
    lats = range(math.floor((lat - dlat) / AREA_DEG), math.floor((lat + dlat) / AREA_DEG) + 1)
    lons = range(math.floor((lon - dlon) / AREA_DEG), math.floor((lon + dlon) / AREA_DEG) + 1)
    return sorted(f"A{a}:{b}" for a in lats for b in lons)


def areas_to_lock(points: "list[tuple[float, float]]") -> list[str]:
    """The locks one intake batch takes: every area its reports' merge radii touch, once each, sorted."""
    return sorted({a for lat, lon in points for a in areas_touched(lat, lon)})
