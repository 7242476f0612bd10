"""The intake's ports (``accidentlink.intake_ports``) in memory, for the unit tests of
``accidentlink.intake_services``.

``tests/integration/test_intake_ports.py`` runs one contract suite against this fake and the SQL adapter
(``connectors.sql.intake``), so the two cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Collection, Mapping

from accidentlink.areas import merge_box
from accidentlink.incidents import MERGE_WINDOW, IncidentFacts
from accidentlink.reports import AccidentReport
from tests.fakes.fund import FakeInbox
from tests.fakes.uow import FakeUnitOfWork


@dataclass
class IntakeState:
    """What the intake's store holds."""

    incidents: dict[str, IncidentFacts] = field(default_factory=dict)  # as saved (their report ids: ``reports``)
    versions: dict[str, int] = field(default_factory=dict)
    reports: dict[str, tuple[str, datetime, dict[str, Any]]] = field(default_factory=dict)  # id -> incident, at, payload
    changes: list[tuple[str, str, datetime, int, dict[str, Any]]] = field(default_factory=list)  # incidents: id, change, at, version, extra
    facts: list[tuple[str, dict[str, Any], datetime]] = field(default_factory=list)  # intake.incident-facts: key, value, at
    processed: dict[str, datetime] = field(default_factory=dict)  # the inbox: event id -> when


class FakeIncidents:
    def __init__(self, state: IntakeState):
        self._s = state

    def get(self, incident_id: str) -> IncidentFacts | None:
        f = self._s.incidents.get(incident_id)
        if f is None:
            return None
        reports = sorted((at, r) for r, (i, at, _p) in self._s.reports.items() if i == incident_id)
        return replace(f, report_ids=tuple(r for _at, r in reports))

    def of_report(self, report_id: str) -> IncidentFacts | None:
        known = self._s.reports.get(report_id)
        return self.get(known[0]) if known is not None else None

    def candidates(self, lat: float, lon: float, at: datetime) -> list[IncidentFacts]:
        dlat, dlon = merge_box(lat)
        near = [i for i, f in self._s.incidents.items() if f.status == "open" and abs(f.lat - lat) <= dlat
                and abs(f.lon - lon) <= dlon and f.last_reported_at >= at - MERGE_WINDOW
                and f.first_reported_at <= at + MERGE_WINDOW]
        return [f for i in near if (f := self.get(i)) is not None]

    def add(self, facts: IncidentFacts, at: datetime) -> int:
        if facts.incident_id in self._s.incidents:
            raise ValueError(f"incident {facts.incident_id} exists")
        self._s.incidents[facts.incident_id] = replace(facts, status="open")
        self._s.versions[facts.incident_id] = 1
        return 1

    def save(self, facts: IncidentFacts, at: datetime) -> int:
        kept = self._s.incidents[facts.incident_id]
        self._s.incidents[facts.incident_id] = replace(facts, status=kept.status)
        self._s.versions[facts.incident_id] += 1
        return self._s.versions[facts.incident_id]

    def close(self, incident_id: str, at: datetime) -> bool:
        f = self._s.incidents.get(incident_id)
        if f is None or f.status == "closed":
            return False
        self._s.incidents[incident_id] = replace(f, status="closed")
        return True

    def reopen(self, incident_id: str, at: datetime) -> bool:
        f = self._s.incidents.get(incident_id)
        if f is None or f.status != "closed":
            return False
        self._s.incidents[incident_id] = replace(f, status="open")
        return True


class FakeReports:
    def __init__(self, state: IntakeState):
        self._s = state

    def add(self, report: AccidentReport, incident_id: str, payload: Mapping[str, Any], at: datetime) -> None:
        if report.report_id in self._s.reports:
            raise ValueError(f"report {report.report_id} is recorded")
        self._s.reports[report.report_id] = (incident_id, report.reported_at, dict(payload))

    def known(self, report_ids: Collection[str]) -> dict[str, str]:
        return {r: self._s.reports[r][0] for r in report_ids if r in self._s.reports}

    def payload(self, report_id: str) -> Mapping[str, Any] | None:
        found = self._s.reports.get(report_id)
        return found[2] if found is not None else None


class FakeEvents:
    def __init__(self, state: IntakeState):
        self._s = state

    def incident_changed(self, incident_id: str, change: str, at: datetime, **extra: Any) -> None:
        self._s.changes.append((incident_id, change, at, self._s.versions[incident_id], extra))

    def facts_changed(self, incident_id: str, value: Mapping[str, Any], at: datetime) -> None:
        self._s.facts.append((incident_id, dict(value), at))


class FakeIntakeUnitOfWork(FakeUnitOfWork[IntakeState]):
    def __init__(self, state: IntakeState | None = None):
        super().__init__(state if state is not None else IntakeState())

    def _bind(self, s: IntakeState) -> None:
        self.incidents, self.reports = FakeIncidents(s), FakeReports(s)
        self.events, self.inbox = FakeEvents(s), FakeInbox(s.processed)
