"""Issue 13's rules end to end, through HTTP and the topics on the real broker: callers naming only their own
vehicle, knock-for-knock under primary and secondary liability, the statutory severity grade, a holiday
calendar that knows its limits, and the police's working-day timers."""
from __future__ import annotations

import base64
import json
import re
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest

from connectors.kafka import read_all
from tests.support.platform import wait_for
from tests.support.reports import party, produce, report

pytestmark = pytest.mark.e2e
CST = timezone(timedelta(hours=8))
M_PER_DEG_LAT = 111_000
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()


def _incident_of(p, dispatcher, report_id):  # type: ignore[no-untyped-def]
    return next((i for i in p.get("/api/incidents?limit=5000", dispatcher).body if report_id in i["report_ids"]), None)


def _orders_on_topic(p, incident_id):  # type: ignore[no-untyped-def]
    return [json.loads(m.value) for m in read_all(p.bootstrap, p.prefix + "dispatch.orders")
            if json.loads(m.value)["incident_id"] == incident_id]


def _with_orders(p, dispatcher, report_id):  # type: ignore[no-untyped-def]
    return wait_for(lambda: (lambda i: i if i and len(i["orders"]) == 2 else None)(
        _incident_of(p, dispatcher, report_id)), 30, what="an incident with its police unit and ambulance")


