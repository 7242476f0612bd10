"""What every pipeline does with a batch of ``accidents.reported`` messages, whatever its group.

For each message, in one database transaction per batch (a savepoint per message):

1. a message already in this consumer's inbox (``processed_events``) is skipped: redelivery is a no-op;
2. bytes that are not a valid report are recorded once in ``rejected_messages`` and copied, unchanged,
   to ``accidents.rejected`` with the contract's headers (whichever pipeline sees them first);
3. a valid report is folded into its unified incident (``accidentlink.incidents``), once, whichever
   pipeline sees it first; the change goes onto ``incidents``;
4. the pipeline's own handler reconciles what it owes that incident (orders, a fund case, claims).

Outgoing messages are outbox rows in the same transaction; the relay publishes them after commit.
The offset is committed by faust after the batch returns (commit after the effect).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterator, Protocol

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from accidentlink.clock import Clock, iso
from accidentlink.incidents import IncidentFacts, choose_incident, merge, open_incident
from accidentlink.reports import AccidentReport, InvalidReport, parse_report
from connectors.sql import incidents as repo
from connectors.sql.db import Database, UnitOfWork
from connectors.sql.models import ProcessedEvent, RejectedMessage, ReportRow
from connectors.sql.outbox import emit

log = logging.getLogger("accidentlink.pipeline")

REPORTS_TOPIC = "accidents.reported"
REJECTED_TOPIC = "accidents.rejected"
INCIDENTS_TOPIC = "incidents"


@dataclass(frozen=True)
class RawMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def position(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


@dataclass
class Context:
    """What a handler gets: the transaction, the consumer's name, the clock and the topic names."""

    uow: UnitOfWork
    consumer: str
    now: datetime
    topics: "TopicNames"

    @property
    def session(self) -> Session:
        return self.uow.session

    def emit(self, topic: str, key: str | bytes | None, value: dict[str, Any] | bytes,
             headers: list[tuple[str, bytes]] | None = None) -> None:
        emit(self.session, self.consumer, self.topics.name(topic), key, value, self.now, headers)

    def incident_changed(self, incident_id: str, change: str, **extra: Any) -> None:
        row = repo.touch(self.session, incident_id, self.now)
        self.emit(INCIDENTS_TOPIC, incident_id, repo.incident_event(self.session, row, change, self.now, **extra))


@dataclass(frozen=True)
class TopicNames:
    """Topic names, optionally prefixed (tests isolate themselves on one broker with a prefix)."""

    prefix: str = ""

    def name(self, topic: str) -> str:
        return self.prefix + topic


class ReportHandler(Protocol):
    def __call__(self, ctx: Context, report: AccidentReport, incident: IncidentFacts) -> None: ...


@dataclass
class BatchResult:
    processed: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    incidents: set[str] = field(default_factory=set)


def _seen(session: Session, consumer: str, event_id: str) -> bool:
    return session.get(ProcessedEvent, (consumer, event_id)) is not None


def mark_processed(session: Session, consumer: str, event_id: str, now: datetime) -> None:
    session.add(ProcessedEvent(consumer=consumer, event_id=event_id, processed_at=now))


def unseen_events(session: Session, consumer: str, messages: list[RawMessage], id_field: str,
                  now: datetime) -> "Iterator[dict[str, Any]]":
    """The JSON events of a batch this consumer has not handled yet; each is marked processed once the
    caller's loop body for it has run (in the caller's transaction). Unreadable ones are logged."""
    for m in messages:
        try:
            value = json.loads(m.value or b"")
            event_id = f"{id_field}:{value[id_field]}"
        except (ValueError, KeyError, TypeError):
            log.error("%s: unreadable event at %s", consumer, m.position)
            continue
        if _seen(session, consumer, event_id):
            continue
        yield value
        mark_processed(session, consumer, event_id, now)


def dead_letter(ctx: Context, msg: RawMessage, reason: str) -> bool:
    """Record the rejection once (first pipeline wins) and queue the unchanged bytes with headers."""
    s = ctx.session
    if s.get(RejectedMessage, (msg.topic, msg.partition, msg.offset)) is not None:
        return False
    s.add(RejectedMessage(topic=msg.topic, partition=msg.partition, offset=msg.offset, reason=reason,
                          detected_by=ctx.consumer, detected_at=ctx.now))
    headers = [(k, v) for k, v in msg.headers if k not in ("error", "source-topic", "source-partition", "source-offset")]
    headers += [("error", reason.encode("utf-8")), ("source-topic", msg.topic.encode()),
                ("source-partition", str(msg.partition).encode()), ("source-offset", str(msg.offset).encode())]
    emit(s, ctx.consumer, ctx.topics.name(REJECTED_TOPIC), msg.key, msg.value if msg.value is not None else b"",
         ctx.now, headers)
    return True


