"""Ports the dispatch domain and services need from the outside world (style.md §1), and one in-domain
travel model.

``UnitLocator`` and ``HospitalLocator`` are satisfied by ``connectors.geo.UnitIndex`` and
``connectors.geo.HospitalIndex`` (geodesic distances via geopy); ``Geocoder`` by
``connectors.geo.GazetteerGeocoder``. ``TravelTime`` is pluggable: ``StraightLineTravelTime`` is the
offline default until a routing engine is wired in.

The services' store is a ``DispatchUnitOfWork``: its repositories hand out and take back the
dataclasses of ``dispatch.records``, never rows. ``connectors.sql.dispatch.SqlDispatchUnitOfWork``
implements it over a SQLAlchemy session (inside a pipeline batch, or a transaction of its own);
``tests.fakes.dispatch.FakeDispatchUnitOfWork`` in memory. ``tests/integration/test_dispatch_ports.py``
runs the same contract against both. ``Fleet`` is the in-memory view of units and hospitals the
services choose from (``dispatch.units_index.UnitsIndex``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Collection, ContextManager, Iterable, Mapping, Protocol, runtime_checkable

from dispatch.records import Incident, Note, Order, Party, UnitState
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


# ---------------------------------------------------------------- the dispatch store
class IncidentRepository(Protocol):
    """Dispatch's copy of each incident (the intake's facts) with dispatch's own state."""

    def get(self, incident_id: str) -> Incident | None: ...

    def add(self, incident: Incident, at: datetime) -> None:
        """A new copy (the pipelines record theirs with ``accidentlink.pipeline.record_copy``)."""

    def save(self, incident: Incident) -> None:
        """Dispatch's own state of the incident: status, hospital, notes, quick handling, closing time.
        The facts are the intake's and stay as copied."""

    def parties(self, incident_id: str) -> tuple[Party, ...]:
        """Every party the incident's reports name, one per vehicle (or person without one)."""

    def latest_notes(self, updated_after: datetime, limit: int) -> list[tuple[str, Note | None]]:
        """The last note of the open incidents changed since ``updated_after``, most recent first."""


class OrderConflict(Exception):
    """A second active order for one service of an incident, or for one unit: the store refuses it."""


class OrderRepository(Protocol):
    def of_incident(self, incident_id: str) -> list[Order]:
        """Every order of the incident (active or not), in the order they were issued."""

    def add(self, order: Order) -> None:
        """A new order. At most one active order per service per incident and one per unit: a second
        is refused with ``OrderConflict`` (inside a pipeline batch, when the batch is written)."""

    def save(self, order: Order) -> None:
        """The order's state, its unit's status and the times of its steps."""

    def get_many(self, order_ids: Collection[str]) -> list[Order]:
        """These orders as the store has them now, by order id."""

    def unacknowledged(self, issued_before: datetime) -> list[Order]:
        """Active orders whose unit has not acknowledged, issued before ``issued_before``."""

    def active_of_unit(self, unit_id: str) -> Order | None: ...


class UnitRepository(Protocol):
    def get(self, unit_id: str) -> UnitState | None:
        """The unit as the store has it now (read again after a lock)."""

    def save(self, unit: UnitState) -> None:
        """Its status (and time), position and incident."""

    def book(self, unit_id: str, incident_id: str, at: datetime) -> bool:
        """Book the unit for the incident only while it is available; False when it is not (taken by
        someone else meanwhile, or already booked)."""

    def release(self, unit_id: str, incident_id: str, at: datetime) -> bool:
        """The unit is available again, if it is still booked for this incident (True then)."""

    def changed_since(self, since: datetime | None) -> list[UnitState]:
        """Units whose status or position changed after ``since`` (every unit when None)."""


class OutgoingMessages(Protocol):
    """Messages for Kafka, published after the unit of work commits (an outbox)."""

    def publish(self, topic: str, key: str, value: Mapping[str, Any], at: datetime) -> None:
        """One message as given (e.g. an order on ``dispatch.orders``)."""

    def incident_changed(self, incident_id: str, change: str, at: datetime, **extra: Any) -> None:
        """A change of the incident on ``incidents``, carrying the incident as it stands after it."""


class OwedTexts(Protocol):
    """SMS owed to people, sent after the unit of work commits."""

    def owe(self, dedupe_key: str, to: str, body: str, purpose: str, at: datetime,
            incident_id: str | None = None) -> bool:
        """At most one text per ``dedupe_key``; False when it was owed already (inside a pipeline batch
        the check happens when the batch is written, and this answers True)."""


class Timeline(Protocol):
    def add(self, incident_id: str, at: datetime, kind: str, **detail: Any) -> None:
        """One entry of the incident's timeline (what the dispatcher sees happen, in order)."""


class Inbox(Protocol):
    """Events this consumer has handled: each is acted on once."""

    def seen(self, event_id: str) -> bool: ...

    def mark(self, event_id: str, at: datetime) -> None: ...


class DispatchUnitOfWork(Protocol):
    """One transaction on the dispatch store: kept only when ``commit()`` is called, rolled back
    otherwise. Part of a transaction its caller owns (a pipeline batch, an HTTP request with its audit
    line), ``commit()`` leaves the commit to that caller."""

    @property
    def incidents(self) -> IncidentRepository: ...

    @property
    def orders(self) -> OrderRepository: ...

    @property
    def units(self) -> UnitRepository: ...

    @property
    def messages(self) -> OutgoingMessages: ...

    @property
    def texts(self) -> OwedTexts: ...

    @property
    def timeline(self) -> Timeline: ...

    @property
    def inbox(self) -> Inbox: ...

    def __enter__(self) -> "DispatchUnitOfWork": ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...

    def lock_incidents(self, incident_ids: Iterable[str]) -> None:
        """Serialise work on these incidents across processes for the rest of the transaction (the
        pipeline's batches, the escalation round and the dispatchers' actions all take these locks)."""


# ---------------------------------------------------------------- what the services choose from
class UnitPositions(UnitLocator, Protocol):
    """A ``UnitLocator`` kept in step with units that appear and move (``connectors.geo.UnitIndex``)."""

    def add(self, unit_id: str, lat: float, lon: float, service: str) -> None: ...

    def move(self, unit_id: str, lat: float, lon: float, service: str | None = None) -> None: ...

    def __contains__(self, unit_id: object) -> bool: ...


class Fleet(Protocol):
    """The units and hospitals to choose from, in memory, with the rules of choosing."""

    @property
    def units(self) -> UnitLocator: ...

    @property
    def hospitals(self) -> HospitalLocator: ...

    @property
    def travel(self) -> TravelTime: ...

    @property
    def targets(self) -> Targets: ...

    def refresh(self, units: UnitRepository) -> None:
        """Pick up what changed in the store (at most once per unit of work)."""

    def available(self, unit_id: str) -> bool: ...

    def mark(self, unit_id: str, status: str) -> None:
        """A status a service just gave the unit (booked, freed), before the store is read again."""

    def contact(self, unit_id: str) -> tuple[str | None, str | None]:
        """The unit's name and phone (for its order and its text)."""

    def choosing(self) -> ContextManager[Any]:
        """Held while choosing, so that a refresh in another thread does not move units meanwhile."""
