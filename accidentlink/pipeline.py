"""What a consumer group does with a batch of messages, whatever its stage.

Two kinds of batch share this machinery (one transaction per batch on the stage's own store, written
in bulk, redone message by message if anything fails):

- **intake** (``accidents.reported`` re-keyed by area onto ``intake.reports-by-area``): each valid
  report is folded into its unified incident under the locks of the areas its merge radius touches, by
  the intake's use case (``accidentlink.intake_services.merge_report``) through its adapter
  (``connectors.sql.intake.IntakeMerge``); the change goes onto ``incidents`` (the contract's public
  stream, masked) and, with the report and the incident's facts, onto ``intake.incident-facts`` (internal);
- **the pipelines** (``dispatch``, ``rescue-fund``, ``claims``, ``hospitals``, each in its own group
  and store) read ``intake.incident-facts``: each change updates the pipeline's own copy of the
  incident and its reports, then the pipeline's handler reconciles what it owes the incident.

Each message is handled once per consumer (``processed_events``); outgoing messages are outbox rows in
the same transaction, published by the relay after commit; faust commits the offset after the batch
returns (commit after the effect).
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
from accidentlink.incidents import IncidentFacts, facts_from_json
from accidentlink.intake_services import FACTS_SCHEMA
from accidentlink.reports import AccidentReport, InvalidReport, parse_report, report_from_dict
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
    existing_incidents: set[str] = field(default_factory=set)  # incidents the store had before the batch

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


class Merge(Protocol):
    """The intake's merge of one report inside a batch (``connectors.sql.intake.IntakeMerge``)."""

    def prefetch(self, ctx: Context, reports: list[AccidentReport]) -> None:
        """Once per batch, before its first report: what its (not yet handled) reports will look up."""

    def __call__(self, ctx: Context, report: AccidentReport) -> IncidentFacts: ...

    def conflict(self, ctx: Context, report: AccidentReport) -> str | None:
        """For a report whose id was handled: why it is not that report (dead-lettered), or None (a redelivery)."""


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


def readable_events(consumer: str, messages: list[RawMessage], id_field: str) -> "Iterator[tuple[str, dict[str, Any]]]":
    """``(event_id, value)`` of each JSON event of a batch (the id is ``<id_field>:<value of id_field>``, the
    consumer's inbox key); unreadable ones are logged and skipped."""
    for m in messages:
        try:
            value = json.loads(m.value or b"")
            event_id = f"{id_field}:{value[id_field]}"
        except (ValueError, KeyError, TypeError):
            log.error("%s: unreadable event at %s", consumer, m.position)
            continue
        yield event_id, value


def changes_among(messages: list[RawMessage], *changes: str) -> list[RawMessage]:
    """The ``incidents`` messages (readable, about an incident) whose change is one of ``changes``: what a
    context reacts to of the changes others publish; the rest it skips."""
    wanted = []
    for m in messages:
        try:
            v = json.loads(m.value or b"")
        except ValueError:
            continue
        if isinstance(v, dict) and v.get("change") in changes and isinstance(v.get("incident_id"), str):
            wanted.append(m)
    return wanted


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


@dataclass(frozen=True)
class FactsChange:
    """One ``intake.incident-facts`` message: a report and the incident's facts after it was merged."""

    report: AccidentReport
    payload: dict[str, Any]
    facts: IncidentFacts
    change: str


def parse_facts_change(value: bytes | None) -> FactsChange:
    doc = json.loads(value or b"")
    if not isinstance(doc, dict) or doc.get("schema") != FACTS_SCHEMA:
        raise InvalidReport(f"not an {FACTS_SCHEMA} message")
    payload = doc["report"]
    return FactsChange(report_from_dict(payload), payload, facts_from_json(doc["incident"]),
                       doc.get("change", "report_merged"))


def record_copy(ctx: Context, change: FactsChange, *, on_timeline: bool) -> IncidentFacts:
    """A pipeline: bring its own copy of the incident's facts and reports up to the intake's, once per report."""
    s = ctx.session
    f = change.facts
    buffered = batch.current(s)
    # a batch whose start read every copy it could touch knows a copy it does not hold is new (no query, no flush)
    if buffered is not None and buffered.holds_all:
        row = buffered.incidents.get(f.incident_id)
    else:
        row = repo.incident(s, f.incident_id)
    new = row is None
    row = repo.save_facts(s, f, ctx.now, new=new)
    known = [] if new else repo.report_ids_of(s, f.incident_id)
    if change.report.report_id not in known:
        r = change.report
        repo.add_report(s, ReportRow(report_id=r.report_id, incident_id=f.incident_id, source=r.source,
                                     reported_at=r.reported_at, payload=change.payload, received_at=ctx.now), created=new)
        if on_timeline:  # the pipeline whose timeline is the incident's (dispatch) records the report on it
            repo.add_timeline(s, f.incident_id, ctx.now, change.change, report_id=r.report_id, source=r.source,
                              reported_at=iso(r.reported_at), injured=r.injured, fatalities=r.fatalities)
    return repo.facts_of(row, repo.report_ids_of(s, f.incident_id))


