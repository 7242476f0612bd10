"""The claims context's SQL adapter: its unit of work and repositories (``claims.ports``) over the claims
store, and the ``claims`` consumer group's entry points, which drive ``claims.services``.

Rows and the claims records are translated by small explicit functions (``claim_file``/``write_claim``,
``quick_case``/``write_quick``, ...). A ``SqlClaimsUnitOfWork`` is either a transaction of its own on the
claims store (the overdue timer, the parties' quick-handling page, the desks' reads) or part of a
transaction that its caller owns and commits (``joining``): a pipeline batch, the bills consumer's batch, or
an HTTP request that writes its audit line beside the action. Inside a pipeline batch
(``connectors.sql.batch``), outbox rows, owed texts and timeline entries are written in bulk at the batch's
end, and what the batch's messages would each look up (the claims and quick cases of the batch's incidents,
the recent claims its parties could be flagged against) is read once (``ClaimsHandler.prepare``); so the
fast and the careful pass are the same to the use cases.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Generic, Iterable, Mapping, Protocol, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import accidentlink.incidents
from accidentlink.clock import Clock, iso
from accidentlink.pipeline import INCIDENTS_TOPIC, Context, RawMessage, TopicNames, readable_events
from accidentlink.reports import AccidentReport, Party
from claims import services
from claims.fraud import fraud_rules
from claims.commands import BillReceived, IncidentReported
from claims.ports import (
    ClaimFile, ClaimFlag, CoverDecision, IncidentCopy, IncidentNote, OverdueFlag, OwedText, QuickCase, QuickParty,
    QuickPhoto, SharedClaims, party_from_json, party_json,
)
from connectors.sql import batch
from connectors.sql import incidents as incident_repo
from connectors.sql.db import Database
from connectors.sql.store_uow import SqlInbox, StoreUnitOfWork
from connectors.sql.models import ClaimRow, IncidentRow, QuickCaseRow
from connectors.sql.outbox import emit, enqueue_sms
from streams.topics import insurer_topic

CONSUMER = "claims"
CACHED = "claims"  # the batch cache (``batch.cache``): recent claims, the claims and quick cases of its incidents
RowT = TypeVar("RowT", ClaimRow, QuickCaseRow)
RecordT = TypeVar("RecordT", ClaimFile, QuickCase)


# ---------------------------------------------------------------- rows <-> records
def claim_file(r: ClaimRow) -> ClaimFile:
    return ClaimFile(r.claim_id, r.incident_id, r.insurer, r.routed, r.plate, r.ci_policy, party_from_json(r.party),
                     r.id_hash, r.phone_hash, r.status, r.kind, r.facts, r.opened_at, r.updated_at, r.version or 0,
                     r.owed_to_hospital_fen or 0, r.assessed_fen, r.paid_fen,
                     tuple(ClaimFlag.from_json(f) for f in r.flags or ()),
                     {k: datetime.fromisoformat(v) for k, v in (r.timestamps or {}).items()},
                     CoverDecision.from_json(r.decision) if r.decision else None,
                     tuple(OverdueFlag.from_json(o) for o in r.overdue_flags or ()))


def write_claim(r: ClaimRow, c: ClaimFile) -> None:
    r.claim_id, r.incident_id, r.insurer, r.routed, r.plate = c.claim_id, c.incident_id, c.insurer, c.routed, c.plate
    r.ci_policy, r.party, r.id_hash, r.phone_hash = c.ci_policy, party_json(c.party), c.id_hash, c.phone_hash
    r.status, r.kind, r.facts = c.status, c.kind, dict(c.facts)
    r.owed_to_hospital_fen, r.assessed_fen, r.paid_fen = c.owed_to_hospital_fen, c.assessed_fen, c.paid_fen
    r.flags = [f.to_json() for f in c.flags]
    r.timestamps = {k: iso(v) for k, v in c.timestamps.items()}
    if c.decision is not None or r.decision is not None:  # a claim never decided keeps no decision (SQL NULL)
        r.decision = c.decision.to_json() if c.decision else None
    r.overdue_flags = [o.to_json() for o in c.overdue_flags]
    r.opened_at, r.updated_at, r.version = c.opened_at, c.updated_at, c.version


def quick_case(r: QuickCaseRow) -> QuickCase:
    return QuickCase(r.quick_id, r.incident_id, r.region, r.status, tuple(QuickParty.from_json(p) for p in r.parties),
                     r.created_at, r.updated_at, r.eligibility, tuple(QuickPhoto.from_json(p) for p in r.photos or ()),
                     r.situations or {}, r.confirmations or {}, r.outcome)


def write_quick(r: QuickCaseRow, q: QuickCase) -> None:
    r.quick_id, r.incident_id, r.region, r.status = q.quick_id, q.incident_id, q.region, q.status
    r.parties, r.photos = [p.to_json() for p in q.parties], [p.to_json() for p in q.photos]
    r.eligibility, r.situations, r.confirmations = dict(q.eligibility), dict(q.situations), dict(q.confirmations)
    r.outcome = dict(q.outcome) if q.outcome is not None else None
    r.created_at, r.updated_at = q.created_at, q.updated_at


def incident_copy(r: IncidentRow) -> IncidentCopy:
    return IncidentCopy(r.incident_id, r.lat, r.lon, r.address, r.first_reported_at, r.injured, r.fatalities,
                        r.vehicles_movable, r.hit_and_run, tuple(r.hazards or ()),
                        tuple(IncidentNote.from_json(n) for n in r.notes or ()))


def bill_received(event_id: str, bill: Mapping[str, Any], now: datetime) -> BillReceived:
    """What claims takes of a ``hospitals.bills`` message (hospital-bill/1)."""
    from connectors.sql.fund import bill_event_id

    revision = int(bill.get("revision") or 0)
    return BillReceived(bill_event_id(event_id, bill), bill["bill_id"], bill.get("incident_id"), bill.get("hospital_id"),
                        bill.get("vehicle_plate"), bill.get("amount_fen"), bill.get("insurer_fen", 0), now,
                        revision=revision, previous_plate=(bill.get("previous") or {}).get("vehicle_plate"),
                        liability=bill.get("liability"), provisional=bool(bill.get("provisional")))


class RecentClaims:
    """The recent claims that share a plate or a person with a batch's parties, read in one query, and
    kept up to date with the claims the batch opens (fraud flags then need no query per claim)."""

    def __init__(self, s: Session, plates: set[str], hashes: set[str], now: datetime):
        self.plates, self.hashes = plates, hashes
        self.by_plate: dict[str, list[str]] = {}
        self.by_person: dict[str, list[tuple[str, str]]] = {}
        if plates or hashes:
            for claim_id, plate, id_hash, phone_hash in s.execute(
                    select(ClaimRow.claim_id, ClaimRow.plate, ClaimRow.id_hash, ClaimRow.phone_hash).where(
                        ClaimRow.opened_at >= now - fraud_rules().period,
                        or_(ClaimRow.plate.in_(plates), ClaimRow.id_hash.in_(hashes), ClaimRow.phone_hash.in_(hashes)))):
                self.add(claim_id, plate, id_hash, phone_hash)

    def add(self, claim_id: str, plate: str, id_hash: str | None, phone_hash: str | None) -> None:
        # a flag names at most 10 other claims: 12 per key are enough (one may be the claim itself)
        same = self.by_plate.setdefault(plate, [])
        if len(same) < 12:
            same.append(claim_id)
        for h in {id_hash, phone_hash} - {None}:
            person = self.by_person.setdefault(h, [])  # type: ignore[arg-type]
            if len(person) < 12:
                person.append((claim_id, plate))

    def covers(self, plate: str, id_hash: str | None, phone_hash: str | None) -> bool:
        return plate in self.plates and all(h in self.hashes for h in (id_hash, phone_hash) if h)

    def same_plate(self, claim_id: str, plate: str) -> list[str]:
        return [c for c in self.by_plate.get(plate, []) if c != claim_id][:10]

    def same_person(self, plate: str, id_hash: str | None, phone_hash: str | None) -> list[str]:
        out: list[str] = []
        for h in (id_hash, phone_hash):
            for c, p in self.by_person.get(h, []) if h else []:
                if p != plate and c not in out:
                    out.append(c)
        return out[:10]


# ---------------------------------------------------------------- repositories
class _KeptRows(Generic[RowT, RecordT]):
    """Records of one table, saved back into the rows this unit of work read or added (``pk``: the id, named
    alike in the row and the record)."""

    def __init__(self, session: Session, table: type[RowT], pk: str, read: Callable[[RowT], RecordT],
                 write: Callable[[RowT, RecordT], None]):
        self._s, self._table, self._pk, self._read, self._write = session, table, pk, read, write
        self._rows: dict[str, RowT] = {}

    def _kept(self, row: RowT) -> RecordT:
        self._rows[getattr(row, self._pk)] = row
        return self._read(row)

    def _row(self, key: str) -> RowT | None:
        return self._rows.get(key) or self._s.get(self._table, key)

    def get(self, key: str) -> RecordT | None:
        row = self._row(key)
        return None if row is None else self._kept(row)

    def _add(self, record: RecordT, refused: str, exists: Callable[[], bool]) -> RowT:
        """A new row; outside a pipeline batch the store's constraint refuses a duplicate at once (inside one, the
        batch's write does, and the batch is redone message by message)."""
        row = self._table()
        self._write(row, record)
        if batch.current(self._s) is not None:
            self._s.add(row)
        else:
            try:
                with self._s.begin_nested():
                    self._s.add(row)
            except IntegrityError:
                if not exists():
                    raise
                raise services.ClaimConflict(refused) from None
        self._rows[getattr(row, self._pk)] = row
        return row

    def save(self, record: RecordT) -> None:
        row = self._row(getattr(record, self._pk))
        if row is None:
            raise LookupError(f"no {self._table.__tablename__} row {getattr(record, self._pk)} to save")
        self._write(row, record)


