"""One contract for the claims context's ports (``claims.ports``), run against the in-memory fake
(``tests/fakes/claims.py``) and the SQL adapter (``connectors.sql.claims``) on a migrated claims store
(SQLite, or PostgreSQL when TEST_DATABASE_URL is set), so the fake the service tests use cannot drift from
the store."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from accidentlink.clock import CST
from accidentlink.reports import Party
from claims.ports import (
    ClaimFile, ClaimFlag, ClaimsUnitOfWork, CoverDecision, IncidentCopy, IncidentNote, OverdueFlag, OwedText, QuickCase,
    QuickParty, QuickPhoto, SharedClaims, party_json,
)
from claims.services import ClaimConflict
from tests.fakes.claims import ClaimsState, FakeClaimsUnitOfWork

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=CST)
INCIDENT = "INC-20261122-0001"


@dataclass
class Kit:
    """One implementation of the ports, and what a test needs beside them: a fresh unit of work on the same
    store, a way to put an incident's facts and its reports' parties in claims' copy (the pipeline's job, not
    claims'), and what was emitted, owed and put on the timeline (what the relays would send)."""

    uow: Callable[[], ClaimsUnitOfWork]
    copy_incident: Callable[[IncidentCopy, tuple[Party, ...]], None]
    messages: Callable[[], list[tuple[str, str, str]]]  # (topic, key, change)
    texts: Callable[[], list[OwedText]]
    timeline: Callable[[], list[tuple[str, str, dict[str, Any]]]]  # (incident id, kind, detail)


def fake_kit() -> Kit:
    state = ClaimsState()

    def copy_incident(f: IncidentCopy, parties: tuple[Party, ...]) -> None:
        state.incidents[f.incident_id], state.parties[f.incident_id] = f, parties

    return Kit(lambda: FakeClaimsUnitOfWork(state), copy_incident,
               lambda: [(t, k, v["change"]) for t, k, v, _ in state.messages],
               lambda: [t for t, _ in state.texts.values()], lambda: [(i, k, d) for i, k, _, d in state.timeline])


@pytest.fixture
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    from connectors.sql.db import Database
    from connectors.sql.stores import url_for

    db = Database(url_for("claims", request.getfixturevalue("migrated"), tmp_path, env={}))
    yield db
    db.dispose()


def sql_kit(db: Any) -> Kit:
    from sqlalchemy import select

    from accidentlink import incidents
    from accidentlink.pipeline import TopicNames
    from connectors.sql import incidents as incident_repo
    from connectors.sql.claims import SqlClaimsUnitOfWork
    from connectors.sql.models import OutboxMessage, ReportRow, SmsMessage, TimelineEntry

    def copy_incident(f: IncidentCopy, parties: tuple[Party, ...]) -> None:
        facts = incidents.IncidentFacts(f.incident_id, f.lat, f.lon, f.address, f.first_reported_at,
                                        f.first_reported_at, f.injured, f.fatalities, f.vehicles_movable, f.hit_and_run,
                                        f.hazards, tuple(p.plate for p in parties if p.plate), ("R-1",), ("122",))
        with db.uow() as u:
            incident_repo.save_facts(u.session, facts, T0, new=True)
            u.session.add(ReportRow(report_id="R-" + f.incident_id, incident_id=f.incident_id, source="122",
                                    reported_at=T0, payload={"parties": [party_json(p) for p in parties]},
                                    received_at=T0))
            u.commit()

    def messages() -> list[tuple[str, str, str]]:
        with db.read() as s:
            return [(m.topic.removeprefix("t."), m.key.decode(), json.loads(m.value)["change"])
                    for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]

    def texts() -> list[OwedText]:
        with db.read() as s:
            return [OwedText(m.dedupe_key, m.to, m.body, m.purpose, m.incident_id)
                    for m in s.scalars(select(SmsMessage).order_by(SmsMessage.id))]

    def timeline() -> list[tuple[str, str, dict[str, Any]]]:
        with db.read() as s:
            return [(t.incident_id, t.kind, t.detail) for t in s.scalars(select(TimelineEntry).order_by(TimelineEntry.id))]

    return Kit(lambda: SqlClaimsUnitOfWork(db, "claims", TopicNames("t.")), copy_incident, messages, texts, timeline)


@pytest.fixture(params=["fake", "sql"])
def kit(request: pytest.FixtureRequest) -> Kit:
    return fake_kit() if request.param == "fake" else sql_kit(request.getfixturevalue("sql_store"))


