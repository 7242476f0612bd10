"""A pipeline batch is written in bulk (one transaction, no savepoints) and redone message by message
when anything in it fails. These tests run the three pipelines in-process on a real SQLite file (no
broker: ``Pipeline`` takes raw messages) and check what a dispatcher, a fund administrator or an
insurer would see: the same result either way, the culprit alone dead-lettered, one incident per
crash, no unit booked twice."""
from __future__ import annotations

import json
import random
import re
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from accidentlink.bootstrap import Container
from accidentlink.clock import FixedClock, iso
from accidentlink.pipeline import RawMessage
from accidentlink.settings import Settings
from connectors.sms import HeldSms
from connectors.sql.db import Database, upgrade
from connectors.sql.models import (
    ClaimRow, FundCaseRow, IncidentRow, OrderRow, OutboxMessage, ProcessedEvent, RejectedMessage, ReportRow,
    SmsMessage, UnitRow,
)
from tests.support.reports import party, report

GROUPS = ("dispatch", "rescue-fund", "claims")
# 东昌府区, between the 梁水镇 and 道口铺 posts (seeds/002): plenty of units within reach
AREA = (36.35, 36.50, 115.80, 116.15)


def _container(tmp_path: Path, name: str) -> Container:
    from accidentlink.demo import load_resources_into_db

    url = f"sqlite:///{tmp_path / (name + '.db')}"
    upgrade(url)
    settings = Settings(var_dir=tmp_path, database_url=url, kafka_bootstrap="127.0.0.1:1", twilio_account_sid=None,
                        twilio_auth_token=None, twilio_from=None)
    c = Container(settings=settings, db=Database(url), clock=FixedClock(), sms=HeldSms())
    load_resources_into_db(c)
    return c


def _messages(reports: list[dict[str, Any]], first_offset: int = 0) -> list[RawMessage]:
    return [RawMessage("accidents.reported", 0, first_offset + i, r["report_id"].encode(),
                       json.dumps(r, ensure_ascii=False).encode()) for i, r in enumerate(reports)]


def _mix(n: int, at: Any) -> list[dict[str, Any]]:
    """Minor two-car crashes, injuries, hit-and-runs and deaths, each at its own place (seeded)."""
    rng = random.Random(7)
    out = []
    for i in range(n):
        r = rng.random()
        kw: dict[str, Any] = {"lat": rng.uniform(*AREA[:2]), "lon": rng.uniform(*AREA[2:]), "at": at,
                              "report_id": f"122-B-{i:03d}"}
        cars = [party(f"鲁P{i:03d}A", "PICC", phone=f"+86139{i:08d}"),
                party(f"鲁P{i:03d}B", rng.choice(["CPIC", "PINGAN", None]), phone=f"+86138{i:08d}")]
        if r < 0.5:
            out.append(report(parties=cars, **kw))
        elif r < 0.8:
            out.append(report(injured=rng.randint(1, 3), movable=False, parties=cars, **kw))
        elif r < 0.9:
            out.append(report(injured=1, hit_and_run=True, **kw))
        else:
            out.append(report(injured=2, fatalities=1, movable=False, parties=cars, **kw))
    return out


def _what_people_see(c: Container) -> dict[str, Any]:
    with c.db.read() as s:
        return {
            "incidents": sorted(s.execute(select(IncidentRow.incident_id, IncidentRow.status, IncidentRow.hospital_id,
                                                 IncidentRow.quick_handling)).all()),
            "reports": sorted(s.execute(select(ReportRow.report_id, ReportRow.incident_id)).all()),
            "orders": sorted(s.execute(select(OrderRow.order_id, OrderRow.unit_id, OrderRow.state)).all()),
            "units_out": sorted(s.execute(select(UnitRow.unit_id, UnitRow.status, UnitRow.incident_id)
                                          .where(UnitRow.status != "available")).all()),
            "claims": sorted((c.claim_id, c.insurer, c.status, c.kind, json.dumps(c.flags, sort_keys=True))
                             for c in s.scalars(select(ClaimRow))),
            "fund_cases": sorted((f.case_id, f.status, tuple(f.reasons)) for f in s.scalars(select(FundCaseRow))),
            # quick-handling links carry a random token
            "sms": sorted((k, to, re.sub(r"t=[0-9a-f]+", "t=…", body)) for k, to, body in
                          s.execute(select(SmsMessage.dedupe_key, SmsMessage.to, SmsMessage.body))),
            "messages": sorted(s.execute(select(OutboxMessage.topic, OutboxMessage.key, func.count())
                                         .group_by(OutboxMessage.topic, OutboxMessage.key)).all()),
            "inbox": sorted(s.execute(select(ProcessedEvent.consumer, ProcessedEvent.event_id)).all()),
        }


