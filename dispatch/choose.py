"""Choosing units and the destination hospital for one incident: a pure decision.

Rules (sources in each function's docstring; thresholds in dispatch/rules/targets.json):

- Police: always the nearest available 122 unit, sent together with the ambulance
  ("联合接警、统一布警、同步出警", 公交管〔2020〕161号 [S]; domain.md §5) - except a minor accident
  ("人未伤、车能动", two or more vehicles, no hazard, nobody fled; domain.md §4): no police, the
  parties settle online (快处快赔). A minor accident with a reason police must come
  (程序规定 13 [O]) gets the nearest 122 unit, quick-handling point staff included; other accidents
  get a patrol unit, quick-point staff only when no patrol is free (Zibo practice, seed 003 [U]).
- Ambulance: anyone injured, dead or trapped: the nearest available 120 unit.
- Hospital: "nearest, most urgent, meeting specialist need" (院前医疗急救管理办法 2014 [S]): serious
  cases go to the nearest green-channel hospital of at least the configured trauma level, even if
  a nearer one exists; others to the nearest green-channel hospital.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Collection

from dispatch.errors import NoHospitalAvailable, NoUnitAvailable, NoUnitNearby
from dispatch.ports import HospitalLocator, TravelTime, UnitLocator
from dispatch.resources import Resources
from dispatch.targets import Targets, default_targets

if TYPE_CHECKING:
    from accidentlink.incidents import IncidentFacts as UnifiedIncident

# Other reasons police must come that intake may know (程序规定 13 [O]; 14 [O] move first, then report).
POLICE_FLAGS: dict[str, str] = {
    "no_licence": "no or wrong driving licence (无证或准驾不符) - 程序规定 13",
    "drunk": "suspected alcohol or drugs (酒驾、毒驾嫌疑) - 程序规定 13",
    "overload_or_speeding": "serious overloading or speeding (严重超载、超速) - 程序规定 13",
    "no_plates": "no or forged plates (无牌或假牌) - 程序规定 13",
    "deliberate": "suspected deliberate crash (故意造成事故) - 程序规定 13",
    "no_inspection_or_insurance": "no inspection or insurance sticker (无检验、保险标志) - 程序规定 14",
    "hit_facility": "a building or public facility was hit (碰撞建筑物、公共设施) - 程序规定 14",
}


@dataclass(frozen=True)
class IncidentFacts:
    """What the dispatch decision needs to know about one (unified) incident.

    ``parties_count`` is the number of vehicles or parties involved; 0 means unknown, and an
    unknown count is never treated as minor.
    """

    incident_id: str
    lat: float
    lon: float
    injured: int = 0
    fatalities: int = 0
    hazards: tuple[str, ...] = ()
    vehicles_movable: bool = True
    hit_and_run: bool = False
    parties_count: int = 0
    police_flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lat) and -90 <= self.lat <= 90 and math.isfinite(self.lon) and -180 <= self.lon <= 180):
            raise ValueError(f"incident {self.incident_id}: position out of range ({self.lat}, {self.lon})")
        for name in ("injured", "fatalities", "parties_count"):
            if getattr(self, name) < 0:
                raise ValueError(f"incident {self.incident_id}: {name} must not be negative")

    @classmethod
    def from_incident(cls, incident: "UnifiedIncident", parties_count: int | None = None,
                      police_flags: tuple[str, ...] = ()) -> "IncidentFacts":
        """From the kernel's unified incident; parties default to the number of distinct plates."""
        return cls(
            incident_id=incident.incident_id, lat=incident.lat, lon=incident.lon,
            injured=incident.injured, fatalities=incident.fatalities, hazards=tuple(incident.hazards),
            vehicles_movable=incident.vehicles_movable, hit_and_run=incident.hit_and_run,
            parties_count=len(incident.plates) if parties_count is None else parties_count,
            police_flags=police_flags,
        )

    @property
    def needs_ambulance(self) -> bool:
        """Anyone injured, dead or trapped: 120 goes with 122 (公交管〔2020〕161号 [S]; domain.md §5)."""
        return self.injured > 0 or self.fatalities > 0 or "trapped" in self.hazards


@dataclass(frozen=True)
class UnitOrder:
    """One unit to send: geodesic distance to the scene and estimated time of arrival."""

    service: str
    unit_id: str
    distance_m: int
    eta_s: int