# ------------------------------------------------------------------------------- records to store
def incident(incident_id: str = INCIDENT, **kw: Any) -> IncidentCopy:
    return IncidentCopy(**{"incident_id": incident_id, "lat": 36.81, "lon": 118.05, "address": "张店区", "first_reported_at": T0,
                           "injured": 0, "fatalities": 0, "vehicles_movable": True, "hit_and_run": False, **kw})


def car(plate: str, insurer: str | None = "PICC", phone: str = "+8613900000001", **kw: Any) -> Party:
    return Party(**{"name": "张某", "phone": phone, "id_number": "371502199001011234", "plate": plate,
                    "vehicle_type": "car", "insurer": insurer, "ci_policy": f"POL-{plate}" if insurer else None,
                    "licensed": True, **kw})


def claim(plate: str = "鲁C10001", incident_id: str = INCIDENT, *, insurer: str = "PICC", opened_at: datetime = T0,
          status: str = "opened", claim_id: str | None = None, id_hash: str | None = "id-1",
          phone_hash: str | None = "ph-1", **kw: Any) -> ClaimFile:
    return ClaimFile(claim_id or f"CLM-{incident_id[4:]}-{plate[-4:]}", incident_id, insurer, True, plate,
                     f"POL-{plate}", car(plate, insurer), id_hash, phone_hash, status, "quick",
                     {"reported_at": "2026-11-22T08:00:00+08:00", "vehicles": [plate]}, opened_at, opened_at, **kw)


def with_incident(kit: Kit, incident_id: str = INCIDENT, *plates: str) -> None:
    kit.copy_incident(incident(incident_id), tuple(car(p) for p in plates))


def added(kit: Kit, *records: ClaimFile | QuickCase) -> None:
    """Committed claims or quick cases (each of an incident claims has a copy of)."""
    for incident_id in dict.fromkeys(r.incident_id for r in records):
        with_incident(kit, incident_id)
    with kit.uow() as uow:
        for r in records:
            if isinstance(r, ClaimFile):
                uow.claims.add(r)
            else:
                uow.quick_cases.add(r)
        uow.commit()


def quick(incident_id: str = INCIDENT, *, status: str = "open", created_at: datetime = T0, **kw: Any) -> QuickCase:
    parties = (QuickParty("鲁C10001", "h1", "+8613900000001", "PICC", "张某", "3715", "car", "POL-1"),
               QuickParty("鲁C10002", "h2", None, "CPIC"))
    return QuickCase("QK-" + incident_id[4:], incident_id, "zibo", status, parties, created_at, created_at, **kw)


# ------------------------------------------------------------------------------- the contract
def test_the_unit_of_work_offers_every_repository_of_the_port(kit: Kit) -> None:
    with kit.uow() as uow:
        assert isinstance(uow, ClaimsUnitOfWork)


def test_a_saved_claim_reads_back_as_it_was_saved(kit: Kit) -> None:
    c = claim(flags=(ClaimFlag("same_plate_recent_claims", "同一车牌", "same plate", ("CLM-X",)),),
              timestamps={"opened": T0})
    added(kit, c)
    with kit.uow() as uow:
        assert uow.claims.get(c.claim_id) == c
        assert uow.claims.of_incident(INCIDENT) == [c] and uow.claims.of_incident("INC-NOPE") == []
        assert uow.claims.for_vehicle(INCIDENT, c.plate) == c and uow.claims.for_vehicle(INCIDENT, "鲁C99999") is None
        assert uow.claims.get("CLM-NOPE") is None
        later = T0 + timedelta(days=2)
        worked = replace(c, status="refused", version=5, assessed_fen=9_000, owed_to_hospital_fen=1_800_000,
                         facts={**c.facts, "liability": {"kind": "self_negotiation", "own_share": "full"}},
                         timestamps={"opened": T0, "refused": later},
                         decision=CoverDecision(False, "非保险责任", "insurer:甲:t1", later),
                         overdue_flags=(OverdueFlag("documents", later, "条例 28 [O]", later),), updated_at=later)
        uow.claims.save(worked)
        uow.commit()
    with kit.uow() as uow:
        assert uow.claims.get(c.claim_id) == worked


def test_one_claim_per_vehicle_of_an_incident(kit: Kit) -> None:
    first = claim("鲁C10001")
    added(kit, first)
    with kit.uow() as uow:
        with pytest.raises(ClaimConflict):
            uow.claims.add(claim("鲁C10001", claim_id="CLM-OTHER-ID"))
        uow.claims.add(claim("鲁C10002"))
        uow.commit()
    with kit.uow() as uow:
        assert sorted(c.plate for c in uow.claims.of_incident(INCIDENT)) == ["鲁C10001", "鲁C10002"]
        assert uow.claims.get(first.claim_id) == first and uow.claims.get("CLM-OTHER-ID") is None