@pytest.mark.parametrize("order", [GROUPS, GROUPS[::-1]], ids=["dispatch-first", "claims-first"])
def test_a_batch_written_in_bulk_leaves_what_message_by_message_leaves(tmp_path: Path, order: tuple[str, ...]) -> None:
    """Whichever pipeline records the reports first (the others then find them, and read their incidents,
    orders and claims once per batch)."""
    reports = _mix(60, FixedClock().now())
    bulk, careful = _container(tmp_path, "bulk"), _container(tmp_path, "careful")
    for group in order:
        bulk.pipeline(group).process(_messages(reports))
        p = careful.pipeline(group)
        msgs = _messages(reports)
        p._process(msgs, [p._parse(m) for m in msgs], careful=True)
    seen = _what_people_see(bulk)
    assert seen == _what_people_see(careful)
    assert len(seen["reports"]) == 60 and len(seen["inbox"]) == 180
    assert {o[0].rsplit("-", 2)[1] for o in seen["orders"]} == {"120", "122"} and seen["claims"] and seen["fund_cases"]
    assert len(seen["units_out"]) == len([o for o in seen["orders"] if o[2] == "active"])


def test_a_redelivered_batch_changes_nothing(tmp_path: Path) -> None:
    c = _container(tmp_path, "redelivered")
    reports = _mix(20, FixedClock().now())
    for group in GROUPS:
        c.pipeline(group).process(_messages(reports))
    before = _what_people_see(c)
    for group in GROUPS:
        result = c.pipeline(group).process(_messages(reports))
        assert result.duplicates == 20 and result.processed == 0
    assert _what_people_see(c) == before


def test_one_failing_message_is_dead_lettered_alone_and_the_rest_of_its_batch_commits(tmp_path: Path) -> None:
    c = _container(tmp_path, "failing")
    reports = _mix(10, FixedClock().now())
    p = c.pipeline("claims")
    real = p.handler

    def handler(ctx: Any, rep: Any, incident: Any) -> None:
        if rep.report_id == "122-B-004":
            raise RuntimeError("insurer rules missing")
        real(ctx, rep, incident)

    p.handler = handler  # type: ignore[assignment]
    result = p.process(_messages(reports))
    assert (result.processed, result.failed) == (9, 1)
    with c.db.read() as s:
        rejected = s.scalars(select(RejectedMessage)).all()
        assert [(r.offset, r.detected_by) for r in rejected] == [(4, "claims")]
        assert "insurer rules missing" in rejected[0].reason
        assert s.scalar(select(func.count()).select_from(ProcessedEvent)) == 10  # the culprit too: never retried forever
        plates = {x.plate for x in s.scalars(select(ClaimRow))}
        assert "鲁P004A" not in plates and {"鲁P003A", "鲁P005A"} <= plates
        dead = s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "accidents.rejected")).all()
        assert len(dead) == 1 and dict((k, bytes.fromhex(v)) for k, v in dead[0].headers)["source-offset"] == b"4"


