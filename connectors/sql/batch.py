"""Rows a pipeline batch writes in bulk, once, at the end of its transaction.

A pipeline transaction covers a whole batch of messages. What its handlers append and never read back
in the same batch (outbox messages, owed SMS, timeline entries, inbox marks, incident-change events) is
collected here and written with one multi-row statement per table just before commit, instead of one
ORM flush per row. The same code paths outside a pipeline (web requests, timers) write at once: the
buffer is found through ``session.info`` and only a pipeline installs one.

Incident-change events are built at the end too, so an incident changed several times in a batch is
read once (its orders and report ids in one query per batch); each change still gets its own message,
with its own ``event_id``, carrying the incident as it stands after the batch's changes.

A message that fails rolls back its savepoint, and ``rollback(mark)`` drops what it had buffered.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from connectors.sql.models import OutboxMessage, ProcessedEvent, SmsMessage, TimelineEntry

KEY = "write_batch"


class BookingConflict(Exception):
    """A unit booked optimistically in a batch was no longer available when the batch was written."""


@dataclass
class WriteBatch:
    # fast pass: units are booked at the end with one conditional statement (the batch then fails whole if
    # any was taken meanwhile, and is redone message by message, each booking checked at once)
    fast: bool = False
    # the store has dispatch's orders: incident events carry them (elsewhere: the incident's facts only)
    with_orders: bool = True
    bookings: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    sms: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    processed: list[dict[str, Any]] = field(default_factory=list)
    # (incident_id, change, at, version, extra, topic, owner): turned into outbox rows at flush
    incident_changes: list[tuple[str, str, datetime, int, dict[str, Any], str, str]] = field(default_factory=list)
    # read side: the reports of the incidents the batch touches, read once ((reported_at, report_id, payload),
    # sorted), and incident rows by id (held here, the session's identity map being weak)
    reports: dict[str, list[tuple[datetime, str, dict[str, Any]]]] = field(default_factory=dict)
    incidents: dict[str, Any] = field(default_factory=dict)
    cells: dict[tuple[int, int], set[str]] = field(default_factory=dict)  # incidents by 0.01° cell, for merging
    # cells whose open incidents (in the batch's time window) were all read at the start: no query for them
    covered: set[tuple[int, int]] = field(default_factory=set)
    created: set[str] = field(default_factory=set)  # incidents this batch inserted: nothing else refers to them yet
    # the batch holds every incident row it can touch (read at its start, or inserted since): one it does not
    # hold does not exist yet
    holds_all: bool = False
    scratch: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-use caches (e.g. an incident's orders)

    def forget_reads(self) -> None:
        """After a message's savepoint rolled back, what was read or cached may include its work."""
        self.holds_all = False
        self.reports.clear()
        self.incidents.clear()
        self.cells.clear()
        self.covered.clear()
        self.created.clear()
        self.scratch.clear()

    def install(self, session: Session) -> "WriteBatch":
        session.info[KEY] = self
        return self

    def hold(self, row: Any) -> None:
        """Keep an incident row for the rest of the batch and find it by place."""
        self.incidents[row.incident_id] = row
        self.cells.setdefault(cell(row.lat, row.lon), set()).add(row.incident_id)

    def near(self, lat: float, lon: float, dlat: float, dlon: float) -> list[Any]:
        """Incidents held whose cell touches the box (lat ± dlat, lon ± dlon); the caller checks the box."""
        return [self.incidents[i] for c in box_cells(lat, lon, dlat, dlon) for i in self.cells.get(c, ())]

    def mark(self) -> tuple[int, ...]:
        return (len(self.outbox), len(self.sms), len(self.timeline), len(self.processed), len(self.incident_changes))

    def rollback(self, mark: tuple[int, ...]) -> None:
        for lst, n in zip((self.outbox, self.sms, self.timeline, self.processed, self.incident_changes), mark):
            del lst[n:]

    def flush(self, session: Session) -> None:
        """Write everything buffered (in the order it was buffered) in the caller's transaction."""
        from connectors.sql import incidents as repo
        from connectors.sql.outbox import WRITER, to_json_bytes

        if self.incident_changes:
            rows = repo.snapshots(session, {c[0] for c in self.incident_changes}, with_orders=self.with_orders)
            for incident_id, change, at, version, extra, topic, owner in self.incident_changes:
                value = to_json_bytes(repo.event_value(rows[incident_id], change, at, version, extra))
                self.outbox.append({"owner": owner, "writer": WRITER, "topic": topic, "key": incident_id.encode("utf-8"),
                                    "value": value, "headers": None, "created_at": at, "sent_at": None})
            self.incident_changes.clear()
        session.flush()
        if self.bookings:
            self._book(session)
        if self.timeline:
            session.execute(insert(TimelineEntry), self.timeline)
        if self.sms:
            keys = {r["dedupe_key"] for r in self.sms}
            owed = set(session.scalars(select(SmsMessage.dedupe_key).where(SmsMessage.dedupe_key.in_(keys))))
            fresh: dict[str, dict[str, Any]] = {}
            for r in self.sms:
                if r["dedupe_key"] not in owed:
                    fresh.setdefault(r["dedupe_key"], r)
            if fresh:
                session.execute(insert(SmsMessage), list(fresh.values()))
        if self.outbox:
            session.execute(insert(OutboxMessage), self.outbox)
        if self.processed:
            session.execute(insert(ProcessedEvent), self.processed)
        self.outbox, self.sms, self.timeline, self.processed, self.bookings = [], [], [], [], []

    def _book(self, session: Session) -> None:
        conn = session.connection()
        if conn.dialect.supports_sane_multi_rowcount:
            booked = conn.execute(booking(), self.bookings).rowcount
        else:
            booked = sum(conn.execute(booking(), b).rowcount for b in self.bookings)
        if booked != len(self.bookings):
            raise BookingConflict(f"{len(self.bookings) - booked} of {len(self.bookings)} units were taken meanwhile")


