"""One contract for the hospitals context's ports (``hospitals.ports``), run against the in-memory fake
(``tests/fakes/hospitals.py``) and the SQL adapter (``connectors.sql.hospitals``) on a migrated hospitals
store (SQLite, or PostgreSQL when TEST_DATABASE_URL is set), so the fake the service tests use cannot drift
from the store."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from accidentlink.clock import CST
from accidentlink.reports import Party
from hospitals.ports import Admission, Hospital, HospitalBill, HospitalsUnitOfWork, IncidentFacts
from tests.fakes.hospitals import FakeHospitalsUnitOfWork, HospitalsState

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=CST)
HOSPITAL = Hospital("LC-H-LC3", "聊城市第三人民医院", 36.45, 115.98, "聊城", trauma_level=2)
OTHER = Hospital("LC-H-LCRM", "聊城市人民医院", 36.45, 115.98, "聊城", green_channel=False, approx=False)


@dataclass
class Kit:
    """One implementation of the ports, and what a test needs beside them: a fresh unit of work on the same
    store, a way to put an incident's facts and parties in the hospitals' copy (the pipeline's job, not the
    desk's), and what was emitted (what the relay would send) and put on the timeline."""

    uow: Callable[[], HospitalsUnitOfWork]
    copy_incident: Callable[[IncidentFacts, list[Party]], None]
    messages: Callable[[], list[tuple[str, dict[str, Any]]]]  # hospitals.bills: (key, value)
    timeline: Callable[[], list[tuple[str, str, dict[str, Any]]]]  # (incident id, kind, detail)


def fake_kit() -> Kit:
    state = HospitalsState()

    def copy_incident(f: IncidentFacts, parties: list[Party]) -> None:
        state.incidents[f.incident_id], state.parties[f.incident_id] = f, list(parties)

    return Kit(lambda: FakeHospitalsUnitOfWork(state), copy_incident, lambda: [(k, v) for k, v, _ in state.messages],
               lambda: [(i, k, d) for i, k, _, d in state.timeline])


@pytest.fixture
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    from connectors.sql.db import Database
    from connectors.sql.stores import url_for

    db = Database(url_for("hospitals", request.getfixturevalue("migrated"), tmp_path, env={}))
    yield db
    db.dispose()


def sql_kit(db: Any) -> Kit:
    from sqlalchemy import select

    from accidentlink import incidents
    from accidentlink.pipeline import TopicNames
    from connectors.sql import incidents as incident_repo
    from connectors.sql.hospitals import SqlHospitalsUnitOfWork
    from connectors.sql.models import OutboxMessage, ReportRow, TimelineEntry

    def copy_incident(f: IncidentFacts, parties: list[Party]) -> None:
        facts = incidents.IncidentFacts(f.incident_id, 36.39, 115.86, f.address, f.first_reported_at,
                                        f.first_reported_at, f.injured, f.fatalities, False, f.hit_and_run, (), (),
                                        ("R-1",), ("122",))
        assert facts.severity == f.severity, "the copy's severity follows from its facts"
        payload = {"report_id": "R-1", "parties": [{k: v for k, v in vars(p).items() if v is not None} for p in parties]}
        with db.uow() as u:
            incident_repo.save_facts(u.session, facts, T0, new=True)
            incident_repo.add_report(u.session, ReportRow(report_id="R-1", incident_id=f.incident_id, source="122",
                                                          reported_at=T0, payload=payload, received_at=T0), created=True)
            u.commit()

    def messages() -> list[tuple[str, dict[str, Any]]]:
        with db.read() as s:
            return [(m.key.decode(), json.loads(m.value)) for m in s.scalars(
                select(OutboxMessage).where(OutboxMessage.topic == "t.hospitals.bills").order_by(OutboxMessage.id))]

    def timeline() -> list[tuple[str, str, dict[str, Any]]]:
        with db.read() as s:
            return [(t.incident_id, t.kind, t.detail) for t in s.scalars(select(TimelineEntry).order_by(TimelineEntry.id))]

    return Kit(lambda: SqlHospitalsUnitOfWork(db, "web", TopicNames("t.")), copy_incident, messages, timeline)


@pytest.fixture(params=["fake", "sql"])
def kit(request: pytest.FixtureRequest) -> Kit:
    k = fake_kit() if request.param == "fake" else sql_kit(request.getfixturevalue("sql_store"))
    with k.uow() as uow:
        uow.hospitals.add(HOSPITAL)
        uow.commit()
    return k


# ------------------------------------------------------------------------------- records to store
def admission(admission_id: str = "ADM-1", incident_id: str = "INC-1", *, hospital_id: str = HOSPITAL.hospital_id,
              minutes: int = 0, **kw: Any) -> Admission:
    return Admission(**{"admission_id": admission_id, "incident_id": incident_id, "hospital_id": hospital_id,
                        "status": "notified", "patients": 2, "injuries": {"injured": 2, "trapped": True},
                        "eta_at": T0 + timedelta(minutes=minutes + 12), "notified_at": T0 + timedelta(minutes=minutes),
                        **kw})


def bill(bill_id: str, admission_id: str = "ADM-1", incident_id: str = "INC-1", *, minutes: int = 0) -> HospitalBill:
    return HospitalBill(bill_id, admission_id, incident_id, HOSPITAL.hospital_id, 2_500_000, T0,
                        ({"amount_fen": 2_500_000, "incurred_at": None, "description": "抢救"},), 1_800_000, 700_000,
                        "PICC", {"reasons": ["above_ci_limit"], "limit_fen": 1_800_000, "vehicle_plate": "鲁P12345"},
                        T0 + timedelta(minutes=minutes), "hospital:急诊科:t1")


def add(kit: Kit, *records: Admission | HospitalBill) -> None:
    with kit.uow() as uow:
        for r in records:
            (uow.admissions if isinstance(r, Admission) else uow.bills).add(r)  # type: ignore[arg-type]
        uow.commit()


# ------------------------------------------------------------------------------- the contract
def test_the_unit_of_work_offers_every_repository_of_the_port(kit: Kit) -> None:
    with kit.uow() as uow:
        assert isinstance(uow, HospitalsUnitOfWork)


def test_hospitals_read_back_as_they_were_added(kit: Kit) -> None:
    with kit.uow() as uow:
        uow.hospitals.add(OTHER)
        uow.admissions.add(admission(hospital_id=OTHER.hospital_id))  # a hospital added is there at once
        uow.commit()
    with kit.uow() as uow:
        assert uow.hospitals.get(HOSPITAL.hospital_id) == HOSPITAL and uow.hospitals.get(OTHER.hospital_id) == OTHER
        assert uow.hospitals.get("LC-H-NOPE") is None
        assert uow.admissions.get("ADM-1") == admission(hospital_id=OTHER.hospital_id)


def test_an_admission_reads_back_as_it_was_added_and_then_saved(kit: Kit) -> None:
    a = admission()
    add(kit, a)
    confirmed = replace(a, status="confirmed", confirmed_at=T0 + timedelta(minutes=30), confirmed_by="hospital:急诊科:t1",
                        patients=3, injuries={"injured": 3}, eta_at=None)
    with kit.uow() as uow:
        assert uow.admissions.get("ADM-1") == a and uow.admissions.get("ADM-NOPE") is None
        uow.admissions.save(confirmed)
        uow.commit()
    with kit.uow() as uow:
        assert uow.admissions.get("ADM-1") == confirmed


def test_an_incidents_admissions_come_oldest_first_with_their_ambulance_withdrawal_and_payments(kit: Kit) -> None:
    """What the notice's follow-up keeps (hospitals_0002): the ambulance, why it was withdrawn, the payers' steps."""
    with kit.uow() as uow:
        uow.hospitals.add(OTHER)
        uow.commit()
    first = admission("ADM-1", minutes=0)
    second = admission("ADM-2", hospital_id=OTHER.hospital_id, minutes=5)
    add(kit, second, first, admission("ADM-3", "INC-2"))
    followed = replace(first, status="withdrawn", withdrawn_at=T0 + timedelta(minutes=6), withdrawn_reason="redirected",
                       ambulance={"unit_id": "LC-120-1", "status": "en_route", "at": "2026-11-22T08:03:00+08:00"},
                       payments={"fund": {"status": "paid", "amount_fen": 700_000, "at": "2026-11-22T10:00:00+08:00",
                                          "ref": "FC-1"}})
    with kit.uow() as uow:
        uow.admissions.save(followed)
        uow.commit()
    with kit.uow() as uow:
        assert [a.admission_id for a in uow.admissions.of_incident("INC-1")] == ["ADM-1", "ADM-2"]
        assert uow.admissions.of_incident("INC-1")[0] == followed
        assert uow.admissions.of_incident("INC-NOPE") == []


def test_an_admission_added_in_a_unit_of_work_is_found_in_it(kit: Kit) -> None:
    """Two notices of one admission in one batch: the second finds the first's admission."""
    with kit.uow() as uow:
        uow.admissions.add(admission())
        assert uow.admissions.get("ADM-1") == admission()
        uow.admissions.save(replace(admission(), patients=4))
        uow.inbox.mark("event_id:E-1", T0)
        assert uow.inbox.seen("event_id:E-1")
        uow.commit()
    with kit.uow() as uow:
        assert uow.admissions.get("ADM-1").patients == 4  # type: ignore[union-attr]


def test_an_admission_at_a_hospital_the_store_does_not_know_is_not_kept(kit: Kit) -> None:
    with pytest.raises(Exception):  # the store's foreign key: at once, or at commit
        with kit.uow() as uow:
            uow.admissions.add(admission(hospital_id="LC-H-NOPE"))
            uow.commit()
    with kit.uow() as uow:
        assert uow.admissions.get("ADM-1") is None


def test_an_incident_has_one_admission_per_hospital(kit: Kit) -> None:
    add(kit, admission("ADM-1", "INC-1"))
    with pytest.raises(Exception):  # the store's unique key: at once, or at commit
        add(kit, admission("ADM-2", "INC-1"))
    with kit.uow() as uow:
        assert uow.admissions.get("ADM-2") is None


def test_a_hospitals_queue_comes_newest_first_and_by_status_and_holds_only_its_own(kit: Kit) -> None:
    other = OTHER
    with kit.uow() as uow:
        uow.hospitals.add(other)
        uow.commit()
    add(kit, admission("ADM-1", "INC-1"), admission("ADM-2", "INC-2", minutes=5, status="confirmed"),
        admission("ADM-3", "INC-3", minutes=5), admission("ADM-4", "INC-4", minutes=9, hospital_id=other.hospital_id))
    with kit.uow() as uow:
        assert [a.admission_id for a in uow.admissions.at_hospital(HOSPITAL.hospital_id, 10)] == ["ADM-3", "ADM-2",
                                                                                                   "ADM-1"]
        assert [a.admission_id for a in uow.admissions.at_hospital(HOSPITAL.hospital_id, 1)] == ["ADM-3"]
        assert [a.admission_id for a in uow.admissions.at_hospital(HOSPITAL.hospital_id, 10, "notified")] == ["ADM-3",
                                                                                                               "ADM-1"]
        assert uow.admissions.at_hospital(HOSPITAL.hospital_id, 10, "no-such-status") == []
        assert [a.admission_id for a in uow.admissions.at_hospital(other.hospital_id, 10)] == ["ADM-4"]


def test_bills_of_an_admission_and_of_an_incident_come_oldest_first(kit: Kit) -> None:
    with kit.uow() as uow:
        uow.hospitals.add(OTHER)
        uow.commit()
    add(kit, admission("ADM-1", "INC-1"), admission("ADM-2", "INC-1", hospital_id=OTHER.hospital_id),
        admission("ADM-3", "INC-2"))
    bills = [bill("B-2", minutes=5), bill("B-1"), bill("B-3", "ADM-2"), bill("B-4", "ADM-3", "INC-2")]
    add(kit, *bills)
    with kit.uow() as uow:
        assert uow.bills.of_admission("ADM-1") == [bills[1], bills[0]]
        assert [b.bill_id for b in uow.bills.of_incident("INC-1")] == ["B-1", "B-3", "B-2"]
        assert uow.bills.of_admission("ADM-9") == [] and uow.bills.of_incident("INC-9") == []


def test_a_bill_is_found_by_its_natural_key_per_hospital_and_the_key_is_unique(kit: Kit) -> None:
    from dataclasses import replace

    add(kit, admission("ADM-1", "INC-1"))
    keyed = replace(bill("B-1"), invoice_number="INV-7", natural_key="invoice:INV-7", content_hash="c" * 64)
    add(kit, keyed)
    with kit.uow() as uow:
        assert uow.bills.by_natural_key(HOSPITAL.hospital_id, "invoice:INV-7") == keyed
        assert uow.bills.by_natural_key(HOSPITAL.hospital_id, "invoice:INV-8") is None
        assert uow.bills.by_natural_key("OTHER-H", "invoice:INV-7") is None
    with pytest.raises(Exception):
        add(kit, replace(bill("B-2"), natural_key="invoice:INV-7"))
    with kit.uow() as uow:
        assert [b.bill_id for b in uow.bills.of_admission("ADM-1")] == ["B-1"]


def test_what_is_not_committed_is_not_kept(kit: Kit) -> None:
    with kit.uow() as uow:
        uow.admissions.add(admission())
        uow.bills.add(bill("B-1"))
        uow.inbox.mark("event_id:E-1", T0)
        uow.events.bill_recorded("INC-1", {"bill_id": "B-1"}, T0)
        uow.timeline.add("INC-1", "bill_recorded", T0, bill_id="B-1")
    with kit.uow() as uow:
        assert uow.admissions.get("ADM-1") is None and uow.bills.of_incident("INC-1") == []
        assert not uow.inbox.seen("event_id:E-1")
    assert kit.messages() == [] and kit.timeline() == []


def test_bill_messages_and_timeline_entries_are_emitted_when_committed(kit: Kit) -> None:
    value = {"schema": "hospital-bill/1", "event_id": "B-1", "bill_id": "B-1", "amount_fen": 2_500_000}
    with kit.uow() as uow:
        uow.events.bill_recorded("INC-1", value, T0)
        uow.timeline.add("INC-1", "admission_confirmed", T0, hospital_id="LC-H-LC3", admission_id="ADM-1")
        uow.commit()
    assert kit.messages() == [("INC-1", value)]
    assert kit.timeline() == [("INC-1", "admission_confirmed", {"hospital_id": "LC-H-LC3", "admission_id": "ADM-1"})]


def test_the_inbox_remembers_committed_marks(kit: Kit) -> None:
    with kit.uow() as uow:
        assert not uow.inbox.seen("event_id:E-1")
        uow.inbox.mark("event_id:E-1", T0)
        uow.commit()
    with kit.uow() as uow:
        assert uow.inbox.seen("event_id:E-1") and not uow.inbox.seen("event_id:E-2")


def test_incident_facts_and_parties_come_from_the_hospitals_copy(kit: Kit) -> None:
    facts = IncidentFacts("INC-1", T0, "injury", True, "聊临路梁水镇段", 1, 0)
    parties = [Party(name="张某", phone="+8613900000001", plate="鲁P12345", vehicle_type="car", insurer="PICC",
                     ci_policy="POL-1", licensed=False, drunk=True),
               Party(name="李某", plate="鲁P67890")]
    kit.copy_incident(facts, parties)
    with kit.uow() as uow:
        assert uow.incidents.get("INC-1") == facts and uow.incidents.get("INC-NOPE") is None
        assert uow.incidents.parties("INC-1") == parties
        assert uow.incidents.parties("INC-NOPE") == []



def test_a_rerouted_bill_is_saved_over_the_first_split(kit: Kit) -> None:
    add(kit, admission(), bill("B-1"))
    with kit.uow() as uow:
        uow.bills.save(replace(bill("B-1"), insurer_fen=180_000, fund_fen=2_320_000,
                               routing={"reasons": ["insured_not_at_fault"], "revision": 1, "vehicle_plate": "鲁P12345"}))
        uow.commit()
    with kit.uow() as uow:
        [b] = uow.bills.of_incident("INC-1")
        assert (b.insurer_fen, b.fund_fen, b.routing["revision"]) == (180_000, 2_320_000, 1)
        with pytest.raises(LookupError):
            uow.bills.save(bill("B-NOPE"))


def test_an_incidents_liability_is_kept_and_a_review_replaces_it(kit: Kit) -> None:
    kit.copy_incident(IncidentFacts("INC-1", T0, "injury", False, None, 1, 0), [Party(name="张某", plate="鲁P12345")])
    with kit.uow() as uow:
        assert uow.incidents.liability("INC-1") is None and uow.incidents.fled_plate("INC-1") is None
        uow.incidents.set_liability("INC-1", {"shares": {"鲁P12345": "none"}, "source": "joint_desk"})
        uow.commit()
    with kit.uow() as uow:
        uow.incidents.set_liability("INC-1", {"shares": {"鲁P12345": "full"}, "source": "review"})
        uow.commit()
    with kit.uow() as uow:
        found = uow.incidents.liability("INC-1")
        assert found is not None and found["shares"] == {"鲁P12345": "full"} and found["source"] == "review"


# ------------------------------------------------------------------------------- the SQL adapter alone
def test_a_sql_unit_of_work_that_joins_a_callers_transaction_leaves_the_commit_to_the_caller(sql_store: Any) -> None:
    """An HTTP request (with its audit line) or a batch of notices owns the transaction the desk's work joins."""
    from accidentlink.pipeline import TopicNames
    from connectors.sql.hospitals import SqlHospitalsUnitOfWork

    topics = TopicNames("t.")
    with SqlHospitalsUnitOfWork(sql_store, "hospitals", topics) as uow:
        uow.hospitals.add(HOSPITAL)
        uow.admissions.add(admission())
        uow.commit()
    for caller_commits in (False, True):
        with sql_store.uow() as tx:
            with SqlHospitalsUnitOfWork.joining(tx.session, "web", topics) as uow:
                uow.admissions.save(replace(admission(), status="confirmed", confirmed_at=T0, confirmed_by="h"))
                uow.commit()
            with SqlHospitalsUnitOfWork(sql_store, "web", topics, read_only=True) as reader:
                assert reader.admissions.get("ADM-1").status == "notified"  # type: ignore[union-attr]
            if caller_commits:
                tx.commit()
    with SqlHospitalsUnitOfWork(sql_store, "web", topics, read_only=True) as uow:
        assert uow.admissions.get("ADM-1").status == "confirmed"  # type: ignore[union-attr]
        with pytest.raises(RuntimeError):
            uow.commit()


def test_the_hospitals_group_turns_a_batch_of_incident_changes_into_admissions_once(sql_store: Any) -> None:
    """Only ``hospital_assigned`` changes that carry a notice count; a repeated one changes nothing; one
    transaction for the batch."""
    from accidentlink.clock import FixedClock
    from accidentlink.pipeline import RawMessage, TopicNames
    from connectors.sql.hospitals import HospitalsHandler, SqlHospitalsUnitOfWork

    def uows(owner: str = "hospitals", *, joining: Any = None, read_only: bool = False) -> SqlHospitalsUnitOfWork:
        if joining is not None:
            return SqlHospitalsUnitOfWork.joining(joining, owner, TopicNames("t."))
        return SqlHospitalsUnitOfWork(sql_store, owner, TopicNames("t."), read_only=read_only)

    with uows() as uow:
        uow.hospitals.add(HOSPITAL)
        uow.commit()
    notice = {"event_id": "INC-1:4:hospital_assigned", "incident_id": "INC-1", "change": "hospital_assigned",
              "hospital_id": HOSPITAL.hospital_id, "admission_id": "ADM-X", "patients": 2,
              "injuries": {"injured": 2}, "eta_at": (T0 + timedelta(minutes=12)).isoformat()}
    values = [notice, {**notice, "event_id": "INC-1:3:unit_assigned", "change": "unit_assigned"},
              {**notice, "event_id": "INC-2:4:hospital_assigned", "incident_id": "INC-2", "admission_id": None},
              notice]
    messages = [RawMessage("t.incidents", 0, n, b"k", json.dumps(v).encode()) for n, v in enumerate(values)]
    handler = HospitalsHandler(uows, sql_store, FixedClock(T0))
    handler.on_incident_changes(messages + [RawMessage("t.incidents", 0, 9, b"k", b"{broken")])
    handler.on_incident_changes(messages)  # delivered again
    with uows(read_only=True) as uow:
        [a] = uow.admissions.at_hospital(HOSPITAL.hospital_id, 10)
        assert (a.incident_id, a.patients, a.eta_at, a.notified_at) == ("INC-1", 2, T0 + timedelta(minutes=12), T0)
        assert uow.inbox.seen("event_id:" + notice["event_id"])


def test_liability_decided_in_claims_reroutes_the_incidents_bills_once(sql_store: Any) -> None:
    """Claims' ``liability_determined`` (one message per claim of the incident) re-routes every bill once; other
    changes, unknown incidents and unreadable messages change nothing."""
    from accidentlink.clock import FixedClock
    from accidentlink.pipeline import RawMessage, TopicNames
    from connectors.sql.hospitals import HospitalsHandler, SqlHospitalsUnitOfWork

    def uows(owner: str = "hospitals", *, joining: Any = None, read_only: bool = False) -> SqlHospitalsUnitOfWork:
        if joining is not None:
            return SqlHospitalsUnitOfWork.joining(joining, owner, TopicNames("t."))
        return SqlHospitalsUnitOfWork(sql_store, owner, TopicNames("t."), read_only=read_only)

    kit = sql_kit(sql_store)
    with kit.uow() as uow:
        uow.hospitals.add(HOSPITAL)
        uow.commit()
    walker = Party(name="李某", id_number="371502198504041234", role="pedestrian")
    kit.copy_incident(IncidentFacts("INC-1", T0, "injury", False, None, 1, 0),
                      [Party(name="张某", plate="鲁P12345", insurer="PICC", ci_policy="POL-1"), walker])
    from hospitals import services as H
    from hospitals.commands import ConfirmAdmission, PreArrivalNotice

    H.record_pre_arrival_notice(PreArrivalNotice("e-1", "INC-1", HOSPITAL.hospital_id, 1, {}, None, T0), kit.uow())
    adm = H.admission_id_for("INC-1", HOSPITAL.hospital_id)
    H.confirm_admission(ConfirmAdmission(HOSPITAL.hospital_id, adm, "hospital:x:t", T0), kit.uow())
    cmd = H.bill_command(HOSPITAL.hospital_id, adm, {"amount_fen": 2_500_000, "rescue_started_at": T0.isoformat(),
                                                     "patient_id_number": walker.id_number}, "hospital:x:t", T0)
    assert H.record_bill(cmd, kit.uow(), province="shandong")["payers"]["provisional"]

    decided = {"schema": "claim/1", "event_id": "CLM-1:3:liability_determined", "claim_id": "CLM-1",
               "incident_id": "INC-1", "change": "liability_determined", "kind": "police_determination",
               "shares": {"鲁P12345": "none"}}
    values = [decided, {**decided, "event_id": "CLM-2:3:liability_determined", "claim_id": "CLM-2"},
              {**decided, "event_id": "CLM-1:4:paid", "change": "paid", "shares": {"鲁P12345": "full"}},
              {**decided, "event_id": "CLM-9:1:liability_determined", "incident_id": "INC-NOPE"}]
    messages = [RawMessage("t.claims.events", 0, n, b"k", json.dumps(v).encode()) for n, v in enumerate(values)]
    handler = HospitalsHandler(uows, sql_store, FixedClock(T0 + timedelta(hours=1)))
    handler.on_claim_events(messages + [RawMessage("t.claims.events", 0, 9, b"k", b"{broken")])
    handler.on_claim_events(messages)  # delivered again
    with uows(read_only=True) as uow:
        [b] = uow.bills.of_incident("INC-1")
        assert (b.insurer_fen, b.fund_fen, b.routing["revision"]) == (180_000, 2_320_000, 1)
        assert uow.incidents.liability("INC-1")["source"] == "police_determination"
    rerouted = [v for _, v in kit.messages() if v.get("change") == "rerouted"]
    assert len(rerouted) == 1 and rerouted[0]["liability"] == "none"
