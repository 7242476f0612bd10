"""Green channel and rescue-fund advances, black-box (issue: green channel and rescue-fund advances)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from connectors.kafka import read_all
from tests.support.platform import wait_for
from tests.support.reports import party, produce, report

pytestmark = pytest.mark.e2e
CST = timezone(timedelta(hours=8))


def _admission(p, hospital_token, hospital_id, incident_id):  # type: ignore[no-untyped-def]
    for a in p.get(f"/api/hospitals/{hospital_id}/admissions?limit=5000", hospital_token).body:
        if a["incident_id"] == incident_id:
            return a


def _case(p, fund_token, incident_id):  # type: ignore[no-untyped-def]
    for c in p.get("/api/fund/cases?limit=5000", fund_token).body:
        if c["incident_id"] == incident_id:
            return c


def _injured_incident(p, dispatcher, r):  # type: ignore[no-untyped-def]
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])

    def found():  # type: ignore[no-untyped-def]
        for i in p.get("/api/incidents?limit=5000", dispatcher).body:
            if r["report_id"] in i["report_ids"] and i["hospital_id"]:
                return i
    return wait_for(found, 30, what="incident with a destination hospital")


def _reported_incident(p, dispatcher, r):  # type: ignore[no-untyped-def]
    """The incident of a report, whether or not a unit was in reach (a death needs no destination hospital)."""
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])
    return wait_for(lambda: next((i for i in p.get("/api/incidents?limit=5000", dispatcher).body
                                  if r["report_id"] in i["report_ids"]), None), 30, what="the report's incident")


def test_hit_and_run_advance_is_paid_once_by_a_second_administrator(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    inc = _injured_incident(p, dispatcher, report(lat=36.4718, lon=116.1010, injured=1, hit_and_run=True))
    hid = inc["hospital_id"]
    hospital = p.token("hospital", "急诊科", hospital=hid)
    other_hospital = p.token("hospital", "别的医院", hospital="ZB-H-ZXYY" if hid != "ZB-H-ZXYY" else "LC-H-LC3")
    maker = p.token("fund_admin", "经办人A")
    checker = p.token("fund_admin", "复核人B")

    adm = wait_for(lambda: _admission(p, hospital, hid, inc["incident_id"]), 20, what="pre-arrival notice in the queue")
    assert adm["status"] == "notified"
    # another hospital cannot see or confirm it
    other_id = p.get("/api/incidents/" + inc["incident_id"], dispatcher).body["hospital_id"]
    assert p.post(f"/api/hospitals/{hid}/admissions/{adm['admission_id']}/confirm", other_hospital).status == 403
    assert p.post(f"/api/hospitals/{other_id}/admissions/{adm['admission_id']}/confirm", other_hospital).status in (403, 404)

    ok = p.post(f"/api/hospitals/{hid}/admissions/{adm['admission_id']}/confirm", hospital)
    assert ok.status == 200 and ok.body["changed"] is True
    again = p.post(f"/api/hospitals/{hid}/admissions/{adm['admission_id']}/confirm", hospital)
    assert again.status == 200 and again.body["changed"] is False and again.body["confirmed_at"] == ok.body["confirmed_at"]

    started = (datetime.now(CST) - timedelta(hours=2)).isoformat(timespec="seconds")
    bill = p.post(f"/api/hospitals/{hid}/admissions/{adm['admission_id']}/bills", hospital,
                  {"amount_fen": 2500000, "rescue_started_at": started, "items": []})
    assert bill.status == 201, bill.body
    assert bill.body["payers"]["fund_fen"] == 2500000 and bill.body["payers"]["insurer_fen"] == 0

    case = wait_for(lambda: (lambda c: c if c and c["status"] == "applied" else None)(_case(p, maker, inc["incident_id"])),
                    20, what="fund case with the hospital's application")
    cid = case["case_id"]
    assert "hit_and_run" in case["reasons"]
    assert p.post(f"/api/fund/cases/{cid}/pay", checker).status == 409, "no payment before approval"
    assert p.post(f"/api/fund/cases/{cid}/approve", maker, {"amount_fen": 2500001}).status == 422
    approved = p.post(f"/api/fund/cases/{cid}/approve", maker, {"amount_fen": 2500000, "note": "逃逸案件，垫付全部抢救费"})
    assert approved.status == 200, approved.body
    own = p.post(f"/api/fund/cases/{cid}/pay", maker)
    assert own.status == 403 and "error" in own.body, "the approver may not pay (maker-checker)"
    paid = p.post(f"/api/fund/cases/{cid}/pay", checker, headers={"Idempotency-Key": "pay-1"})
    assert paid.status == 200 and paid.body["paid_fen"] == 2500000
    replay = p.post(f"/api/fund/cases/{cid}/pay", checker, headers={"Idempotency-Key": "pay-1"})
    assert replay.status == 200 and replay.body == paid.body, "same key: the first answer, nothing paid again"
    assert p.post(f"/api/fund/cases/{cid}/pay", checker).status == 409, "a second pay pays nothing"

    detail = p.get(f"/api/fund/cases/{cid}", maker).body
    assert sum(e["debit_fen"] for e in detail["ledger"]) == sum(e["credit_fen"] for e in detail["ledger"]) == 2500000
    assert detail["recovery"]["status"] == "open", "every advance opens a recovery record"
    def changes():  # type: ignore[no-untyped-def]  # published by the relay just after the commit
        got = [json.loads(r.value)["change"] for r in read_all(p.bootstrap, p.prefix + "fund.cases") if r.key.decode() == cid]
        return got if "AdvancePaid" in got else None
    assert wait_for(changes, 20, what="AdvancePaid on fund.cases").count("AdvancePaid") == 1

    solved = p.post(f"/api/fund/cases/{cid}/hit-and-run-solved", dispatcher, {"driver_ref": "肇事车辆 鲁P88888 驾驶人"})
    assert solved.status == 200 and solved.body["responsible_party"]
    assert p.get(f"/api/fund/cases/{cid}", maker).body["recovery"]["status"] == "driver_identified"


def test_insured_vehicle_the_fund_may_advance_only_the_excess_over_the_medical_limit(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    r = report(lat=36.40, lon=115.87, injured=1, movable=False, parties=[party("鲁P80001", "PICC")])
    inc = _injured_incident(p, dispatcher, r)
    hid = inc["hospital_id"]
    hospital = p.token("hospital", "急诊科", hospital=hid)
    admin = p.token("fund_admin", "经办人C")
    picc = p.token("insurer", "PICC理赔", insurer="PICC")
    adm = wait_for(lambda: _admission(p, hospital, hid, inc["incident_id"]), 20, what="admission")
    assert p.post(f"/api/hospitals/{hid}/admissions/{adm['admission_id']}/bills", hospital,
                  {"amount_fen": 2500000, "rescue_started_at": datetime.now(CST).isoformat()}).status == 409, \
        "bill only a confirmed admission"
    p.post(f"/api/hospitals/{hid}/admissions/{adm['admission_id']}/confirm", hospital)
    bill = p.post(f"/api/hospitals/{hid}/admissions/{adm['admission_id']}/bills", hospital,
                  {"amount_fen": 2500000, "rescue_started_at": datetime.now(CST).isoformat(timespec="seconds")})
    assert bill.body["payers"]["insurer_fen"] == 1800000 and bill.body["payers"]["fund_fen"] == 700000
    case = wait_for(lambda: _case(p, admin, inc["incident_id"]), 20, what="a fund case for the excess")
    too_much = p.post(f"/api/fund/cases/{case['case_id']}/approve", admin, {"amount_fen": 2500000})
    assert too_much.status == 422 and too_much.body["allowed_fen"] == 700000
    assert p.post(f"/api/fund/cases/{case['case_id']}/approve", admin, {"amount_fen": 700000}).status == 200
    claim = wait_for(lambda: next((c for c in p.get("/api/claims", picc).body
                                   if c["incident_id"] == inc["incident_id"] and c["owed_to_hospital_fen"]), None),
                     20, what="the insurer's claim owing the hospital")
    assert claim["owed_to_hospital_fen"] == 1800000, "the same fen is never owed by both"


def test_bad_bills_get_readable_422s(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    inc = _injured_incident(p, dispatcher, report(lat=36.41, lon=115.88, injured=1))
    hid = inc["hospital_id"]
    hospital = p.token("hospital", "急诊科", hospital=hid)
    adm = wait_for(lambda: _admission(p, hospital, hid, inc["incident_id"]), 20, what="admission")
    p.post(f"/api/hospitals/{hid}/admissions/{adm['admission_id']}/confirm", hospital)
    url = f"/api/hospitals/{hid}/admissions/{adm['admission_id']}/bills"
    for body in ({"amount_fen": 12.5, "rescue_started_at": "2026-11-22T08:00:00+08:00"},
                 {"amount_fen": -1, "rescue_started_at": "2026-11-22T08:00:00+08:00"},
                 {"amount_fen": 100, "rescue_started_at": "2026-11-22T08:00:00"},
                 {"amount_fen": 100},
                 {"amount_fen": 100, "rescue_started_at": "2026-11-22T08:00:00+08:00", "items": [{"amount_fen": 99}]}):
        res = p.post(url, hospital, body)
        assert res.status == 422 and isinstance(res.body.get("error"), str) and res.body["error"], (body, res.body)
    assert p.request("POST", url, hospital, raw=b"{broken").status == 422


def test_above_the_provincial_threshold_a_second_approver_signs_and_neither_approver_may_pay(shared_platform):
    """Shandong's second-approver threshold (5,000,000 fen, fund/rules/provinces.json [U])."""
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    inc = _injured_incident(p, dispatcher, report(lat=36.30, lon=115.75, injured=1, hit_and_run=True))
    hid = inc["hospital_id"]
    hospital = p.token("hospital", "急诊科", hospital=hid)
    first, second, payer = (p.token("fund_admin", n) for n in ("经办人甲", "复核人乙", "出纳丙"))
    adm = wait_for(lambda: _admission(p, hospital, hid, inc["incident_id"]), 20, what="admission")
    p.post(f"/api/hospitals/{hid}/admissions/{adm['admission_id']}/confirm", hospital)
    p.post(f"/api/hospitals/{hid}/admissions/{adm['admission_id']}/bills", hospital,
           {"amount_fen": 6000000, "rescue_started_at": datetime.now(CST).isoformat(timespec="seconds")})
    case = wait_for(lambda: (lambda c: c if c and c["status"] == "applied" else None)(_case(p, first, inc["incident_id"])),
                    20, what="applied case")
    cid = case["case_id"]
    one = p.post(f"/api/fund/cases/{cid}/approve", first, {"amount_fen": 6000000})
    assert one.status == 200 and one.body.get("awaiting_second_approval") is True and one.body["status"] == "applied"
    assert p.post(f"/api/fund/cases/{cid}/approve", first, {"amount_fen": 6000000}).status == 409, "not by the same person"
    two = p.post(f"/api/fund/cases/{cid}/approve", second, {"amount_fen": 6000000})
    assert two.status == 200 and two.body["status"] == "approved" and two.body["second_approved_by"]
    assert p.post(f"/api/fund/cases/{cid}/pay", first).status == 403
    assert p.post(f"/api/fund/cases/{cid}/pay", second).status == 403
    assert p.post(f"/api/fund/cases/{cid}/pay", payer).status == 200