class SqlClaims(_KeptRows[ClaimRow, ClaimFile]):
    def __init__(self, session: Session):
        super().__init__(session, ClaimRow, "claim_id", claim_file, write_claim)

    def _by_plate(self, incident_id: str) -> dict[str, ClaimRow]:
        """The incident's claims by plate; inside a pipeline batch, read once per batch and kept up to date."""
        s = self._s
        cached = batch.cache(s, CACHED)
        if cached is None:
            return {r.plate: r for r in s.scalars(select(ClaimRow).where(ClaimRow.incident_id == incident_id))}
        by_incident = cached.setdefault("existing", {})
        if incident_id not in by_incident:
            with s.no_autoflush:  # inside a batch, the claims it opened are in the cache already
                by_incident[incident_id] = {} if batch.created_here(s, incident_id) else {
                    c.plate: c for c in s.scalars(select(ClaimRow).where(ClaimRow.incident_id == incident_id))}
        return by_incident[incident_id]

    def of_incident(self, incident_id: str) -> list[ClaimFile]:
        return [self._kept(r) for r in self._by_plate(incident_id).values()]

    def for_vehicle(self, incident_id: str, plate: str) -> ClaimFile | None:
        row = self._s.scalar(select(ClaimRow).where(ClaimRow.incident_id == incident_id, ClaimRow.plate == plate))
        return None if row is None else self._kept(row)

    def recent(self, limit: int, *, insurer: str | None = None, status: str | None = None,
               search: str | None = None) -> list[ClaimFile]:
        q = select(ClaimRow)
        if insurer is not None:
            q = q.where(ClaimRow.insurer == insurer)
        if status:
            q = q.where(ClaimRow.status == status)
        needle = (search or "").strip().upper()
        if needle:  # part of the claim number or of the plate (plates are kept upper-case)
            like = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            q = q.where(or_(func.upper(ClaimRow.claim_id).like(like, escape="\\"),
                            func.upper(ClaimRow.plate).like(like, escape="\\")))
        q = q.order_by(ClaimRow.opened_at.desc(), ClaimRow.claim_id.desc()).limit(limit)
        return [self._kept(r) for r in self._s.scalars(q)]

    def not_in(self, statuses: Iterable[str]) -> list[ClaimFile]:
        return [self._kept(r) for r in self._s.scalars(select(ClaimRow).where(ClaimRow.status.notin_(list(statuses))))]

    def add(self, claim: ClaimFile) -> None:
        row = self._add(claim, f"incident {claim.incident_id} has a claim for {claim.plate}", lambda: (
            self.for_vehicle(claim.incident_id, claim.plate) or self.get(claim.claim_id)) is not None)
        cached = batch.cache(self._s, CACHED)
        if cached is not None:
            self._by_plate(claim.incident_id)[claim.plate] = row
            recent = cached.get("recent")
            if recent is not None:
                recent.add(claim.claim_id, claim.plate, claim.id_hash, claim.phone_hash)


