"""Scale-out: two replicas of the intake and of every pipeline, on one broker and one database (a
PostgreSQL schema per context under TEST_DATABASE_URL, SQLite files otherwise), under load. Every report
ends in exactly one incident (two callers across an area edge included), no unit is ordered twice, no
claim, fund case, payment or text happens twice, and the fund's ledger balances."""
from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from connectors.kafka import consumer_group_members, read_all
from streams.topics import GROUPS
from tests.support.platform import wait_for
from tests.support.reports import party, produce, report

pytestmark = pytest.mark.integration
CST = timezone(timedelta(hours=8))
REPLICAS = tuple(f"{g}#2" for g in GROUPS)
EDGE_LON = 115.9  # an area edge (areas are 0.1° cells)


def _crashes(n: int) -> list[tuple[dict, dict]]:
    """Crashes in 东昌府区, each reported by two callers; every third straddles an area edge, callers ~60 m
    apart on either side. The second caller names both cars (one insured), the first only their own."""
    out = []
    for i in range(n):
        lat = 36.30 + i * 0.008  # ~900 m apart north-south: no two crashes within a merge radius
        lon = 115.82 + (i % 8) * 0.035
        injured = 1 if i % 2 == 0 else 0
        hit_and_run = i % 5 == 0
        if i % 3 == 0:
            west, east = (lat, EDGE_LON - 0.00025), (lat + 0.0001, EDGE_LON + 0.0004)
        else:
            west, east = (lat, lon), (lat + 0.0003, lon + 0.0003)
        cars = [] if hit_and_run else [party(f"鲁P6{i:03d}A", "PICC", phone=f"+86139{i:08d}"),
                                       party(f"鲁P6{i:03d}B", "CPIC", phone=f"+86138{i:08d}")]
        first = report(source="122", lat=west[0], lon=west[1], injured=injured, movable=not injured,
                       hit_and_run=hit_and_run, parties=cars[:1])
        second = report(source="120" if injured else "12123", lat=east[0], lon=east[1], injured=injured,
                        movable=not injured, hit_and_run=hit_and_run, parties=cars)
        out.append((first, second))
    return out


