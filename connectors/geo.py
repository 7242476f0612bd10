"""Geography adapters: geodesic distance (geopy), a spatial index of units and hospitals, an offline
gazetteer geocoder, and a small benchmark of the index against brute force.

The only module that imports geopy (style.md §1). Distances are WGS-84 ellipsoidal geodesics
(geopy.distance.geodesic, Karney's algorithm), in metres.

How ``UnitIndex.nearest`` stays exact while computing few geodesics
-------------------------------------------------------------------
Units sit in a lat/lon grid of cells about ``cell_m`` metres across. A query visits rings of cells
around its own cell. For every unit seen it computes a cheap *lower bound* on the geodesic: the
great-circle distance on a sphere of radius a(1-e^2) = 6 335 439 m, the smallest radius of curvature
of the WGS-84 ellipsoid (both curvature radii M(phi) and N(phi) are at least that, so every curve on
the ellipsoid is at least as long as its image on that sphere). After each ring it also bounds from
below the distance to every cell not yet visited. Units are then evaluated exactly, by geodesic,
in order of their lower bound, and the search stops once the k-th exact distance is no greater than
both the smallest pending lower bound and the bound of the unvisited cells. The result is the same
as a brute-force geodesic over all units (tests check this). The grid assumes no query or unit on
the other side of the antimeridian, which holds for China.
"""
from __future__ import annotations

import bisect
import heapq
import json
import math
import os
import random
import statistics
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from geopy.distance import geodesic as _geopy_geodesic

from dispatch.resources import Hospital, Resources

_GEODESIC = _geopy_geodesic()  # WGS-84; .measure returns kilometres, as geodesic(a, b).km does
# The smallest radius of curvature of WGS-84, a(1-e^2), minus a hair for floating-point safety.
_A = 6378137.0
_F = 1 / 298.257223563
_E2 = _F * (2 - _F)
R_LOWER_BOUND_M = _A * (1 - _E2) * (1 - 1e-9)
DEFAULT_GAZETTEER = Path(__file__).with_name("data") / "gazetteer.json"

Accept = Callable[[str], bool]