class SqlRecentClaims:
    def __init__(self, session: Session):
        self._s = session

    def sharing(self, claim_id: str, plate: str, id_hash: str | None, phone_hash: str | None,
                since: datetime) -> SharedClaims:
        recent = (batch.cache(self._s, CACHED) or {}).get("recent")  # what the batch read at its start
        if recent is not None and recent.covers(plate, id_hash, phone_hash):
            return SharedClaims(tuple(recent.same_plate(claim_id, plate)),
                                tuple(recent.same_person(plate, id_hash, phone_hash)))
        same_plate = self._s.scalars(select(ClaimRow.claim_id).where(
            ClaimRow.plate == plate, ClaimRow.claim_id != claim_id, ClaimRow.opened_at >= since).limit(10))
        person = [c for c in (ClaimRow.id_hash == id_hash if id_hash else None,
                              ClaimRow.phone_hash == phone_hash if phone_hash else None) if c is not None]
        others = self._s.scalars(select(ClaimRow.claim_id).where(
            or_(*person), ClaimRow.plate != plate, ClaimRow.opened_at >= since).limit(10)) if person else ()
        return SharedClaims(tuple(same_plate), tuple(others))


class SqlQuickCases(_KeptRows[QuickCaseRow, QuickCase]):
    def __init__(self, session: Session):
        super().__init__(session, QuickCaseRow, "quick_id", quick_case, write_quick)

    def opened_for(self, incident_id: str) -> bool:
        s = self._s
        known = (batch.cache(s, CACHED) or {}).get("quick")  # incident id -> has a quick case, inside a batch
        if known is not None and batch.created_here(s, incident_id):
            known.setdefault(incident_id, False)
        if known is not None and incident_id in known:
            return bool(known[incident_id])
        return s.scalar(select(QuickCaseRow.quick_id).where(QuickCaseRow.incident_id == incident_id)) is not None

    def waiting_for_police(self, limit: int) -> list[QuickCase]:
        return [self._kept(r) for r in self._s.scalars(select(QuickCaseRow).where(QuickCaseRow.status == "police_queue")
                                                       .order_by(QuickCaseRow.updated_at).limit(limit))]

    def open_cases(self, limit: int) -> list[QuickCase]:
        return [self._kept(r) for r in self._s.scalars(select(QuickCaseRow).where(QuickCaseRow.status == "open")
                                                       .order_by(QuickCaseRow.created_at.desc()).limit(limit))]

    def add(self, case: QuickCase) -> None:
        known = (batch.cache(self._s, CACHED) or {}).get("quick")
        if known is not None:
            known[case.incident_id] = True
        self._add(case, f"incident {case.incident_id} has its quick-handling case", lambda: self._s.scalar(
            select(QuickCaseRow.quick_id).where(or_(QuickCaseRow.incident_id == case.incident_id,
                                                    QuickCaseRow.quick_id == case.quick_id))) is not None)