# ---------------------------------------------------------------- the merge rule
def test_two_drivers_each_naming_only_their_own_plate_make_one_incident_with_one_set_of_units(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    at = datetime.now(CST)
    here = (36.4620, 115.9210)
    first = report(lat=here[0], lon=here[1], injured=1, movable=False, at=at, parties=[party("鲁P61001", "PICC")])
    produce(p.bootstrap, p.prefix + "accidents.reported", [first])
    inc = _with_orders(p, dispatcher, first["report_id"])
    second = report(lat=here[0] + 50 / M_PER_DEG_LAT, lon=here[1], injured=1, movable=False,
                    at=at + timedelta(minutes=1), parties=[party("鲁P61002", "CPIC")])
    produce(p.bootstrap, p.prefix + "accidents.reported", [second])
    merged = wait_for(lambda: (lambda i: i if i and second["report_id"] in i["report_ids"] else None)(
        p.get(f"/api/incidents/{inc['incident_id']}", dispatcher).body), 30, what="the second driver's report merged")
    assert merged["plates"] == ["鲁P61001", "鲁P61002"]
    assert _incident_of(p, dispatcher, second["report_id"])["incident_id"] == inc["incident_id"]
    changes = wait_for(lambda: (lambda cs: cs if "report_merged" in cs else None)(
        [json.loads(m.value)["change"] for m in read_all(p.bootstrap, p.prefix + "incidents")
         if m.key.decode() == inc["incident_id"]]), 20, what="report_merged on the incidents topic")
    assert changes.count("created") == 1
    orders = _orders_on_topic(p, inc["incident_id"])
    assert sorted(o["service"] for o in orders) == ["120", "122"], "one police unit and one ambulance, not two sets"
    assert len(merged["orders"]) == 2


@pytest.mark.parametrize("apart", ["1.5 km", "40 minutes"])
def test_own_plate_callers_of_two_crashes_apart_make_two_incidents_each_with_its_units(shared_platform, apart):
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    at = datetime.now(CST) - timedelta(minutes=45)
    here = (36.3000, 116.0500) if apart == "1.5 km" else (36.3300, 116.1000)
    a = report(lat=here[0], lon=here[1], injured=1, movable=False, at=at, parties=[party("鲁P62001")])
    dlat = 1500 / M_PER_DEG_LAT if apart == "1.5 km" else 0.0
    later = timedelta(minutes=40 if apart == "40 minutes" else 1)
    b = report(lat=here[0] + dlat, lon=here[1], injured=1, movable=False, at=at + later, parties=[party("鲁P62002")])
    produce(p.bootstrap, p.prefix + "accidents.reported", [a, b])
    ia, ib = _with_orders(p, dispatcher, a["report_id"]), _with_orders(p, dispatcher, b["report_id"])
    assert ia["incident_id"] != ib["incident_id"]
    assert ia["report_ids"] == [a["report_id"]] and ib["report_ids"] == [b["report_id"]]


# ---------------------------------------------------------------- severity grades
def test_ten_deaths_grade_major_and_three_larger_in_the_api_the_filter_and_the_topic(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    ten = report(lat=36.5500, lon=116.2000, injured=4, fatalities=10, movable=False)
    three = report(lat=36.5800, lon=116.2500, injured=1, fatalities=3, movable=False)
    produce(p.bootstrap, p.prefix + "accidents.reported", [ten, three])
    i10 = wait_for(lambda: _incident_of(p, dispatcher, ten["report_id"]), 30, what="the 10-death incident")
    i3 = wait_for(lambda: _incident_of(p, dispatcher, three["report_id"]), 30, what="the 3-death incident")
    assert (i10["grade"], i3["grade"]) == ("major", "larger")
    major = {i["incident_id"] for i in p.get("/api/incidents?limit=5000&grade=major", dispatcher).body}
    larger = {i["incident_id"] for i in p.get("/api/incidents?limit=5000&grade=larger", dispatcher).body}
    assert i10["incident_id"] in major and i3["incident_id"] not in major and {i10["incident_id"], i3["incident_id"]} <= larger
    assert p.get("/api/incidents?grade=huge", dispatcher).status == 422
    feed = [json.loads(m.value) for m in read_all(p.bootstrap, p.prefix + "incidents")
            if m.key.decode() == i10["incident_id"]]
    assert feed and all(e["incident"]["grade"] == "major" for e in feed)


# ---------------------------------------------------------------- knock-for-knock
def _links(p, dispatcher, incident_id):  # type: ignore[no-untyped-def]
    """Each party's link as its phone got it (the handset file), found through the masked outbox staff read."""
    from tests.e2e.test_claims_flow import _links as links_from_handsets

    return links_from_handsets(p, dispatcher, incident_id)


def test_primary_and_secondary_liability_is_knock_for_knock_each_insurer_paying_its_own_insured(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "交警在线定责")
    tokens = {"CPIC": p.token("insurer", "CPIC理赔", insurer="CPIC"), "PICC": p.token("insurer", "PICC理赔", insurer="PICC")}
    r = report(lat=36.8400, lon=118.1200, parties=[party("鲁C97001", "CPIC", phone="+8613811110001"),
                                                   party("鲁C97002", "PICC", phone="+8613822220002")])
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])

    def claim(plate, insurer):  # type: ignore[no-untyped-def]
        return next((c for c in p.get("/api/claims?limit=5000", tokens[insurer]).body if c["plate"] == plate), None)
    first = wait_for(lambda: claim("鲁C97001", "CPIC"), 30, what="CPIC's claim")
    links = wait_for(lambda: (lambda l: l if len(l) == 2 else None)(_links(p, dispatcher, first["incident_id"])), 20,
                     what="quick-handling links")
    for qid, tok in links.values():
        for kind in ("front_side", "rear_side", "impact_point"):
            assert p.post(f"/api/quick/{qid}/photos?t={tok}", None, {"kind": kind, "data_base64": PNG}).status == 201
        assert p.post(f"/api/quick/{qid}/confirm?t={tok}", None,
                      {"signature": "某", "situations": [], "disputed": True}).status == 200
    done = p.post(f"/api/quick/{qid}/determine", dispatcher,
                  {"shares": {"鲁C97001": "primary", "鲁C97002": "secondary"}, "reason": "甲车变道未让行，乙车未减速"})
    assert done.status == 200 and done.body["outcome"]["knock_for_knock_possible"] is True
    losses = {"鲁C97001": ("CPIC", 150_000), "鲁C97002": ("PICC", 80_000)}
    for plate, (insurer, fen) in losses.items():
        c = wait_for(lambda: (lambda c: c if c and c["facts"].get("liability") else None)(claim(plate, insurer)), 20,
                     what="liability on the claim")
        for action, body in [("request-documents", {}), ("documents-complete", {}), ("assess", {"amount_fen": fen})]:
            assert p.post(f"/api/claims/{c['claim_id']}/{action}", tokens[insurer], body).status == 200
    for plate, (insurer, fen) in losses.items():
        kfk = claim(plate, insurer)["facts"]["knock_for_knock"]
        assert kfk["applies"] is True and kfk["own_vehicle_fen"] == fen and kfk["shares"]["鲁C97002"] == "secondary"
    cid = claim("鲁C97001", "CPIC")["claim_id"]
    for action, body in [("decide", {"accepted": True}), ("agree", {})]:
        assert p.post(f"/api/claims/{cid}/{action}", tokens["CPIC"], body).status == 200
    over = p.post(f"/api/claims/{cid}/pay", tokens["CPIC"], {"amount_fen": 230_000})
    assert over.status == 422 and "own vehicle" in over.body["error"]
    paid = p.post(f"/api/claims/{cid}/pay", tokens["CPIC"], {})
    assert paid.status == 200 and paid.body["paid_fen"] == 150_000
    events = wait_for(lambda: (lambda es: es if any(e["change"] == "paid" for e in es) else None)(
        [json.loads(m.value) for m in read_all(p.bootstrap, p.prefix + "claims.events")
         if json.loads(m.value)["incident_id"] == first["incident_id"]]), 20, what="claims.events")
    assert sum(e["change"] == "knock_for_knock" and e["applies"] for e in events) == 2
    assert [e for e in events if e["change"] == "paid"][0]["knock_for_knock"] is True


