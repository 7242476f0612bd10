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

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from accidentlink.clock import Clock, iso
from accidentlink.incidents import IncidentFacts, choose_incident, merge, open_incident
from accidentlink.reports import AccidentReport, InvalidReport, parse_report
from connectors.sql import batch
from connectors.sql import incidents as repo
from connectors.sql.db import Database, UnitOfWork
from connectors.sql.batch import WriteBatch
from connectors.sql.models import IncidentRow, ProcessedEvent, RejectedMessage, ReportRow
from connectors.sql.outbox import emit, mark_in

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
    seen: set[str] | None = None  # this consumer's inbox entries for the batch (prefetched)
    known_reports: dict[str, str] | None = None  # report id -> incident id of the batch's recorded reports

    def was_seen(self, event_id: str) -> bool:
        if self.seen is not None:
            return event_id in self.seen
        return _seen(self.session, self.consumer, event_id)

    def mark_processed(self, event_id: str) -> None:
        if self.seen is not None:
            self.seen.add(event_id)
        mark_processed(self.session, self.consumer, event_id, self.now)

    def buffer_mark(self) -> tuple[Any, ...]:
        buffered = batch.current(self.session)
        return (buffered.mark() if buffered else (), set(self.seen or ()))

    def buffer_rollback(self, mark: tuple[Any, ...]) -> None:
        buffered = batch.current(self.session)
        if buffered:
            buffered.rollback(mark[0])
            buffered.forget_reads()
        if self.seen is not None:
            self.seen = mark[1]
        self.known_reports = None

    @property
    def session(self) -> Session:
        return self.uow.session

    def emit(self, topic: str, key: str | bytes | None, value: dict[str, Any] | bytes,
             headers: list[tuple[str, bytes]] | None = None) -> None:
        emit(self.session, self.consumer, self.topics.name(topic), key, value, self.now, headers)

    def incident_changed(self, incident_id: str, change: str, **extra: Any) -> None:
        row = repo.touch(self.session, incident_id, self.now)
        self.incident_event(incident_id, change, row, **extra)

    def incident_event(self, incident_id: str, change: str, row: IncidentRow | None = None, **extra: Any) -> None:
        """Put the change onto ``incidents`` (inside a pipeline batch: built once per incident at its end)."""
        row = row if row is not None else repo.incident(self.session, incident_id)
        buffered = batch.current(self.session)
        if buffered is not None:
            buffered.incident_changes.append((incident_id, change, self.now, row.version, extra,
                                              self.topics.name(INCIDENTS_TOPIC), self.consumer))
        else:
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
    buffered = batch.current(session)
    if buffered is not None:
        buffered.processed.append({"consumer": consumer, "event_id": event_id, "processed_at": now})
    else:
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


DEAD_LETTER_HEADERS = ("error", "source-topic", "source-partition", "source-offset")  # in this order, below


def dead_letter(ctx: Context, msg: RawMessage, reason: str) -> bool:
    """Record the rejection once (first pipeline wins) and queue the unchanged bytes with headers."""
    s = ctx.session
    if s.get(RejectedMessage, (msg.topic, msg.partition, msg.offset)) is not None:
        return False
    s.add(RejectedMessage(topic=msg.topic, partition=msg.partition, offset=msg.offset, reason=reason,
                          detected_by=ctx.consumer, detected_at=ctx.now))
    headers = [(k, v) for k, v in msg.headers if k not in DEAD_LETTER_HEADERS]
    headers += zip(DEAD_LETTER_HEADERS, (reason.encode("utf-8"), msg.topic.encode(), str(msg.partition).encode(),
                                         str(msg.offset).encode()))
    emit(s, ctx.consumer, ctx.topics.name(REJECTED_TOPIC), msg.key, msg.value if msg.value is not None else b"",
         ctx.now, headers)
    return True


