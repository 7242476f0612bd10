"""Insurer claims and online quick handling, black-box (issue: insurer claims, 快处快赔)."""
from __future__ import annotations

import base64
import json
import re
import urllib.parse
import urllib.request

import pytest
from twilio.request_validator import RequestValidator

from connectors.kafka import read_all
from tests.support.platform import wait_for
from tests.support.reports import ZHANGDIAN, party, produce, report

pytestmark = pytest.mark.e2e
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()


def _claims(p, token):  # type: ignore[no-untyped-def]
    return p.get("/api/claims?limit=5000", token).body


def _links(p, dispatcher, incident_id):  # type: ignore[no-untyped-def]
    """Each party's link, as its phone got it (the handset file: without Twilio, the only place the secret
    is); the outbox staff read shows that the link was sent, secret masked."""
    from accidentlink.masking import mask_phone
    from connectors.sms import handset_texts

    out = {}
    for m in p.get(f"/api/sms?incident_id={incident_id}", dispatcher).body:
        if m["purpose"] == "quick_link":
            assert re.search(r"/quick/QK-\S+[?#]t=••••", m["body"]) and not re.search(r"t=[0-9a-f]{8,}", m["body"])
            quick_id = re.search(r"/quick/([^\s?#]+)", m["body"]).group(1)
            for phone in PHONES:
                if mask_phone(phone) == m["to"]:
                    texts = [t for t in handset_texts(p.var_dir / "handsets", phone) if f"/quick/{quick_id}" in t]
                    if texts:
                        out[m["to"]] = re.search(r"/quick/([^\s?#]+)[?#]t=([^\s&#]+)", texts[-1]).groups()
    return out


PHONES = ("+8613811110001", "+8613822220002")


def _minor_crash(p, a_plate, b_plate, **kw):  # type: ignore[no-untyped-def]
    r = report(lat=kw.pop("lat", ZHANGDIAN[0]), lon=kw.pop("lon", ZHANGDIAN[1]),
               parties=[party(a_plate, "CPIC", phone=PHONES[0]), party(b_plate, "PICC", phone=PHONES[1])], **kw)
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])
    return r


def test_minor_two_car_crash_opens_one_claim_at_each_insurer_visible_only_to_it(shared_platform):
    p = shared_platform
    cpic = p.token("insurer", "CPIC理赔", insurer="CPIC")
    picc = p.token("insurer", "PICC理赔", insurer="PICC")
    pingan = p.token("insurer", "PINGAN理赔", insurer="PINGAN")
    r = _minor_crash(p, "鲁C90001", "鲁C90002")
    mine = wait_for(lambda: [c for c in _claims(p, cpic) if c["plate"] == "鲁C90001"], 20, what="CPIC claim")
    theirs = wait_for(lambda: [c for c in _claims(p, picc) if c["plate"] == "鲁C90002"], 20, what="PICC claim")
    assert len(mine) == len(theirs) == 1 and mine[0]["kind"] == "quick"
    assert not [c for c in _claims(p, cpic) if c["plate"] == "鲁C90002"], "an insurer sees only its own claims"
    assert not [c for c in _claims(p, pingan) if c["incident_id"] == mine[0]["incident_id"]]
    assert p.get(f"/api/claims/{theirs[0]['claim_id']}", cpic).status == 404
    assert "13811110001" not in json.dumps(mine[0], ensure_ascii=False), "phones masked"
    both = {mine[0]["claim_id"], theirs[0]["claim_id"]}

    def opened():  # type: ignore[no-untyped-def]  # the relay publishes just after the commit the API shows
        events = [json.loads(m.value) for m in read_all(p.bootstrap, p.prefix + "claims.events")]
        ids = [e["claim_id"] for e in events if e["change"] == "opened" and e["incident_id"] == mine[0]["incident_id"]]
        return ids if set(ids) == both else None
    assert sorted(wait_for(opened, 20, what="both opened events")) == sorted(both), "each opened exactly once"
    # each insurer's connector: its own topic carries its own claims only
    own = wait_for(lambda: (lambda ids: ids if mine[0]["claim_id"] in ids else None)(
        {json.loads(m.value)["claim_id"] for m in read_all(p.bootstrap, p.prefix + "claims.insurer.CPIC")}),
        20, what="CPIC's claim on CPIC's own topic")
    assert mine[0]["claim_id"] in own and theirs[0]["claim_id"] not in own
    assert r["report_id"]