class SqlIncidentCopies:
    def __init__(self, session: Session):
        self._s = session

    def get(self, incident_id: str) -> IncidentCopy | None:
        row = incident_repo.incident(self._s, incident_id)  # inside a batch: the row the batch holds
        return None if row is None else incident_copy(row)

    def parties(self, incident_id: str) -> tuple[Party, ...]:
        return tuple(party_from_json(p) for p in incident_repo.parties_of(self._s, incident_id))

    def add_note(self, incident_id: str, note: IncidentNote) -> None:
        row = incident_repo.incident(self._s, incident_id)
        if row is None:
            raise LookupError(f"claims has no copy of incident {incident_id}")
        row.notes = (row.notes or []) + [note.to_json()]


class SqlClaimEvents:
    def __init__(self, session: Session, owner: str, topics: TopicNames):
        self._s, self._owner, self._topics = session, owner, topics

    def claim_changed(self, claim_id: str, value: Mapping[str, Any], at: datetime) -> None:
        emit(self._s, self._owner, self._topics.name("claims.events"), claim_id, dict(value), at)

    def to_insurer(self, insurer: str, claim_id: str, value: Mapping[str, Any], at: datetime) -> None:
        emit(self._s, self._owner, self._topics.name(insurer_topic(insurer)), claim_id, dict(value), at)

    def quick_changed(self, quick_id: str, value: Mapping[str, Any], at: datetime) -> None:
        emit(self._s, self._owner, self._topics.name("claims.quick"), quick_id, dict(value), at)

    def incident_changed(self, incident_id: str, change: str, at: datetime, **extra: Any) -> None:
        """The copy one version on, and its facts (claims' copy has no orders) after the change on ``incidents``;
        inside a pipeline batch, built once per incident at the batch's end (``WriteBatch.flush``)."""
        row = incident_repo.touch(self._s, incident_id, at)
        incident_repo.facts_changed(self._s, self._owner, self._topics.name(INCIDENTS_TOPIC), row, change, at, extra)


class SqlTexts:
    def __init__(self, session: Session, owner: str):
        self._s, self._owner = session, owner

    def owe(self, text: OwedText, at: datetime) -> bool:
        return enqueue_sms(self._s, self._owner, text.dedupe_key, text.to, text.body, text.purpose, at, text.incident_id)