def record_report(ctx: Context, report: AccidentReport, geodesic_m: Callable[[float, float, float, float], float]
                  ) -> IncidentFacts:
    """Fold the report into its unified incident, once across all pipelines; emit the change."""
    s = ctx.session
    known = s.get(ReportRow, report.report_id)
    if known is not None:
        return repo.load_facts(s, known.incident_id)  # type: ignore[return-value]
    lat, lon = report.location.lat, report.location.lon
    candidates = [(c, geodesic_m(lat, lon, c.lat, c.lon))
                  for c in repo.merge_candidates(s, lat, lon, report.reported_at)]
    target = choose_incident(report, candidates)
    facts = merge(target, report) if target else open_incident(report)
    repo.save_facts(s, facts, ctx.now)
    s.add(ReportRow(report_id=report.report_id, incident_id=facts.incident_id, source=report.source,
                    reported_at=report.reported_at, payload=report.to_json(), received_at=ctx.now))
    s.flush()
    change = "report_merged" if target else "created"
    repo.add_timeline(s, facts.incident_id, ctx.now, change, report_id=report.report_id, source=report.source,
                      reported_at=iso(report.reported_at), injured=report.injured, fatalities=report.fatalities)
    row = s.get(repo.IncidentRow, facts.incident_id)
    ctx.emit(INCIDENTS_TOPIC, facts.incident_id,
             repo.incident_event(s, row, change, ctx.now, report_id=report.report_id))
    return facts


class Pipeline:
    """One consumer group's processing of report batches (Kafka-agnostic: takes ``RawMessage``s)."""

    def __init__(self, db: Database, consumer: str, handler: ReportHandler, clock: Clock,
                 geodesic_m: Callable[[float, float, float, float], float], topics: TopicNames = TopicNames()):
        self.db, self.consumer, self.handler, self.clock = db, consumer, handler, clock
        self.geodesic_m, self.topics = geodesic_m, topics

    def process(self, messages: list[RawMessage]) -> BatchResult:
        """Transient database errors propagate (the caller retries the batch); anything else that one
        message raises dead-letters that message and the rest of the batch goes on."""
        result = BatchResult()
        with self.db.uow() as uow:
            uow.lock("incident-merge")
            ctx = Context(uow, self.consumer, self.clock.now(), self.topics)
            for msg in messages:
                self._one(ctx, msg, result)
            uow.commit()
        return result

    def _one(self, ctx: Context, msg: RawMessage, result: BatchResult) -> None:
        s = ctx.session
        try:
            report = parse_report(msg.value)  # type: ignore[arg-type]
        except Exception as e:  # InvalidReport, or anything the parser did not foresee: never stop the batch
            event_id = "msg:" + msg.position
            reason = str(e) if isinstance(e, InvalidReport) else f"unreadable report: {type(e).__name__}: {str(e)[:200]}"
            if not _seen(s, self.consumer, event_id):
                dead_letter(ctx, msg, reason)
                mark_processed(s, self.consumer, event_id, ctx.now)
                result.rejected += 1
            return
        event_id = "report:" + report.report_id
        if _seen(s, self.consumer, event_id):
            result.duplicates += 1
            return
        sp = s.begin_nested()
        try:
            facts = record_report(ctx, report, self.geodesic_m)
            self.handler(ctx, report, facts)
            mark_processed(s, self.consumer, event_id, ctx.now)
            sp.commit()
            result.processed += 1
            result.incidents.add(facts.incident_id)
        except OperationalError:  # locked or lost database: transient, the whole batch is retried
            raise
        except Exception as e:  # a bug or a rule we cannot satisfy: dead-letter, never skip silently
            sp.rollback()
            log.exception("%s failed on %s", self.consumer, msg.position)
            dead_letter(ctx, msg, f"processing failed in {self.consumer}: {type(e).__name__}: {e}")
            mark_processed(s, self.consumer, event_id, ctx.now)
            result.failed += 1

    def dead_letter_batch(self, messages: list[RawMessage], reason: str) -> None:
        """Dead-letter messages this consumer could not process, each once, and mark them processed."""
        with self.db.uow() as uow:
            ctx = Context(uow, self.consumer, self.clock.now(), self.topics)
            for msg in messages:
                event_id = "msg:" + msg.position
                if not _seen(ctx.session, self.consumer, event_id):
                    dead_letter(ctx, msg, reason)
                    mark_processed(ctx.session, self.consumer, event_id, ctx.now)
            uow.commit()
