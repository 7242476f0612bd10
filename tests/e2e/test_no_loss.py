"""Issue 14 items 1 and 2 against the running platform (real broker, worker processes, HTTP): a party's link
secret reaches that party's phone only; a report under a known id with other content is dead-lettered, never
dropped; an Idempotency-Key replays only the same body; a bill sent twice is recorded and paid once."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from connectors.kafka import read_all
from tests.support.platform import wait_for
from tests.support.reports import ZHANGDIAN, party, produce, report

pytestmark = pytest.mark.e2e
CST = timezone(timedelta(hours=8))
PHONES = ("+8613833330001", "+8613844440002")


def _incident_of(p, token, report_id):  # type: ignore[no-untyped-def]
    for i in p.get("/api/incidents?limit=5000", token).body:
        if report_id in i["report_ids"]:
            return i


def _dead_letters(p, report_id):  # type: ignore[no-untyped-def]
    """Dead letters of this report (one from the intake's merge is keyed by area, as the topic it read)."""
    out = []
    for m in read_all(p.bootstrap, p.prefix + "accidents.rejected"):
        try:
            if json.loads(m.value).get("report_id") == report_id:
                out.append(m)
        except (ValueError, AttributeError):
            continue
    return out


# ---------------------------------------------------------------- item 1: secrets stay with their owners
def test_a_partys_link_secret_reaches_its_phone_and_no_staff_view_cli_or_log(shared_platform):
    """The attack: a dispatcher took both parties' links from GET /api/sms or `accidentlink sms` and signed the
    agreement for both. Now staff see that a link was sent; the secret is only on the party's handset."""
    from connectors.sms import handset_texts

    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    r = report(lat=ZHANGDIAN[0] - 0.06, lon=ZHANGDIAN[1],
               parties=[party("鲁C81001", "CPIC", phone=PHONES[0]), party("鲁C81002", "PICC", phone=PHONES[1])])
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])
    secret = re.compile(r"/quick/(QK-[^\s?#]+)[?#]t=([0-9a-f]{16,})")

    def links():  # type: ignore[no-untyped-def]
        found = [secret.search(t) for ph in PHONES for t in handset_texts(p.var_dir / "handsets", ph)]
        return found if len([m for m in found if m]) == 2 else None
    got = wait_for(links, 40, what="each party's link on its handset")
    qid, secrets_ = got[0].group(1), [m.group(2) for m in got]
    handsets = p.var_dir / "handsets"
    assert oct(handsets.stat().st_mode & 0o777) == "0o700"
    assert all(oct(f.stat().st_mode & 0o777) == "0o600" for f in handsets.iterdir())

    incident = wait_for(lambda: _incident_of(p, dispatcher, r["report_id"]), 20, what="incident")
    outbox = p.get(f"/api/sms?incident_id={incident['incident_id']}", dispatcher)
    sent = [m for m in outbox.body if m["purpose"] == "quick_link"]
    assert len(sent) == 2 and all(f"/quick/{qid}" in m["body"] and "t=••••" in m["body"] for m in sent)
    cli = p.cli("sms", "--limit", "5000", "--unmasked")
    assert "quick_link" in cli
    logs = "".join(p.log_tail(n, 10**7) for n in p.procs)
    for s in secrets_:
        assert s not in json.dumps(outbox.body), "the outbox staff read"
        assert s not in cli, "accidentlink sms"
        assert s not in logs, "the processes' logs"
        assert s not in json.dumps(p.get(f"/api/incidents/{incident['incident_id']}", dispatcher).body)
    # the link works for its party, as the handset got it
    assert p.get(f"/api/quick/{qid}?t={secrets_[0]}").status == 200


# ---------------------------------------------------------------- item 2: nothing lost
def test_a_real_report_under_a_guessed_id_is_dead_lettered_as_a_conflict_never_dropped(shared_platform):
    """The attack: a property-only report sent first under a guessed id made the real one (3 injured, trapped,
    fire) vanish: no incident, no ambulance, nothing dead-lettered."""
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    rid = f"122-GUESS-{datetime.now(CST):%H%M%S%f}"
    decoy = report(report_id=rid, lat=36.4200, lon=115.9600, injured=0, movable=True)
    real = {**decoy, "injured": 3, "vehicles_movable": False, "hazards": ["trapped", "fire"], "description": "三人受伤被困，起火"}
    produce(p.bootstrap, p.prefix + "accidents.reported", [decoy])
    wait_for(lambda: _incident_of(p, dispatcher, rid), 30, what="the decoy's incident")
    produce(p.bootstrap, p.prefix + "accidents.reported", [real])
    dead = wait_for(lambda: _dead_letters(p, rid), 30, what="the real report dead-lettered")
    error = dict(dead[0].headers)["error"].decode()
    assert error.startswith(f"conflict: report_id '{rid}'") and "injured" in error
    assert json.loads(dead[0].value)["injured"] == 3, "the real report's bytes, unchanged, for a person to act on"
    # over HTTP the conflict is answered at once
    res = p.post("/api/reports", p.token("intake", "接警台"), real)
    assert res.status == 409 and "conflict" in res.body["error"]
    # an identical redelivery of the decoy stays a no-op
    produce(p.bootstrap, p.prefix + "accidents.reported", [decoy])
    follow = report(lat=36.4300, lon=115.9700)
    produce(p.bootstrap, p.prefix + "accidents.reported", [follow])
    wait_for(lambda: _incident_of(p, dispatcher, follow["report_id"]), 30, what="a later report")
    assert len(_dead_letters(p, rid)) == 1
    assert [i for i in p.get("/api/incidents?limit=5000", dispatcher).body if rid in i["report_ids"]][0]["injured"] == 0


