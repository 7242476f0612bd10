"""Ports the dispatch domain needs from the outside world (style.md §1), and one in-domain travel model.

``UnitLocator`` and ``HospitalLocator`` are satisfied by ``connectors.geo.UnitIndex`` and
``connectors.geo.HospitalIndex`` (geodesic distances via geopy); ``Geocoder`` by
``connectors.geo.GazetteerGeocoder``. ``TravelTime`` is pluggable: ``StraightLineTravelTime`` is the
offline default until a routing engine is wired in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol, runtime_checkable

from dispatch.resources import Hospital
from dispatch.targets import Speed, Targets, default_targets

Accept = Callable[[str], bool]


@runtime_checkable
class UnitLocator(Protocol):
    """Nearest units of one service, nearest first, as ``(unit_id, geodesic distance in metres)``."""

    def nearest(
        self, lat: float, lon: float, *, service: str, k: int = 1,
        accept: Accept | None = None, max_m: float | None = None,
    ) -> list[tuple[str, float]]: ...


@runtime_checkable
class HospitalLocator(Protocol):
    """Nearest hospitals, nearest first, and the hospital records behind the ids."""

    def nearest(
        self, lat: float, lon: float, *, k: int = 1,
        accept: Accept | None = None, max_m: float | None = None,
    ) -> list[tuple[str, float]]: ...

    def hospital(self, hospital_id: str) -> Hospital: ...


@runtime_checkable
class TravelTime(Protocol):
    """Estimated driving time in seconds for a unit of ``service`` over a straight-line distance."""

    def __call__(self, distance_m: float, service: str) -> int: ...


@runtime_checkable
class Geocoder(Protocol):
    """A free-text place (an intake address) to WGS-84 ``(lat, lon)``, or None if unknown."""

    def geocode(self, text: str) -> tuple[float, float] | None: ...


@dataclass(frozen=True)
class StraightLineTravelTime:
    """ETA from the geodesic distance: road = distance x road factor; first leg urban, rest rural.

    All figures are assumptions [U] from dispatch/rules/targets.json (road_factor 1.3, 40 km/h urban,
    60 km/h rural, urban leg 5 km), to be replaced by a routing engine behind the same port.
    """

    speeds_kmh: Mapping[str, Speed]
    road_factor: float = 1.3
    urban_leg_m: float = 5000.0

    @classmethod
    def from_targets(cls, targets: Targets | None = None) -> "StraightLineTravelTime":
        t = targets or default_targets()
        return cls(speeds_kmh=t.speeds_kmh, road_factor=t.road_factor, urban_leg_m=float(t.urban_leg_m))

    def __call__(self, distance_m: float, service: str) -> int:
        if not math.isfinite(distance_m) or distance_m < 0:
            raise ValueError(f"distance_m must be a finite non-negative number, got {distance_m!r}")
        try:
            speed = self.speeds_kmh[service]
        except KeyError:
            raise ValueError(f"no speed configured for service {service!r}") from None
        road_m = distance_m * self.road_factor
        urban_m = min(road_m, self.urban_leg_m)
        rural_m = road_m - urban_m
        seconds = urban_m / (speed.urban_kmh / 3.6) + rural_m / (speed.rural_kmh / 3.6)
        return int(math.ceil(seconds))
