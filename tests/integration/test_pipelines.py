"""The event backbone against the real broker: validated intake and dead letters, one incident per
crash, three pipelines that consume independently and survive a crash of one of them."""
from __future__ import annotations

import json
import time
from contextlib import contextmanager

import pytest

from connectors.kafka import read_all
from tests.support.platform import wait_for
from tests.support.reports import LIANGSHUI, party, produce, report

pytestmark = pytest.mark.integration

HOSTILE = [
    (b"{not json", "not JSON"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"", "empty message"),
    (b"[1, 2, 3]", "must be a JSON object"),
    (json.dumps({**report(), "schema": "accident-report/2"}).encode(), "unknown schema version"),
    (json.dumps({**report(), "injured": -1}).encode(), "must not be negative"),
    (json.dumps({**report(), "injured": "2"}).encode(), "must be an integer"),
    (json.dumps({k: v for k, v in report().items() if k != "location"}).encode(), "missing field 'location'"),
    (json.dumps({**report(), "location": {"lat": 91.5, "lon": 115.9}}).encode(), "between -90 and 90"),
    (json.dumps({**report(), "reported_at": "2026-11-22T08:15:03"}).encode(), "no offset"),
    (json.dumps({**report(), "hazards": ["alien"]}).encode(), "unknown hazard"),
    (json.dumps({**report(), "vehicles_movable": "yes"}).encode(), "must be a boolean"),
]


def incidents(p, token):  # type: ignore[no-untyped-def]
    r = p.get("/api/incidents?limit=5000", token)
    assert r.status == 200, r.body
    return r.body


def test_bad_input_is_dead_lettered_once_with_its_reason_and_the_pipelines_go_on(platform_factory):
    p = platform_factory()
    p.wait_healthy()
    dispatcher = p.token("dispatcher", "调度员甲")
    topic = p.prefix + "accidents.reported"
    produce(p.bootstrap, topic, [raw for raw, _ in HOSTILE], keys=[f"bad-{i}".encode() for i in range(len(HOSTILE))])
    good = report(injured=1, parties=[party("鲁P10001")])
    produce(p.bootstrap, topic, [good])

    wait_for(lambda: any(good["report_id"] in i["report_ids"] for i in incidents(p, dispatcher)), 30,
             what="the valid report after the hostile ones to become an incident")
    rejected = wait_for(lambda: (lambda r: r if len(r) >= len(HOSTILE) else None)(
        read_all(p.bootstrap, p.prefix + "accidents.rejected")), 30, what="dead letters")
    assert len(rejected) == len(HOSTILE), "each bad message is dead-lettered exactly once, not once per pipeline"
    sources = read_all(p.bootstrap, topic)
    by_offset = {(r.partition, r.offset): r for r in sources}
    seen_reasons = []
    for dl in rejected:
        h = {k: v.decode() for k, v in dl.headers}
        assert set(h) >= {"error", "source-topic", "source-partition", "source-offset"}
        assert h["source-topic"] == topic
        original = by_offset[(int(h["source-partition"]), int(h["source-offset"]))]
        assert dl.value == original.value, "bytes unchanged"
        assert dl.key == original.key
        seen_reasons.append((original.value, h["error"]))
    for raw, expected in HOSTILE:
        reason = next(err for value, err in seen_reasons if value == raw)
        assert expected in reason, f"{raw[:40]!r}: {reason}"
    for name, proc in p.procs.items():
        assert proc.poll() is None, f"{name} crashed: {p.log_tail(name)}"