def test_what_is_not_committed_is_not_kept(kit: Kit) -> None:
    with_incident(kit)
    with kit.uow() as uow:
        uow.claims.add(claim())
        uow.inbox.mark("bill_id:B-1", T0)
        uow.events.claim_changed("CLM-1", {"change": "opened"}, T0)
        uow.texts.owe(OwedText("quick-link:QK-1:鲁C10001", "+8613900000001", "链接", "quick_link", INCIDENT), T0)
        uow.timeline.add(INCIDENT, "claim_opened", T0, claim_id="CLM-1")
    with kit.uow() as uow:
        assert uow.claims.get(claim().claim_id) is None and not uow.inbox.seen("bill_id:B-1")
    assert kit.messages() == [] and kit.texts() == [] and kit.timeline() == []


def test_the_desk_reads_claims_newest_first_by_insurer_and_status_and_the_timer_those_still_open(kit: Kit) -> None:
    added(kit, claim("鲁C10001", opened_at=T0), claim("鲁C10002", insurer="CPIC", opened_at=T0 + timedelta(hours=1)),
          claim("鲁C10003", status="paid", opened_at=T0 + timedelta(hours=2)),
          claim("鲁C20001", "INC-20261122-0002", status="refused", opened_at=T0 + timedelta(hours=3)))
    with kit.uow() as uow:
        assert [c.plate for c in uow.claims.recent(10)] == ["鲁C20001", "鲁C10003", "鲁C10002", "鲁C10001"]
        assert [c.plate for c in uow.claims.recent(2)] == ["鲁C20001", "鲁C10003"]
        assert [c.plate for c in uow.claims.recent(10, insurer="PICC")] == ["鲁C20001", "鲁C10003", "鲁C10001"]
        assert [c.plate for c in uow.claims.recent(10, insurer="PICC", status="opened")] == ["鲁C10001"]
        assert uow.claims.recent(10, status="no-such-status") == []
        assert sorted(c.plate for c in uow.claims.not_in(("paid", "refused", "closed"))) == ["鲁C10001", "鲁C10002"]


def test_recent_claims_sharing_a_plate_or_a_person_are_found_for_the_fraud_flags(kit: Kit) -> None:
    added(kit, claim("鲁C10001", claim_id="CLM-A", id_hash="id-1", phone_hash="ph-1"),
          claim("鲁C10002", claim_id="CLM-B", id_hash="id-2", phone_hash="ph-1"),
          claim("鲁C10003", claim_id="CLM-C", id_hash="id-1", phone_hash=None),
          claim("鲁C10004", claim_id="CLM-OLD", id_hash="id-1", opened_at=T0 - timedelta(days=100)),
          claim("鲁C10001", "INC-20261122-0002", claim_id="CLM-D", id_hash=None, phone_hash=None))
    since = T0 - timedelta(days=90)
    with kit.uow() as uow:
        shared = uow.recent.sharing("CLM-NEW", "鲁C10001", "id-1", "ph-1", since)
        assert sorted(shared.same_plate) == ["CLM-A", "CLM-D"]
        assert sorted(shared.same_person) == ["CLM-B", "CLM-C"], "the same person with another plate, within the period"
        mine = uow.recent.sharing("CLM-A", "鲁C10001", "id-1", "ph-1", since)
        assert mine.same_plate == ("CLM-D",), "a claim is not flagged against itself"
        assert uow.recent.sharing("CLM-NEW", "鲁C90000", None, None, since) == SharedClaims((), ())


def test_one_quick_case_per_incident_read_back_as_saved(kit: Kit) -> None:
    with_incident(kit)
    q = quick()
    with kit.uow() as uow:
        assert not uow.quick_cases.opened_for(INCIDENT)
        uow.quick_cases.add(q)
        uow.commit()
    with kit.uow() as uow:
        assert uow.quick_cases.opened_for(INCIDENT) and uow.quick_cases.get(q.quick_id) == q
        assert uow.quick_cases.get("QK-NOPE") is None
        with pytest.raises(ClaimConflict):
            uow.quick_cases.add(replace(q, quick_id="QK-OTHER"))
        later = T0 + timedelta(minutes=9)
        signed = replace(q, status="police_queue", updated_at=later,
                         photos=(QuickPhoto("front_side", "ab" * 32, "鲁C10001", later, "png"),),
                         confirmations={"鲁C10001": {"situations": ["rear_ending"], "disputed": True, "at": "x"},
                                        "sms:鲁C10002": {"at": "y", "facts_confirmed": True}},
                         outcome={"kind": "pending_police", "reason": {"code": "disputed"}})
        uow.quick_cases.save(signed)
        uow.commit()
    with kit.uow() as uow:
        assert uow.quick_cases.get(q.quick_id) == signed
        assert uow.quick_cases.get("QK-OTHER") is None