def test_quick_handling_both_parties_sign_and_the_table_settles_liability(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    cpic = p.token("insurer", "CPIC理赔", insurer="CPIC")
    _minor_crash(p, "鲁C91001", "鲁C91002", lat=ZHANGDIAN[0] + 0.03)
    claim = wait_for(lambda: next((c for c in _claims(p, cpic) if c["plate"] == "鲁C91001"), None), 20, what="claim")
    links = wait_for(lambda: (lambda l: l if len(l) == 2 else None)(_links(p, dispatcher, claim["incident_id"])), 20,
                     what="SMS links to both parties")
    (qid, tok_a), (_, tok_b) = links["+86138****0001"], links["+86138****0002"]
    assert p.get(f"/api/quick/{qid}?t=wrong").status == 404
    view = p.get(f"/api/quick/{qid}?t={tok_a}").body
    assert view["me"]["plate"] == "鲁C91001" and {"rear_ending", "lane_change"} <= {s["code"] for s in view["situations"]}
    early = p.post(f"/api/quick/{qid}/confirm?t={tok_a}", None, {"signature": "周某", "situations": ["rear_ending"]})
    assert early.status == 422 and "photo" in early.body["error"]
    assert p.post(f"/api/quick/{qid}/photos?t={tok_a}", None, {"kind": "front_side", "data_base64": "bm90IGFuIGltYWdl"}).status == 422
    for kind in ("front_side", "rear_side", "impact_point"):
        assert p.post(f"/api/quick/{qid}/photos?t={tok_a}", None, {"kind": kind, "data_base64": PNG}).status == 201
    assert p.post(f"/api/quick/{qid}/confirm?t={tok_a}", None,
                  {"signature": "周某", "situations": ["rear_ending"], "weather": "晴", "point_of_impact": "车尾"}).status == 200
    done = p.post(f"/api/quick/{qid}/confirm?t={tok_b}", None, {"signature": "吴某", "situations": []})
    assert done.status == 200, done.body
    assert done.body["status"] == "agreed"
    assert done.body["outcome"]["shares"] == {"鲁C91001": "full", "鲁C91002": "none"}
    sms = wait_for(lambda: [m for m in p.get(f"/api/sms?incident_id={claim['incident_id']}", dispatcher).body
                            if m["purpose"] == "quick_outcome"], 20, what="outcome SMS")
    assert len(sms) == 2 and all("全部责任" in m["body"] for m in sms)
    got = wait_for(lambda: (lambda c: c if c.get("facts", {}).get("liability") else None)(
        p.get(f"/api/claims/{claim['claim_id']}", cpic).body), 20, what="liability on the claim")
    assert got["facts"]["liability"]["own_share"] == "full"


def test_a_disputed_case_goes_to_the_police_queue_and_the_officer_decides(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "交警在线定责")
    cpic = p.token("insurer", "CPIC理赔", insurer="CPIC")
    _minor_crash(p, "鲁C92001", "鲁C92002", lat=ZHANGDIAN[0] + 0.05)
    claim = wait_for(lambda: next((c for c in _claims(p, cpic) if c["plate"] == "鲁C92001"), None), 20, what="claim")
    links = wait_for(lambda: (lambda l: l if len(l) == 2 else None)(_links(p, dispatcher, claim["incident_id"])), 20,
                     what="links")
    for who, (qid, tok) in links.items():
        for kind in ("front_side", "rear_side", "impact_point"):
            p.post(f"/api/quick/{qid}/photos?t={tok}", None, {"kind": kind, "data_base64": PNG})
        p.post(f"/api/quick/{qid}/confirm?t={tok}", None, {"signature": "某", "situations": [], "disputed": True})
    queue = p.get("/api/quick", dispatcher).body
    assert qid in [q["quick_id"] for q in queue]
    bad = p.post(f"/api/quick/{qid}/determine", dispatcher, {"shares": {"鲁C92001": "most"}, "reason": "x"})
    assert bad.status == 422
    ok = p.post(f"/api/quick/{qid}/determine", dispatcher,
                {"shares": {"鲁C92001": "primary", "鲁C92002": "secondary"}, "reason": "视频显示甲车变道未让行"})
    assert ok.status == 200 and ok.body["status"] == "determined"
    assert p.post(f"/api/quick/{qid}/determine", dispatcher,
                  {"shares": {"鲁C92001": "full", "鲁C92002": "none"}, "reason": "again"}).status == 409


def test_a_minor_crash_with_an_uninsured_vehicle_gets_police_and_the_dispatcher_sees_why(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    r = report(lat=ZHANGDIAN[0] - 0.03, lon=ZHANGDIAN[1], parties=[party("鲁C93001", "CPIC"), party("鲁C93002", None)])
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])

    def inc():  # type: ignore[no-untyped-def]
        for i in p.get("/api/incidents?limit=5000", dispatcher).body:
            if r["report_id"] in i["report_ids"] and i["orders"] and any(n["kind"] == "quick_refused" for n in i["notes"]):
                return i
    i = wait_for(inc, 60, what="police order and the reason quick handling was refused")
    assert [o["service"] for o in i["orders"]] == ["122"]
    assert any("交强险" in n["text"] for n in i["notes"] if n["kind"] == "quick_refused")