def test_a_relative_applies_for_funeral_costs_of_a_hit_and_run_death_and_is_paid_once(shared_platform):
    """Funeral costs (试行办法 16; 办法 2022 [S]): a relative applies with the body-disposal notice."""
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    maker, checker = p.token("fund_admin", "经办人丁"), p.token("fund_admin", "复核人戊")
    r = report(lat=36.28, lon=115.70, injured=0, fatalities=1, hit_and_run=True)
    inc = _reported_incident(p, dispatcher, r)
    no_death = _reported_incident(p, dispatcher, report(lat=36.27, lon=115.69, injured=1, hit_and_run=True))
    body = {"incident_id": inc["incident_id"], "amount_fen": 1200000, "relative": "李某某", "body_disposal_notice": "聊公交尸字2026-001"}
    assert p.post("/api/fund/funeral-applications", dispatcher, body).status == 403
    assert p.post("/api/fund/funeral-applications", maker, {**body, "incident_id": no_death["incident_id"]}).status == 409
    opened = p.post("/api/fund/funeral-applications", maker, body)
    assert opened.status == 201, opened.body
    case = opened.body
    assert case["kind"] == "funeral" and case["status"] == "applied" and "funeral_payment" in case["deadlines"]
    assert case["victim_ref"] != "李某某", "the relative's name is masked"
    assert p.post("/api/fund/funeral-applications", maker, body).status == 409, "one funeral case per accident"
    assert p.post(f"/api/fund/cases/{case['case_id']}/approve", maker, {"amount_fen": 1200001}).status == 422
    assert p.post(f"/api/fund/cases/{case['case_id']}/approve", maker, {"amount_fen": 1200000}).status == 200
    assert p.post(f"/api/fund/cases/{case['case_id']}/pay", maker).status == 403
    assert p.post(f"/api/fund/cases/{case['case_id']}/pay", checker).status == 200
    assert p.post(f"/api/fund/cases/{case['case_id']}/pay", checker).status == 409
