"""The intake's use cases over its ports (``accidentlink.intake_ports``): the merge of a report into its unified
incident, and the closing of an incident. The merge rule itself is ``accidentlink.incidents``.

The entry points (``connectors.sql.intake``) call them with a unit of work: inside the intake's pipeline
batch for the merge (the batch's inbox has already skipped a redelivered message), a transaction of its own
for each closing.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable, Mapping

from accidentlink.clock import iso
from accidentlink.incidents import IncidentFacts, choose_incident, facts_json, merge, open_incident
from accidentlink.intake_ports import IncidentClosed, IncidentReopened, IntakeUnitOfWork
from accidentlink.reports import AccidentReport, InvalidReport

FACTS_SCHEMA = "incident-facts/1"

Geodesic = Callable[[float, float, float, float], float]


def facts_message(facts: IncidentFacts, payload: Mapping[str, Any], change: str, at: datetime,
                  version: int) -> dict[str, Any]:
    """The ``intake.incident-facts`` message (``incident-facts/1``) of one report merged into its incident: the
    report as received, and the incident's facts after it."""
    return {"schema": FACTS_SCHEMA, "event_id": f"{facts.incident_id}:{payload['report_id']}",
            "incident_id": facts.incident_id, "change": change, "at": iso(at), "version": version,
            "report": dict(payload), "incident": facts_json(facts)}


class ReportConflict(InvalidReport):
    """A report id the intake recorded, with other content: not a redelivery, and never silently dropped."""


def _canonical(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)


def conflict_reason(report_id: str, stored: Mapping[str, Any], payload: Mapping[str, Any]) -> str | None:
    """None when ``payload`` is the recorded report again (a redelivery: a no-op); else the reason, naming the
    fields that differ (not their values: they may be personal data)."""
    if _canonical(stored) == _canonical(payload):
        return None
    fields = sorted(k for k in set(stored) | set(payload) if _canonical({k: stored.get(k)}) != _canonical({k: payload.get(k)}))
    return (f"conflict: report_id {report_id[:100]!r} was already recorded with different content "
            f"(differs in: {', '.join(fields)}); not merged. Send a new report with its own report_id")


def report_conflict(report: AccidentReport, uow: IntakeUnitOfWork) -> str | None:
    """The reason a report whose id is recorded is not the recorded one, or None (new, or the same again)."""
    with uow:
        stored = uow.reports.payload(report.report_id)
    return None if stored is None else conflict_reason(report.report_id, stored, report.to_json())


def merge_report(report: AccidentReport, uow: IntakeUnitOfWork, geodesic_m: Geodesic, *, at: datetime
                 ) -> IncidentFacts:
    """Fold the report into its unified incident, once: the nearest open incident the merge rule lets it join,
    or a new one. The change goes onto ``incidents`` (``created`` or ``report_merged``) and, with the report
    and the incident's facts, onto ``intake.incident-facts``. A report recorded before changes nothing and
    returns its incident's facts; one recorded with other content raises ``ReportConflict``."""
    with uow:
        known = uow.incidents.of_report(report.report_id)
        if known is not None:
            stored = uow.reports.payload(report.report_id)
            reason = conflict_reason(report.report_id, stored, report.to_json()) if stored is not None else None
            if reason:
                raise ReportConflict(reason)
            return known
        lat, lon = report.location.lat, report.location.lon
        target = choose_incident(report, [(c, geodesic_m(lat, lon, c.lat, c.lon))
                                          for c in uow.incidents.candidates(lat, lon, report.reported_at)])
        facts = merge(target, report) if target else open_incident(report)
        version = uow.incidents.save(facts, at) if target else uow.incidents.add(facts, at)
        payload = report.to_json()
        uow.reports.add(report, facts.incident_id, payload, at)
        change = "report_merged" if target else "created"
        uow.events.incident_changed(facts.incident_id, change, at, report_id=report.report_id)
        uow.events.facts_changed(facts.incident_id, facts_message(facts, payload, change, at, version), at)
        uow.commit()
    return facts


def _set_status(event: IncidentClosed | IncidentReopened, uow: IntakeUnitOfWork, change: str) -> bool:
    """``close`` or ``reopen`` the event's incident, once per event (the inbox)."""
    with uow:
        if uow.inbox.seen(event.event_id):
            return False
        done = getattr(uow.incidents, change)(event.incident_id, event.at)
        uow.inbox.mark(event.event_id, event.at)
        uow.commit()
    return done


def reopen_incident(event: IncidentReopened, uow: IntakeUnitOfWork) -> bool:
    """An incident the dispatcher reopened takes reports again (once per event). False when it was open here."""
    return _set_status(event, uow, "reopen")


def close_incident(event: IncidentClosed, uow: IntakeUnitOfWork) -> bool:
    """An incident the dispatcher closed takes no more reports (once per event). False when there was nothing to
    close here."""
    return _set_status(event, uow, "close")
