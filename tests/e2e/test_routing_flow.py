"""Money to the right payer, black-box through HTTP and the topics on the real broker (issue 13, items 1-4):
bills re-routed once liability is known, already-paid amounts owed back, hit-and-run and occupants, the one
non-motor list, funeral costs with the 交强险 death limit first."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from connectors.kafka import read_all
from tests.support.platform import wait_for
from tests.support.reports import party, produce, report

pytestmark = pytest.mark.e2e
CST = timezone(timedelta(hours=8))
WALKER_ID = "371502198504041234"
RIDER_ID = "371502199505051234"
OCCUPANT_ID = "371502200003031234"


def walker(id_number: str = WALKER_ID) -> dict[str, Any]:
    return {"name": "李某", "phone": "+8613900000009", "id_number": id_number, "role": "pedestrian"}


def _incident(p, dispatcher, r):  # type: ignore[no-untyped-def]
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])

    def found():  # type: ignore[no-untyped-def]
        for i in p.get("/api/incidents?limit=5000", dispatcher).body:
            if r["report_id"] in i["report_ids"] and i["hospital_id"]:
                return i
    return wait_for(found, 30, what="incident with a destination hospital")


def _admitted(p, dispatcher, r):  # type: ignore[no-untyped-def]
    """The incident, its destination hospital's token and the confirmed admission: ready to bill."""
    inc = _incident(p, dispatcher, r)
    hid = inc["hospital_id"]
    hospital = p.token("hospital", "急诊科", hospital=hid)

    def admission():  # type: ignore[no-untyped-def]
        return next((a for a in p.get(f"/api/hospitals/{hid}/admissions?limit=5000", hospital).body
                     if a["incident_id"] == inc["incident_id"]), None)
    adm = wait_for(admission, 20, what="admission")
    assert p.post(f"/api/hospitals/{hid}/admissions/{adm['admission_id']}/confirm", hospital).status == 200
    return inc, hospital, f"/api/hospitals/{hid}/admissions/{adm['admission_id']}/bills"


def _bill(p, hospital, url, amount_fen, **body):  # type: ignore[no-untyped-def]
    started = (datetime.now(CST) - timedelta(hours=1)).isoformat(timespec="seconds")
    res = p.post(url, hospital, {"amount_fen": amount_fen, "rescue_started_at": started, **body})
    assert res.status == 201, res.body
    return res.body


def _messages(p, topic, where):  # type: ignore[no-untyped-def]
    return [v for v in (json.loads(r.value) for r in read_all(p.bootstrap, p.prefix + topic)) if where(v)]


def _case(p, admin, incident_id):  # type: ignore[no-untyped-def]
    return next((c for c in p.get("/api/fund/cases?limit=5000", admin).body if c["incident_id"] == incident_id), None)


def _fund_has_the_facts(p, incident_id):  # type: ignore[no-untyped-def]
    """The fund group has copied the incident (the same transaction decides its case)."""
    engine = create_engine(p.store_url("fund"))
    try:
        with engine.connect() as c:
            return c.execute(text("SELECT 1 FROM incidents WHERE incident_id = :i"), {"i": incident_id}).first()
    finally:
        engine.dispose()


