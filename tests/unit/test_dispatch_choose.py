"""dispatch.choose: who goes and where casualties go, with fakes for the ports (plus one demo run)."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest

from accidentlink.incidents import IncidentFacts as UnifiedIncident
from dispatch.choose import IncidentFacts, is_minor, next_candidate, plan_dispatch, police_reasons
from dispatch.errors import NoHospitalAvailable, NoUnitAvailable
from dispatch.ports import HospitalLocator, StraightLineTravelTime, UnitLocator
from dispatch.resources import Hospital, Post, Resources, Unit
from dispatch.targets import default_targets

# A toy town on one parallel: 0.01 degree of longitude here is about 890 m.
LAT = 36.45


def lon_at_km(km: float) -> float:
    return 115.98 + km / 89.4


def _metres(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    k = 111_320.0
    return math.hypot((a_lat - b_lat) * k, (a_lon - b_lon) * k * math.cos(math.radians(LAT)))


class FakeUnits:
    """Brute force over a dict; equirectangular metres (good enough at town scale)."""

    def __init__(self, units: list[Unit]):
        self.units = {u.unit_id: u for u in units}

    def nearest(self, lat, lon, *, service, k=1, accept=None, max_m=None):
        found = sorted((_metres(lat, lon, u.lat, u.lon), u.unit_id) for u in self.units.values()
                       if u.service == service and (accept is None or accept(u.unit_id)))
        return [(uid, d) for d, uid in found if max_m is None or d <= max_m][:k]


class FakeHospitals:
    def __init__(self, hospitals: list[Hospital]):
        self.by_id = {h.hospital_id: h for h in hospitals}

    def nearest(self, lat, lon, *, k=1, accept=None, max_m=None):
        found = sorted((_metres(lat, lon, h.lat, h.lon), h.hospital_id) for h in self.by_id.values()
                       if accept is None or accept(h.hospital_id))
        return [(hid, d) for d, hid in found if max_m is None or d <= max_m][:k]

    def hospital(self, hospital_id):
        return self.by_id[hospital_id]


def _post(pid, kind, km, paired=None):
    return Post(pid, kind, pid, LAT, lon_at_km(km), "toy", True, paired)


def _unit(uid, service, km, home):
    return Unit(uid, service, "patrol" if service == "122" else "ambulance", uid, LAT, lon_at_km(km), home)


POSTS = [_post("SQ-A", "squad", 0.0, "H-CLINIC"), _post("SQ-B", "squad", 6.0), _post("QP-1", "quick_point", 1.0),
         _post("EMS", "ems_station", 3.0)]
UNITS = [
    _unit("P-A1", "122", 0.0, "SQ-A"), _unit("P-B1", "122", 6.0, "SQ-B"), _unit("QP-1-1", "122", 1.0, "QP-1"),
    _unit("A-SQ", "120", 0.2, "SQ-A"), _unit("A-EMS", "120", 3.0, "EMS"),
]
HOSPITALS = [
    Hospital("H-CLINIC", "卫生院", LAT, lon_at_km(0.5), "toy", 0, True, True),
    Hospital("H-NOGREEN", "私立医院", LAT, lon_at_km(0.3), "toy", 3, False, True),
    Hospital("H-L1", "县医院", LAT, lon_at_km(4.0), "toy", 1, True, True),
    Hospital("H-TRAUMA", "市人民医院", LAT, lon_at_km(12.0), "toy", 3, True, True),
]
RES = Resources(posts=tuple(POSTS), units=tuple(UNITS), hospitals=tuple(HOSPITALS), cities=("toy",))
TRAVEL = StraightLineTravelTime.from_targets()


def crash(km: float = 0.9, **kw) -> IncidentFacts:
    base = dict(incident_id="INC-1", lat=LAT, lon=lon_at_km(km), injured=1, fatalities=0, hazards=(),
                vehicles_movable=True, hit_and_run=False, parties_count=2)
    base.update(kw)
    return IncidentFacts(**base)


def plan(incident, units=UNITS, hospitals=HOSPITALS, **kw):
    return plan_dispatch(incident, FakeUnits(units), FakeHospitals(hospitals), TRAVEL, resources=RES, **kw)


def test_fakes_satisfy_the_ports():
    assert isinstance(FakeUnits(UNITS), UnitLocator) and isinstance(FakeHospitals(HOSPITALS), HospitalLocator)


def test_injured_crash_gets_nearest_police_and_nearest_ambulance_together():
    p = plan(crash(km=0.9))
    assert p.police.unit_id == "P-A1" and p.ambulance.unit_id == "A-SQ"
    assert [o.service for o in p.orders] == ["122", "120"]
    assert not p.quick_handling and p.hospital_id == "H-CLINIC"
    assert p.police.distance_m == pytest.approx(900, abs=15) and isinstance(p.police.distance_m, int)
    assert p.ambulance.eta_s == TRAVEL(_metres(LAT, lon_at_km(0.9), LAT, lon_at_km(0.2)), "120")
    assert any("同步出警" in r for r in p.reasons)


def test_injury_crash_gets_a_patrol_not_the_nearer_quick_point_staff():
    p = plan(crash(km=1.2))
    assert p.police.unit_id == "P-A1"


def test_quick_point_staff_go_to_an_injury_crash_only_when_no_patrol_is_free():
    p = plan(crash(km=1.2), available=lambda uid: not uid.startswith("P-"))
    assert p.police.unit_id == "QP-1-1"
    assert any("no patrol free" in r for r in p.reasons)


def test_minor_crash_gets_no_police_and_no_ambulance_but_quick_handling():
    p = plan(crash(injured=0))
    assert p.quick_handling and p.police is None and p.ambulance is None and p.hospital_id is None
    assert p.orders == () and "快处快赔" in p.reasons[0]


def test_minor_crash_gets_no_ambulance():
    p = plan(crash(injured=0, hit_and_run=True))
    assert p.ambulance is None and p.hospital_id is None


@pytest.mark.parametrize("change, why", [
    (dict(hit_and_run=True), "逃逸"),
    (dict(parties_count=1), "单车事故"),
    (dict(vehicles_movable=False), "不能移动"),
    (dict(hazards=("multi_vehicle",)), "multi_vehicle"),
    (dict(parties_count=0), "unknown"),
    (dict(police_flags=("drunk",)), "酒驾"),
])
def test_minor_crash_with_a_reason_police_must_come_gets_the_nearest_quick_point_or_patrol(change, why):
    incident = crash(km=1.2, injured=0, **change)
    assert not is_minor(incident)
    p = plan(incident)
    assert not p.quick_handling and p.police.unit_id == "QP-1-1" and p.ambulance is None
    assert why in " ".join(police_reasons(incident)) and why in p.reasons[0]


def test_serious_case_goes_to_trauma_hospital_even_if_farther():
    p = plan(crash(km=0.9, injured=3))
    assert p.serious and p.hospital_id == "H-TRAUMA"
    assert p.hospital_distance_m == pytest.approx(11_100, abs=150)
    assert abs(p.hospital_eta_s - TRAVEL(p.hospital_distance_m, "120")) <= 1  # ETA from the unrounded distance
    assert any("passed over" in r and "卫生院" in r for r in p.reasons)


@pytest.mark.parametrize("change", [dict(fatalities=1), dict(hazards=("trapped",)), dict(hazards=("fire",)),
                                    dict(hazards=("hazmat",))])
def test_deaths_trapped_fire_and_hazmat_make_a_case_serious(change):
    assert plan(crash(**change)).hospital_id == "H-TRAUMA"


def test_trapped_person_without_reported_injury_still_gets_an_ambulance():
    p = plan(crash(injured=0, hazards=("trapped",)))
    assert p.ambulance is not None and p.hospital_id == "H-TRAUMA"


def test_fire_without_casualties_sends_police_but_no_ambulance():
    p = plan(crash(injured=0, hazards=("fire",)))
    assert p.police is not None and p.ambulance is None


def test_non_serious_case_goes_to_the_nearest_green_channel_hospital_not_a_nearer_one_without():
    p = plan(crash(km=0.3, injured=1))
    assert p.hospital_id == "H-CLINIC" and not p.serious


def test_serious_case_without_any_trauma_hospital_goes_to_nearest_green_channel():
    p = plan(crash(injured=5), hospitals=[h for h in HOSPITALS if h.hospital_id != "H-TRAUMA"])
    assert p.hospital_id == "H-CLINIC"
    assert any("no green-channel hospital of trauma level" in r for r in p.reasons)


def test_trauma_threshold_comes_from_the_rules():
    lenient = replace(default_targets(), trauma_min_level=1)
    p = plan_dispatch(crash(km=0.9, injured=3), FakeUnits(UNITS), FakeHospitals(HOSPITALS), TRAVEL, targets=lenient)
    assert p.hospital_id == "H-L1"


def test_busy_and_excluded_units_are_skipped():
    p = plan(crash(km=0.9), available=lambda uid: uid != "A-SQ", exclude={"P-A1"})
    assert p.police.unit_id == "P-B1" and p.ambulance.unit_id == "A-EMS"


def test_no_police_unit_free_the_ambulance_still_goes_and_police_are_short():
    p = plan(crash(), units=[u for u in UNITS if u.service == "120"])
    assert p.police is None and p.ambulance is not None and p.short == ("122",)
    assert any("no" in r and "122" in r for r in p.reasons)


def test_no_ambulance_free_the_police_still_go_and_120_is_short():
    p = plan(crash(), units=[u for u in UNITS if u.service == "122"])
    assert p.police is not None and p.ambulance is None and p.short == ("120",)
    assert [o.service for o in p.orders] == ["122"]


def test_nothing_free_at_all_orders_nothing_and_both_are_short():
    p = plan(crash(), available=lambda uid: False)
    assert p.orders == () and p.short == ("122", "120")


def test_no_hospital_at_all_raises():
    with pytest.raises(NoHospitalAvailable):
        plan(crash(), hospitals=[])


def test_next_candidate_escalates_to_the_nearest_untried_unit():
    order, reasons = next_candidate(crash(km=0.9), FakeUnits(UNITS), TRAVEL, service="120", tried={"A-SQ"})
    assert order.unit_id == "A-EMS" and "escalation" in reasons[0]
    with pytest.raises(NoUnitAvailable):
        next_candidate(crash(), FakeUnits(UNITS), TRAVEL, service="120", tried={"A-SQ", "A-EMS"})


def test_reasons_name_the_units_and_the_paired_squad_ambulance():
    p = plan(crash(km=0.9))
    assert any("A-SQ" in r and "ETA" in r for r in p.reasons)
    assert any("警医联动" in r for r in p.reasons)


def test_incident_facts_from_the_kernel_incident_count_plates_as_parties():
    from datetime import datetime, timezone
    t = datetime(2026, 11, 22, 8, tzinfo=timezone.utc)
    unified = UnifiedIncident("INC-X", 36.45, 115.98, None, t, t, 0, 0, True, False, (), ("鲁P12345", "鲁P54321"),
                              ("r1",), ("122",))
    facts = IncidentFacts.from_incident(unified)
    assert facts.parties_count == 2 and is_minor(facts)


def test_incident_facts_refuse_negative_counts():
    with pytest.raises(ValueError):
        crash(injured=-1)


def test_demo_crash_on_liaolin_road_gets_the_liangshui_squad_and_its_stationed_ambulance():
    from connectors.geo import GazetteerGeocoder, HospitalIndex, UnitIndex
    from dispatch.resources import load_resources

    res = load_resources()
    lat, lon = GazetteerGeocoder().geocode("聊临路梁水镇段两车相撞，一人受伤")
    p = plan_dispatch(IncidentFacts("INC-D", lat, lon, 1, 0, (), True, False, 2), UnitIndex.from_resources(res),
                      HospitalIndex(res.hospitals), TRAVEL, resources=res)
    assert p.police.unit_id.startswith("LC-122-LSZ-") and p.ambulance.unit_id == "LC-120-LSZ-1"
    serious = plan_dispatch(IncidentFacts("INC-E", lat, lon, 4, 0, (), False, False, 2), UnitIndex.from_resources(res),
                            HospitalIndex(res.hospitals), TRAVEL, resources=res)
    assert res.hospital(serious.hospital_id).trauma_level >= default_targets().trauma_min_level