def geodesic_m(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    """WGS-84 geodesic distance in metres (identical to ``geopy.distance.geodesic(a, b).meters``)."""
    return _GEODESIC.measure((a_lat, a_lon), (b_lat, b_lon)) * 1000


def _lower_bound_m(lat1: float, lon1: float, cos1: float, lat2: float, lon2: float) -> float:
    """Haversine on the sphere of radius R_LOWER_BOUND_M: never more than the geodesic."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + cos1 * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * R_LOWER_BOUND_M * math.asin(min(1.0, math.sqrt(h)))


def _check_point(lat: float, lon: float) -> None:
    if isinstance(lat, bool) or isinstance(lon, bool) or not isinstance(lat, (int, float)) or not isinstance(lon, (int, float)):
        raise ValueError(f"lat/lon must be numbers, got {lat!r}, {lon!r}")
    if not (math.isfinite(lat) and -90 <= lat <= 90 and math.isfinite(lon) and -180 <= lon <= 180):
        raise ValueError(f"lat/lon out of range: {lat!r}, {lon!r}")


class _Grid:
    """The cells of one service: cell -> unit ids, and the bounding box of cells ever used."""

    __slots__ = ("cells", "imin", "imax", "jmin", "jmax")

    def __init__(self) -> None:
        self.cells: dict[tuple[int, int], set[str]] = {}
        self.imin = self.jmin = math.inf
        self.imax = self.jmax = -math.inf

    def add(self, cell: tuple[int, int], unit_id: str) -> None:
        self.cells.setdefault(cell, set()).add(unit_id)
        i, j = cell
        # The box only grows: a removed unit leaves it a little too large, which costs time, not truth.
        self.imin, self.imax = min(self.imin, i), max(self.imax, i)
        self.jmin, self.jmax = min(self.jmin, j), max(self.jmax, j)

    def discard(self, cell: tuple[int, int], unit_id: str) -> None:
        ids = self.cells.get(cell)
        if ids is not None:
            ids.discard(unit_id)
            if not ids:
                del self.cells[cell]


class UnitIndex:
    """Positions of units per service, answering exact k-nearest queries by geodesic distance.

    Satisfies ``dispatch.ports.UnitLocator``. ``cell_m`` is the grid's cell size (2-5 km suits city
    and county densities); ``ref_lat`` sets the longitude width of a cell so that cells are about
    square there. Neither affects answers, only speed.
    """

    def __init__(self, cell_m: float = 3000.0, ref_lat: float = 36.5) -> None:
        if not (cell_m > 0 and math.isfinite(cell_m)):
            raise ValueError("cell_m must be a positive number of metres")
        self.cell_m = float(cell_m)
        self._dlat = cell_m / 111_000.0
        self._dlon = cell_m / (111_320.0 * max(0.05, math.cos(math.radians(ref_lat))))
        self._grids: dict[str, _Grid] = {}
        self._where: dict[str, tuple[float, float, str, tuple[int, int]]] = {}

    # --- maintenance -----------------------------------------------------------------------
    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        return (math.floor(lat / self._dlat), math.floor(lon / self._dlon))

    def add(self, unit_id: str, lat: float, lon: float, service: str) -> None:
        """Index a new unit; adding an id twice is an error (use ``move``)."""
        if unit_id in self._where:
            raise ValueError(f"unit {unit_id!r} is already indexed; use move()")
        _check_point(lat, lon)
        cell = self._cell(lat, lon)
        self._where[unit_id] = (float(lat), float(lon), service, cell)
        self._grids.setdefault(service, _Grid()).add(cell, unit_id)

    def move(self, unit_id: str, lat: float, lon: float, service: str | None = None) -> None:
        """Update a unit's position (and optionally its service)."""
        try:
            _, _, old_service, old_cell = self._where[unit_id]
        except KeyError:
            raise KeyError(f"unit {unit_id!r} is not indexed") from None
        _check_point(lat, lon)
        service = old_service if service is None else service
        cell = self._cell(lat, lon)
        if cell != old_cell or service != old_service:
            self._grids[old_service].discard(old_cell, unit_id)
            self._grids.setdefault(service, _Grid()).add(cell, unit_id)
        self._where[unit_id] = (float(lat), float(lon), service, cell)

    def remove(self, unit_id: str) -> None:
        """Forget a unit (KeyError if unknown)."""
        try:
            _, _, service, cell = self._where.pop(unit_id)
        except KeyError:
            raise KeyError(f"unit {unit_id!r} is not indexed") from None
        self._grids[service].discard(cell, unit_id)

    def position(self, unit_id: str) -> tuple[float, float]:
        lat, lon, _, _ = self._where[unit_id]
        return lat, lon

    def __contains__(self, unit_id: object) -> bool:
        return unit_id in self._where

    def __len__(self) -> int:
        return len(self._where)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    @classmethod
    def from_resources(cls, resources: Resources, **kw: float) -> "UnitIndex":
        """An index of every unit at the position given in the data files."""
        idx = cls(**kw)
        for u in resources.units:
            idx.add(u.unit_id, u.lat, u.lon, u.service)
        return idx

    # --- queries ---------------------------------------------------------------------------
    def _ring_cells(self, grid: _Grid, ci: int, cj: int, r: int) -> Iterator[tuple[int, int]]:
        i_lo, i_hi = max(ci - r, grid.imin), min(ci + r, grid.imax)
        j_lo, j_hi = max(cj - r, grid.jmin), min(cj + r, grid.jmax)
        if i_lo > i_hi or j_lo > j_hi:
            return
        for i in range(int(i_lo), int(i_hi) + 1):
            if abs(i - ci) == r:
                for j in range(int(j_lo), int(j_hi) + 1):
                    yield (i, j)
            else:
                if j_lo <= cj - r:
                    yield (i, cj - r)
                if r and cj + r <= j_hi:
                    yield (i, cj + r)

    def _outside_bound(self, lat: float, lon: float, cos_lat: float, ci: int, cj: int, r: int, grid: _Grid) -> float:
        """A lower bound on the distance from the query to any unit outside rings 0..r."""
        if ci - r <= grid.imin and ci + r >= grid.imax and cj - r <= grid.jmin and cj + r >= grid.jmax:
            return math.inf
        d_lat = min(lat - (ci - r) * self._dlat, (ci + r + 1) * self._dlat - lat)
        d_lon = min(lon - (cj - r) * self._dlon, (cj + r + 1) * self._dlon - lon)
        by_lat = R_LOWER_BOUND_M * math.radians(max(0.0, d_lat))
        # Cross-track distance to the meridian d_lon away: the nearest any point that far east or west can be.
        by_lon = R_LOWER_BOUND_M * math.asin(min(1.0, cos_lat * math.sin(math.radians(min(90.0, max(0.0, d_lon))))))
        return min(by_lat, by_lon)

    def nearest(
        self, lat: float, lon: float, *, service: str, k: int = 1,
        accept: Accept | None = None, max_m: float | None = None,
    ) -> list[tuple[str, float]]:
        """Up to ``k`` units of ``service`` for which ``accept(unit_id)`` holds and within ``max_m``
        metres, nearest first, as ``(unit_id, geodesic metres)``; ties broken by unit id."""
        _check_point(lat, lon)
        if k < 1:
            return []
        grid = self._grids.get(service)
        if grid is None or not grid.cells:
            return []
        limit = math.inf if max_m is None else float(max_m)
        where = self._where
        ci, cj = self._cell(lat, lon)
        cos_lat = math.cos(math.radians(lat))
        # Start at the first ring that touches the occupied box (a query far from every unit).
        r = int(max(0, grid.imin - ci, ci - grid.imax, grid.jmin - cj, cj - grid.jmax))
        pending: list[tuple[float, str]] = []
        best: list[tuple[float, str]] = []
        while True:
            for cell in self._ring_cells(grid, ci, cj, r):
                ids = grid.cells.get(cell)
                if ids:
                    for uid in ids:
                        u_lat, u_lon, _, _ = where[uid]
                        lb = _lower_bound_m(lat, lon, cos_lat, u_lat, u_lon)
                        if lb <= limit:
                            heapq.heappush(pending, (lb, uid))
            outside = self._outside_bound(lat, lon, cos_lat, ci, cj, r, grid)
            while pending:
                kth = best[-1][0] if len(best) == k else math.inf
                lb, uid = pending[0]
                if lb > outside or lb > kth:
                    break
                heapq.heappop(pending)
                if accept is not None and not accept(uid):
                    continue
                u_lat, u_lon, _, _ = where[uid]
                d = geodesic_m(lat, lon, u_lat, u_lon)
                if d <= limit:
                    bisect.insort(best, (d, uid))
                    if len(best) > k:
                        best.pop()
            kth = best[-1][0] if len(best) == k else math.inf
            # Done when no unvisited unit can beat the k-th found; the loop above has already
            # evaluated every pending unit whose lower bound is at most min(outside, kth).
            if outside == math.inf or outside > limit or kth <= outside:
                break
            r += 1
        return [(uid, d) for d, uid in best]


