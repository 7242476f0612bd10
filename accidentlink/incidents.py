"""One incident per crash: the merge rule for several reports of the same accident.

Two callers, or a 120 call and a 122 call, describe one crash. A report joins an open incident when
all of these hold (and otherwise opens a new one):

1. the incident is still open;
2. the report is within ``MERGE_RADIUS_M`` metres (geodesic) of the incident's position;
3. its ``reported_at`` is within ``MERGE_WINDOW`` of the incident's first or last report;
4. plates do not contradict. When both the report and the incident name plates and share none, the
   report still joins when it names a single plate (a driver naming only their own vehicle) and it is
   within the tighter own-vehicle radius and window (``MergeRules.own_vehicle_*``): two drivers of one
   crash, 50 m and a minute apart, each naming their own plate, are one crash. A report naming several
   plates none of which the incident has, or one plate but further or later, is another crash.

The radii and windows are data (``accidentlink/rules/merge.json``), each with its reason. The intake's
area locks (``accidentlink.areas``) are built from ``MERGE_RADIUS_M``, so every candidate a report may
join stands in an area it locks.

Of several candidates the nearest wins. Counts merge by maximum (two callers describe the same
casualties; they do not add up), hazards and parties by union, ``hit_and_run`` by any,
``vehicles_movable`` by all. Casualty changes are re-reported within 7 days (国务院令 493 art. 13 [O]),
so a later, larger count raises the incident's.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

from accidentlink.clock import iso
from accidentlink.reports import AccidentReport, Party
from accidentlink.severity import grade_of



@dataclass(frozen=True)
class MergeRules:
    """When two reports are one crash (``rules/merge.json``, each value with its reason)."""

    radius_m: float
    window: timedelta
    own_vehicle_radius_m: float
    own_vehicle_window: timedelta

    def __post_init__(self) -> None:
        if not 0 < self.own_vehicle_radius_m <= self.radius_m:
            raise ValueError("merge.json: own_vehicle_radius_m must be positive and at most radius_m")
        if not timedelta(0) < self.own_vehicle_window <= self.window:
            raise ValueError("merge.json: own_vehicle_window_minutes must be positive and at most window_minutes")


def merge_rules_from_dict(doc: dict[str, Any]) -> MergeRules:
    for key in ("radius_m", "window_minutes", "own_vehicle_radius_m", "own_vehicle_window_minutes"):
        if not doc.get(f"{key}_reason"):
            raise ValueError(f"merge.json: {key} needs its reason ({key}_reason)")
    return MergeRules(float(doc["radius_m"]), timedelta(minutes=float(doc["window_minutes"])),
                      float(doc["own_vehicle_radius_m"]), timedelta(minutes=float(doc["own_vehicle_window_minutes"])))


@lru_cache(maxsize=1)
def merge_rules() -> MergeRules:
    """The rules shipped in ``accidentlink/rules/merge.json``."""
    return merge_rules_from_dict(json.loads(
        resources.files("accidentlink").joinpath("rules/merge.json").read_text("utf-8")))


MERGE_RADIUS_M = merge_rules().radius_m
MERGE_WINDOW = merge_rules().window


@dataclass(frozen=True)
class IncidentFacts:
    """What the pipelines need to know about a unified incident (no personal data here)."""

    incident_id: str
    lat: float
    lon: float
    address: str | None
    first_reported_at: datetime
    last_reported_at: datetime
    injured: int
    fatalities: int
    vehicles_movable: bool
    hit_and_run: bool
    hazards: tuple[str, ...]
    plates: tuple[str, ...]
    report_ids: tuple[str, ...]
    sources: tuple[str, ...]
    status: str = "open"

    @property
    def needs_ambulance(self) -> bool:
        return self.injured > 0 or self.fatalities > 0 or "trapped" in self.hazards

    @property
    def grade(self) -> str:
        """The statutory grade (493 art. 3 [O]; ``accidentlink.severity``), by deaths while serious injuries and
        the direct loss are not known."""
        return grade_of(self.fatalities).code

    @property
    def severity(self) -> str:
        """Legal class (程序规定 3 [O]): property-only, injury, death; ``major`` (kept for the desks' grouping) is
        3 or more deaths, i.e. 较大 or above. The statutory grade is ``grade``."""
        if self.fatalities >= 3:
            return "major"
        if self.fatalities > 0:
            return "death"
        if self.injured > 0 or "trapped" in self.hazards:
            return "injury"
        return "property"


def incident_id_for(first_report_id: str) -> str:
    """Deterministic id from the report that opened it: every pipeline computes the same one."""
    return "INC-" + hashlib.sha1(first_report_id.encode("utf-8")).hexdigest()[:12].upper()


def open_incident(report: AccidentReport) -> IncidentFacts:
    return IncidentFacts(
        incident_id=incident_id_for(report.report_id), lat=report.location.lat, lon=report.location.lon,
        address=report.location.address, first_reported_at=report.reported_at,
        last_reported_at=report.reported_at, injured=report.injured, fatalities=report.fatalities,
        vehicles_movable=report.vehicles_movable, hit_and_run=report.hit_and_run, hazards=report.hazards,
        plates=_plates(report.parties), report_ids=(report.report_id,), sources=(report.source,),
    )


def _plates(parties: tuple[Party, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.plate.strip().upper() for p in parties if p.plate and p.plate.strip()))


def _within(report: AccidentReport, incident: IncidentFacts, distance_m: float, radius_m: float,
            window: timedelta) -> bool:
    t = report.reported_at
    return (distance_m <= radius_m
            and incident.first_reported_at - window <= t <= incident.last_reported_at + window)


def may_merge(report: AccidentReport, incident: IncidentFacts, distance_m: float,
              rules: MergeRules | None = None) -> bool:
    """The merge rule of this module's docstring, for one candidate."""
    rules = rules or merge_rules()
    if incident.status != "open" or not _within(report, incident, distance_m, rules.radius_m, rules.window):
        return False
    plates = set(_plates(report.parties))
    if plates and incident.plates and not plates & set(incident.plates):
        # a driver naming only their own vehicle, right beside the incident: the other party of the same crash
        return len(plates) == 1 and _within(report, incident, distance_m, rules.own_vehicle_radius_m,
                                            rules.own_vehicle_window)
    return True


def choose_incident(report: AccidentReport, candidates: list[tuple[IncidentFacts, float]],
                    rules: MergeRules | None = None) -> IncidentFacts | None:
    """The mergeable candidate naming one of the report's plates, else the nearest mergeable one; None: a new
    incident."""
    plates = set(_plates(report.parties))
    ok = [(not plates & set(c.plates), d, c.incident_id, c) for c, d in candidates if may_merge(report, c, d, rules)]
    return min(ok, key=lambda o: o[:3])[3] if ok else None


def merge(incident: IncidentFacts, report: AccidentReport) -> IncidentFacts:
    """Fold one more report of the same crash into the incident."""
    if report.report_id in incident.report_ids:
        return incident
    return replace(
        incident,
        first_reported_at=min(incident.first_reported_at, report.reported_at),
        last_reported_at=max(incident.last_reported_at, report.reported_at),
        injured=max(incident.injured, report.injured),
        fatalities=max(incident.fatalities, report.fatalities),
        vehicles_movable=incident.vehicles_movable and report.vehicles_movable,
        hit_and_run=incident.hit_and_run or report.hit_and_run,
        hazards=tuple(dict.fromkeys(incident.hazards + report.hazards)),
        plates=tuple(dict.fromkeys(incident.plates + _plates(report.parties))),
        report_ids=incident.report_ids + (report.report_id,),
        sources=tuple(dict.fromkeys(incident.sources + (report.source,))),
        address=incident.address or report.location.address,
    )


def facts_json(f: IncidentFacts) -> dict[str, Any]:
    """The incident's facts as the intake publishes them on ``intake.incident-facts``."""
    return {"incident_id": f.incident_id, "lat": f.lat, "lon": f.lon, "address": f.address,
            "first_reported_at": iso(f.first_reported_at), "last_reported_at": iso(f.last_reported_at),
            "injured": f.injured, "fatalities": f.fatalities, "vehicles_movable": f.vehicles_movable,
            "hit_and_run": f.hit_and_run, "hazards": list(f.hazards), "plates": list(f.plates),
            "report_ids": list(f.report_ids), "sources": list(f.sources), "status": f.status, "grade": f.grade}


def facts_from_json(d: dict[str, Any]) -> IncidentFacts:
    return IncidentFacts(
        incident_id=d["incident_id"], lat=float(d["lat"]), lon=float(d["lon"]), address=d.get("address"),
        first_reported_at=datetime.fromisoformat(d["first_reported_at"]),
        last_reported_at=datetime.fromisoformat(d["last_reported_at"]), injured=int(d["injured"]),
        fatalities=int(d["fatalities"]), vehicles_movable=bool(d["vehicles_movable"]), hit_and_run=bool(d["hit_and_run"]),
        hazards=tuple(d.get("hazards") or ()), plates=tuple(d.get("plates") or ()),
        report_ids=tuple(d.get("report_ids") or ()), sources=tuple(d.get("sources") or ()), status=d.get("status", "open"))
