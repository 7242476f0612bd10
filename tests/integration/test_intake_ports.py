"""One contract for the intake's ports (``accidentlink.intake_ports``), run against the in-memory fake
(``tests/fakes/intake.py``) and the SQL adapter (``connectors.sql.intake``) on a migrated intake store (SQLite,
or PostgreSQL when TEST_DATABASE_URL is set), so the fake the service tests use cannot drift from the store."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from accidentlink.clock import CST
from accidentlink.incidents import IncidentFacts, merge, open_incident
from accidentlink.intake_ports import IntakeUnitOfWork
from accidentlink.reports import AccidentReport, parse_report
from tests.fakes.intake import FakeIntakeUnitOfWork, IntakeState
from tests.support.reports import report

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=CST)
HERE = (36.3923, 115.8571)
M_PER_DEG_LAT = 111_000


@dataclass
class Kit:
    """One implementation of the ports, a fresh unit of work on the same store each time, and what was emitted
    (what the relay would send): per topic, ``(key, event_id, change)``."""

    uow: Callable[[], IntakeUnitOfWork]
    messages: Callable[[], dict[str, list[tuple[str, str, str]]]]


def fake_kit() -> Kit:
    state = IntakeState()

    def messages() -> dict[str, list[tuple[str, str, str]]]:
        return {"incidents": [(i, f"{i}:{v}:{c}", c) for i, c, _at, v, _x in state.changes],
                "intake.incident-facts": [(k, v["event_id"], v["change"]) for k, v, _at in state.facts]}

    return Kit(lambda: FakeIntakeUnitOfWork(state), messages)


@pytest.fixture
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    from connectors.sql.db import Database
    from connectors.sql.stores import url_for

    db = Database(url_for("intake", request.getfixturevalue("migrated"), tmp_path, env={}))
    yield db
    db.dispose()


def sql_kit(db: Any) -> Kit:
    from sqlalchemy import select

    from accidentlink.pipeline import TopicNames
    from connectors.sql.intake import SqlIntakeUnitOfWork
    from connectors.sql.models import OutboxMessage

    def messages() -> dict[str, list[tuple[str, str, str]]]:
        out: dict[str, list[tuple[str, str, str]]] = {"incidents": [], "intake.incident-facts": []}
        with db.read() as s:
            for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)):
                v = json.loads(m.value)
                out[m.topic.removeprefix("t.")].append((m.key.decode(), v["event_id"], v["change"]))
        return out

    return Kit(lambda: SqlIntakeUnitOfWork(db, "intake", TopicNames("t.")), messages)


@pytest.fixture(params=["fake", "sql"])
def kit(request: pytest.FixtureRequest) -> Kit:
    return fake_kit() if request.param == "fake" else sql_kit(request.getfixturevalue("sql_store"))


# ------------------------------------------------------------------------------- records to store
def a_report(report_id: str, lat: float = HERE[0], lon: float = HERE[1], minutes: int = 0, **kw: Any) -> AccidentReport:
    return parse_report(json.dumps(report(lat=lat, lon=lon, at=T0 + timedelta(minutes=minutes), report_id=report_id,
                                          **kw), ensure_ascii=False))


def recorded(kit: Kit, *reports: AccidentReport) -> IncidentFacts:
    """One committed incident opened by the first report, with the others merged in."""
    facts = open_incident(reports[0])
    for r in reports[1:]:
        facts = merge(facts, r)
    with kit.uow() as uow:
        uow.incidents.add(facts, T0)
        for r in reports:
            uow.reports.add(r, facts.incident_id, r.to_json(), T0)
        uow.commit()
    return facts


# ------------------------------------------------------------------------------- the contract
def test_the_unit_of_work_offers_every_repository_of_the_port(kit: Kit) -> None:
    with kit.uow() as uow:
        assert isinstance(uow, IntakeUnitOfWork)


def test_candidates_are_the_open_incidents_near_the_point_and_in_the_window(kit: Kit) -> None:
    near = recorded(kit, a_report("122-NEAR", HERE[0] + 200 / M_PER_DEG_LAT, HERE[1], minutes=-20))
    recorded(kit, a_report("122-FAR", HERE[0] + 3000 / M_PER_DEG_LAT, HERE[1]))
    recorded(kit, a_report("122-OLD", HERE[0], HERE[1] + 0.001, minutes=-90))
    closed = recorded(kit, a_report("122-CLOSED", HERE[0] - 100 / M_PER_DEG_LAT, HERE[1]))
    with kit.uow() as uow:
        assert uow.incidents.close(closed.incident_id, T0 + timedelta(minutes=1))
        uow.commit()
    with kit.uow() as uow:
        found = uow.incidents.candidates(*HERE, T0)
    assert [f.incident_id for f in found] == [near.incident_id]
    assert found[0] == near


def test_a_reopened_incident_is_a_candidate_again_and_reopen_is_once(kit: Kit) -> None:
    inc = recorded(kit, a_report("122-REOPEN", HERE[0] + 50 / M_PER_DEG_LAT, HERE[1]))
    with kit.uow() as uow:
        assert not uow.incidents.reopen(inc.incident_id, T0)  # open: nothing to reopen
        assert uow.incidents.close(inc.incident_id, T0 + timedelta(minutes=1))
        uow.commit()
    with kit.uow() as uow:
        assert uow.incidents.candidates(*HERE, T0 + timedelta(minutes=2)) == []
        assert uow.incidents.reopen(inc.incident_id, T0 + timedelta(minutes=2))
        assert not uow.incidents.reopen("INC-NONE", T0)
        uow.commit()
    with kit.uow() as uow:
        assert [f.incident_id for f in uow.incidents.candidates(*HERE, T0 + timedelta(minutes=3))] == [inc.incident_id]


def test_a_known_report_maps_to_its_incident_and_a_new_one_to_none(kit: Kit) -> None:
    first, second = a_report("122-K1"), a_report("120-K1", minutes=2, source="120")
    facts = recorded(kit, first, second)
    with kit.uow() as uow:
        assert uow.reports.known(["122-K1", "120-K1", "122-NEW"]) == {"122-K1": facts.incident_id,
                                                                      "120-K1": facts.incident_id}
        assert uow.incidents.of_report("120-K1") == facts
        assert uow.incidents.of_report("122-NEW") is None


def test_a_recorded_report_reads_back_its_payload_to_tell_a_redelivery_from_a_conflict(kit: Kit) -> None:
    first = a_report("122-P1", injured=1)
    recorded(kit, first)
    with kit.uow() as uow:
        assert uow.reports.payload("122-P1") == json.loads(json.dumps(first.to_json()))
        assert uow.reports.payload("122-NEW") is None


def test_saved_facts_read_back_as_saved_and_each_change_numbers_a_version(kit: Kit) -> None:
    first, second = a_report("122-S1", injured=1), a_report("120-S1", minutes=4, source="120", injured=3,
                                                             hazards=["trapped"])
    opened = open_incident(first)
    with kit.uow() as uow:
        assert uow.incidents.add(opened, T0) == 1
        uow.reports.add(first, opened.incident_id, first.to_json(), T0)
        uow.commit()
    merged = merge(opened, second)
    with kit.uow() as uow:
        assert uow.incidents.get(opened.incident_id) == opened
        assert uow.incidents.save(merged, T0 + timedelta(minutes=4)) == 2
        uow.reports.add(second, opened.incident_id, second.to_json(), T0 + timedelta(minutes=4))
        uow.commit()
    with kit.uow() as uow:
        assert uow.incidents.get(opened.incident_id) == merged
        assert uow.incidents.get("INC-NONE") is None
        assert uow.incidents.close(opened.incident_id, T0 + timedelta(hours=1))
        assert not uow.incidents.close(opened.incident_id, T0 + timedelta(hours=1))
        assert not uow.incidents.close("INC-NONE", T0)
        uow.commit()
    with kit.uow() as uow:
        assert uow.incidents.get(opened.incident_id) == replace(merged, status="closed")


def test_what_is_not_committed_is_not_kept(kit: Kit) -> None:
    r = a_report("122-R1")
    with kit.uow() as uow:
        uow.incidents.add(open_incident(r), T0)
        uow.reports.add(r, open_incident(r).incident_id, r.to_json(), T0)
        uow.inbox.mark("report:122-R1", T0)
    with kit.uow() as uow:
        assert uow.incidents.of_report("122-R1") is None and not uow.inbox.seen("report:122-R1")
    assert kit.messages() == {"incidents": [], "intake.incident-facts": []}


def test_events_are_emitted_on_their_topics_keyed_by_incident(kit: Kit) -> None:
    facts = recorded(kit, a_report("122-E1"))
    i = facts.incident_id
    with kit.uow() as uow:
        uow.events.incident_changed(i, "created", T0, report_id="122-E1")
        uow.events.facts_changed(i, {"schema": "incident-facts/1", "event_id": f"{i}:122-E1", "change": "created"}, T0)
        uow.commit()
    assert kit.messages() == {"incidents": [(i, f"{i}:1:created", "created")],
                              "intake.incident-facts": [(i, f"{i}:122-E1", "created")]}


def test_the_inbox_remembers_what_was_handled(kit: Kit) -> None:
    with kit.uow() as uow:
        assert not uow.inbox.seen("event_id:INC-X:3:closed")
        uow.inbox.mark("event_id:INC-X:3:closed", T0)
        uow.commit()
    with kit.uow() as uow:
        assert uow.inbox.seen("event_id:INC-X:3:closed") and not uow.inbox.seen("event_id:INC-X:4:closed")