def test_police_liability_none_reroutes_a_provisional_bill_onto_the_three_topics_once(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    picc = p.token("insurer", "PICC理赔", insurer="PICC")
    admin = p.token("fund_admin", "经办人")
    r = report(lat=36.43, lon=115.95, injured=1, movable=False, parties=[party("鲁P70001", "PICC"), walker()])
    inc, hospital, url = _admitted(p, dispatcher, r)
    iid = inc["incident_id"]
    first = _bill(p, hospital, url, 2_500_000, patient_id_number=WALKER_ID)["payers"]
    assert first["provisional"] is True and (first["insurer_fen"], first["fund_fen"]) == (1_800_000, 700_000)
    assert first["insurer"] == "PICC" and all(t["zh"] and t["en"] for t in first["reason_texts"])
    wait_for(lambda: (lambda c: c and c["eligible_fen"] == 700_000)(_case(p, admin, iid)), 20, what="fund case 700,000")

    assert p.post(f"/api/incidents/{iid}/liability", hospital, {"shares": [{"plate": "鲁P70001", "liability": "none"}]}
                  ).status == 403, "the joint desk records it, not a hospital"
    bad = p.post(f"/api/incidents/{iid}/liability", dispatcher, {"shares": [{"plate": "鲁X99999", "liability": "none"}]})
    assert bad.status == 422 and bad.body["error"]
    assert p.post(f"/api/incidents/{iid}/liability", dispatcher, {"shares": [{"plate": "鲁P70001", "liability": "most"}]}
                  ).status == 422
    res = p.post(f"/api/incidents/{iid}/liability", dispatcher, {"shares": [{"plate": "鲁P70001", "liability": "none"}]})
    assert res.status == 200, res.body
    assert res.body["incident_id"] == iid and "report_ids" in res.body, "200 with the incident"
    [bill] = res.body["bills"]
    payers = bill["payers"]
    assert (payers["insurer_fen"], payers["fund_fen"], payers["uncovered_fen"]) == (180_000, 2_320_000, 0)
    assert payers["provisional"] is False and payers["liability"] == "none" and "insured_not_at_fault" in payers["reasons"]
    again = p.post(f"/api/incidents/{iid}/liability", dispatcher, {"shares": [{"plate": "鲁P70001", "liability": "none"}]})
    assert again.status == 200 and again.body["rerouted"] == []

    # the hospital's own view shows the new split
    listed = next(a for a in p.get(url.rsplit("/", 2)[0] + "?limit=5000", hospital).body if a["incident_id"] == iid)
    assert listed["bills"][0]["payers"]["fund_fen"] == 2_320_000

    # the three topics, each once
    rerouted = wait_for(lambda: _messages(p, "hospitals.bills", lambda v: v.get("incident_id") == iid
                                          and v.get("change") == "rerouted") or None, 20, what="rerouted bill")
    case = wait_for(lambda: (lambda c: c if c and c["eligible_fen"] == 2_320_000 else None)(_case(p, admin, iid)), 20,
                    what="the fund's case follows the new share")
    split_changed = _messages(p, "fund.cases", lambda v: v["case_id"] == case["case_id"] and v["change"] == "SplitChanged")
    claim = wait_for(lambda: next((c for c in p.get("/api/claims?limit=5000", picc).body
                                   if c["incident_id"] == iid and c["owed_to_hospital_fen"] == 180_000), None),
                     20, what="the insurer owes 1,800 yuan")
    shares = wait_for(lambda: _messages(p, "claims.events", lambda v: v["claim_id"] == claim["claim_id"]
                                        and v["change"] == "hospital_share_rerouted") or None, 20, what="claims.events")
    assert len(rerouted) == 1 and len(split_changed) == 1 and len(shares) == 1


def test_an_advance_already_paid_above_the_new_share_is_owed_back_never_paid_twice(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    maker, checker = p.token("fund_admin", "经办人A"), p.token("fund_admin", "复核人B")
    # the uninsured car is listed first: the bill goes to the fund in full until the police find the other liable
    r = report(lat=36.44, lon=115.96, injured=1, movable=False,
               parties=[party("鲁P70011", None), party("鲁P70012", "PICC", phone="+8613900000002"), walker()])
    inc, hospital, url = _admitted(p, dispatcher, r)
    iid = inc["incident_id"]
    first = _bill(p, hospital, url, 2_500_000, patient_id_number=WALKER_ID)["payers"]
    assert first["fund_fen"] == 2_500_000 and first["provisional"] is True
    case = wait_for(lambda: (lambda c: c if c and c["status"] == "applied" else None)(_case(p, maker, iid)), 20,
                    what="applied case")
    assert p.post(f"/api/fund/cases/{case['case_id']}/approve", maker, {"amount_fen": 2_500_000}).status == 200
    assert p.post(f"/api/fund/cases/{case['case_id']}/pay", checker).status == 200
    res = p.post(f"/api/incidents/{iid}/liability", dispatcher,
                 {"shares": [{"plate": "鲁P70011", "liability": "none"}, {"plate": "鲁P70012", "liability": "full"}]})
    assert res.status == 200 and res.body["bills"][0]["payers"]["insurer_fen"] == 1_800_000

    def owed_back():  # type: ignore[no-untyped-def]
        detail = p.get(f"/api/fund/cases/{case['case_id']}", maker).body
        legs = [e for e in detail["ledger"] if e["account"] == "fund.owed_back_receivable"]
        return detail if legs else None
    detail = wait_for(owed_back, 20, what="owed back in the ledger")
    assert sum(e["debit_fen"] - e["credit_fen"] for e in detail["ledger"]
               if e["account"] == "fund.owed_back_receivable") == 1_800_000
    assert sum(e["debit_fen"] for e in detail["ledger"]) == sum(e["credit_fen"] for e in detail["ledger"])
    assert sum(e["credit_fen"] - e["debit_fen"] for e in detail["ledger"] if e["account"] == "fund.bank") == 2_500_000
    assert p.post(f"/api/fund/cases/{case['case_id']}/pay", checker).status == 409, "nothing is paid twice"
    changed = _messages(p, "fund.cases", lambda v: v["case_id"] == case["case_id"] and v["change"] == "SplitChanged")
    assert len(changed) == 1 and changed[0]["event"]["owed_back_fen"] == 1_800_000
    assert changed[0]["event"]["owed_by"] == "insurer:PICC"


def test_hit_and_run_with_the_vehicle_unknown_and_an_occupant_of_the_insured_car_go_to_the_fund(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    # a hit-and-run: the only car the report lists is the victim's own (insured); the fleeing one is unknown
    r = report(lat=36.45, lon=115.97, injured=1, hit_and_run=True, parties=[party("鲁P70021", "PICC")],
               fled_vehicle={"model": "白色面包车", "colour": "白", "direction": "向东"})
    _, hospital, url = _admitted(p, dispatcher, r)
    payers = _bill(p, hospital, url, 2_500_000)["payers"]
    assert (payers["insurer"], payers["insurer_fen"], payers["fund_fen"]) == (None, 0, 2_500_000)
    assert payers["reasons"][0] == "hit_and_run_vehicle_unknown"

    # an occupant of the insured car in a single-vehicle crash: never that car's 交强险
    r = report(lat=36.46, lon=115.98, injured=1, movable=False,
               parties=[party("鲁P70031", "PICC"), {"name": "赵某", "id_number": OCCUPANT_ID, "role": "occupant",
                                                     "vehicle_plate": "鲁P70031"}])
    _, hospital, url = _admitted(p, dispatcher, r)
    payers = _bill(p, hospital, url, 2_500_000, patient_id_number=OCCUPANT_ID)["payers"]
    assert payers["insurer_fen"] == 0 and payers["fund_fen"] == 2_500_000
    assert "own_vehicle_not_third_party" in payers["reasons"] and payers["patient_role"] == "occupant"


def test_an_e_bike_rider_hit_by_an_insured_car_opens_no_uninsured_vehicle_case(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    admin = p.token("fund_admin", "经办人")
    rider = {"name": "孙某", "id_number": RIDER_ID, "role": "cyclist", "vehicle_type": "e_bike", "plate": "鲁P电7041",
             "insurer": None, "ci_policy": None}
    r = report(lat=36.47, lon=115.99, injured=1, parties=[party("鲁P70041", "PICC"), rider])
    inc = _incident(p, dispatcher, r)
    wait_for(lambda: _fund_has_the_facts(p, inc["incident_id"]), 20, what="the fund's copy of the incident")
    assert _case(p, admin, inc["incident_id"]) is None, "an e-bike is not an uninsured motor vehicle"
    # the contrast: an uninsured car in the same kind of crash does open one
    r = report(lat=36.48, lon=116.00, injured=1, parties=[party("鲁P70051", None), walker()])
    inc = _incident(p, dispatcher, r)
    case = wait_for(lambda: _case(p, admin, inc["incident_id"]), 20, what="uninsured vehicle case")
    assert "uninsured_vehicle" in case["reasons"]


def test_funeral_costs_an_identified_insured_vehicle_owes_go_to_its_insurer_first(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    maker = p.token("fund_admin", "经办人丁")
    r = report(lat=36.49, lon=116.01, injured=0, fatalities=1, parties=[party("鲁P70061", "PICC"), walker()])
    inc = _incident(p, dispatcher, r)
    wait_for(lambda: _fund_has_the_facts(p, inc["incident_id"]), 20, what="the fund's copy of the incident")
    body = {"incident_id": inc["incident_id"], "amount_fen": 5_000_000, "relative": "李某某",
            "body_disposal_notice": "聊公交尸字2026-061", "deceased_id_number": WALKER_ID}
    refused = p.post("/api/fund/funeral-applications", maker, body)
    assert refused.status == 409 and "PICC" in refused.body["error"], refused.body
    assert _case(p, maker, inc["incident_id"]) is None


@pytest.mark.timeout(180)
def test_the_dispatcher_sees_who_each_party_is_and_the_fleeing_vehicle(shared_platform, page, artifacts):
    from playwright.sync_api import expect

    from tests.e2e.test_dashboard import sign_in

    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    r = report(lat=36.50, lon=116.02, injured=2, hit_and_run=True,
               parties=[party("鲁P70071", "PICC"), {"name": "赵某", "id_number": OCCUPANT_ID, "role": "occupant",
                                                     "vehicle_plate": "鲁P70071"}, walker()],
               fled_vehicle={"model": "白色面包车", "colour": "白", "direction": "向东", "driver": "王小二"})
    inc = _incident(p, dispatcher, r)
    who = p.get(f"/api/incidents/{inc['incident_id']}/parties", dispatcher).body
    assert [x["role"] for x in who["parties"]] == ["driver", "occupant", "pedestrian"]
    assert who["fled_vehicle"]["model"] == "白色面包车" and who["fled_vehicle"]["driver"] != "王小二"
    assert OCCUPANT_ID not in json.dumps(who, ensure_ascii=False)

    sign_in(page, p.base_url, dispatcher)
    card = page.locator(f'[data-testid="incident-card"][data-incident="{inc["incident_id"]}"]')
    expect(card).to_be_visible(timeout=15_000)
    card.click()
    detail = page.locator(f'[data-testid="incident-detail"][data-incident="{inc["incident_id"]}"]')
    expect(detail.get_by_test_id("fled-vehicle")).to_contain_text("白色面包车", timeout=10_000)
    expect(detail.locator('[data-role="occupant"]')).to_contain_text("乘车人")
    expect(detail.locator('[data-role="pedestrian"]')).to_contain_text("行人")
    assert "王小二" not in page.content()
    page.screenshot(path=str(artifacts / "dashboard-parties.png"))
