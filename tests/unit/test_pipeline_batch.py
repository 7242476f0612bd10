"""A batch is written in bulk (one transaction, no savepoints) and redone message by message when
anything in it fails. These tests run the intake and the three pipelines in-process on real SQLite
stores, a file per context (no broker: ``Pipeline`` takes raw messages, and what the intake publishes
on ``intake.incident-facts`` is fed to the pipelines), and check what a dispatcher, a fund administrator
or an insurer would see: the same result either way, the culprit alone dead-lettered, one incident per
crash, no unit booked twice, and a later call about a crash acted on as a change."""
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

from accidentlink.clock import FixedClock, iso
from connectors.sql.db import Database
from connectors.sql.models import (
    ClaimRow, FundCaseRow, IncidentRow, OrderRow, OutboxMessage, ProcessedEvent, RejectedMessage, ReportRow,
    SmsMessage, UnitRow,
)
from tests.support.inprocess import World
from tests.support.reports import party, report

GROUPS = ("dispatch", "rescue-fund", "claims")
STORE = {"dispatch": "dispatch", "rescue-fund": "fund", "claims": "claims"}
# 东昌府区, between the 梁水镇 and 道口铺 posts (seeds/002): plenty of units within reach
AREA = (36.35, 36.50, 115.80, 116.15)


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


def _what_people_see(w: World) -> dict[str, Any]:
    seen: dict[str, Any] = {"inbox": [], "messages": [], "sms": []}
    with w.store("intake").read() as s:
        seen["incidents"] = sorted(s.execute(select(IncidentRow.incident_id, IncidentRow.status)).all())
        seen["reports"] = sorted(s.execute(select(ReportRow.report_id, ReportRow.incident_id)).all())
    with w.store("dispatch").read() as s:
        seen["dispatch_incidents"] = sorted(s.execute(select(IncidentRow.incident_id, IncidentRow.status,
                                                             IncidentRow.hospital_id, IncidentRow.quick_handling)).all())
        seen["orders"] = sorted(s.execute(select(OrderRow.order_id, OrderRow.unit_id, OrderRow.state)).all())
        seen["units_out"] = sorted(s.execute(select(UnitRow.unit_id, UnitRow.status, UnitRow.incident_id)
                                             .where(UnitRow.status != "available")).all())
    with w.store("claims").read() as s:
        seen["claims"] = sorted((c.claim_id, c.insurer, c.status, c.kind, json.dumps(c.flags, sort_keys=True))
                                for c in s.scalars(select(ClaimRow)))
    with w.store("fund").read() as s:
        seen["fund_cases"] = sorted((f.case_id, f.status, tuple(f.reasons)) for f in s.scalars(select(FundCaseRow)))
    for name in ("intake", "dispatch", "fund", "claims"):
        with w.store(name).read() as s:
            if name != "intake":  # quick-handling links carry a random token
                seen["sms"] += sorted((k, to, re.sub(r"t=[0-9a-f]+", "t=…", body)) for k, to, body in
                                      s.execute(select(SmsMessage.dedupe_key, SmsMessage.to, SmsMessage.body)))
            seen["messages"] += sorted(s.execute(select(OutboxMessage.topic, OutboxMessage.key, func.count())
                                                 .group_by(OutboxMessage.topic, OutboxMessage.key)).all())
            seen["inbox"] += sorted(s.execute(select(ProcessedEvent.consumer, ProcessedEvent.event_id)).all())
    return seen


def _everywhere(w: World, reports: list[dict[str, Any]], order: tuple[str, ...] = GROUPS, *,
                careful: bool = False) -> None:
    facts = w.intake(reports, careful=careful)
    for group in order:
        w.run(group, facts, careful=careful)


