"""Joint 120/122 dispatch through the real broker and HTTP (issue: joint dispatch and the live feed)."""
from __future__ import annotations

import json
import threading
import urllib.request

import pytest

from accidentlink.demo import unit_phone
from connectors.geo import geodesic_m
from connectors.kafka import read_all
from tests.support.platform import wait_for
from tests.support.reports import LIANGSHUI, ZHANGDIAN, party, produce, report
from tests.support.twilio_standin import TwilioStandIn

pytestmark = pytest.mark.e2e


@pytest.fixture
def twilio():  # type: ignore[no-untyped-def]
    t = TwilioStandIn().start()
    yield t
    t.stop()


def _incident_of(p, token, report_id):  # type: ignore[no-untyped-def]
    for i in p.get("/api/incidents?limit=5000", token).body:
        if report_id in i["report_ids"]:
            return i


def test_injured_crash_gets_the_nearest_free_police_and_ambulance_together_and_each_unit_one_sms(platform_factory, twilio):
    p = platform_factory(**twilio.env())
    p.wait_healthy()
    dispatcher = p.token("dispatcher", "调度员")
    intake = p.token("intake", "122接警台")
    units_before = p.get("/api/units?limit=5000", dispatcher).body
    r = report(injured=1, movable=False, parties=[party("鲁P50001")])
    assert p.post("/api/reports", intake, r).status == 202
    inc = wait_for(lambda: (lambda i: i if i and len(i["orders"]) == 2 else None)(_incident_of(p, dispatcher, r["report_id"])),
                   30, what="both orders")
    lat, lon = r["location"]["lat"], r["location"]["lon"]
    for o in inc["orders"]:
        free = [u for u in units_before if u["service"] == o["service"] and u["status"] == "available"]
        nearest = min(free, key=lambda u: geodesic_m(lat, lon, u["lat"], u["lon"]))
        assert o["unit_id"] == nearest["unit_id"], f"{o['service']} is not the nearest free unit"
        assert abs(o["distance_m"] - geodesic_m(lat, lon, nearest["lat"], nearest["lon"])) < 1.5
    assert inc["hospital_id"], "the destination hospital is chosen with the ambulance"

    # a second caller for the same crash adds no order and no text
    again = report(source="120", lat=lat + 0.0005, lon=lon, injured=1)
    produce(p.bootstrap, p.prefix + "accidents.reported", [again])
    wait_for(lambda: again["report_id"] in _incident_of(p, dispatcher, r["report_id"])["report_ids"], 30, what="merge")
    orders = wait_for(lambda: (lambda os: os if len(os) >= 2 else None)(
        [json.loads(m.value) for m in read_all(p.bootstrap, p.prefix + "dispatch.orders")]), 20, what="orders on the topic")
    assert sorted(o["service"] for o in orders) == ["120", "122"]
    assert set(orders[0]) >= {"incident_id", "order_id", "service", "unit_id", "distance_m", "issued_at"}

    # each unit got exactly one SMS through the twilio client, with the exact request Twilio expects
    sms = wait_for(lambda: [q for q in twilio.requests if "Messages.json" in q.path] if len(twilio.requests) >= 2 else None,
                   20, what="two SMS requests")
    assert len(sms) == 2
    for q in sms:
        assert q.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
        assert q.auth == (twilio.account_sid, twilio.auth_token)
        assert q.form["From"] == "+15005550006"
    by_to = {q.form["To"]: q.form["Body"] for q in sms}
    for o in inc["orders"]:
        body = by_to[unit_phone(o["unit_id"])]
        assert o["order_id"] in body and "回复1确认" in body
        assert "13900000001" not in body and "371502199001011234" not in body, "no personal data in SMS"
    outbox = p.get(f"/api/sms?incident_id={inc['incident_id']}", dispatcher).body
    assert {m["status"] for m in outbox} == {"sent"} and all(m["provider_sid"].startswith("SM") for m in outbox)


def test_minor_two_car_crash_sends_no_ambulance_and_no_police(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    r = report(lat=ZHANGDIAN[0], lon=ZHANGDIAN[1], parties=[party("鲁C60001", "CPIC"), party("鲁C60002", "PICC")])
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])
    inc = wait_for(lambda: (lambda i: i if i and i["quick_handling"] else None)(_incident_of(p, dispatcher, r["report_id"])),
                   30, what="quick handling")
    assert inc["orders"] == []
    assert any("快处快赔" in n["text"] for n in inc["notes"])


def test_minor_crash_that_police_must_attend_gets_a_police_unit_but_no_ambulance(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    r = report(lat=ZHANGDIAN[0] + 0.02, lon=ZHANGDIAN[1], parties=[party("鲁C61001", "CPIC", drunk=True), party("鲁C61002")])
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])
    inc = wait_for(lambda: (lambda i: i if i and i["orders"] else None)(_incident_of(p, dispatcher, r["report_id"])), 30,
                   what="a police order")
    assert [o["service"] for o in inc["orders"]] == ["122"]


