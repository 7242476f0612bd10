"""connectors.geo: geodesic distance, the unit index (exact against brute force), hospitals, benchmark."""
from __future__ import annotations

import random

import pytest
from geopy.distance import geodesic

from connectors.geo import (
    HospitalIndex,
    UnitIndex,
    bench_nearest,
    brute_force_nearest,
    geodesic_m,
    random_units,
)
from dispatch.ports import HospitalLocator, UnitLocator
from dispatch.resources import Hospital


def _index(units: dict[str, tuple[float, float, str]], cell_m: float = 3000.0) -> UnitIndex:
    idx = UnitIndex(cell_m=cell_m)
    for uid, (lat, lon, svc) in units.items():
        idx.add(uid, lat, lon, svc)
    return idx


def test_geodesic_m_is_geopy_geodesic_in_metres():
    pairs = [(36.45, 115.98, 36.81, 118.05), (0.0, 0.0, 0.0, 0.0), (36.0, 116.0, 36.0001, 116.0)]
    for a_lat, a_lon, b_lat, b_lon in pairs:
        assert geodesic_m(a_lat, a_lon, b_lat, b_lon) == geodesic((a_lat, a_lon), (b_lat, b_lon)).meters
    assert 189_000 < geodesic_m(36.45, 115.98, 36.81, 118.05) < 190_000  # Liaocheng to Zibo


def test_index_equals_brute_force_geodesic_over_10000_units():
    rng = random.Random(20261122)
    units = random_units(10_000, rng)
    idx = _index(units)
    for _ in range(4):  # brute force costs ~0.25 s a query: a few queries, several questions each
        lat, lon = rng.uniform(36.0, 37.3), rng.uniform(115.3, 118.6)
        service = rng.choice(("122", "120"))
        busy = {uid for uid in units if rng.random() < 0.3}
        reference = brute_force_nearest(units, lat, lon, service=service, k=len(units))
        free_reference = [(u, d) for u, d in reference if u not in busy]
        assert idx.nearest(lat, lon, service=service, k=1) == reference[:1]
        assert idx.nearest(lat, lon, service=service, k=5) == reference[:5]
        assert idx.nearest(lat, lon, service=service, k=3, accept=lambda u: u not in busy) == free_reference[:3]
        assert idx.nearest(lat, lon, service=service, k=50, max_m=4000) == [(u, d) for u, d in reference[:50] if d <= 4000]


@pytest.mark.parametrize("cell_m", [500.0, 2000.0, 5000.0, 40_000.0])
def test_index_equals_brute_force_for_any_cell_size_k_filter_and_radius(cell_m):
    rng = random.Random(int(cell_m))
    units = random_units(300, rng, box=(35.5, 37.5, 115.0, 119.0))
    idx = _index(units, cell_m)
    for q in range(25):
        lat, lon = rng.uniform(35.0, 38.0), rng.uniform(114.5, 119.5)
        service = ("122", "120")[q % 2]
        k = rng.choice((1, 2, 7))
        accept = (lambda u: int(u[1:]) % 3 != 0) if q % 3 else None
        max_m = rng.choice((None, 3000.0, 30_000.0))
        want = brute_force_nearest(units, lat, lon, service=service, k=k, accept=accept, max_m=max_m)
        assert idx.nearest(lat, lon, service=service, k=k, accept=accept, max_m=max_m) == want


def test_moved_and_removed_units_are_found_where_they_are_now():
    rng = random.Random(3)
    units = random_units(400, rng)
    idx = _index(units)
    for uid in list(units)[:150]:
        lat, lon = rng.uniform(36.0, 37.3), rng.uniform(115.3, 118.6)
        idx.move(uid, lat, lon)
        units[uid] = (lat, lon, units[uid][2])
    for uid in list(units)[150:220]:
        idx.remove(uid)
        del units[uid]
    for _ in range(20):
        lat, lon = rng.uniform(36.0, 37.3), rng.uniform(115.3, 118.6)
        assert idx.nearest(lat, lon, service="120", k=3) == brute_force_nearest(units, lat, lon, service="120", k=3)
    assert len(idx) == len(units)


def test_query_far_from_every_unit_still_finds_the_nearest():
    units = {"A": (36.45, 115.98, "122"), "B": (36.81, 118.05, "122")}
    idx = _index(units)
    assert idx.nearest(39.9, 116.4, service="122", k=2) == brute_force_nearest(units, 39.9, 116.4, service="122", k=2)


def test_no_unit_of_the_service_or_none_accepted_gives_an_empty_answer():
    idx = _index({"A": (36.45, 115.98, "122")})
    assert idx.nearest(36.45, 115.98, service="120") == []
    assert idx.nearest(36.45, 115.98, service="122", accept=lambda u: False) == []
    assert idx.nearest(36.45, 115.98, service="122", max_m=-1) == []


def test_adding_an_id_twice_or_moving_an_unknown_unit_is_an_error():
    idx = _index({"A": (36.45, 115.98, "122")})
    with pytest.raises(ValueError, match="already indexed"):
        idx.add("A", 36.0, 116.0, "122")
    with pytest.raises(KeyError):
        idx.move("B", 36.0, 116.0)
    with pytest.raises(KeyError):
        idx.remove("B")
    with pytest.raises(ValueError, match="out of range"):
        idx.add("C", 91.0, 116.0, "122")


def test_a_unit_moved_to_another_service_is_found_only_there():
    idx = _index({"A": (36.45, 115.98, "122")})
    idx.move("A", 36.46, 115.99, service="120")
    assert idx.nearest(36.45, 115.98, service="122") == []
    assert [u for u, _ in idx.nearest(36.45, 115.98, service="120")] == ["A"]
    assert idx.position("A") == (36.46, 115.99)


def test_unit_and_hospital_indexes_satisfy_the_dispatch_ports():
    h = Hospital("H1", "聊城市人民医院", 36.4566, 115.9737, "liaocheng", 3, True, True)
    hospitals = HospitalIndex([h])
    assert isinstance(UnitIndex(), UnitLocator)
    assert isinstance(hospitals, HospitalLocator)
    assert hospitals.hospital("H1") is h
    (hid, d), = hospitals.nearest(36.45, 115.98)
    assert hid == "H1" and d == pytest.approx(geodesic_m(36.45, 115.98, 36.4566, 115.9737))


def test_bench_nearest_reports_index_and_brute_force_figures_and_agrees():
    figures = bench_nearest(n_units=500, queries=50, brute_queries=5)
    assert figures["mismatches"] == 0
    for key in ("index_mean_us", "index_p99_us", "brute_mean_us", "brute_p99_us"):
        assert figures[key] > 0