@pytest.mark.parametrize("order", [GROUPS, GROUPS[::-1]], ids=["dispatch-first", "claims-first"])
def test_a_batch_written_in_bulk_leaves_what_message_by_message_leaves(tmp_path: Path, order: tuple[str, ...]) -> None:
    """The intake and each pipeline, in either order (each reads its own copies, orders and claims once
    per batch)."""
    reports = _mix(60, FixedClock().now())
    bulk, careful = World(tmp_path, "bulk"), World(tmp_path, "careful")
    _everywhere(bulk, reports, order)
    _everywhere(careful, reports, order, careful=True)
    seen = _what_people_see(bulk)
    assert seen == _what_people_see(careful)
    assert len(seen["reports"]) == 60 and len(seen["inbox"]) == 240  # the intake and three pipelines, once each
    assert {o[0].rsplit("-", 2)[1] for o in seen["orders"]} == {"120", "122"} and seen["claims"] and seen["fund_cases"]
    assert len(seen["units_out"]) == len([o for o in seen["orders"] if o[2] == "active"])


def test_a_redelivered_batch_changes_nothing(tmp_path: Path) -> None:
    w = World(tmp_path, "redelivered")
    reports = _mix(20, FixedClock().now())
    facts = w.intake(reports)
    for group in GROUPS:
        w.run(group, facts)
    before = _what_people_see(w)
    again = w.intake(reports)
    assert again == [] and w.pipeline("intake").process([]).processed == 0
    for group in GROUPS:
        result = w.run(group, facts)
        assert result.duplicates == 20 and result.processed == 0
    assert _what_people_see(w) == before


def test_one_failing_message_is_dead_lettered_alone_and_the_rest_of_its_batch_commits(tmp_path: Path) -> None:
    w = World(tmp_path, "failing")
    facts = w.intake(_mix(10, FixedClock().now()))
    p = w.pipeline("claims")
    real = p.handler

    def handler(ctx: Any, rep: Any, incident: Any) -> None:
        if rep.report_id == "122-B-004":
            raise RuntimeError("insurer rules missing")
        real(ctx, rep, incident)

    p.handler = handler  # type: ignore[assignment]
    result = p.process(facts)
    assert (result.processed, result.failed) == (9, 1)
    culprit = next(m.offset for m in facts if b"122-B-004" in (m.value or b""))
    with w.store("claims").read() as s:
        rejected = s.scalars(select(RejectedMessage)).all()
        assert [(r.offset, r.detected_by, r.topic) for r in rejected] == [(culprit, "claims", "intake.incident-facts")]
        assert "insurer rules missing" in rejected[0].reason
        assert s.scalar(select(func.count()).select_from(ProcessedEvent)) == 10  # the culprit too: never retried forever
        plates = {x.plate for x in s.scalars(select(ClaimRow))}
        assert "鲁P004A" not in plates and {"鲁P003A", "鲁P005A"} <= plates
        dead = s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "accidents.rejected")).all()
        assert len(dead) == 1 and dict((k, bytes.fromhex(v)) for k, v in dead[0].headers)["source-offset"] == \
            str(culprit).encode()


def test_two_calls_about_one_crash_in_one_batch_make_one_incident_with_one_order_per_service(tmp_path: Path) -> None:
    w = World(tmp_path, "merge")
    at = FixedClock().now()
    first = report(lat=36.3923, lon=115.8571, injured=2, movable=False, at=at, report_id="122-M-1",
                   parties=[party("鲁P12345")])
    second = report(lat=36.3926, lon=115.8574, injured=2, movable=False, at=at + timedelta(minutes=3), source="120",
                    report_id="120-M-1", parties=[party("鲁P12345"), party("鲁P67890", "CPIC")])
    elsewhere = report(lat=36.4718, lon=116.1010, injured=1, at=at, report_id="122-M-2")
    _everywhere(w, [first, second, elsewhere])
    with w.store("intake").read() as s:
        by_report = dict(s.execute(select(ReportRow.report_id, ReportRow.incident_id)).all())
    assert by_report["122-M-1"] == by_report["120-M-1"] != by_report["122-M-2"]
    with w.store("dispatch").read() as s:
        orders = s.execute(select(OrderRow.incident_id, OrderRow.service).where(OrderRow.state == "active")).all()
        assert sorted(o[1] for o in orders if o[0] == by_report["122-M-1"]) == ["120", "122"]
    with w.store("claims").read() as s:
        assert sorted(s.scalars(select(ClaimRow.plate).where(ClaimRow.incident_id == by_report["122-M-1"]))) == \
            ["鲁P12345", "鲁P67890"]
    feed = w.values("intake", "incidents") + w.values("dispatch", "incidents")
    merged = [e for e in feed if e["incident_id"] == by_report["122-M-1"]]
    changes = [e["change"] for e in merged]
    assert changes[0] == "created" and changes.count("report_merged") == 1 and changes.count("unit_assigned") == 2
    assert [e for e in merged if e["change"] == "report_merged"][0]["incident"]["report_ids"] == ["122-M-1", "120-M-1"]
    assert merged[-1]["incident"]["report_ids"] == ["122-M-1", "120-M-1"]
    assert len({e["event_id"] for e in feed}) == len(feed)