def test_the_insurer_works_its_claim_through_the_statutory_steps_and_pays_once(shared_platform):
    p = shared_platform
    cpic = p.token("insurer", "CPIC理赔", insurer="CPIC")
    picc = p.token("insurer", "PICC理赔", insurer="PICC")
    _minor_crash(p, "鲁C94001", "鲁C94002", lat=ZHANGDIAN[0] + 0.07)
    claim = wait_for(lambda: next((c for c in _claims(p, cpic) if c["plate"] == "鲁C94001"), None), 20, what="claim")
    cid = claim["claim_id"]
    assert p.post(f"/api/claims/{cid}/pay", cpic, {}).status == 409
    assert p.post(f"/api/claims/{cid}/request-documents", picc, {}).status == 404
    for action, body in (("request-documents", {}), ("documents-complete", {}), ("assess", {"amount_fen": 150000}),
                         ("decide", {"accepted": True}), ("agree", {}), ("pay", {"amount_fen": 150000})):
        res = p.post(f"/api/claims/{cid}/{action}", cpic, body)
        assert res.status == 200, (action, res.body)
    assert res.body["status"] == "paid" and res.body["paid_fen"] == 150000
    assert p.post(f"/api/claims/{cid}/pay", cpic, {"amount_fen": 150000}).status == 409, "never paid twice"
    assert p.post(f"/api/claims/{cid}/assess", cpic, {"amount_fen": 1.5}).status == 422


def test_inbound_sms_reply_is_accepted_only_with_a_valid_twilio_signature(platform_factory):
    auth = "twilio-secret"
    p = platform_factory(TWILIO_AUTH_TOKEN=auth)
    p.wait_healthy()
    dispatcher = p.token("dispatcher", "调度员")
    r = _minor_crash(p, "鲁C95001", "鲁C95002")
    wait_for(lambda: any(m["purpose"] == "quick_link" for m in p.get("/api/sms", dispatcher).body), 30, what="links")
    url = p.base_url + "/api/sms/inbound"
    params = {"From": "+8613811110001", "Body": "1", "MessageSid": "SM" + "1" * 32}
    sig = RequestValidator(auth).compute_signature(url, params)
    data = urllib.parse.urlencode(params).encode()
    forged = p.request("POST", "/api/sms/inbound", raw=data,
                       headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "bad"})
    assert forged.status == 403
    missing = p.request("POST", "/api/sms/inbound", raw=data, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert missing.status == 403
    req = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
        assert "已确认" in resp.read().decode()
    assert r["report_id"]


def test_a_claim_with_an_unknown_insurer_code_waits_for_an_administrator_to_route_it(shared_platform):
    p = shared_platform
    dispatcher = p.token("dispatcher", "理赔路由管理员")
    picc = p.token("insurer", "PICC理赔", insurer="PICC")
    r = report(lat=ZHANGDIAN[0] + 0.09, lon=ZHANGDIAN[1], parties=[party("鲁C96001", "NEWINS"), party("鲁C96002", "PICC")])
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])
    waiting = wait_for(lambda: [c for c in p.get("/api/claims-awaiting-routing", dispatcher).body if c["plate"] == "鲁C96001"],
                       20, what="the unrouted claim")
    cid = waiting[0]["claim_id"]
    assert waiting[0]["routed"] is False and p.get(f"/api/claims/{cid}", picc).status == 404
    assert p.post(f"/api/claims/{cid}/route", dispatcher, {"insurer": "NOSUCH"}).status == 409
    routed = p.post(f"/api/claims/{cid}/route", dispatcher, {"insurer": "PICC"})
    assert routed.status == 200 and routed.body["status"] == "routed"
    assert p.get(f"/api/claims/{cid}", picc).body["insurer"] == "PICC"
    assert p.post(f"/api/claims/{cid}/route", dispatcher, {"insurer": "PICC"}).status == 409
    assert p.post(f"/api/claims/{cid}/request-documents", picc, {}).status == 200