class Pipeline:
    """One consumer group's processing of batches (Kafka-agnostic: takes ``RawMessage``s).

    With ``merge``: the intake's merge of reports into incidents (messages are reports); otherwise a
    pipeline's processing of ``intake.incident-facts`` (messages are facts changes) into its own copy,
    then its handler."""

    def __init__(self, db: Database, consumer: str, handler: ReportHandler | None, clock: Clock,
                 topics: TopicNames = TopicNames(), *, merge: Merge | None = None, with_orders: bool = False,
                 on_timeline: bool = False, batch_locks: Callable[[list[Any]], list[str]] | None = None):
        self.db, self.consumer, self.handler, self.clock, self.topics = db, consumer, handler, clock, topics
        self.merge, self.with_orders, self.on_timeline = merge, with_orders, on_timeline
        # the cross-process locks a batch takes first, from its reports (the intake's areas, dispatch's incidents)
        self.batch_locks = batch_locks
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

    def _parse(self, msg: RawMessage) -> AccidentReport | FactsChange | str:
        try:
            if self.merge is not None:
                return parse_report(msg.value)  # type: ignore[arg-type]
            return parse_facts_change(msg.value)
        except Exception as e:  # InvalidReport, or anything the parser did not foresee: never stop the batch
            return str(e) if isinstance(e, InvalidReport) else f"unreadable message: {type(e).__name__}: {str(e)[:200]}"

    @staticmethod
    def _report(item: AccidentReport | FactsChange) -> AccidentReport:
        return item if isinstance(item, AccidentReport) else item.report

    def _process(self, messages: list[RawMessage], parsed: list[Any], careful: bool) -> BatchResult:
        result = BatchResult()
        reports = [self._report(p) for p in parsed if not isinstance(p, str)]
        with self.db.uow() as uow:
            if self.batch_locks is not None:  # in sorted order: two batches never deadlock
                uow.lock_all(self.batch_locks([p for p in parsed if not isinstance(p, str)]))
            ctx = Context(uow, self.consumer, self.clock.now(), self.topics)
            buffered = WriteBatch(fast=not careful, with_orders=self.with_orders).install(uow.session)
            try:
                self._prefetch(ctx, messages, parsed)
                prepare = getattr(self.handler, "prepare", None)
                if prepare is not None:  # a handler's own once-per-batch reads
                    prepare(ctx, reports)
                for msg, item in zip(messages, parsed):
                    self._one(ctx, msg, item, result, buffered if careful else None)
                buffered.flush(uow.session)
                if self.take_marks is not None:
                    mark_in(uow.session, *self.take_marks(), ctx.now)
            finally:
                batch.remove(uow.session)
            uow.commit()
        return result

    def _prefetch(self, ctx: Context, messages: list[RawMessage], parsed: list[Any]) -> None:
        """One query each for what the batch would otherwise look up message by message: the inbox, then
        at intake what the merge reads (``Merge.prefetch``), in a pipeline the copies of the batch's
        incidents and their reports."""
        s = ctx.session
        buffered = batch.current(s)
        ids = ["report:" + self._report(r).report_id if not isinstance(r, str) else "msg:" + m.position
               for m, r in zip(messages, parsed)]
        ctx.seen = set(s.scalars(select(ProcessedEvent.event_id).where(
            ProcessedEvent.consumer == self.consumer, ProcessedEvent.event_id.in_(ids))))
        if self.merge is not None:
            self.merge.prefetch(ctx, [r for r in parsed if isinstance(r, AccidentReport)
                                      and "report:" + r.report_id not in ctx.seen])
            return
        ctx.known_reports = {r.report.report_id: r.facts.incident_id for r in parsed if isinstance(r, FactsChange)}
        repo.hold_incidents(s, set(ctx.known_reports.values()))
        ctx.existing_incidents = set(buffered.incidents)
        buffered.holds_all = True

    def _handle(self, ctx: Context, item: AccidentReport | FactsChange) -> IncidentFacts:
        if isinstance(item, AccidentReport):
            assert self.merge is not None
            facts = self.merge(ctx, item)
        else:
            facts = record_copy(ctx, item, on_timeline=self.on_timeline)
        if self.handler is not None:
            self.handler(ctx, self._report(item), facts)
        return facts

    def _one(self, ctx: Context, msg: RawMessage, item: AccidentReport | FactsChange | str, result: BatchResult,
             careful: WriteBatch | None) -> None:
        s = ctx.session
        if isinstance(item, str):
            event_id = "msg:" + msg.position
            if not ctx.was_seen(event_id):
                dead_letter(ctx, msg, item)
                ctx.mark_processed(event_id)
                result.rejected += 1
            return
        event_id = "report:" + self._report(item).report_id
        if ctx.was_seen(event_id):
            conflict = getattr(self.merge, "conflict", None) if isinstance(item, AccidentReport) else None
            reason = conflict(ctx, item) if conflict is not None else None
            if reason is None:  # a redelivery: a no-op
                result.duplicates += 1
            elif dead_letter(ctx, msg, reason):  # another report under a known id: dead-lettered, once (by position)
                result.rejected += 1
            return
        if careful is None:  # the fast pass: no savepoint; any failure redoes the batch carefully
            facts = self._handle(ctx, item)
            ctx.mark_processed(event_id)
            result.processed += 1
            result.incidents.add(facts.incident_id)
            return
        sp = s.begin_nested()
        mark = ctx.buffer_mark()
        try:
            facts = self._handle(ctx, item)
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
        self.dead_letter_each([(m, reason) for m in messages])

    def dead_letter_each(self, rejected: list[tuple[RawMessage, str]]) -> None:
        """Dead-letter each message with its own reason, once (by its position), in one transaction."""
        with self.db.uow() as uow:
            ctx = Context(uow, self.consumer, self.clock.now(), self.topics)
            for msg, reason in rejected:
                event_id = "msg:" + msg.position
                if not _seen(ctx.session, self.consumer, event_id):
                    dead_letter(ctx, msg, reason)
                    mark_processed(ctx.session, self.consumer, event_id, ctx.now)
            uow.commit()