@dataclass(frozen=True)
class DispatchPlan:
    """The decision for one incident, with the reasons a dispatcher can read."""

    incident_id: str
    quick_handling: bool
    police: UnitOrder | None
    ambulance: UnitOrder | None
    hospital_id: str | None
    hospital_distance_m: int | None
    hospital_eta_s: int | None
    serious: bool
    reasons: tuple[str, ...]
    # services needed but with no free unit now ("122", "120"): the others still go, these are retried
    short: tuple[str, ...] = ()
    # for each service in ``short``: why, as the domain error (its reach, the nearest free unit beyond it)
    shortfalls: tuple[NoUnitAvailable, ...] = ()

    @property
    def orders(self) -> tuple[UnitOrder, ...]:
        """Orders to issue together (police first), empty for online quick handling."""
        return tuple(o for o in (self.police, self.ambulance) if o is not None)


def police_reasons(incident: IncidentFacts) -> tuple[str, ...]:
    """Why police must come to the scene; empty means a minor accident fit for online quick handling.

    程序规定 13 [O] (injury or death, a vehicle cannot move, a party has left, ...) and the eligibility
    for online quick handling, "人未伤、车能动", two or more vehicles (domain.md §4 [S]).
    """
    out: list[str] = []
    if incident.injured:
        out.append(f"{incident.injured} injured (有人受伤) - 程序规定 13")
    if incident.fatalities:
        out.append(f"{incident.fatalities} dead (有人死亡) - 程序规定 13")
    if not incident.vehicles_movable:
        out.append("a vehicle cannot move (车辆不能移动) - 程序规定 13")
    if incident.hit_and_run:
        out.append("a party has left the scene (当事人逃逸) - 程序规定 13")
    for h in incident.hazards:
        out.append(f"hazard at the scene: {h} (现场险情)")
    if incident.parties_count == 1:
        out.append("single-vehicle accident (单车事故): online quick handling needs two or more vehicles - domain.md §4")
    elif incident.parties_count == 0:
        out.append("number of parties unknown (当事方数量不明)")
    for flag in incident.police_flags:
        out.append(POLICE_FLAGS.get(flag, f"police flag: {flag}"))
    return tuple(out)


def is_minor(incident: IncidentFacts) -> bool:
    """Minor accident (轻微事故, 快处快赔): no police needed (domain.md §4; 程序规定 13 [O])."""
    return not police_reasons(incident)


def serious_reasons(incident: IncidentFacts, targets: Targets | None = None) -> tuple[str, ...]:
    """Why the case needs a trauma hospital; thresholds from targets.json [U] (院前医疗急救管理办法 2014 [S]:
    "meeting specialist need")."""
    t = targets or default_targets()
    out: list[str] = []
    if incident.fatalities >= t.serious_fatalities_at_least:
        out.append(f"{incident.fatalities} dead")
    if incident.injured >= t.serious_injured_at_least:
        out.append(f"{incident.injured} injured (>= {t.serious_injured_at_least})")
    out += [f"hazard {h}" for h in incident.hazards if h in t.serious_hazards]
    return tuple(out)


def reach_m(service: str, targets: Targets) -> int:
    """How far the system may order a unit of ``service`` from (straight line, metres): ``unit_reach_m`` in
    targets.json (120: the rural EMS service radius, domain.md §5 [S]; 122: a county brigade's area [U]).
    Beyond it no unit is ordered silently: the incident is flagged and the dispatcher decides."""
    return int(targets.unit_reach_m.get(service, targets.rural_radius_m))


@dataclass(frozen=True)
class Candidate:
    """A free unit the dispatcher may choose, with how far it is and whether it is within its reach."""

    service: str
    unit_id: str
    distance_m: int
    eta_s: int
    within_reach: bool


def candidates(incident_lat: float, incident_lon: float, locator: UnitLocator, travel: TravelTime, *,
               service: str, available: Callable[[str], bool] | None, targets: Targets,
               k: int = 8) -> tuple[Candidate, ...]:
    """The ``k`` nearest free units of ``service`` whatever their distance, for the dispatcher to choose
    from (the dispatcher decides beyond the reach, seeing the distance)."""
    reach = reach_m(service, targets)
    found = locator.nearest(incident_lat, incident_lon, service=service, k=k, accept=available)
    return tuple(Candidate(service, uid, int(round(d)), int(travel(d, service)), d <= reach) for uid, d in found)


def _km(distance_m: float) -> str:
    return f"{distance_m / 1000:.1f} km"


def _eta(eta_s: int) -> str:
    return f"{eta_s // 60} min {eta_s % 60:02d} s"


def _unit_label(unit_id: str, resources: Resources | None) -> str:
    if resources is None:
        return unit_id
    try:
        return f"{unit_id} {resources.unit(unit_id).name}"
    except KeyError:
        return unit_id


def _home_kind(unit_id: str, resources: Resources | None) -> str | None:
    if resources is None:
        return None
    try:
        return resources.home_of(unit_id).kind
    except KeyError:
        return None