def record_report(ctx: Context, report: AccidentReport, geodesic_m: Callable[[float, float, float, float], float]
                  ) -> IncidentFacts:
    """Fold the report into its unified incident, once across all pipelines; emit the change."""
    s = ctx.session
    if ctx.known_reports is not None:  # the batch looked its reports up at once
        incident_id = ctx.known_reports.get(report.report_id)
    else:
        known = s.get(ReportRow, report.report_id)
        incident_id = known.incident_id if known is not None else None
    if incident_id is not None:
        row = repo.incident(s, incident_id)
        return repo.facts_of(row, repo.report_ids_of(s, incident_id))
    lat, lon = report.location.lat, report.location.lon
    candidates = [(c, geodesic_m(lat, lon, c.lat, c.lon))
                  for c in repo.merge_candidates(s, lat, lon, report.reported_at)]
    target = choose_incident(report, candidates)
    facts = merge(target, report) if target else open_incident(report)
    row = repo.save_facts(s, facts, ctx.now, new=target is None)
    repo.add_report(s, ReportRow(report_id=report.report_id, incident_id=facts.incident_id, source=report.source,
                                 reported_at=report.reported_at, payload=report.to_json(), received_at=ctx.now),
                    created=target is None)
    if ctx.known_reports is not None:
        ctx.known_reports[report.report_id] = facts.incident_id
    change = "report_merged" if target else "created"
    repo.add_timeline(s, facts.incident_id, ctx.now, change, report_id=report.report_id, source=report.source,
                      reported_at=iso(report.reported_at), injured=report.injured, fatalities=report.fatalities)
    ctx.incident_event(facts.incident_id, change, row, report_id=report.report_id)
    return facts