def test_an_idempotency_key_reused_with_another_report_is_422_and_the_report_is_not_lost(shared_platform):
    p = shared_platform
    intake = p.token("intake", "接警台")
    first, second = report(lat=36.4400, lon=115.9800), report(lat=36.4500, lon=115.9900, injured=2)
    a = p.post("/api/reports", intake, first, headers={"Idempotency-Key": "same-key"})
    again = p.post("/api/reports", intake, first, headers={"Idempotency-Key": "same-key"})
    assert a.status == again.status == 202 and again.body == a.body
    b = p.post("/api/reports", intake, second, headers={"Idempotency-Key": "same-key"})
    assert b.status == 422 and "different body" in b.body["error"], b.body
    other_caller = p.post("/api/reports", p.token("intake", "另一接警台"), second, headers={"Idempotency-Key": "same-key"})
    assert other_caller.status == 202 and other_caller.body["report_id"] == second["report_id"]


def test_a_bill_sent_twice_without_a_key_is_recorded_and_paid_once(shared_platform):
    """The attack: a bill sent twice without an Idempotency-Key was recorded twice, and the fund paid both."""
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    r = report(lat=36.4718, lon=116.1010 + 0.004, injured=1, hit_and_run=True)
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])
    inc = wait_for(lambda: (lambda i: i if i and i["hospital_id"] else None)(_incident_of(p, dispatcher, r["report_id"])),
                   30, what="incident with a destination hospital")
    hid = inc["hospital_id"]
    hospital = p.token("hospital", "急诊科", hospital=hid)
    maker, checker = p.token("fund_admin", "经办人A"), p.token("fund_admin", "复核人B")
    adm = wait_for(lambda: next((a for a in p.get(f"/api/hospitals/{hid}/admissions?limit=5000", hospital).body
                                 if a["incident_id"] == inc["incident_id"]), None), 20, what="admission")
    assert p.post(f"/api/hospitals/{hid}/admissions/{adm['admission_id']}/confirm", hospital).status == 200
    url = f"/api/hospitals/{hid}/admissions/{adm['admission_id']}/bills"
    body = {"amount_fen": 800000, "rescue_started_at": (datetime.now(CST) - timedelta(hours=1)).isoformat(timespec="seconds")}
    one, two = p.post(url, hospital, body), p.post(url, hospital, body)
    assert one.status == 201 and two.status == 200 and two.body["bill_id"] == one.body["bill_id"], (one.body, two.body)
    # with an invoice number: the same number and body is the same bill, another body under it is 409
    inv = {**body, "amount_fen": 50000, "invoice_number": "LC-INV-0001"}
    i1, i2 = p.post(url, hospital, inv), p.post(url, hospital, inv)
    assert i1.status == 201 and i2.status == 200 and i2.body["bill_id"] == i1.body["bill_id"]
    clash = p.post(url, hospital, {**inv, "amount_fen": 60000})
    assert clash.status == 409 and "LC-INV-0001" in clash.body["error"]

    def case():  # type: ignore[no-untyped-def]
        for c in p.get("/api/fund/cases?limit=5000", maker).body:
            if c["incident_id"] == inc["incident_id"] and c["status"] == "applied":
                detail = p.get(f"/api/fund/cases/{c['case_id']}", maker).body
                return detail if len(detail.get("bills") or []) == 2 else None
    c = wait_for(case, 30, what="the fund's case with both bills")
    assert sorted(b["bill_id"] for b in c["bills"]) == sorted({one.body["bill_id"], i1.body["bill_id"]})
    bills = [json.loads(m.value) for m in read_all(p.bootstrap, p.prefix + "hospitals.bills")]
    assert sorted(b["bill_id"] for b in bills if b["admission_id"] == adm["admission_id"]) == sorted(
        [one.body["bill_id"], i1.body["bill_id"]]), "each bill published once"
    total = 850000
    assert p.post(f"/api/fund/cases/{c['case_id']}/approve", maker, {"amount_fen": total + 800000}).status == 422
    assert p.post(f"/api/fund/cases/{c['case_id']}/approve", maker, {"amount_fen": total}).status == 200
    paid = p.post(f"/api/fund/cases/{c['case_id']}/pay", checker)
    assert paid.status == 200 and paid.body["paid_fen"] == total, paid.body


def test_an_insurer_cannot_pay_beyond_the_assessed_amount(shared_platform):
    """The attack: 10 billion yuan was accepted as the payment of a claim assessed at 1,500 yuan."""
    p = shared_platform
    cpic = p.token("insurer", "CPIC理赔", insurer="CPIC")
    r = report(lat=ZHANGDIAN[0] + 0.09, lon=ZHANGDIAN[1],
               parties=[party("鲁C82001", "CPIC", phone=PHONES[0]), party("鲁C82002", "PICC", phone=PHONES[1])])
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])
    claim = wait_for(lambda: next((c for c in p.get("/api/claims?limit=5000", cpic).body if c["plate"] == "鲁C82001"), None),
                     30, what="claim")
    cid = claim["claim_id"]
    for action, body in (("request-documents", {}), ("documents-complete", {}), ("assess", {"amount_fen": 150000}),
                         ("decide", {"accepted": True}), ("agree", {})):
        assert p.post(f"/api/claims/{cid}/{action}", cpic, body).status == 200, action
    too_much = p.post(f"/api/claims/{cid}/pay", cpic, {"amount_fen": 1_000_000_000_000})
    assert too_much.status == 422 and too_much.body["allowed_fen"] == 150000, too_much.body
    assert p.post(f"/api/claims/{cid}/pay", cpic, {"amount_fen": 150001}).status == 422
    paid = p.post(f"/api/claims/{cid}/pay", cpic, {"amount_fen": 150000})
    assert paid.status == 200 and paid.body["paid_fen"] == 150000