class HospitalIndex:
    """Hospitals by position (satisfies ``dispatch.ports.HospitalLocator``)."""

    _SERVICE = "hospital"

    def __init__(self, hospitals: Iterable[Hospital], cell_m: float = 5000.0) -> None:
        self._hospitals = {h.hospital_id: h for h in hospitals}
        self._index = UnitIndex(cell_m=cell_m)
        for h in self._hospitals.values():
            self._index.add(h.hospital_id, h.lat, h.lon, self._SERVICE)

    def nearest(
        self, lat: float, lon: float, *, k: int = 1,
        accept: Accept | None = None, max_m: float | None = None,
    ) -> list[tuple[str, float]]:
        return self._index.nearest(lat, lon, service=self._SERVICE, k=k, accept=accept, max_m=max_m)

    def hospital(self, hospital_id: str) -> Hospital:
        return self._hospitals[hospital_id]

    def __len__(self) -> int:
        return len(self._hospitals)


def brute_force_nearest(
    units: dict[str, tuple[float, float, str]], lat: float, lon: float, *, service: str, k: int = 1,
    accept: Accept | None = None, max_m: float | None = None,
) -> list[tuple[str, float]]:
    """The reference answer: a geodesic to every unit, sorted. For tests and the benchmark."""
    found = []
    for uid, (u_lat, u_lon, svc) in units.items():
        if svc != service or (accept is not None and not accept(uid)):
            continue
        d = geodesic_m(lat, lon, u_lat, u_lon)
        if max_m is None or d <= max_m:
            found.append((d, uid))
    found.sort()
    return [(uid, d) for d, uid in found[:k]]


def random_units(n: int, rng: random.Random, box: tuple[float, float, float, float] = (36.0, 37.3, 115.3, 118.6),
                 services: tuple[str, ...] = ("122", "120")) -> dict[str, tuple[float, float, str]]:
    """``n`` units uniformly in a lat/lon box (default: Liaocheng to Zibo), services alternating."""
    lat0, lat1, lon0, lon1 = box
    return {f"U{i:05d}": (rng.uniform(lat0, lat1), rng.uniform(lon0, lon1), services[i % len(services)])
            for i in range(n)}