def _choose_unit(
    incident: IncidentFacts, locator: UnitLocator, travel: TravelTime, *, service: str, property_only: bool,
    available: Callable[[str], bool] | None, exclude: Collection[str], resources: Resources | None,
    targets: Targets, reasons: list[str],
) -> UnitOrder:
    def free(uid: str) -> bool:
        return uid not in exclude and (available is None or available(uid))

    found: list[tuple[str, float]] = []
    note = "nearest available"
    reach = reach_m(service, targets)  # never ordered by the system from beyond its reach (issue 15)
    if service == "122" and not property_only and targets.quick_point_units_minor_only and resources is not None:
        found = locator.nearest(incident.lat, incident.lon, service=service, k=1, max_m=reach,
                                accept=lambda uid: free(uid) and _home_kind(uid, resources) != "quick_point")
        if not found:
            note = "no patrol free, nearest quick-handling point staff (快处点) sent instead"
    if not found:
        found = locator.nearest(incident.lat, incident.lon, service=service, k=1, accept=free, max_m=reach)
        if found and service == "122" and property_only and _home_kind(found[0][0], resources) == "quick_point":
            note = "nearest available, quick-handling point staff (快处点, seed 003)"
    if not found:
        beyond = locator.nearest(incident.lat, incident.lon, service=service, k=1, accept=free)
        raise NoUnitNearby(service, reach, beyond[0] if beyond else None)
    unit_id, distance = found[0]
    order = UnitOrder(service=service, unit_id=unit_id, distance_m=int(round(distance)),
                      eta_s=int(travel(distance, service)))
    what = "police 122 (交警)" if service == "122" else "ambulance 120 (救护车)"
    reasons.append(f"{what}: {_unit_label(unit_id, resources)}, {note}, {_km(distance)}, ETA {_eta(order.eta_s)}")
    if resources is not None and service == "120":
        try:
            home = resources.home_of(unit_id)
        except KeyError:
            home = None
        if home is not None and home.kind == "squad" and home.paired_hospital_id:
            reasons.append(f"ambulance stationed with {home.name} (警医联动, 同吃同住同出警, seed 002)")
        if distance > targets.urban_radius_m:
            reasons.append(f"ambulance beyond the {_km(targets.urban_radius_m)} urban service radius "
                           f"({targets.cite('urban_radius_m')})")
    return order


def choose_hospital(incident: IncidentFacts, hospitals: HospitalLocator, targets: Targets | None = None
                    ) -> tuple[str, float, tuple[str, ...]]:
    """The destination hospital for an ambulance the dispatcher ordered (the same rule as the plan's)."""
    t = targets or default_targets()
    reasons: list[str] = []
    hid, dist = _choose_hospital(incident, hospitals, serious=serious_reasons(incident, t), targets=t, reasons=reasons)
    return hid, dist, tuple(reasons)


def _choose_hospital(
    incident: IncidentFacts, hospitals: HospitalLocator, *, serious: tuple[str, ...],
    targets: Targets, reasons: list[str],
) -> tuple[str, float]:
    """院前医疗急救管理办法 2014 [S]: nearest, most urgent, meeting specialist need; hospitals may not
    refuse (公交管〔2020〕161号 [S]). Trauma grading is provincial [U]: the minimum level is data."""
    lat, lon = incident.lat, incident.lon
    min_level = targets.trauma_min_level

    def green(hid: str) -> bool:
        return hospitals.hospital(hid).green_channel

    def trauma(hid: str) -> bool:
        h = hospitals.hospital(hid)
        return h.green_channel and h.trauma_level >= min_level

    nearest_green = hospitals.nearest(lat, lon, k=1, accept=green)
    chosen: list[tuple[str, float]] = []
    if serious:
        chosen = hospitals.nearest(lat, lon, k=1, accept=trauma)
        if chosen:
            h = hospitals.hospital(chosen[0][0])
            reasons.append(f"serious case ({', '.join(serious)}): nearest green-channel hospital with trauma level "
                           f">= {min_level} (创伤救治): {h.name}, {_km(chosen[0][1])} - 院前医疗急救管理办法 2014")
            if nearest_green and nearest_green[0][0] != chosen[0][0]:
                skipped = hospitals.hospital(nearest_green[0][0])
                reasons.append(f"nearer {skipped.name} ({_km(nearest_green[0][1])}) passed over: trauma level "
                               f"{skipped.trauma_level} < {min_level}")
        else:
            reasons.append(f"serious case but no green-channel hospital of trauma level >= {min_level} known: "
                           "nearest green-channel hospital instead")
    if not chosen and nearest_green:
        chosen = nearest_green
        if not serious:
            h = hospitals.hospital(chosen[0][0])
            reasons.append(f"nearest green-channel hospital (绿色通道): {h.name}, {_km(chosen[0][1])} "
                           "- 院前医疗急救管理办法 2014")
    if not chosen:
        chosen = hospitals.nearest(lat, lon, k=1)
        if not chosen:
            raise NoHospitalAvailable("no hospital is known")
        reasons.append(f"no green-channel hospital known: nearest hospital {hospitals.hospital(chosen[0][0]).name}, "
                       f"{_km(chosen[0][1])}")
    return chosen[0]


