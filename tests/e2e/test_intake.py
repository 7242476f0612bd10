"""HTTP intake: the broker acknowledges before 202; address-only locations are placed by the gazetteer."""
from __future__ import annotations

import json

import pytest

from connectors.kafka import read_all
from tests.support.platform import wait_for
from tests.support.reports import report

pytestmark = pytest.mark.e2e


def test_a_call_taker_may_give_only_an_address_known_to_the_offline_gazetteer(shared_platform):
    p = shared_platform
    intake = p.token("intake", "122接警台")
    dispatcher = p.token("dispatcher", "调度员")
    r = report(injured=1)
    r["location"] = {"address": "聊堂路道口铺"}
    res = p.post("/api/reports", intake, r)
    assert res.status == 202 and res.body["report_id"] == r["report_id"]
    published = [json.loads(m.value) for m in read_all(p.bootstrap, p.prefix + "accidents.reported")
                 if m.key == r["report_id"].encode()]
    assert published[0]["location"]["lat"] == pytest.approx(36.456) and published[0]["location"]["geocoded"] is True
    inc = wait_for(lambda: next((i for i in p.get("/api/incidents", dispatcher).body if r["report_id"] in i["report_ids"]),
                                None), 20, what="incident")
    assert inc["location"]["lat"] == pytest.approx(36.456)

    unknown = report()
    unknown["location"] = {"address": "火星大道1号"}
    res = p.post("/api/reports", intake, unknown)
    assert res.status == 422 and "gazetteer" in res.body["error"]


def test_a_report_is_accepted_only_after_the_broker_has_it_and_a_bad_one_gets_its_reason(shared_platform):
    p = shared_platform
    intake = p.token("intake", "120接警台")
    r = report(source="120", injured=2)
    res = p.post("/api/reports", intake, r)
    assert res.status == 202
    assert any(m.key == r["report_id"].encode() for m in read_all(p.bootstrap, p.prefix + "accidents.reported"))
    bad = p.post("/api/reports", intake, {**r, "source": "119"})
    assert bad.status == 422 and "source" in bad.body["error"]
    assert p.post("/api/reports", None, r).status == 401
    assert p.post("/api/reports", p.token("insurer", "PICC", insurer="PICC"), r).status == 403