def test_two_callers_of_one_crash_make_one_incident_with_one_order_per_service(platform_factory):
    p = platform_factory()
    p.wait_healthy()
    dispatcher = p.token("dispatcher", "调度员乙")
    first = report(source="122", injured=2, hazards=["trapped"], movable=False, parties=[party("鲁P20001")])
    second = report(source="120", lat=LIANGSHUI[0] + 0.0008, lon=LIANGSHUI[1] + 0.0006, injured=2)  # ~100 m away
    elsewhere = report(source="122", lat=36.47, lon=116.10, injured=1)                          # another crash
    produce(p.bootstrap, p.prefix + "accidents.reported", [first, second, elsewhere])

    def merged():  # type: ignore[no-untyped-def]
        for i in incidents(p, dispatcher):
            if first["report_id"] in i["report_ids"] and second["report_id"] in i["report_ids"]:
                return i
    inc = wait_for(merged, 30, what="both reports in one incident")
    assert all(elsewhere["report_id"] not in i["report_ids"] or len(i["report_ids"]) == 1 for i in incidents(p, dispatcher))
    wait_for(lambda: len(p.get(f"/api/incidents/{inc['incident_id']}", dispatcher).body["orders"]) == 2, 20,
             what="two orders")
    orders = wait_for(lambda: (lambda os: os if len(os) >= 2 else None)(
        [json.loads(r.value) for r in read_all(p.bootstrap, p.prefix + "dispatch.orders")
         if json.loads(r.value)["incident_id"] == inc["incident_id"]]), 20, what="both orders on the topic")
    assert sorted(o["service"] for o in orders) == ["120", "122"]
    assert orders[0]["issued_at"] == orders[1]["issued_at"], "police and ambulance ordered in the same step"
    changes = wait_for(lambda: (lambda cs: cs if "hospital_assigned" in cs else None)(
        [json.loads(r.value)["change"] for r in read_all(p.bootstrap, p.prefix + "incidents")
         if r.key.decode() == inc["incident_id"]]), 20, what="incident changes on the topic")
    assert changes.count("created") == 1 and changes.count("report_merged") == 1
    assert {"unit_assigned", "hospital_assigned"} <= set(changes)


def test_a_killed_pipeline_delays_no_other_and_catches_up_with_nothing_lost_or_doubled(platform_factory):
    p = platform_factory()
    p.wait_healthy()
    dispatcher = p.token("dispatcher", "调度员丙")
    fund = p.token("fund_admin", "基金经办")
    picc = p.token("insurer", "PICC理赔", insurer="PICC")
    p.kill("claims")  # SIGKILL mid-stream: no goodbye to the group
    batch = [report(lat=36.40 + i * 0.01, lon=115.86 + i * 0.01, injured=1, hit_and_run=(i % 2 == 0),
                    parties=[] if i % 2 == 0 else [party(f"鲁P3{i:04d}")]) for i in range(10)]
    produce(p.bootstrap, p.prefix + "accidents.reported", batch)
    ids = {r["report_id"] for r in batch}

    # dispatch and the fund keep going without claims
    wait_for(lambda: ids <= {rid for i in incidents(p, dispatcher) for rid in i["report_ids"] if i["orders"]}, 40,
             what="every report dispatched while claims is down")
    wait_for(lambda: len(p.get("/api/fund/cases?limit=5000", fund).body) >= 5, 30, what="hit-and-run fund cases")
    assert p.get("/api/claims?limit=5000", picc).body == []

    p.start("claims")
    claims = wait_for(lambda: (lambda b: b if len(b) >= 5 else None)(p.get("/api/claims?limit=5000", picc).body),
                      90, what="claims caught up after restart")
    assert len(claims) == 5
    opened = wait_for(lambda: (lambda es: es if len(es) >= 5 else None)(
        [e for e in (json.loads(r.value) for r in read_all(p.bootstrap, p.prefix + "claims.events"))
         if e["change"] == "opened"]), 20, what="opened claims on the topic")
    assert len(opened) == len({e["claim_id"] for e in opened}) == 5, "nothing opened twice"
    orders = wait_for(lambda: (lambda os: os if len({o["order_id"] for o in os}) >= 20 else None)(
        [json.loads(r.value) for r in read_all(p.bootstrap, p.prefix + "dispatch.orders")]), 20, what="orders on the topic")
    assert len({o["order_id"] for o in orders}) == 20, "one police and one ambulance order per injured crash"