def booking() -> Any:
    """Book a unit only while it is still available: one row changed, or none when it was taken. Binds
    ``unit_id``, ``at`` and ``incident_id`` (``booking_params``)."""
    from sqlalchemy import bindparam

    from connectors.sql.models import UnitRow

    u = UnitRow.__table__
    return u.update().where(u.c.unit_id == bindparam("b_unit"), u.c.status == "available").values(
        status="dispatched", status_at=bindparam("b_at"), incident_id=bindparam("b_incident"), version=u.c.version + 1)


def booking_params(unit_id: str, at: datetime, incident_id: str) -> dict[str, Any]:
    return {"b_unit": unit_id, "b_at": at, "b_incident": incident_id}


def cell(lat: float, lon: float) -> tuple[int, int]:
    """0.01° cells (about 1.1 km by 0.9 km here)."""
    return int(lat * 100 // 1), int(lon * 100 // 1)


def cell_key(lat: float, lon: float) -> int:
    """The cell as one non-negative integer (the incidents' indexed ``cell`` column)."""
    return key_of(cell(lat, lon))


def key_of(c: tuple[int, int]) -> int:
    return (c[0] + 9000) * 100_000 + (c[1] + 18000)


def box_cells(lat: float, lon: float, dlat: float, dlon: float) -> list[tuple[int, int]]:
    """The cells the box (lat ± dlat, lon ± dlon) touches."""
    (a0, b0), (a1, b1) = cell(lat - dlat, lon - dlon), cell(lat + dlat, lon + dlon)
    return [(a, b) for a in range(a0, a1 + 1) for b in range(b0, b1 + 1)]


def current(session: Session) -> WriteBatch | None:
    return session.info.get(KEY)


def created_here(session: Session, incident_id: str) -> bool:
    """True when the current batch inserted this incident (so no row can refer to it yet)."""
    b = current(session)
    return b is not None and incident_id in b.created


def cache(session: Session, name: str) -> dict[str, Any] | None:
    """A cache that lives as long as the current batch (None outside a batch)."""
    b = current(session)
    return None if b is None else b.scratch.setdefault(name, {})


def remove(session: Session) -> None:
    session.info.pop(KEY, None)