def test_a_unit_taken_after_the_batch_read_the_statuses_is_not_booked_and_the_next_nearest_is(tmp_path: Path,
                                                                                              monkeypatch: Any) -> None:
    from dispatch.units_index import UnitsIndex

    w = World(tmp_path, "taken")
    crash = report(lat=36.3923, lon=115.8571, injured=1, movable=False, at=FixedClock().now(), report_id="122-U-1")
    # which ambulance would be chosen if nobody interfered: find out on a copy of the world
    probe = World(tmp_path, "probe")
    probe.run("dispatch", probe.intake([crash]))
    with probe.store("dispatch").read() as s:
        nearest = s.scalar(select(OrderRow.unit_id).where(OrderRow.service == "120"))
    real_refresh = UnitsIndex.refresh

    def refresh_then_taken(self: UnitsIndex, units: Any) -> None:
        real_refresh(self, units)  # the batch read "available" ...
        units.session.execute(text("UPDATE units SET status = 'out_of_service' WHERE unit_id = :u"),
                              {"u": nearest})  # ... then not

    monkeypatch.setattr(UnitsIndex, "refresh", refresh_then_taken)
    forgotten = []
    real_forget = UnitsIndex.forget
    monkeypatch.setattr(UnitsIndex, "forget", lambda self: (forgotten.append(1), real_forget(self)))
    result = w.run("dispatch", w.intake([crash]))
    assert result.processed == 1 and result.failed == 0
    assert forgotten == [1]  # the bulk write found the unit taken; the batch was redone with fresh statuses
    with w.store("dispatch").read() as s:
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
    w = World(tmp_path, "times")
    w.run("dispatch", w.intake(_mix(5, FixedClock().now())))
    events = w.values("intake", "incidents") + w.values("dispatch", "incidents") + w.values("intake", "intake.incident-facts")
    assert events and all(e["at"] == iso(FixedClock().now()) and e["at"].endswith("+08:00") for e in events)


def test_a_call_in_a_later_batch_merges_across_a_grid_cell_edge_with_one_candidate_query_per_batch(
        tmp_path: Path) -> None:
    """The intake's batch reads the open incidents near all its new reports at once (by 0.01° cell): a
    second call about a crash 100 m away, over a cell edge, still joins the first call's incident, and a
    call 3 km away does not; the per-report candidate query is not made."""
    from sqlalchemy import event

    w = World(tmp_path, "cells")
    at = FixedClock().now()
    first = report(lat=36.39999, lon=115.86999, injured=1, movable=False, at=at, report_id="122-C-1")
    w.intake([first])
    statements: list[str] = []
    listen = lambda _conn, _cur, sql, *_a: statements.append(sql)  # noqa: E731
    engine = w.store("intake").engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        near = report(lat=36.40060, lon=115.87040, injured=1, at=at + timedelta(minutes=5), source="120",
                      report_id="120-C-1")
        far = report(lat=36.42700, lon=115.87000, injured=1, at=at + timedelta(minutes=5), report_id="122-C-2")
        w.intake([near, far])
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    with w.store("intake").read() as s:
        by_report = dict(s.execute(select(ReportRow.report_id, ReportRow.incident_id)).all())
        cells = dict(s.execute(select(IncidentRow.incident_id, IncidentRow.cell)).all())
    assert by_report["120-C-1"] == by_report["122-C-1"] != by_report["122-C-2"]
    assert len(cells) == 2 and all(cells.values())
    assert not [q for q in statements if "incidents.lat BETWEEN" in q]  # no query per report for candidates
    assert len([q for q in statements if "incidents.cell IN" in q]) == 1