def plan_dispatch(
    incident: IncidentFacts, locator: UnitLocator, hospitals: HospitalLocator, travel: TravelTime, *,
    targets: Targets | None = None, resources: Resources | None = None,
    available: Callable[[str], bool] | None = None, exclude: Collection[str] = (),
) -> DispatchPlan:
    """Decide who goes and where casualties go (rules in this module's docstring).

    ``available(unit_id)`` says whether a unit may be sent (its status is available); ``exclude``
    lists units already tried. ``resources`` (optional) adds unit names and home posts to the
    reasons and enables the quick-point rule. A needed service with no free unit is listed in ``short``
    and the other still goes: police are not held back for want of an ambulance, nor an ambulance for
    want of police (联合接警、同步出警: each goes as soon as it can). Raises ``NoHospitalAvailable`` when
    a casualty has nowhere to go.
    """
    t = targets or default_targets()
    reasons: list[str] = []
    must_attend = police_reasons(incident)
    minor = not must_attend  # a minor accident never has a casualty: injury is a reason police come
    if minor:
        reasons.append("minor accident (轻微事故): nobody hurt, vehicles movable, two or more parties, no hazard, "
                       "nobody fled: online quick handling (快处快赔), no police or ambulance sent - domain.md §4")
        return DispatchPlan(incident.incident_id, True, None, None, None, None, None, False, tuple(reasons))

    reasons.append("police must attend: " + "; ".join(must_attend))
    short: list[str] = []
    shortfalls: list[NoUnitAvailable] = []

    def choose(service: str, property_only: bool) -> UnitOrder | None:
        try:
            return _choose_unit(incident, locator, travel, service=service, property_only=property_only,
                                available=available, exclude=exclude, resources=resources, targets=t, reasons=reasons)
        except NoUnitAvailable as e:
            short.append(service)
            shortfalls.append(e)
            reasons.append(f"{e}: the other service goes now; none is ordered from beyond its reach, the dispatcher "
                           "decides, and it is retried as units become free")
            return None

    police = choose("122", _property_only(incident))
    ambulance = None
    hospital_id = hospital_distance_m = hospital_eta_s = None
    serious = serious_reasons(incident, t)
    if incident.needs_ambulance:
        reasons.append("casualties or a trapped person: ambulance sent with the police "
                       "(联合接警、统一布警、同步出警 - 公交管〔2020〕161号)")
        ambulance = choose("120", False)
        hid, hdist = _choose_hospital(incident, hospitals, serious=serious, targets=t, reasons=reasons)
        hospital_id, hospital_distance_m = hid, int(round(hdist))
        hospital_eta_s = int(travel(hdist, "120"))
    return DispatchPlan(
        incident_id=incident.incident_id, quick_handling=False, police=police, ambulance=ambulance,
        hospital_id=hospital_id, hospital_distance_m=hospital_distance_m, hospital_eta_s=hospital_eta_s,
        serious=bool(serious), reasons=tuple(reasons), short=tuple(short), shortfalls=tuple(shortfalls),
    )


def _property_only(incident: IncidentFacts) -> bool:
    """Property damage only (no injury, death, trapped person, fire or hazmat): quick-point staff may go.

    Zibo sends the nearest quick-handling point's staff to minor accidents (seed 003 [S]).
    """
    return (incident.injured == 0 and incident.fatalities == 0
            and not set(incident.hazards) & {"trapped", "fire", "hazmat"})


def next_candidate(
    incident: IncidentFacts, locator: UnitLocator, travel: TravelTime, *, service: str,
    tried: Collection[str], available: Callable[[str], bool] | None = None,
    targets: Targets | None = None, resources: Resources | None = None,
) -> tuple[UnitOrder, tuple[str, ...]]:
    """Escalation: the nearest available unit of ``service`` not in ``tried`` (a unit that did not
    acknowledge within ``acknowledge_timeout_s`` [U]), with the reasons; ``NoUnitAvailable`` if none."""
    t = targets or default_targets()
    reasons: list[str] = []
    if tried:
        reasons.append(f"escalation: {len(tried)} unit(s) already tried ({', '.join(sorted(tried))})")
    order = _choose_unit(incident, locator, travel, service=service,
                         property_only=service == "122" and _property_only(incident), available=available,
                         exclude=tried, resources=resources, targets=t, reasons=reasons)
    return order, tuple(reasons)
