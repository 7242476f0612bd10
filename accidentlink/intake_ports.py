"""The intake's ports (style.md §1, §3): the unit of work its merge runs in and the repositories behind it.

The merge's use cases (``accidentlink.intake_services``) see nothing but these: no session, no row, no
topic. The repositories take and return the domain's records (``accidentlink.incidents.IncidentFacts``,
``accidentlink.reports.AccidentReport``). The SQL adapter (``connectors.sql.intake.SqlIntakeUnitOfWork``)
implements them over the intake's store, inside a pipeline batch or in a transaction of its own;
``tests/fakes/intake.py`` over dicts; ``tests/integration/test_intake_ports.py`` runs one contract suite
against both.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Collection, Mapping, Protocol, runtime_checkable

from accidentlink.incidents import IncidentFacts
from accidentlink.reports import AccidentReport


@dataclass(frozen=True)
class IncidentClosed:
    """A ``closed`` change on ``incidents`` (the dispatcher closed the incident), handled at ``at``."""

    event_id: str
    incident_id: str
    at: datetime


@dataclass(frozen=True)
class IncidentReopened:
    """A ``reopened`` change on ``incidents`` (the dispatcher reopened a closed incident), handled at ``at``."""

    event_id: str
    incident_id: str
    at: datetime


@runtime_checkable
class IncidentRepository(Protocol):
    """The unified incidents. Their ``report_ids`` are those of the reports recorded in them, oldest first
    (by ``reported_at``, then report id)."""

    def get(self, incident_id: str) -> IncidentFacts | None: ...

    def of_report(self, report_id: str) -> IncidentFacts | None:
        """The incident the report was recorded in, or None for a report not seen before."""

    def candidates(self, lat: float, lon: float, at: datetime) -> list[IncidentFacts]:
        """Open incidents that may take a report made at ``(lat, lon)`` at ``at``: every open one within the merge
        radius whose reports are within the merge window of ``at`` (perhaps a few more, a little farther: the
        merge rule, ``accidentlink.incidents.choose_incident``, decides)."""

    def add(self, facts: IncidentFacts, at: datetime) -> int:
        """A new incident, open; returns its version (1)."""

    def save(self, facts: IncidentFacts, at: datetime) -> int:
        """An incident's facts as they now stand (its status stays the store's); returns its version, one more
        per change."""

    def close(self, incident_id: str, at: datetime) -> bool:
        """Closed: it takes no more reports. False when there is no such incident or it was closed already."""

    def reopen(self, incident_id: str, at: datetime) -> bool:
        """Open again: it takes reports again. False when there is no such incident or it is open."""


@runtime_checkable
class ReportRepository(Protocol):
    def add(self, report: AccidentReport, incident_id: str, payload: Mapping[str, Any], at: datetime) -> None:
        """The report, recorded in the incident, with its payload as received (``AccidentReport.to_json``)."""

    def known(self, report_ids: Collection[str]) -> dict[str, str]:
        """Of these reports, those recorded: report id -> incident id."""

    def payload(self, report_id: str) -> Mapping[str, Any] | None:
        """The payload the report was recorded with, or None for a report not seen before."""


@runtime_checkable
class OutgoingEvents(Protocol):
    """What the intake tells others, sent only if the unit of work commits."""

    def incident_changed(self, incident_id: str, change: str, at: datetime, **extra: Any) -> None:
        """One ``incidents`` message (incident/1, public, masked): the change and the incident's facts as they
        stand, its version the incident's."""

    def facts_changed(self, incident_id: str, value: Mapping[str, Any], at: datetime) -> None:
        """One ``intake.incident-facts`` message (incident-facts/1, internal), keyed by the incident id."""


@runtime_checkable
class Inbox(Protocol):
    """The events the intake has handled (at least once delivery: a seen event is a no-op)."""

    def seen(self, event_id: str) -> bool: ...

    def mark(self, event_id: str, at: datetime) -> None: ...


@runtime_checkable
class IntakeUnitOfWork(Protocol):
    """One transaction on the intake's store. A use case enters it, and it keeps what was done only when the use
    case calls ``commit()``; leaving it otherwise rolls back."""

    incidents: IncidentRepository
    reports: ReportRepository
    events: OutgoingEvents
    inbox: Inbox

    def __enter__(self) -> "IntakeUnitOfWork": ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...
