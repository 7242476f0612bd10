"""The intake's SQL adapter: its unit of work and repositories (``accidentlink.intake_ports``) over the intake's
store, and the ``intake`` consumer group's entry points that drive ``accidentlink.intake_services``.

A ``SqlIntakeUnitOfWork`` is part of the intake's pipeline batch (``joining``), or a transaction of its own
(a closing; the contract tests). Inside a batch (``connectors.sql.batch``) the merge reads in bulk at the
batch's start (``prefetch``: which of its reports were recorded, their incidents and reports, and the open
incidents near the new reports by 0.01° cell, one query each), answers from the batch's cache after that,
and the ``incidents`` events are built once per incident at the batch's end; the fast and the careful pass
are the same to the use cases.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Collection, Mapping, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from accidentlink import intake_services as services
from accidentlink.clock import Clock
from accidentlink.incidents import IncidentFacts
from accidentlink.intake_ports import IncidentClosed, IncidentReopened
from accidentlink.pipeline import INCIDENTS_TOPIC, Context, RawMessage, TopicNames, changes_among, readable_events
from accidentlink.reports import AccidentReport
from connectors.sql import batch
from connectors.sql import incidents as repo
from connectors.sql.models import ReportRow
from connectors.sql.outbox import emit
from connectors.sql.store_uow import SqlInbox, StoreUnitOfWork

CONSUMER = "intake"
FACTS_TOPIC = "intake.incident-facts"
KNOWN = "intake-reports"  # the batch cache (``batch.cache``): report id -> its incident id, or None when new


class SqlIncidents:
    def __init__(self, session: Session):
        self._s = session

    def get(self, incident_id: str) -> IncidentFacts | None:
        row = repo.incident(self._s, incident_id)
        return repo.facts_of(row, repo.report_ids_of(self._s, incident_id)) if row is not None else None

    def of_report(self, report_id: str) -> IncidentFacts | None:
        known = batch.cache(self._s, KNOWN)
        if known is not None and report_id in known:  # the batch looked its reports up at once
            incident_id = known[report_id]
        else:
            row = self._s.get(ReportRow, report_id)
            incident_id = row.incident_id if row is not None else None
        return self.get(incident_id) if incident_id is not None else None

    def candidates(self, lat: float, lon: float, at: datetime) -> list[IncidentFacts]:
        return repo.merge_candidates(self._s, lat, lon, at)

    def add(self, facts: IncidentFacts, at: datetime) -> int:
        return repo.save_facts(self._s, facts, at, new=True).version

    def save(self, facts: IncidentFacts, at: datetime) -> int:
        return repo.save_facts(self._s, facts, at).version

    def close(self, incident_id: str, at: datetime) -> bool:
        row = repo.incident(self._s, incident_id)
        if row is None or row.status == "closed":
            return False
        row.status, row.closed_at, row.updated_at = "closed", at, at
        return True

    def reopen(self, incident_id: str, at: datetime) -> bool:
        row = repo.incident(self._s, incident_id)
        if row is None or row.status != "closed":
            return False
        row.status, row.closed_at, row.updated_at = "open", None, at
        return True


class SqlReports:
    def __init__(self, session: Session):
        self._s = session

    def add(self, report: AccidentReport, incident_id: str, payload: Mapping[str, Any], at: datetime) -> None:
        s = self._s
        buffered = batch.current(s)  # the first report of an incident the batch opened: its reports are known
        first = buffered is not None and incident_id in buffered.created and incident_id not in buffered.reports
        repo.add_report(s, ReportRow(report_id=report.report_id, incident_id=incident_id, source=report.source,
                                     reported_at=report.reported_at, payload=dict(payload), received_at=at),
                        created=first)
        known = batch.cache(s, KNOWN)
        if known is not None:
            known[report.report_id] = incident_id

    def known(self, report_ids: Collection[str]) -> dict[str, str]:
        """Inside a batch, also what ``of_report`` answers for these reports without a query."""
        ids = sorted(set(report_ids))
        found: dict[str, str] = dict(self._s.execute(select(ReportRow.report_id, ReportRow.incident_id)  # type: ignore[arg-type]
                                                     .where(ReportRow.report_id.in_(ids))).all()) if ids else {}
        cached = batch.cache(self._s, KNOWN)
        if cached is not None:
            cached.update({i: found.get(i) for i in ids})
        return found


    def payload(self, report_id: str) -> Mapping[str, Any] | None:
        """Inside a batch from its cache of the incident's reports (a report the batch recorded is not flushed)."""
        with self._s.no_autoflush:  # the batch writes in bulk at its end
            known = batch.cache(self._s, KNOWN)
            if known is not None and report_id in known:
                incident_id = known[report_id]
            else:
                row = self._s.get(ReportRow, report_id)
                incident_id = row.incident_id if row is not None else None
            if incident_id is None:
                return None
            return next((p for _, rid, p in repo.reports_of(self._s, incident_id) if rid == report_id), None)