def test_unacknowledged_order_is_released_and_the_next_nearest_unit_ordered(platform_factory):
    p = platform_factory(DISPATCH_ACK_TIMEOUT_S="2")
    p.wait_healthy()
    dispatcher = p.token("dispatcher", "调度员")
    r = report(injured=1)
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])
    inc = wait_for(lambda: (lambda i: i if i and len(i["orders"]) == 2 else None)(_incident_of(p, dispatcher, r["report_id"])),
                   30, what="orders")
    first_police = next(o for o in inc["orders"] if o["service"] == "122")
    # the ambulance acknowledges in time; the police unit never does
    amb = next(o for o in inc["orders"] if o["service"] == "120")
    assert p.post(f"/api/units/{amb['unit_id']}/status", dispatcher, {"status": "acknowledged"}).status == 200
    after = wait_for(lambda: (lambda i: i if len([o for o in i["orders"] if o["service"] == "122"]) == 2 else None)(
        p.get(f"/api/incidents/{inc['incident_id']}", dispatcher).body), 30, what="escalation")
    police = [o for o in after["orders"] if o["service"] == "122"]
    assert police[0]["state"] == "released" and police[1]["state"] == "active"
    assert police[1]["unit_id"] != first_police["unit_id"]
    assert police[1]["replaces_order_id"] == first_police["order_id"]
    assert any(t["kind"] == "escalated" for t in after["timeline"]), "the dispatcher sees the escalation"
    assert len([o for o in after["orders"] if o["service"] == "120"]) == 1, "the acknowledged ambulance stays"


def test_unit_status_lifecycle_with_times_and_scoped_unit_tokens(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    r = report(lat=36.45, lon=115.98, injured=1)
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])
    inc = wait_for(lambda: (lambda i: i if i and len(i["orders"]) == 2 else None)(_incident_of(p, dispatcher, r["report_id"])),
                   30, what="orders")
    amb = next(o for o in inc["orders"] if o["service"] == "120")
    own = p.token("unit", "救护车组", unit=amb["unit_id"])
    other = next(o for o in inc["orders"] if o["service"] == "122")["unit_id"]
    assert p.post(f"/api/units/{other}/status", own, {"status": "acknowledged"}).status == 403
    assert p.post(f"/api/units/{amb['unit_id']}/status", own, {"status": "on_scene"}).status == 409  # skips steps
    for st in ("acknowledged", "en_route", "on_scene", "transporting", "at_hospital", "available"):
        res = p.post(f"/api/units/{amb['unit_id']}/status", own, {"status": st})
        assert res.status == 200, res.body
    assert res.body["figures"]["order_to_on_scene_s"] is not None
    got = p.get(f"/api/incidents/{inc['incident_id']}", dispatcher).body
    order = next(o for o in got["orders"] if o["order_id"] == amb["order_id"])
    assert set(order["status_times"]) >= {"dispatched", "acknowledged", "en_route", "on_scene", "transporting", "at_hospital"}
    assert order["state"] == "completed"
    assert order["figures"]["order_to_on_scene_s"] is not None and "overdue" in order["figures"]
    unit = next(u for u in p.get("/api/units?limit=5000", dispatcher).body if u["unit_id"] == amb["unit_id"])
    assert unit["status"] == "available"


def test_live_feed_refuses_a_caller_without_token_and_shows_a_new_report_within_seconds(shared_platform):
    p = shared_platform
    assert p.get("/api/incidents/stream").status == 401
    assert p.get("/api/incidents/stream", p.token("hospital", "医院", hospital="LC-H-LC3")).status == 403
    dispatcher = p.token("dispatcher", "调度员")
    got: list[dict] = []
    ready = threading.Event()

    def listen() -> None:
        req = urllib.request.Request(p.base_url + "/api/incidents/stream", headers={"Authorization": f"Bearer {dispatcher}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            ready.set()
            for line in resp:
                if line.startswith(b"data: "):
                    got.append(json.loads(line[6:]))
                    if any(r["report_id"] in (e.get("report_id"), ) for e in got):
                        return

    r = report(lat=36.52, lon=115.95, injured=0, parties=[party("鲁P70001")])
    t = threading.Thread(target=listen, daemon=True)
    t.start()
    assert ready.wait(10)
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])
    t.join(timeout=15)
    events = [e for e in got if e.get("report_id") == r["report_id"]]
    assert events and events[0]["change"] == "created"
    assert "13800000000" not in json.dumps(got, ensure_ascii=False), "no phone numbers in the feed"