class SqlTimeline:
    def __init__(self, session: Session):
        self._s = session

    def add(self, incident_id: str, kind: str, at: datetime, **detail: Any) -> None:
        incident_repo.add_timeline(self._s, incident_id, at, kind, **detail)


# ---------------------------------------------------------------- the unit of work
class SqlClaimsUnitOfWork(StoreUnitOfWork):
    """``claims.ports.ClaimsUnitOfWork`` on the claims store. ``owner``: whose relay publishes what it emits
    (``claims``, or ``web`` for the desks' and the parties' actions); also its inbox's consumer name."""

    claims: SqlClaims
    recent: SqlRecentClaims
    quick_cases: SqlQuickCases
    incidents: SqlIncidentCopies
    events: SqlClaimEvents
    texts: SqlTexts
    timeline: SqlTimeline
    inbox: SqlInbox

    def _bind(self, s: Session) -> None:
        self.claims, self.recent, self.quick_cases = SqlClaims(s), SqlRecentClaims(s), SqlQuickCases(s)
        self.incidents, self.events = SqlIncidentCopies(s), SqlClaimEvents(s, self.owner, self._topics)
        self.texts, self.timeline, self.inbox = SqlTexts(s, self.owner), SqlTimeline(s), SqlInbox(s, self.owner)


class ClaimsUows(Protocol):
    """How the wiring (``accidentlink.bootstrap.Container.claims_uow``) hands out the claims units of work."""

    def __call__(self, owner: str = ..., *, joining: Session | None = None,
                 read_only: bool = False) -> SqlClaimsUnitOfWork: ...


# ---------------------------------------------------------------- the consumer group's entry points
class ClaimsHandler:
    """The ``claims`` consumer group: reports open claims (and quick cases); bills make the insurer owe
    the hospital its share within the 交强险 medical limit; a timer flags overdue insurer steps. Each entry
    point decodes, calls one use case with a unit of work, and is done."""

    def __init__(self, uows: ClaimsUows, db: Database, clock: Clock, base_url: str, region: str):
        self.uows, self.db, self.clock, self.base_url, self.region = uows, db, clock, base_url, region

    def prepare(self, ctx: Context, reports: list[AccidentReport]) -> None:
        """Once per batch, one query each: the recent claims its parties could be flagged against, and the
        claims and quick cases of the incidents the store already had."""
        s = ctx.session
        cached = batch.cache(s, CACHED)
        if cached is None:
            return
        plates = {(p.plate or "").strip().upper() for r in reports for p in r.parties} - {""}
        hashes = {h for r in reports for p in r.parties
                  for h in (services.person_hash(p.id_number), services.person_hash(p.phone)) if h}
        cached["recent"] = RecentClaims(s, plates, hashes, ctx.now)
        incidents = set(ctx.existing_incidents)
        existing: dict[str, dict[str, ClaimRow]] = {i: {} for i in incidents}
        quick = dict.fromkeys(incidents, False)
        if incidents:
            for c in s.scalars(select(ClaimRow).where(ClaimRow.incident_id.in_(incidents))):
                existing[c.incident_id][c.plate] = c
            quick.update(dict.fromkeys(s.scalars(select(QuickCaseRow.incident_id).where(
                QuickCaseRow.incident_id.in_(incidents))), True))
        cached["existing"] = existing
        cached["quick"] = quick

    def __call__(self, ctx: Context, report: AccidentReport, incident: accidentlink.incidents.IncidentFacts) -> None:
        services.open_claims_for_incident(IncidentReported(report, incident.incident_id, ctx.now),
                                          self.uows(ctx.consumer, joining=ctx.session), base_url=self.base_url,
                                          region=self.region)

    def topics(self) -> dict[str, Callable[[list[RawMessage]], None]]:
        return {"hospitals.bills": self.on_bills}

    def timers(self) -> list[tuple[float, Callable[[], int]]]:
        return [(30.0, self.flag_overdue)]

    def on_bills(self, messages: list[RawMessage]) -> None:
        """The batch's bills in one transaction on the claims store, each once."""
        now = self.clock.now()
        with self.db.uow() as tx:
            uow = self.uows(CONSUMER, joining=tx.session)
            for event_id, bill in readable_events(CONSUMER, messages, "bill_id"):
                services.owe_hospital_share(bill_received(event_id, bill, now), uow)
            tx.commit()

    def flag_overdue(self) -> int:
        return services.flag_overdue(self.clock.now(), self.uows(CONSUMER))
