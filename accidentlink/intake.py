"""The intake stage (consumer group ``intake``): the only reader of ``accidents.reported``.

1. ``Rekeyer``: validates each report (``parse_report``, then its time and place: ``accidentlink.input_bounds``), places an address-only report with the geocoder, dead-letters
   what is not a report (once, by its position) and forwards the rest, bytes unchanged unless geocoded,
   to ``intake.reports-by-area`` keyed by the report's area (``accidentlink.areas``).
2. The merge (``accidentlink.pipeline.Pipeline`` with a ``merge``, ``connectors.sql.intake.IntakeMerge``)
   reads that topic: reports become unified incidents (``accidentlink.intake_services.merge_report``), under
   per-area locks, in the intake's own store; every change goes onto ``incidents`` and
   ``intake.incident-facts``.
3. ``connectors.sql.intake.IntakeHandler.on_incident_changes``: an incident the dispatcher closed takes no
   more reports (``accidentlink.intake_services.close_incident``).
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable

from accidentlink.areas import area_of, areas_to_lock
from accidentlink.pipeline import Pipeline, RawMessage
from accidentlink.reports import AccidentReport, InvalidReport, no_duplicate_keys, parse_report

log = logging.getLogger("accidentlink.intake")

BY_AREA_TOPIC = "intake.reports-by-area"
CONSUMER = "intake"

Geocode = Callable[[str], "tuple[float, float] | None"]
Send = Callable[[str, bytes, bytes, "list[tuple[str, bytes]]"], Any]


class Unlocatable(InvalidReport):
    """An address-only report whose address the geocoder does not know."""


def place(value: bytes | None, geocode: Geocode) -> bytes | None:
    """A location with an address and no coordinates gets them from the geocoder (``geocoded: true``);
    anything else is returned as it came (the parser gives the reasons)."""
    if not value:
        return value
    try:
        doc = json.loads(value, object_pairs_hook=no_duplicate_keys)
    except (ValueError, UnicodeDecodeError, RecursionError):  # InvalidReport too: the parser gives the reason
        return value
    loc = doc.get("location") if isinstance(doc, dict) else None
    if not (isinstance(loc, dict) and isinstance(loc.get("address"), str) and loc.get("lat") is None
            and loc.get("lon") is None):
        return value
    found = geocode(loc["address"])
    if found is None:
        raise Unlocatable(f"location has no lat/lon and the address {loc['address'][:60]!r} is not in the gazetteer")
    loc["lat"], loc["lon"] = found
    loc["geocoded"] = True
    try:
        return json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: left as it came, for the parser to refuse
        return value


class Rekeyer:
    """Validate, geocode, dead-letter or forward by area. Forwarding is at least once (the merge's inbox
    makes a repeat a no-op); the batch's offsets are committed after ``flush``."""

    def __init__(self, dead_letters: Pipeline, send: Send, flush: Callable[[], None], topic: str, geocode: Geocode,
                 check: "Callable[[AccidentReport], str | None] | None" = None):
        self.dead_letters, self.send, self.flush, self.topic, self.geocode = dead_letters, send, flush, topic, geocode
        # a valid report that still must not go on: its time or its place (``accidentlink.input_bounds``)
        self.check = check

    def process(self, messages: list[RawMessage]) -> None:
        bad: list[tuple[RawMessage, str]] = []
        for m in messages:
            try:
                value = place(m.value, self.geocode)
                report = parse_report(value)  # type: ignore[arg-type]
                problem = self.check(report) if self.check is not None else None
                if problem:
                    raise InvalidReport(problem)
            except InvalidReport as e:
                bad.append((m, str(e)))
                continue
            except Exception as e:  # anything the parser did not foresee: never stop the batch
                bad.append((m, f"unreadable report: {type(e).__name__}: {str(e)[:200]}"))
                continue
            area = area_of(report.location.lat, report.location.lon)
            self.send(self.topic, area.encode(), value, list(m.headers))  # type: ignore[arg-type]
        if bad:
            self.dead_letters.dead_letter_each(bad)
        self.flush()


def merge_locks(reports: list[AccidentReport]) -> list[str]:
    """The locks an intake batch takes: one per area its reports' merge radius touches."""
    return [f"intake-area:{a}" for a in areas_to_lock([(r.location.lat, r.location.lon) for r in reports])]
