"""Input that cannot do harm (issue 14 item 5): times within a sane window around now, places inside the served
area. Pure checks with their numbers in ``accidentlink/rules/input_bounds.json``; each returns the reason a
person reads (HTTP 422, or the dead letter's ``error`` header on Kafka), or None.

The served area is derived from data, not drawn by hand: the posts, hospitals and units' home posts of the
dispatch resources and the gazetteer's named places, each with a margin (``served_area.max_km``). A report
outside it has no unit that could serve it, so it is refused rather than dispatched to.
"""
from __future__ import annotations

import json
import os
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable

EARTH_KM = 6371.0088


REPORT_MAX_AGE_ENV = "ACCIDENTLINK_REPORT_MAX_AGE_DAYS"


@lru_cache(maxsize=1)
def rules() -> dict[str, Any]:
    """The bounds of ``rules/input_bounds.json``. An operator replaying dead letters older than the report window
    (after a long outage) widens it for that run with ``ACCIDENTLINK_REPORT_MAX_AGE_DAYS``."""
    doc = json.loads(resources.files("accidentlink").joinpath("rules/input_bounds.json").read_text("utf-8"))
    wider = os.environ.get(REPORT_MAX_AGE_ENV, "").strip()
    if wider:
        if not wider.isdigit() or not 1 <= int(wider) <= 3660:
            raise ValueError(f"{REPORT_MAX_AGE_ENV} must be a whole number of days, 1..3660")
        doc["times"]["report_max_age_days"] = int(wider)
    return doc


# ---------------------------------------------------------------- times
def report_time_problem(at: datetime, now: datetime, field: str = "reported_at") -> str | None:
    """A report's time: at most ``max_future_s`` ahead of now and ``report_max_age_days`` behind it."""
    t = rules()["times"]
    if at > now + timedelta(seconds=t["max_future_s"]):
        return f"field '{field}' is in the future ({at.isoformat()}; now {now.isoformat(timespec='seconds')})"
    if at < now - timedelta(days=t["report_max_age_days"]):
        return f"field '{field}' is more than {t['report_max_age_days']} days ago ({at.isoformat()})"
    return None


def date_problem(at: datetime, now: datetime, field: str) -> str | None:
    """Any other date a desk enters (a rescue start, a bill item): not in the future, not years back."""
    t = rules()["times"]
    try:
        if at > now + timedelta(days=t["other_max_future_days"]):
            return f"field '{field}' is in the future ({at.isoformat()})"
        if at < now - timedelta(days=t["other_max_age_days"]):
            return f"field '{field}' is too far in the past ({at.isoformat()})"
    except OverflowError:
        return f"field '{field}' is out of range"
    return None


# ---------------------------------------------------------------- places
def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine): precise enough for a margin of tens of kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class ServedArea:
    """The 0.05° cells whose centre is within ``max_km`` of a served place."""

    cells: frozenset[tuple[int, int]]
    cell_deg: float
    max_km: float

    @classmethod
    def around(cls, places: Iterable[tuple[float, float]], max_km: float, cell_deg: float) -> "ServedArea":
        cells: set[tuple[int, int]] = set()
        dlat = max_km / 111.0 + cell_deg
        # each place counts from its cell's centre (at most ~3.5 km off, against a margin of tens of km): ten thousand
        # units make a few hundred distinct centres, and the area is built in well under a second
        snapped = {((math.floor(a / cell_deg) + 0.5) * cell_deg, (math.floor(b / cell_deg) + 0.5) * cell_deg)
                   for a, b in places}
        for lat, lon in snapped:
            dlon = dlat / max(0.1, math.cos(math.radians(lat)))
            for i in range(math.floor((lat - dlat) / cell_deg), math.floor((lat + dlat) / cell_deg) + 1):
                for j in range(math.floor((lon - dlon) / cell_deg), math.floor((lon + dlon) / cell_deg) + 1):
                    if (i, j) not in cells and _km(lat, lon, (i + 0.5) * cell_deg, (j + 0.5) * cell_deg) <= max_km:
                        cells.add((i, j))
        return cls(frozenset(cells), cell_deg, max_km)

    def covers(self, lat: float, lon: float) -> bool:
        return (math.floor(lat / self.cell_deg), math.floor(lon / self.cell_deg)) in self.cells

    def place_problem(self, lat: float, lon: float) -> str | None:
        if self.covers(lat, lon):
            return None
        return (f"location ({lat:.4f}, {lon:.4f}) is outside every served area (more than about {self.max_km:g} km "
                f"from the posts, hospitals and places AccidentLink serves): no unit could serve it")


def served_places(resources_path: Any = None) -> list[tuple[float, float]]:
    """The posts, hospitals and units of the dispatch resources, and the gazetteer's places."""
    from connectors.geo import DEFAULT_GAZETTEER
    from dispatch.resources import load_resources

    res = load_resources(resources_path)
    places = [(p.lat, p.lon) for p in res.posts] + [(h.lat, h.lon) for h in res.hospitals]
    places += [(u.lat, u.lon) for u in res.units]
    doc = json.loads(DEFAULT_GAZETTEER.read_text("utf-8"))
    places += [(float(e["lat"]), float(e["lon"])) for e in doc.get("places", [])]
    return places


@lru_cache(maxsize=4)
def served_area(resources_path: str | None = None) -> ServedArea:
    r = rules()["served_area"]
    return ServedArea.around(served_places(resources_path), r["max_km"], r["cell_deg"])


def report_problem(report: Any, now: datetime, area: ServedArea) -> str | None:
    """Why a valid report must still be refused (its time, its place), or None."""
    return report_time_problem(report.reported_at, now) or area.place_problem(report.location.lat, report.location.lon)