def test_quick_cases_waiting_for_the_police_and_those_still_open(kit: Kit) -> None:
    cases = [quick(f"INC-20261122-000{n}", status=status, created_at=T0 + timedelta(minutes=n))
             for n, status in enumerate(["open", "police_queue", "open", "police_queue", "agreed"])]
    cases[1] = replace(cases[1], updated_at=T0 + timedelta(hours=2))  # the oldest in the queue is case 3
    added(kit, *cases)
    with kit.uow() as uow:
        assert [q.quick_id for q in uow.quick_cases.waiting_for_police(10)] == ["QK-20261122-0003", "QK-20261122-0001"]
        assert [q.quick_id for q in uow.quick_cases.open_cases(10)] == ["QK-20261122-0002", "QK-20261122-0000"]
        assert [q.quick_id for q in uow.quick_cases.open_cases(1)] == ["QK-20261122-0002"]


def test_a_text_is_owed_once_per_dedupe_key(kit: Kit) -> None:
    link = OwedText("quick-link:QK-1:鲁C10001", "+8613900000001", "打开链接", "quick_link", INCIDENT)
    with kit.uow() as uow:
        assert uow.texts.owe(link, T0)
        assert not uow.texts.owe(replace(link, body="again"), T0)
        uow.commit()
    with kit.uow() as uow:
        assert not uow.texts.owe(replace(link, body="later"), T0)
        assert uow.texts.owe(replace(link, dedupe_key="quick-link:QK-1:鲁C10002", to="+8613900000002"), T0)
        uow.commit()
    assert kit.texts() == [link, replace(link, dedupe_key="quick-link:QK-1:鲁C10002", to="+8613900000002")]


def test_messages_and_timeline_entries_are_emitted_when_committed(kit: Kit) -> None:
    with_incident(kit)
    value = {"schema": "claim/1", "event_id": "CLM-1:1:opened", "claim_id": "CLM-1", "change": "opened"}
    with kit.uow() as uow:
        uow.events.claim_changed("CLM-1", value, T0)
        uow.events.to_insurer("PICC", "CLM-1", value, T0)
        uow.events.quick_changed("QK-1", {"schema": "quick-case/1", "change": "agreed"}, T0)
        uow.events.incident_changed(INCIDENT, "quick_refused", T0, text="不适用线上快处")
        uow.timeline.add(INCIDENT, "claim_opened", T0, claim_id="CLM-1", plate="鲁C10001", routed=True)
        uow.commit()
    assert kit.messages() == [("claims.events", "CLM-1", "opened"), ("claims.insurer.PICC", "CLM-1", "opened"),
                              ("claims.quick", "QK-1", "agreed"), ("incidents", INCIDENT, "quick_refused")]
    assert kit.timeline() == [(INCIDENT, "claim_opened", {"claim_id": "CLM-1", "plate": "鲁C10001", "routed": True})]


def test_the_inbox_remembers_committed_marks(kit: Kit) -> None:
    with kit.uow() as uow:
        assert not uow.inbox.seen("bill_id:B-1")
        uow.inbox.mark("bill_id:B-1", T0)
        uow.commit()
    with kit.uow() as uow:
        assert uow.inbox.seen("bill_id:B-1") and not uow.inbox.seen("bill_id:B-2")


def test_the_incident_copy_has_the_facts_the_parties_and_claims_notes(kit: Kit) -> None:
    parties = (car("鲁C10001"), car("鲁C10002", None, phone="+8613900000002", licensed=None))
    kit.copy_incident(incident(injured=1, hazards=("fire",)), parties)
    note = IncidentNote(T0, "quick_refused", "鲁C10002 未投保交强险")
    with kit.uow() as uow:
        assert uow.incidents.get(INCIDENT) == incident(injured=1, hazards=("fire",))
        assert uow.incidents.get("INC-NOPE") is None
        assert uow.incidents.parties(INCIDENT) == parties and uow.incidents.parties("INC-NOPE") == ()
        uow.incidents.add_note(INCIDENT, note)
        uow.commit()
    with kit.uow() as uow:
        assert uow.incidents.get(INCIDENT) == incident(injured=1, hazards=("fire",), notes=(note,))