class SqlIntakeEvents:
    def __init__(self, session: Session, owner: str, topics: TopicNames):
        self._s, self._owner, self._topics = session, owner, topics

    def incident_changed(self, incident_id: str, change: str, at: datetime, **extra: Any) -> None:
        row = repo.incident(self._s, incident_id)
        assert row is not None, f"no incident {incident_id} to tell of"
        repo.facts_changed(self._s, self._owner, self._topics.name(INCIDENTS_TOPIC), row, change, at, extra)

    def facts_changed(self, incident_id: str, value: Mapping[str, Any], at: datetime) -> None:
        emit(self._s, self._owner, self._topics.name(FACTS_TOPIC), incident_id, dict(value), at)


# ---------------------------------------------------------------- the unit of work
class SqlIntakeUnitOfWork(StoreUnitOfWork):
    """``accidentlink.intake_ports.IntakeUnitOfWork`` on the intake's store (``connectors.sql.store_uow``)."""

    incidents: SqlIncidents
    reports: SqlReports
    events: SqlIntakeEvents
    inbox: SqlInbox

    def _bind(self, s: Session) -> None:
        self._session = s
        self.incidents, self.reports = SqlIncidents(s), SqlReports(s)
        self.events, self.inbox = SqlIntakeEvents(s, self.owner, self._topics), SqlInbox(s, self.owner)

    def prefetch(self, reports: list[AccidentReport]) -> None:
        """Inside a pipeline batch, one query each for what its new reports would otherwise look up one by one:
        which were recorded already, with their incidents and those incidents' reports; then the open incidents
        near the others (merge candidates, by cell) and their reports."""
        s = self._session
        buffered = batch.current(s)
        assert buffered is not None, "prefetch inside a pipeline batch"
        known = self.reports.known([r.report_id for r in reports])
        incident_ids = set(known.values())
        repo.hold_incidents(s, incident_ids)
        repo.prefetch_candidates(s, [(r.location.lat, r.location.lon, r.reported_at) for r in reports
                                     if r.report_id not in known])
        repo.prefetch_reports(s, set(buffered.incidents) - incident_ids)


class IntakeUows(Protocol):
    """How the wiring (``accidentlink.bootstrap.Container.intake_uow``) hands out the intake's units of work."""

    def __call__(self, owner: str = ..., *, joining: Session | None = None) -> SqlIntakeUnitOfWork: ...


# ---------------------------------------------------------------- the consumer group's entry points
class IntakeMerge:
    """The merge inside the intake's pipeline batch (``accidentlink.pipeline.Pipeline``'s ``merge``): each new
    report through ``merge_report``, on a unit of work joining the batch."""

    def __init__(self, uows: IntakeUows, geodesic_m: services.Geodesic):
        self.uows, self.geodesic_m = uows, geodesic_m

    def prefetch(self, ctx: Context, reports: list[AccidentReport]) -> None:
        self.uows(ctx.consumer, joining=ctx.session).prefetch(reports)

    def __call__(self, ctx: Context, report: AccidentReport) -> IncidentFacts:
        return services.merge_report(report, self.uows(ctx.consumer, joining=ctx.session), self.geodesic_m,
                                     at=ctx.now)

    def conflict(self, ctx: Context, report: AccidentReport) -> str | None:
        """For a report id the intake has recorded: the reason this message is not that report, or None for a
        redelivery of it (``accidentlink.intake_services.report_conflict``)."""
        return services.report_conflict(report, self.uows(ctx.consumer, joining=ctx.session))


class IntakeHandler:
    """Intake's own reaction to changes others made: a closed incident takes no more reports, a reopened one
    takes them again."""

    def __init__(self, uows: IntakeUows, clock: Clock):
        self.uows, self.clock = uows, clock

    def on_incident_changes(self, messages: list[RawMessage]) -> None:
        """Each ``closed`` or ``reopened`` change, in order, in its own unit of work; the other changes are not the
        intake's business."""
        now = self.clock.now()
        for event_id, v in readable_events(CONSUMER, changes_among(messages, "closed", "reopened"), "event_id"):
            if v.get("change") == "reopened":
                services.reopen_incident(IncidentReopened(event_id, v["incident_id"], now), self.uows(CONSUMER))
            else:
                services.close_incident(IncidentClosed(event_id, v["incident_id"], now), self.uows(CONSUMER))