@pytest.mark.parametrize("first_side", ["west", "east"])
def test_two_callers_on_either_side_of_an_area_edge_make_one_incident(tmp_path: Path, first_side: str) -> None:
    """Areas are 0.1° cells (``accidentlink.areas``); 115.9° E is an edge. Two callers of one crash stand
    60 m apart on either side: whichever is merged first, in separate batches (as two intake replicas
    would), there is one incident, and both batches took the locks of both areas."""
    from accidentlink.areas import area_of
    from accidentlink.intake import merge_locks
    from accidentlink.reports import parse_report

    w = World(tmp_path, f"edge-{first_side}")
    at = FixedClock().now()
    west = report(lat=36.4312, lon=115.89985, injured=1, movable=False, at=at, report_id="122-E-W",
                  parties=[party("鲁P55501")])
    east = report(lat=36.4313, lon=115.90045, injured=1, movable=False, at=at + timedelta(minutes=1), source="120",
                  report_id="120-E-E", parties=[party("鲁P55501"), party("鲁P55502", "CPIC")])
    assert area_of(36.4312, 115.89985) != area_of(36.4313, 115.90045)
    locks = [merge_locks([parse_report(json.dumps(r).encode())]) for r in (west, east)]
    assert locks[0] == locks[1] == sorted(f"intake-area:{a}" for a in {area_of(36.4312, 115.89985), area_of(36.4313, 115.90045)})
    order = [west, east] if first_side == "west" else [east, west]
    facts = w.intake([order[0]]) + w.intake([order[1]])
    with w.store("intake").read() as s:
        assert len(set(s.scalars(select(ReportRow.incident_id)))) == 1
    assert [json.loads(m.value)["change"] for m in facts] == ["created", "report_merged"]
    for group in GROUPS:
        w.run(group, facts)
    with w.store("dispatch").read() as s:
        assert sorted(s.scalars(select(OrderRow.service))) == ["120", "122"]
    with w.store("claims").read() as s:  # the vehicle named only by the second caller has its claim too
        assert sorted(s.scalars(select(ClaimRow.plate))) == ["鲁P55501", "鲁P55502"]


def test_a_crash_far_from_the_edge_locks_only_its_own_area() -> None:
    from accidentlink.areas import area_of, areas_touched

    assert areas_touched(36.45, 115.95) == [area_of(36.45, 115.95)]
    assert len(areas_touched(36.4001, 115.9001)) == 4  # a corner: four areas


def test_each_store_has_only_its_own_tables_and_migrates_up_and_down(tmp_path: Path) -> None:
    from sqlalchemy import inspect

    from connectors.sql.db import downgrade
    from connectors.sql.stores import TABLES, all_urls, upgrade_all

    url = f"sqlite:///{tmp_path / 'x.db'}"
    upgrade_all(url, tmp_path)
    urls = all_urls(url, tmp_path)
    for context, store_url in urls.items():
        db = Database(store_url)
        assert set(inspect(db.engine).get_table_names()) == set(TABLES[context]) | {"alembic_version"}, context
        db.dispose()
        downgrade(store_url, context=context)
        db = Database(store_url)
        assert set(inspect(db.engine).get_table_names()) == {"alembic_version"}, context
        db.dispose()
    assert len(set(urls.values())) == len(urls)  # a file each


def test_two_vehicles_whose_plates_share_a_hash_prefix_each_get_their_own_claim(tmp_path: Path) -> None:
    """鲁A22681 and 鲁A61328 share the first 8 hex digits of their SHA-1, from which a claim id is made. The
    benchmark met a pair sharing the first 4 (the old id): the claims pipeline dead-lettered the crash and
    neither insurer got a claim. Each vehicle now gets its own claim, the same one on redelivery."""
    import hashlib

    assert hashlib.sha1("鲁A22681".encode()).hexdigest()[:8] == hashlib.sha1("鲁A61328".encode()).hexdigest()[:8]
    w = World(tmp_path, "twins")
    crash = report(lat=36.3923, lon=115.8571, at=FixedClock().now(), report_id="122-H-1",
                   parties=[party("鲁A22681", "PICC"), party("鲁A61328", "CPIC")])
    facts = w.intake([crash])
    for _ in range(2):  # the second time is a redelivery
        w.run("claims", facts)
    with w.store("claims").read() as s:
        claims = s.execute(select(ClaimRow.plate, ClaimRow.insurer, ClaimRow.claim_id)).all()
        assert s.scalar(select(func.count()).select_from(RejectedMessage)) == 0
    assert sorted((p, i) for p, i, _ in claims) == [("鲁A22681", "PICC"), ("鲁A61328", "CPIC")]
    assert len({cid for _, _, cid in claims}) == 2