def test_two_calls_about_one_crash_in_one_batch_make_one_incident_with_one_order_per_service(tmp_path: Path) -> None:
    c = _container(tmp_path, "merge")
    at = FixedClock().now()
    first = report(lat=36.3923, lon=115.8571, injured=2, movable=False, at=at, report_id="122-M-1",
                   parties=[party("鲁P12345")])
    second = report(lat=36.3926, lon=115.8574, injured=2, movable=False, at=at + timedelta(minutes=3), source="120",
                    report_id="120-M-1", parties=[party("鲁P12345"), party("鲁P67890", "CPIC")])
    elsewhere = report(lat=36.4718, lon=116.1010, injured=1, at=at, report_id="122-M-2")
    for group in GROUPS:
        c.pipeline(group).process(_messages([first, second, elsewhere]))
    with c.db.read() as s:
        by_report = dict(s.execute(select(ReportRow.report_id, ReportRow.incident_id)).all())
        assert by_report["122-M-1"] == by_report["120-M-1"] != by_report["122-M-2"]
        orders = s.execute(select(OrderRow.incident_id, OrderRow.service).where(OrderRow.state == "active")).all()
        assert sorted(o[1] for o in orders if o[0] == by_report["122-M-1"]) == ["120", "122"]
        assert sorted(s.scalars(select(ClaimRow.plate).where(ClaimRow.incident_id == by_report["122-M-1"]))) == \
            ["鲁P12345", "鲁P67890"]
        feed = [json.loads(m.value) for m in s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "incidents"))]
    merged = [e for e in feed if e["incident_id"] == by_report["122-M-1"]]
    changes = [e["change"] for e in merged]
    assert changes[0] == "created" and changes.count("report_merged") == 1 and changes.count("unit_assigned") == 2
    assert merged[-1]["incident"]["report_ids"] == ["122-M-1", "120-M-1"]
    assert len({e["event_id"] for e in feed}) == len(feed)


def test_a_unit_taken_after_the_batch_read_the_statuses_is_not_booked_and_the_next_nearest_is(tmp_path: Path,
                                                                                              monkeypatch: Any) -> None:
    from dispatch.services import Dispatcher

    c = _container(tmp_path, "taken")
    crash = report(lat=36.3923, lon=115.8571, injured=1, movable=False, at=FixedClock().now(), report_id="122-U-1")
    # which ambulance would be chosen if nobody interfered: find out on a copy of the world
    probe = _container(tmp_path, "probe")
    probe.pipeline("dispatch").process(_messages([crash]))
    with probe.db.read() as s:
        nearest = s.scalar(select(OrderRow.unit_id).where(OrderRow.service == "120"))
    real_sync = Dispatcher.sync

    def sync_then_taken(self: Dispatcher, s: Any, every_s: float = 0.0) -> None:
        real_sync(self, s, every_s)  # the batch read "available" ...
        s.execute(text("UPDATE units SET status = 'out_of_service' WHERE unit_id = :u"), {"u": nearest})  # ... then not

    monkeypatch.setattr(Dispatcher, "sync", sync_then_taken)
    forgotten = []
    real_forget = Dispatcher.forget
    monkeypatch.setattr(Dispatcher, "forget", lambda self: (forgotten.append(1), real_forget(self)))
    result = c.pipeline("dispatch").process(_messages([crash]))
    assert result.processed == 1 and result.failed == 0
    assert forgotten == [1]  # the bulk write found the unit taken; the batch was redone with fresh statuses
    with c.db.read() as s:
        ambulance = s.scalar(select(OrderRow.unit_id).where(OrderRow.service == "120"))
        assert ambulance is not None and ambulance != nearest
        assert s.scalar(select(UnitRow.status).where(UnitRow.unit_id == nearest)) == "out_of_service"
        assert s.scalar(select(UnitRow.incident_id).where(UnitRow.unit_id == ambulance)) is not None


def test_writers_to_one_sqlite_file_queue_instead_of_failing(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'queue.db'}")
    with db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (worker TEXT, n INTEGER)")
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            for n in range(40):
                with db.uow() as uow:
                    uow.session.execute(text("INSERT INTO t VALUES (:w, :n)"), {"w": name, "n": n})
                    uow.commit()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with db.read() as s:
        assert s.execute(text("SELECT worker, count(*) FROM t GROUP BY worker ORDER BY worker")).all() == \
            [(f"w{i}", 40) for i in range(4)]
    assert Path(str(tmp_path / "queue.db") + ".writer-lock").exists()