@contextmanager
def held_write_lock(url: str):  # type: ignore[no-untyped-def]
    """Another writer holds a store: SQLite's write lock on its file, or an exclusive lock on its inbox table."""
    from sqlalchemy import text

    from connectors.sql.db import make_engine

    engine = make_engine(url)
    conn = engine.connect()
    try:
        conn.begin()  # SQLite: BEGIN IMMEDIATE, the file's write lock (``connectors.sql.db.make_engine``)
        if not url.startswith("sqlite"):
            conn.execute(text("LOCK TABLE processed_events IN ACCESS EXCLUSIVE MODE"))
        yield
    finally:
        conn.rollback()
        conn.close()
        engine.dispose()


def _both_orders_within(p, dispatcher, crash, timeout_s):  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    produce(p.bootstrap, p.prefix + "accidents.reported", [crash])
    wait_for(lambda: any(crash["report_id"] in i["report_ids"] and {o["service"] for o in i["orders"]} == {"120", "122"}
                         for i in incidents(p, dispatcher)), timeout_s, what="both orders")
    return time.monotonic() - t0


def test_dispatch_orders_within_seconds_while_the_claims_store_is_locked_and_while_claims_and_fund_are_down(
        platform_factory):
    """Pipelines share nothing but Kafka: another writer holding the claims store, then the claims and fund
    workers stopped, delay no ambulance; both catch up afterwards with nothing lost."""
    p = platform_factory()
    p.wait_healthy()
    dispatcher = p.token("dispatcher", "调度员丁")
    picc = p.token("insurer", "PICC理赔", insurer="PICC")
    fund = p.token("fund_admin", "基金经办")
    locked = report(lat=36.41, lon=115.88, injured=1, movable=False, parties=[party("鲁P40001")])
    with held_write_lock(p.store_url("claims")):
        took = _both_orders_within(p, dispatcher, locked, 15)
        assert took < 15
    p.kill("claims")
    p.kill("rescue-fund")
    down = report(lat=36.43, lon=115.90, injured=1, movable=False, hit_and_run=True)
    took_down = _both_orders_within(p, dispatcher, down, 15)
    assert took_down < 15
    p.start("claims", "rescue-fund")
    wait_for(lambda: any(c["plate"] == "鲁P40001" for c in p.get("/api/claims?limit=5000", picc).body), 90,
             what="the claim opened once the claims store was free")
    wait_for(lambda: any(c["incident_id"] in {i["incident_id"] for i in incidents(p, dispatcher)
                                              if down["report_id"] in i["report_ids"]}
                         for c in p.get("/api/fund/cases?limit=5000", fund).body), 90,
             what="the hit-and-run's fund case once the fund was back")


def test_an_address_only_report_on_kafka_is_placed_by_the_gazetteer_and_an_unknown_place_is_dead_lettered(
        platform_factory):
    """The intake places a report that names a place but no coordinates (a call-taker's 122 record), and
    dead-letters, with the reason, one whose place nobody knows: no report is dropped."""
    p = platform_factory()
    p.wait_healthy()
    dispatcher = p.token("dispatcher", "调度员戊")
    known = report(injured=1, movable=False)
    known["location"] = {"address": "东昌府区沙镇"}
    unknown = report(injured=1)
    unknown["location"] = {"address": "火星大道"}
    produce(p.bootstrap, p.prefix + "accidents.reported", [known, unknown])
    inc = wait_for(lambda: next((i for i in incidents(p, dispatcher) if known["report_id"] in i["report_ids"]), None),
                   30, what="the placed report's incident")
    assert (inc["location"]["lat"], inc["location"]["lon"]) == (36.337, 115.83)
    dead = wait_for(lambda: [r for r in read_all(p.bootstrap, p.prefix + "accidents.rejected")
                             if json.loads(r.value)["report_id"] == unknown["report_id"]], 30, what="the dead letter")
    assert len(dead) == 1 and "not in the gazetteer" in dict(dead[0].headers)["error"].decode()
    assert not any(unknown["report_id"] in i["report_ids"] for i in incidents(p, dispatcher))