def test_a_crash_that_found_no_free_ambulance_gets_one_when_one_is_free_again(tmp_path: Path) -> None:
    """Every ambulance is out: police go, the incident waits with a note, and the escalation round orders
    the first ambulance that comes back. A round with nothing waiting writes nothing."""
    from accidentlink.clock import SystemClock
    from sqlalchemy import update

    w = World(tmp_path, "waiting")
    db = w.store("dispatch")
    with db.uow() as uow:
        uow.session.execute(update(UnitRow).where(UnitRow.service == "120").values(
            status="out_of_service", status_at=SystemClock().now()))
        uow.commit()
    crash = report(lat=36.3923, lon=115.8571, injured=1, movable=False, at=FixedClock().now(), report_id="122-W-1")
    dispatch = w.pipeline("dispatch")
    dispatch.process(w.intake([crash]))

    def services() -> list[str]:
        with db.read() as s:
            return sorted(s.scalars(select(OrderRow.service).where(OrderRow.state == "active")))

    assert services() == ["122"]
    with db.read() as s:
        notes = s.scalar(select(IncidentRow.notes))
    assert notes[-1]["kind"] == "no_unit_available"
    back = "LC-120-DKP-1"
    with db.uow() as uow:
        assert uow.session.get(UnitRow, back) is not None
        uow.session.execute(update(UnitRow).where(UnitRow.unit_id == back).values(
            status="available", status_at=SystemClock().now()))
        uow.commit()
    dispatch.handler.escalate()
    assert services() == ["120", "122"]
    with db.read() as s:
        assert s.scalar(select(OrderRow.unit_id).where(OrderRow.service == "120")) == back
        outbox = s.scalar(select(func.count()).select_from(OutboxMessage))
    dispatch.handler.escalate()  # nothing waits any more
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == outbox


def test_a_later_call_reaches_every_pipeline_as_a_change_acted_on_once(tmp_path: Path) -> None:
    """A first call: a minor crash, one car named, nobody hurt (police only, nothing for the fund). A second
    call about it: someone is hurt after all and the other car, insured, is named. Every pipeline gets the
    merge as a change: dispatch adds an ambulance, claims opens the newly named vehicle's claim, and the
    same change delivered again does nothing more."""
    w = World(tmp_path, "second-call")
    at = FixedClock().now()
    first = report(lat=36.3923, lon=115.8571, movable=False, at=at, report_id="122-S-1",
                   parties=[party("鲁P70001", "PICC")])
    facts = w.intake([first])
    for group in GROUPS:
        w.run(group, facts)
    with w.store("dispatch").read() as s:
        assert sorted(s.scalars(select(OrderRow.service))) == ["122"]
    second = report(lat=36.3924, lon=115.8572, injured=1, movable=False, at=at + timedelta(minutes=2), source="120",
                    report_id="120-S-1", parties=[party("鲁P70001", "PICC"), party("鲁P70002", "CPIC")])
    change = w.intake([second])
    assert [json.loads(m.value)["change"] for m in change] == ["report_merged"]
    for _ in range(2):  # the second time is a redelivery
        for group in GROUPS:
            w.run(group, change)
    with w.store("dispatch").read() as s:
        assert len(set(s.scalars(select(ReportRow.incident_id)))) == 1
        assert sorted(s.scalars(select(OrderRow.service))) == ["120", "122"]
        assert s.scalar(select(IncidentRow.injured)) == 1
    with w.store("claims").read() as s:
        assert sorted(s.scalars(select(ClaimRow.plate))) == ["鲁P70001", "鲁P70002"]
    for name in ("dispatch", "claims", "fund"):
        with w.store(name).read() as s:
            assert s.scalar(select(func.count()).select_from(RejectedMessage)) == 0