def test_times_written_in_bulk_keep_their_offsets(tmp_path: Path) -> None:
    c = _container(tmp_path, "times")
    c.pipeline("dispatch").process(_messages(_mix(5, FixedClock().now())))
    with c.db.read() as s:
        events = [json.loads(m.value) for m in s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "incidents"))]
    assert events and all(e["at"] == iso(FixedClock().now()) and e["at"].endswith("+08:00") for e in events)


def test_a_call_in_a_later_batch_merges_across_a_grid_cell_edge_with_one_candidate_query_per_batch(
        tmp_path: Path) -> None:
    """The batch reads the open incidents near all its new reports at once (by 0.01° cell): a second call
    about a crash 100 m away, over a cell edge, still joins the first call's incident, and a call 3 km
    away does not; the per-report candidate query is not made."""
    from sqlalchemy import event

    c = _container(tmp_path, "cells")
    at = FixedClock().now()
    first = report(lat=36.39999, lon=115.86999, injured=1, movable=False, at=at, report_id="122-C-1")
    c.pipeline("dispatch").process(_messages([first]))
    statements: list[str] = []
    listen = lambda _conn, _cur, sql, *_a: statements.append(sql)  # noqa: E731
    event.listen(c.db.engine, "before_cursor_execute", listen)
    try:
        near = report(lat=36.40060, lon=115.87040, injured=1, at=at + timedelta(minutes=5), source="120",
                      report_id="120-C-1")
        far = report(lat=36.42700, lon=115.87000, injured=1, at=at + timedelta(minutes=5), report_id="122-C-2")
        c.pipeline("dispatch").process(_messages([near, far], first_offset=1))
    finally:
        event.remove(c.db.engine, "before_cursor_execute", listen)
    with c.db.read() as s:
        by_report = dict(s.execute(select(ReportRow.report_id, ReportRow.incident_id)).all())
        cells = dict(s.execute(select(IncidentRow.incident_id, IncidentRow.cell)).all())
    assert by_report["120-C-1"] == by_report["122-C-1"] != by_report["122-C-2"]
    assert len(cells) == 2 and all(cells.values())
    assert not [q for q in statements if "incidents.lat BETWEEN" in q]  # no query per report for candidates
    assert len([q for q in statements if "incidents.cell IN" in q]) == 1


def test_the_migration_gives_incidents_already_stored_their_cell(tmp_path: Path) -> None:
    from alembic import command

    from connectors.sql.batch import cell_key
    from connectors.sql.db import alembic_config

    url = f"sqlite:///{tmp_path / 'm.db'}"
    command.upgrade(alembic_config(url), "0001")
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO incidents (incident_id, lat, lon, first_reported_at, last_reported_at, injured, fatalities,"
            " vehicles_movable, hit_and_run, hazards, plates, sources, severity, status, quick_handling, notes,"
            " created_at, updated_at, version) VALUES ('INC-OLD', 36.4567, 115.9853, :t, :t, 1, 0, 0, 0, '[]', '[]',"
            " '[]', 'minor', 'open', 0, '[]', :t, :t, 1)"), {"t": iso(FixedClock().now())})
    upgrade(url)
    with db.read() as s:
        assert s.scalar(select(IncidentRow.cell).where(IncidentRow.incident_id == "INC-OLD")) == cell_key(36.4567, 115.9853)


