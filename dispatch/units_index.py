"""The units and hospitals dispatch chooses from, in memory (a ``dispatch.ports.Fleet``).

Choosing the nearest free unit among thousands takes microseconds with a spatial index; reading every
unit from the store for each incident would not. So the index is kept for the life of the process and
brought up to date from the store: once per unit of work (a pipeline batch is one), it reads the units
whose status changed since its last look (an index on ``status_at`` keeps that cheap), and now and then
all of them, so nothing stays stale. Between two looks, the services tell it what they did themselves
(``mark``). A status that is stale all the same costs only a refused booking: the store books a unit
only while it is available.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import ContextManager

from dispatch.ports import HospitalLocator, StraightLineTravelTime, UnitPositions, UnitRepository
from dispatch.targets import Targets

FULL_READ_EVERY_S = 30.0


class UnitsIndex:
    def __init__(self, units: UnitPositions, hospitals: HospitalLocator, targets: Targets):
        self.units, self.hospitals, self.targets = units, hospitals, targets
        self.travel = StraightLineTravelTime.from_targets(targets)
        self._lock = threading.Lock()
        self._status: dict[str, str] = {}
        self._contact: dict[str, tuple[str | None, str | None]] = {}  # unit id -> (name, phone)
        self._synced_at: datetime | None = None
        self._full_at = 0.0
        self._synced_for: UnitRepository | None = None

    def refresh(self, units: UnitRepository) -> None:
        if units is self._synced_for:
            return
        self._synced_for = units
        full = time.monotonic() - self._full_at > FULL_READ_EVERY_S
        if full:
            self._full_at = time.monotonic()
        changed = units.changed_since(None if full else self._synced_at)
        with self._lock:
            for u in changed:
                if u.unit_id in self.units:
                    self.units.move(u.unit_id, u.lat, u.lon, u.service)
                else:
                    self.units.add(u.unit_id, u.lat, u.lon, u.service)
                self._status[u.unit_id] = u.status
                self._contact[u.unit_id] = (u.name, u.phone)
                self._synced_at = max(self._synced_at or u.status_at, u.status_at)

    def forget(self) -> None:
        """Work was rolled back: statuses set in memory may be wrong; read every unit at the next look."""
        with self._lock:
            self._synced_at, self._full_at, self._synced_for = None, 0.0, None

    def available(self, unit_id: str) -> bool:
        return self._status.get(unit_id) == "available"

    def mark(self, unit_id: str, status: str) -> None:
        self._status[unit_id] = status

    def contact(self, unit_id: str) -> tuple[str | None, str | None]:
        return self._contact.get(unit_id, (None, None))

    def choosing(self) -> ContextManager[bool]:
        return self._lock