class Pipeline:
    """One consumer group's processing of report batches (Kafka-agnostic: takes ``RawMessage``s)."""

    def __init__(self, db: Database, consumer: str, handler: ReportHandler, clock: Clock,
                 geodesic_m: Callable[[float, float, float, float], float], topics: TopicNames = TopicNames()):
        self.db, self.consumer, self.handler, self.clock = db, consumer, handler, clock
        self.geodesic_m, self.topics = geodesic_m, topics
        # the process's relay hands over what it published, to be marked sent in the batch's transaction
        self.take_marks: Callable[[], tuple[list[int], list[int]]] | None = None

    def process(self, messages: list[RawMessage]) -> BatchResult:
        """Transient database errors propagate (the caller retries the batch); anything else that one
        message raises dead-letters that message and the rest of the batch goes on.

        The fast pass handles the whole batch in one transaction without savepoints and writes it in
        bulk at its end (``connectors.sql.batch``). Should anything in it fail for a reason other than a
        transient one (a bug, a rule, a constraint that only the final write sees), it is rolled back
        and the batch is done again carefully: each message in its own savepoint, written at once, so
        only the culprit is dead-lettered and the rest commit."""
        parsed = [self._parse(m) for m in messages]
        try:
            return self._process(messages, parsed, careful=False)
        except OperationalError:
            raise
        except Exception as e:
            log.warning("%s: a batch of %d failed (%s: %s); redoing it message by message", self.consumer,
                        len(messages), type(e).__name__, str(e)[:300])
            self._rolled_back()
            return self._process(messages, parsed, careful=True)

    def _rolled_back(self) -> None:
        hook = getattr(self.handler, "rolled_back", None)
        if hook is not None:
            hook()

    @staticmethod
    def _parse(msg: RawMessage) -> AccidentReport | str:
        try:
            return parse_report(msg.value)  # type: ignore[arg-type]
        except Exception as e:  # InvalidReport, or anything the parser did not foresee: never stop the batch
            return str(e) if isinstance(e, InvalidReport) else f"unreadable report: {type(e).__name__}: {str(e)[:200]}"

    def _process(self, messages: list[RawMessage], parsed: list[AccidentReport | str], careful: bool) -> BatchResult:
        result = BatchResult()
        with self.db.uow() as uow:
            uow.lock("incident-merge")
            ctx = Context(uow, self.consumer, self.clock.now(), self.topics)
            buffered = WriteBatch(fast=not careful).install(uow.session)
            try:
                self._prefetch(ctx, messages, parsed)
                prepare = getattr(self.handler, "prepare", None)
                if prepare is not None:  # a handler's own once-per-batch reads
                    prepare(ctx, [r for r in parsed if isinstance(r, AccidentReport)])
                for msg, report in zip(messages, parsed):
                    self._one(ctx, msg, report, result, buffered if careful else None)
                buffered.flush(uow.session)
                if self.take_marks is not None:
                    mark_in(uow.session, *self.take_marks(), ctx.now)
            finally:
                batch.remove(uow.session)
            uow.commit()
        return result

    def _prefetch(self, ctx: Context, messages: list[RawMessage], parsed: list[AccidentReport | str]) -> None:
        """One query each for what the batch would otherwise look up message by message: the inbox,
        the reports other pipelines already recorded, their incidents, and the open incidents near the new
        reports (merge candidates)."""
        s = ctx.session
        buffered = batch.current(s)
        ids = ["report:" + r.report_id if isinstance(r, AccidentReport) else "msg:" + m.position
               for m, r in zip(messages, parsed)]
        ctx.seen = set(s.scalars(select(ProcessedEvent.event_id).where(
            ProcessedEvent.consumer == self.consumer, ProcessedEvent.event_id.in_(ids))))
        report_ids = [r.report_id for r in parsed if isinstance(r, AccidentReport)]
        ctx.known_reports = dict(s.execute(select(ReportRow.report_id, ReportRow.incident_id)
                                           .where(ReportRow.report_id.in_(report_ids))).all()) if report_ids else {}
        incident_ids = set(ctx.known_reports.values())
        if incident_ids:
            for r in s.scalars(select(IncidentRow).where(IncidentRow.incident_id.in_(incident_ids))):
                buffered.hold(r)
            repo.prefetch_reports(s, incident_ids)
        # the open incidents the new reports could merge into, and their reports: one query each
        repo.prefetch_candidates(s, [(r.location.lat, r.location.lon, r.reported_at) for m, r in zip(messages, parsed)
                                     if isinstance(r, AccidentReport) and r.report_id not in ctx.known_reports
                                     and "report:" + r.report_id not in ctx.seen])
        repo.prefetch_reports(s, set(buffered.incidents) - incident_ids)

    def _one(self, ctx: Context, msg: RawMessage, report: AccidentReport | str, result: BatchResult,
             careful: WriteBatch | None) -> None:
        s = ctx.session
        if isinstance(report, str):
            event_id = "msg:" + msg.position
            if not ctx.was_seen(event_id):
                dead_letter(ctx, msg, report)
                ctx.mark_processed(event_id)
                result.rejected += 1
            return
        event_id = "report:" + report.report_id
        if ctx.was_seen(event_id):
            result.duplicates += 1
            return
        if careful is None:  # the fast pass: no savepoint; any failure redoes the batch carefully
            facts = record_report(ctx, report, self.geodesic_m)
            self.handler(ctx, report, facts)
            ctx.mark_processed(event_id)
            result.processed += 1
            result.incidents.add(facts.incident_id)
            return
        sp = s.begin_nested()
        mark = ctx.buffer_mark()
        try:
            facts = record_report(ctx, report, self.geodesic_m)
            self.handler(ctx, report, facts)
            ctx.mark_processed(event_id)
            careful.flush(s)
            sp.commit()
            result.processed += 1
            result.incidents.add(facts.incident_id)
        except OperationalError:  # locked or lost database: transient, the whole batch is retried
            raise
        except Exception as e:  # a bug or a rule we cannot satisfy: dead-letter, never skip silently
            sp.rollback()
            ctx.buffer_rollback(mark)
            self._rolled_back()
            log.exception("%s failed on %s", self.consumer, msg.position)
            dead_letter(ctx, msg, f"processing failed in {self.consumer}: {type(e).__name__}: {e}")
            ctx.mark_processed(event_id)
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