def test_two_vehicles_whose_plates_share_a_hash_prefix_each_get_their_own_claim(tmp_path: Path) -> None:
    """鲁A22681 and 鲁A61328 share the first 8 hex digits of their SHA-1, from which a claim id is made. The
    benchmark met a pair sharing the first 4 (the old id): the claims pipeline dead-lettered the crash and
    neither insurer got a claim. Each vehicle now gets its own claim, the same one on redelivery."""
    import hashlib

    assert hashlib.sha1("鲁A22681".encode()).hexdigest()[:8] == hashlib.sha1("鲁A61328".encode()).hexdigest()[:8]
    c = _container(tmp_path, "twins")
    crash = report(lat=36.3923, lon=115.8571, at=FixedClock().now(), report_id="122-H-1",
                   parties=[party("鲁A22681", "PICC"), party("鲁A61328", "CPIC")])
    for _ in range(2):  # the second time is a redelivery
        for group in GROUPS:
            c.pipeline(group).process(_messages([crash]))
    with c.db.read() as s:
        claims = s.execute(select(ClaimRow.plate, ClaimRow.insurer, ClaimRow.claim_id)).all()
        assert s.scalar(select(func.count()).select_from(RejectedMessage)) == 0
    assert sorted((p, i) for p, i, _ in claims) == [("鲁A22681", "PICC"), ("鲁A61328", "CPIC")]
    assert len({cid for _, _, cid in claims}) == 2


def test_a_crash_that_found_no_free_ambulance_gets_one_when_one_is_free_again(tmp_path: Path) -> None:
    """Every ambulance is out: police go, the incident waits with a note, and the escalation round orders
    the first ambulance that comes back. A round with nothing waiting writes nothing."""
    from accidentlink.clock import SystemClock
    from sqlalchemy import update

    c = _container(tmp_path, "waiting")
    with c.db.uow() as uow:
        uow.session.execute(update(UnitRow).where(UnitRow.service == "120").values(
            status="out_of_service", status_at=SystemClock().now()))
        uow.commit()
    crash = report(lat=36.3923, lon=115.8571, injured=1, movable=False, at=FixedClock().now(), report_id="122-W-1")
    dispatch = c.pipeline("dispatch")
    dispatch.process(_messages([crash]))

    def services() -> list[str]:
        with c.db.read() as s:
            return sorted(s.scalars(select(OrderRow.service).where(OrderRow.state == "active")))

    assert services() == ["122"]
    with c.db.read() as s:
        notes = s.scalar(select(IncidentRow.notes))
    assert notes[-1]["kind"] == "no_unit_available"
    back = "LC-120-DKP-1"
    with c.db.uow() as uow:
        assert uow.session.get(UnitRow, back) is not None
        uow.session.execute(update(UnitRow).where(UnitRow.unit_id == back).values(
            status="available", status_at=SystemClock().now()))
        uow.commit()
    dispatch.handler.escalate()
    assert services() == ["120", "122"]
    with c.db.read() as s:
        assert s.scalar(select(OrderRow.unit_id).where(OrderRow.service == "120")) == back
        outbox = s.scalar(select(func.count()).select_from(OutboxMessage))
    dispatch.handler.escalate()  # nothing waits any more
    with c.db.read() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == outbox


def test_a_second_call_recorded_first_by_another_pipeline_orders_nothing_twice(tmp_path: Path) -> None:
    """The claims pipeline records a second call about a crash that already has its police and ambulance;
    dispatch then finds the call recorded, reads the incident's orders with the batch, and orders nothing."""
    c = _container(tmp_path, "second-call")
    at = FixedClock().now()
    first = report(lat=36.3923, lon=115.8571, injured=1, movable=False, at=at, report_id="122-S-1")
    for group in GROUPS:
        c.pipeline(group).process(_messages([first]))
    second = report(lat=36.3924, lon=115.8572, injured=1, movable=False, at=at + timedelta(minutes=2), source="120",
                    report_id="120-S-1")
    for group in ("claims", "rescue-fund", "dispatch"):
        c.pipeline(group).process(_messages([second], first_offset=1))
    with c.db.read() as s:
        assert len(set(s.scalars(select(ReportRow.incident_id)))) == 1
        assert sorted(s.scalars(select(OrderRow.service))) == ["120", "122"]
        assert s.scalar(select(func.count()).select_from(RejectedMessage)) == 0