def test_two_replicas_of_every_stage_under_load_agree_and_do_nothing_twice(platform_factory):
    p = platform_factory(DISPATCH_ACK_TIMEOUT_S="900")  # no escalation while the test runs
    p.start(*REPLICAS)
    p.wait_healthy(120)
    wait_for(lambda: all(n == 2 for n in consumer_group_members(p.bootstrap, [p.prefix + g for g in GROUPS]).values()),
             120, 0.5, "two live members in every consumer group")
    dispatcher = p.token("dispatcher", "调度员")
    crashes = _crashes(48)
    reports = [r for pair in crashes for r in pair]
    random.Random(3).shuffle(reports)
    produce(p.bootstrap, p.prefix + "accidents.reported", reports)

    def settled():  # type: ignore[no-untyped-def]
        incs = p.get("/api/incidents?limit=5000", dispatcher).body
        ids = {rid for i in incs for rid in i["report_ids"]}
        return incs if {r["report_id"] for r in reports} <= ids else None
    incs = wait_for(settled, 120, 0.5, "every report in an incident")

    by_report = Counter(rid for i in incs for rid in i["report_ids"])
    assert set(by_report.values()) == {1}, "a report in two incidents"
    for first, second in crashes:
        holding = [i for i in incs if first["report_id"] in i["report_ids"]]
        assert len(holding) == 1 and second["report_id"] in holding[0]["report_ids"], "one crash, one incident"
    ours = {i["incident_id"] for i in incs if set(i["report_ids"]) & by_report.keys()}
    assert len(ours) == len(crashes)

    # dispatch: each injured crash gets one police unit and one ambulance, no unit twice; a service with no free
    # unit within its reach (dispatch/rules/targets.json) is flagged to the dispatcher instead, never dropped
    injured = {i["incident_id"] for i in incs if i["injured"] > 0}
    wanted = {(i, service) for i in injured for service in ("122", "120")}
    flagged: set[tuple[str, str]] = set()

    def dispatched():  # type: ignore[no-untyped-def]
        os_ = [json.loads(r.value) for r in read_all(p.bootstrap, p.prefix + "dispatch.orders")]
        flagged.clear()
        flagged.update((v["incident_id"], str(f["service"])) for v in p.get("/api/incidents?limit=5000", dispatcher).body
                       for f in v.get("no_unit_nearby") or [])
        return os_ if wanted <= {(o["incident_id"], str(o["service"])) for o in os_} | flagged else None
    orders = wait_for(dispatched, 60, 0.5, "an order or a no-unit-nearby flag per service of every injured crash")
    distinct = {o["order_id"]: o for o in orders}  # at least once: a re-published order keeps its id
    assert Counter((o["incident_id"], o["service"]) for o in distinct.values()).most_common(1)[0][1] == 1
    assert Counter(o["unit_id"] for o in distinct.values()).most_common(1)[0][1] == 1, "a unit ordered twice"
    ambulances = {o["incident_id"] for o in distinct.values() if str(o["service"]) == "120"}
    assert ambulances <= injured and ambulances, "ambulances go to the injured crashes"
    assert injured - ambulances <= {i for i, service in flagged if service == "120"}

    # claims: one per insured vehicle, opened once
    insured = {(c[1]["report_id"], p_["plate"]) for c in crashes for p_ in c[1]["parties"]}
    opened = wait_for(lambda: (lambda es: es if len({e["claim_id"] for e in es}) >= len(insured) else None)(
        [e for e in (json.loads(r.value) for r in read_all(p.bootstrap, p.prefix + "claims.events"))
         if e["change"] == "opened"]), 60, 0.5, "claims opened")
    assert len({e["claim_id"] for e in opened}) == len(insured)
    # a message may be published again (at least once), with its event id: never a second opening
    assert Counter(e["claim_id"] for e in {e["event_id"]: e for e in opened}.values()).most_common(1)[0][1] == 1, \
        "a claim opened twice"

    # the fund: one case per injured hit-and-run, opened once; one paid by two people, once
    fund_incidents = {i["incident_id"] for i in incs if i["hit_and_run"] and i["injured"] > 0}
    maker, checker = p.token("fund_admin", "经办人A"), p.token("fund_admin", "复核人B")
    cases = wait_for(lambda: (lambda cs: cs if {c["incident_id"] for c in cs} >= fund_incidents else None)(
        p.get("/api/fund/cases?limit=5000", maker).body), 60, 0.5, "fund cases")
    assert Counter(c["incident_id"] for c in cases if c["incident_id"] in ours).most_common(1)[0][1] == 1
    paid_incident = sorted(set(fund_incidents) & ambulances)[0]  # one with an ambulance, so a hospital
    inc = next(i for i in incs if i["incident_id"] == paid_incident)
    hid = wait_for(lambda: p.get(f"/api/incidents/{paid_incident}", dispatcher).body["hospital_id"], 30,
                   what="destination hospital")
    hospital = p.token("hospital", "急诊科", hospital=hid)
    adm = wait_for(lambda: next((a for a in p.get(f"/api/hospitals/{hid}/admissions?limit=5000", hospital).body
                                 if a["incident_id"] == inc["incident_id"]), None), 30, what="pre-arrival notice")
    assert p.post(f"/api/hospitals/{hid}/admissions/{adm['admission_id']}/confirm", hospital).status == 200
    started = (datetime.now(CST) - timedelta(hours=1)).isoformat(timespec="seconds")
    assert p.post(f"/api/hospitals/{hid}/admissions/{adm['admission_id']}/bills", hospital,
                  {"amount_fen": 1200000, "rescue_started_at": started, "items": []}).status == 201
    case = wait_for(lambda: next((c for c in p.get("/api/fund/cases?limit=5000", maker).body
                                  if c["incident_id"] == paid_incident and c["status"] == "applied"), None), 30,
                    what="the hospital's application on the case")
    assert p.post(f"/api/fund/cases/{case['case_id']}/approve", maker, {"amount_fen": 1200000, "note": "逃逸"}).status == 200
    assert p.post(f"/api/fund/cases/{case['case_id']}/pay", checker).status == 200
    assert p.post(f"/api/fund/cases/{case['case_id']}/pay", checker).status == 409
    detail = p.get(f"/api/fund/cases/{case['case_id']}", maker).body
    debit = sum(e["debit_fen"] for e in detail["ledger"])
    assert debit > 0 and debit == sum(e["credit_fen"] for e in detail["ledger"]), "the ledger balances"
    payments = [e for e in (json.loads(r.value) for r in read_all(p.bootstrap, p.prefix + "fund.cases"))
                if e["case_id"] == case["case_id"] and e["change"] in ("AdvancePaid", "paid")]
    assert len({e["event_id"] for e in payments}) == 1, "paid once"

    # texts: each owed once (one per unit order, one quick-handling link per party)
    sms = p.get("/api/sms?limit=5000", dispatcher).body
    assert Counter((m["store"], m["to"], m["body"]) for m in sms).most_common(1)[0][1] == 1, "a text owed twice"
    for name, proc in p.procs.items():
        assert proc.poll() is None, f"{name} crashed: {p.log_tail(name)}"