def bench_nearest(n_units: int = 10000, queries: int = 2000, *, brute_queries: int = 20,
                  k: int = 1, cell_m: float = 3000.0, seed: int = 7) -> dict[str, float]:
    """Time ``UnitIndex.nearest`` against brute force; microseconds per query (mean, p99).

    Brute force costs one geodesic per unit (about 50 us each), so it runs on the first
    ``brute_queries`` queries only, and every such answer is checked to equal the index's.
    """
    rng = random.Random(seed)
    box = (36.0, 37.3, 115.3, 118.6)
    units = random_units(n_units, rng, box)
    idx = UnitIndex(cell_m=cell_m)
    for uid, (la, lo, svc) in units.items():
        idx.add(uid, la, lo, svc)
    qs = [(rng.uniform(box[0], box[1]), rng.uniform(box[2], box[3]), rng.choice(("122", "120"))) for _ in range(queries)]

    def timed(fn: Callable[[float, float, str], list], sample: list) -> tuple[list[float], list]:
        times, answers = [], []
        for la, lo, svc in sample:
            t0 = time.perf_counter()
            answers.append(fn(la, lo, svc))
            times.append((time.perf_counter() - t0) * 1e6)
        return times, answers

    t_idx, a_idx = timed(lambda la, lo, s: idx.nearest(la, lo, service=s, k=k), qs)
    t_bf, a_bf = timed(lambda la, lo, s: brute_force_nearest(units, la, lo, service=s, k=k), qs[:brute_queries])
    mismatches = sum(1 for x, y in zip(a_idx, a_bf) if x != y)

    def p99(xs: list[float]) -> float:
        return statistics.quantiles(xs, n=100)[98] if len(xs) >= 2 else (xs[0] if xs else math.nan)

    return {
        "n_units": n_units, "queries": queries, "k": k, "cell_m": cell_m,
        "index_mean_us": round(statistics.fmean(t_idx), 1), "index_p99_us": round(p99(t_idx), 1),
        "brute_queries": len(t_bf),
        "brute_mean_us": round(statistics.fmean(t_bf), 1) if t_bf else math.nan,
        "brute_p99_us": round(p99(t_bf), 1) if t_bf else math.nan,
        "mismatches": mismatches,
    }


# --- offline geocoding --------------------------------------------------------------------------

# More specific places win over broader ones that the text also names; then the longer name.
_KIND_RANK = {"poi": 4, "road_segment": 3, "town": 2, "district": 1, "city": 0}


@dataclass(frozen=True)
class Place:
    name: str
    lat: float
    lon: float
    kind: str
    city: str
    approx: bool


@dataclass(frozen=True)
class GazetteerHit:
    place: Place
    matched: str  # the name or alias found in the text


def _normalise(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


class GazetteerGeocoder:
    """Offline geocoder over connectors/data/gazetteer.json (satisfies ``dispatch.ports.Geocoder``).

    Finds every known name or alias contained in the text and answers the most specific kind
    (poi > road segment > town > district > city), then the longest name, then the earliest in the
    text: "聊城市东昌府区梁水镇聊临路梁水镇段" resolves to the road segment, not the district. A name
    found only inside a longer one found at the same place does not count, and when the text names
    a city only that city's places count.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        p = Path(path) if path is not None else DEFAULT_GAZETTEER
        doc = json.loads(p.read_text(encoding="utf-8"))
        places = doc.get("places") if isinstance(doc, dict) else None
        if not isinstance(places, list):
            raise ValueError(f"{p.name}: 'places' must be a list")
        self._names: list[tuple[str, Place]] = []
        seen: dict[str, str] = {}
        for i, e in enumerate(places):
            where = f"{p.name}: places[{i}]"
            try:
                place = Place(name=e["name"], lat=float(e["lat"]), lon=float(e["lon"]), kind=e["kind"],
                              city=e["city"], approx=bool(e.get("approx", True)))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{where}: bad entry ({exc})") from None
            if place.kind not in _KIND_RANK:
                raise ValueError(f"{where}: kind must be one of {', '.join(_KIND_RANK)}")
            _check_point(place.lat, place.lon)
            for name in [place.name, *e.get("aliases", [])]:
                key = _normalise(name)
                if not key:
                    raise ValueError(f"{where}: empty name")
                if key in seen:
                    raise ValueError(f"{where}: name {name!r} already belongs to {seen[key]!r}")
                seen[key] = place.name
                self._names.append((key, place))
        self._names.sort(key=lambda np: (-_KIND_RANK[np[1].kind], -len(np[0])))

    def lookup(self, text: str) -> GazetteerHit | None:
        """The best place named in ``text``, with the string that matched, or None."""
        if not text:
            return None
        norm = _normalise(text)
        found: list[tuple[int, int, str, Place]] = []
        for key, place in self._names:
            pos = norm.find(key)
            if pos >= 0:
                found.append((pos, pos + len(key), key, place))
        # A name inside a longer name found at the same place is part of it ("新区" in "高新区").
        found = [f for f in found
                 if not any(g[0] <= f[0] and f[1] <= g[1] and g[1] - g[0] > f[1] - f[0] for g in found)]
        # When the text names a city, places of other cities are homonyms, not the place meant.
        cities = {f[3].city for f in found if f[3].kind == "city"}
        if cities:
            found = [f for f in found if f[3].city in cities]
        if not found:
            return None
        pos, _, key, place = max(found, key=lambda f: (_KIND_RANK[f[3].kind], len(f[2]), -f[0]))
        return GazetteerHit(place, key)

    def geocode(self, text: str) -> tuple[float, float] | None:
        hit = self.lookup(text)
        return None if hit is None else (hit.place.lat, hit.place.lon)

    def __len__(self) -> int:
        return len(self._names)
