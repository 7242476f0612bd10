"""One contract for the rescue fund's ports (``fund.ports``), run against the in-memory fake
(``tests/fakes/fund.py``) and the SQL adapter (``connectors.sql.fund``) on a migrated fund store (SQLite,
or PostgreSQL when TEST_DATABASE_URL is set), so the fake the service tests use cannot drift from the store."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from accidentlink.clock import CST
from fund.cases import AlreadyPaid, CaseKind, CaseState, FundCase
from fund.ledger import LedgerEntry, advance_paid_entries, recovery_opened_entries
from fund.ports import (
    BillCopy, CaseFile, CaseNote, FirstApproval, FundUnitOfWork, IncidentFacts, OverdueFlag, Payment, Recovery,
)
from tests.fakes.fund import FakeFundUnitOfWork, FundState

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=CST)


@dataclass
class Kit:
    """One implementation of the ports, and what a test needs beside them: a fresh unit of work on the same
    store, a way to put an incident's facts in the fund's copy (the pipeline's job, not the fund's), and
    what was emitted (what the relay would send)."""

    uow: Callable[[], FundUnitOfWork]
    copy_incident: Callable[[IncidentFacts], None]
    messages: Callable[[], list[tuple[str, dict[str, Any]]]]  # fund.cases: (key, value)
    timeline: Callable[[], list[tuple[str, str, str]]]  # (incident id, kind, case id)


def fake_kit() -> Kit:
    state = FundState()
    return Kit(lambda: FakeFundUnitOfWork(state), lambda f: state.incidents.__setitem__(f.incident_id, f),
               lambda: [(k, v) for k, v, _ in state.messages], lambda: [(i, k, c) for i, k, _, c in state.timeline])


@pytest.fixture
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    from connectors.sql.db import Database
    from connectors.sql.stores import url_for

    db = Database(url_for("fund", request.getfixturevalue("migrated"), tmp_path, env={}))
    yield db
    db.dispose()


def sql_kit(db: Any) -> Kit:
    from sqlalchemy import select

    from accidentlink import incidents
    from accidentlink.pipeline import TopicNames
    from connectors.sql import incidents as incident_repo
    from connectors.sql.fund import SqlFundUnitOfWork
    from connectors.sql.models import OutboxMessage, TimelineEntry

    def copy_incident(f: IncidentFacts) -> None:
        facts = incidents.IncidentFacts(f.incident_id, 36.39, 115.86, None, f.first_reported_at, f.first_reported_at,
                                        1, f.fatalities, False, f.hit_and_run, (), (), ("R-1",), ("122",))
        with db.uow() as u:
            incident_repo.save_facts(u.session, facts, T0, new=True)
            u.commit()

    def messages() -> list[tuple[str, dict[str, Any]]]:
        with db.read() as s:
            return [(m.key.decode(), json.loads(m.value)) for m in s.scalars(
                select(OutboxMessage).where(OutboxMessage.topic == "t.fund.cases").order_by(OutboxMessage.id))]

    def timeline() -> list[tuple[str, str, str]]:
        with db.read() as s:
            return [(t.incident_id, t.kind, t.detail["case_id"]) for t in s.scalars(
                select(TimelineEntry).order_by(TimelineEntry.id))]

    return Kit(lambda: SqlFundUnitOfWork(db, "rescue-fund", TopicNames("t.")), copy_incident, messages, timeline)


@pytest.fixture(params=["fake", "sql"])
def kit(request: pytest.FixtureRequest) -> Kit:
    return fake_kit() if request.param == "fake" else sql_kit(request.getfixturevalue("sql_store"))


# ------------------------------------------------------------------------------- records to store
def facts(incident_id: str = "INC-20261122-0001", **kw: Any) -> IncidentFacts:
    return IncidentFacts(**{"incident_id": incident_id, "first_reported_at": T0, "fatalities": 0, "hit_and_run": True,
                            **kw})


def case_file(incident_id: str = "INC-20261122-0001", *, kind: CaseKind = CaseKind.RESCUE, opened_at: datetime = T0,
              state: CaseState = CaseState.POLICE_NOTIFIED, **kw: Any) -> CaseFile:
    case_id = ("FC-" if kind is CaseKind.RESCUE else "FF-") + incident_id[4:]
    case = FundCase(case_id, incident_id, kind, state, ("hit_and_run",), "shandong", date(2026, 11, 22), opened_at,
                    police_notified_at=T0 + timedelta(minutes=1))
    return CaseFile(case, accident_at=opened_at, updated_at=T0 + timedelta(minutes=1), version=2, **kw)


def bill(bill_id: str, incident_id: str, fund_fen: int, *, hospital_id: str = "LC-H-LC3", minutes: int = 0) -> BillCopy:
    return BillCopy(bill_id, "ADM-" + bill_id, incident_id, hospital_id, fund_fen + 100, T0,
                    ({"amount_fen": fund_fen + 100, "incurred_at": None, "description": "抢救"},), 100, fund_fen,
                    "PICC", {"reasons": ["above_ci_limit"], "limit_fen": 100, "vehicle_plate": "鲁P12345"},
                    T0 + timedelta(minutes=minutes), "hospital:" + hospital_id)


def open_case_of(kit: Kit, incident_id: str = "INC-20261122-0001", **kw: Any) -> CaseFile:
    """A committed case (payments and recoveries belong to a case; a case to an incident)."""
    kit.copy_incident(facts(incident_id))
    f = case_file(incident_id, **kw)
    with kit.uow() as uow:
        uow.cases.add(f)
        uow.commit()
    return f


# ------------------------------------------------------------------------------- the contract
def test_the_unit_of_work_offers_every_repository_of_the_port(kit: Kit) -> None:
    with kit.uow() as uow:
        assert isinstance(uow, FundUnitOfWork)


def test_a_saved_case_reads_back_as_it_was_saved(kit: Kit) -> None:
    kit.copy_incident(facts())
    f = case_file(eligible_fen=700_000, hospital_id="LC-H-LC3", notes=(CaseNote(T0, "fund_admin:甲:t1", "逃逸"),),
                  overdue_flags=(OverdueFlag("police_notice", "police", T0 + timedelta(days=3), T0 + timedelta(days=4)),),
                  first_approval=FirstApproval("fund_admin:甲:t1", 6_000_000, T0, "过阈值"))
    with kit.uow() as uow:
        uow.cases.add(f)
        uow.commit()
    with kit.uow() as uow:
        assert uow.cases.get(f.case.case_id) == f
        assert uow.cases.for_incident(f.case.incident_id, CaseKind.RESCUE) == f
        assert uow.cases.for_incident(f.case.incident_id, CaseKind.FUNERAL) is None
        assert uow.cases.get("FC-NOPE") is None
        paid = replace(f, case=replace(f.case, state=CaseState.PAID, approved_fen=700_000, approved_by="a", paid_fen=700_000,
                                       paid_by="b", paid_at=T0 + timedelta(days=1)), first_approval=None, version=3)
        uow.cases.save(paid)
        uow.commit()
    with kit.uow() as uow:
        assert uow.cases.get(f.case.case_id) == paid


def test_what_is_not_committed_is_not_kept(kit: Kit) -> None:
    kit.copy_incident(facts())
    with kit.uow() as uow:
        uow.cases.add(case_file())
        uow.inbox.mark("bill_id:B-1", T0)
        uow.events.case_changed("FC-1", {"change": "CaseOpened"}, T0)
    with kit.uow() as uow:
        assert uow.cases.get(case_file().case.case_id) is None and not uow.inbox.seen("bill_id:B-1")
    assert kit.messages() == []


def test_recent_cases_come_newest_first_and_by_status_and_open_ones_by_state(kit: Kit) -> None:
    for n, state in enumerate([CaseState.APPLIED, CaseState.PAID, CaseState.APPLIED]):
        open_case_of(kit, f"INC-20261122-000{n}", opened_at=T0 + timedelta(hours=n), state=state)
    with kit.uow() as uow:
        assert [f.case.case_id for f in uow.cases.recent(10)] == ["FC-20261122-0002", "FC-20261122-0001",
                                                                  "FC-20261122-0000"]
        assert [f.case.case_id for f in uow.cases.recent(1)] == ["FC-20261122-0002"]
        assert [f.case.case_id for f in uow.cases.recent(10, "paid")] == ["FC-20261122-0001"]
        assert uow.cases.recent(10, "no-such-status") == []
        assert sorted(f.case.case_id for f in uow.cases.in_states([CaseState.APPLIED, CaseState.APPROVED])) == [
            "FC-20261122-0000", "FC-20261122-0002"]


def test_bills_of_an_incident_and_their_total_for_the_fund(kit: Kit) -> None:
    bills = [bill("B-2", "INC-A", 200_000, minutes=5), bill("B-1", "INC-A", 100_000), bill("B-3", "INC-B", 50_000)]
    with kit.uow() as uow:
        for b in bills:
            uow.bills.add(b)
        uow.commit()
    with kit.uow() as uow:
        of_a = uow.bills.of_incident("INC-A")
        assert [b.bill_id for b in of_a] == ["B-1", "B-2"], "oldest first"
        assert sum(b.fund_fen for b in of_a) == 300_000
        assert uow.bills.of_incident("INC-C") == []
        assert uow.bills.get("B-3") == bills[2] and uow.bills.get("B-9") is None



def test_a_rerouted_bills_copy_is_saved_over_the_first(kit: Kit) -> None:
    from dataclasses import replace as _replace

    first = bill("B-1", "INC-A", 100_000)
    with kit.uow() as uow:
        uow.bills.add(first)
        uow.commit()
    with kit.uow() as uow:
        uow.bills.save(_replace(first, insurer_fen=0, fund_fen=first.amount_fen,
                                routing={**first.routing, "revision": 1}))
        uow.commit()
    with kit.uow() as uow:
        got = uow.bills.get("B-1")
        assert got is not None and got.fund_fen == first.amount_fen and got.routing["revision"] == 1
        with pytest.raises(LookupError):
            uow.bills.save(bill("B-9", "INC-A", 1))


def test_an_incident_without_reported_parties_has_none_and_no_fleeing_plate(kit: Kit) -> None:
    kit.copy_incident(facts())
    with kit.uow() as uow:
        assert uow.incidents.parties(facts().incident_id) == [] and uow.incidents.fled_plate(facts().incident_id) is None


def test_ledger_postings_read_back_per_case_in_order_and_balance(kit: Kit) -> None:
    posted = advance_paid_entries("FC-1", 700_000, T0) + recovery_opened_entries("FC-1", 700_000, "司机", T0)
    with kit.uow() as uow:
        uow.ledger.add(posted)
        uow.ledger.add(advance_paid_entries("FC-2", 5_000, T0))
        uow.commit()
    with kit.uow() as uow:
        assert uow.ledger.of_case("FC-1") == list(posted)
        assert uow.ledger.balance() == 0
        uow.ledger.add([LedgerEntry("FC-3", "fund.bank", 1, 0, T0)])
        assert uow.ledger.balance() == 1, "the balance sees what this unit of work posted"


def test_a_case_is_paid_at_most_once_and_the_refusal_spoils_nothing_else(kit: Kit) -> None:
    f = open_case_of(kit)
    case_id = f.case.case_id
    first = Payment(case_id, 700_000, "LC-H-LC3", "fund_admin:乙:t2", T0)
    with kit.uow() as uow:
        assert uow.payments.get(case_id) is None
        uow.payments.add(first)
        uow.commit()
    rec = Recovery("RC-" + case_id, case_id, "open", 700_000, None, T0, T0)
    with kit.uow() as uow:
        with pytest.raises(AlreadyPaid):
            uow.payments.add(replace(first, paid_by="fund_admin:丙:t3"))
        uow.recoveries.save(rec)
        uow.commit()
    with kit.uow() as uow:
        assert uow.payments.get(case_id) == first
        assert uow.recoveries.get(case_id) == rec


def test_a_recovery_is_saved_and_then_replaced(kit: Kit) -> None:
    case_id = open_case_of(kit).case.case_id
    rec = Recovery("RC-" + case_id, case_id, "open", 700_000, None, T0, T0)
    with kit.uow() as uow:
        assert uow.recoveries.get(case_id) is None
        uow.recoveries.save(rec)
        uow.commit()
    solved = replace(rec, status="driver_identified", responsible_party="肇事司机", updated_at=T0 + timedelta(days=2))
    with kit.uow() as uow:
        assert uow.recoveries.get(case_id) == rec
        uow.recoveries.save(solved)
        uow.commit()
    with kit.uow() as uow:
        assert uow.recoveries.get(case_id) == solved


def test_case_messages_and_timeline_entries_are_emitted_when_committed(kit: Kit) -> None:
    value = {"schema": "fund-case/1", "event_id": "FC-1:1:CaseOpened", "case_id": "FC-1", "change": "CaseOpened"}
    with kit.uow() as uow:
        uow.events.case_changed("FC-1", value, T0)
        uow.events.on_timeline("INC-1", "fund_CaseOpened", T0, case_id="FC-1")
        uow.commit()
    assert kit.messages() == [("FC-1", value)]
    assert kit.timeline() == [("INC-1", "fund_CaseOpened", "FC-1")]


def test_the_inbox_remembers_committed_marks(kit: Kit) -> None:
    with kit.uow() as uow:
        assert not uow.inbox.seen("bill_id:B-1")
        uow.inbox.mark("bill_id:B-1", T0)
        uow.commit()
    with kit.uow() as uow:
        assert uow.inbox.seen("bill_id:B-1") and not uow.inbox.seen("bill_id:B-2")


def test_incident_facts_come_from_the_funds_copy(kit: Kit) -> None:
    kit.copy_incident(facts(fatalities=1, hit_and_run=True))
    with kit.uow() as uow:
        assert uow.incidents.get("INC-20261122-0001") == facts(fatalities=1, hit_and_run=True)
        assert uow.incidents.get("INC-NOPE") is None


# ------------------------------------------------------------------------------- the SQL adapter alone
def test_a_sql_unit_of_work_that_joins_a_callers_transaction_leaves_the_commit_to_the_caller(sql_store: Any) -> None:
    """A pipeline batch or an HTTP request (with its audit line) owns the transaction the fund's work joins."""
    from accidentlink.pipeline import TopicNames
    from connectors.sql.fund import SqlFundUnitOfWork

    def joined_mark(event_id: str, caller_commits: bool) -> None:
        with sql_store.uow() as tx:
            with SqlFundUnitOfWork.joining(tx.session, "web", TopicNames("t.")) as uow:
                uow.inbox.mark(event_id, T0)
                uow.commit()
            if caller_commits:
                tx.commit()

    joined_mark("bill_id:B-1", caller_commits=False)
    joined_mark("bill_id:B-2", caller_commits=True)
    with SqlFundUnitOfWork(sql_store, "web", TopicNames("t."), read_only=True) as uow:
        assert not uow.inbox.seen("bill_id:B-1") and uow.inbox.seen("bill_id:B-2")