# ---------------------------------------------------------------- calendars and timers
def test_a_fund_deadline_in_a_year_the_holiday_calendar_does_not_cover_is_flagged_on_the_case(platform_factory):
    # a crash of 2024 (a year holidays.json does not cover) is older than the report window: this platform
    # takes it as an operator replaying old dead letters would (ACCIDENTLINK_REPORT_MAX_AGE_DAYS)
    p = platform_factory(ACCIDENTLINK_REPORT_MAX_AGE_DAYS="1500")
    p.wait_healthy()
    fund = p.token("fund_admin", "救助基金管理员")
    r = report(lat=36.2600, lon=115.6600, injured=1, hit_and_run=True, movable=False,
               at=datetime(2024, 6, 3, 9, 0, tzinfo=CST))
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])
    case = wait_for(lambda: next((c for c in p.get("/api/fund/cases?limit=5000", fund).body
                                  if c["incident_id"].startswith("INC-") and c["opened_at"].startswith("2024-06-03")
                                  and (c.get("calendar_flags") or [])), None), 30, what="the case with its flag")
    assert case["calendar_flags"][0]["step"] == "police_notice" and case["calendar_flags"][0]["years"] == [2024]
    told = wait_for(lambda: [json.loads(m.value) for m in read_all(p.bootstrap, p.prefix + "fund.cases")
                             if json.loads(m.value)["case_id"] == case["case_id"]
                             and json.loads(m.value)["change"] == "CalendarNotCovered"], 20, what="the flag on fund.cases")
    assert len(told) == 1 and told[0]["event"]["years"] == [2024]


def test_a_police_determination_past_10_working_days_is_flagged_overdue_on_the_incident(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    r = report(lat=36.6100, lon=116.3100, injured=1, movable=False, at=datetime.now(CST) - timedelta(days=25))
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])
    inc = wait_for(lambda: _incident_of(p, dispatcher, r["report_id"]), 30, what="the incident")
    timers = {t["timer"]: t for t in p.get(f"/api/incidents/{inc['incident_id']}", dispatcher).body["police_timers"]}
    assert set(timers) == {"determination_ordinary"}
    assert timers["determination_ordinary"]["state"] == "overdue" and timers["determination_ordinary"]["flagged"]
    fresh = report(lat=36.6400, lon=116.3600, injured=1, movable=False)
    produce(p.bootstrap, p.prefix + "accidents.reported", [fresh])
    inc2 = wait_for(lambda: _incident_of(p, dispatcher, fresh["report_id"]), 30, what="a fresh incident")
    (t2,) = p.get(f"/api/incidents/{inc2['incident_id']}", dispatcher).body["police_timers"]
    assert t2["state"] in ("running", "due") and t2["owner"] == "police"
