"""The dashboard in headless Chromium against the whole running platform: the dispatcher desk gets a
new incident through the live feed without reloading, switches language, acknowledges a unit; the
hospital desk confirms a green-channel admission and bills it, seeing who pays what."""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from accidentlink.incidents import incident_id_for
from tests.support.platform import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CST = timezone(timedelta(hours=8))
REPORTER_PHONE = "+8613812345678"
PARTY_PHONE = "+8613987654321"


def accident(*, injured: int = 1, address: str, parties: list | None = None) -> dict:
    rid = f"122-E2E-{uuid.uuid4().hex[:12]}"
    return {
        "schema": "accident-report/1", "report_id": rid, "source": "122",
        "reported_at": datetime.now(CST).isoformat(timespec="seconds"),
        "location": {"lat": 36.39, "lon": 115.86, "address": address},
        "injured": injured, "fatalities": 0, "vehicles_movable": False, "hit_and_run": False, "hazards": [],
        "reporter": {"name": "王某", "phone": REPORTER_PHONE},
        "parties": parties or [],
        "description": "端到端测试：两车相撞，一人受伤",
    }


def sign_in(page, base_url: str, token: str, desk: str = "auto", hospital: str = "") -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/dashboard/")
    expect(page.get_by_test_id("login")).to_be_visible()
    page.get_by_test_id("token-input").fill(token)
    page.get_by_test_id("desk-select").select_option(desk)
    if hospital:
        page.get_by_test_id("hospital-input").fill(hospital)
    page.get_by_test_id("login-submit").click()


def test_dispatcher_sees_a_new_incident_live_and_acknowledges_a_unit(platform, page, artifacts):  # type: ignore[no-untyped-def]
    dispatcher = platform.token("dispatcher", "调度员 端到端")
    intake = platform.token("intake", "122 接警 端到端")

    sign_in(page, platform.base_url, dispatcher)
    expect(page.get_by_test_id("desk-dispatcher")).to_be_visible()
    # Chinese by default
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    expect(page.get_by_test_id("desk-name")).to_have_text("联合调度台（122/120）")
    expect(page.get_by_role("heading", name="事故列表")).to_be_visible()
    expect(page.get_by_text("可用救护车")).to_be_visible()
    expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "live", timeout=15_000)
    expect(page.get_by_test_id("conn")).to_contain_text("实时连接")
    # the units are on the map (from GET /api/units)
    expect(page.locator("#map .unit-dot").first).to_be_attached()
    page.evaluate("window.__sameDocument = 'yes'")

    address = f"聊临路端到端测试段 {uuid.uuid4().hex[:6]}"
    body = accident(address=address)
    r = platform.post("/api/reports", intake, body)
    assert r.status == 202, r.body
    incident_id = incident_id_for(body["report_id"])

    # the live feed brings it in, no reload
    card = page.locator(f'[data-testid="incident-card"][data-incident="{incident_id}"]')
    expect(card).to_be_visible(timeout=10_000)
    expect(card).to_contain_text(address)
    expect(card).to_contain_text("伤人")
    assert page.evaluate("window.__sameDocument") == "yes", "the page must not have reloaded"
    expect(page.locator(f'#map [data-inc="{incident_id}"]')).to_be_attached()

    # English
    page.get_by_test_id("lang-toggle").click()
    assert page.evaluate("document.documentElement.lang") == "en"
    expect(page.get_by_test_id("desk-name")).to_have_text("Joint dispatch desk (122/120)")
    expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
    expect(page.get_by_test_id("conn")).to_contain_text("Live")
    expect(card).to_contain_text("Injury")

    # open it, wait for its orders, acknowledge a unit on its behalf
    card.click()
    detail = page.locator(f'[data-testid="incident-detail"][data-incident="{incident_id}"]')
    expect(detail).to_be_visible()
    ack = detail.locator('[data-testid^="ack-"]').first
    expect(ack).to_be_visible(timeout=15_000)
    unit_id = ack.get_attribute("data-unit")
    status = detail.get_by_test_id(f"unit-status-{unit_id}")
    expect(status).to_have_text("Dispatched")
    ack.click()
    expect(status).to_have_text("Acknowledged", timeout=10_000)
    expect(detail.get_by_test_id("timeline")).to_contain_text("Unit status", timeout=10_000)
    units = platform.get("/api/units?limit=5000", dispatcher).body
    assert next(u for u in units if u["unit_id"] == unit_id)["status"] == "acknowledged"

    # personal data never shows unmasked
    html = page.content()
    for raw in (REPORTER_PHONE, REPORTER_PHONE[3:]):
        assert raw not in html
    assert page.evaluate("window.__sameDocument") == "yes"
    page.screenshot(path=str(artifacts / "dashboard.png"))


def test_hospital_confirms_an_admission_and_bills_it_with_the_payer_split(platform, page, artifacts):  # type: ignore[no-untyped-def]
    dispatcher = platform.token("dispatcher", "调度员 端到端")
    intake = platform.token("intake", "120 接警 端到端")
    plate = f"鲁P{uuid.uuid4().int % 100000:05d}"
    body = accident(address="聊临路梁水镇段（端到端）", parties=[{
        "name": "张某", "phone": PARTY_PHONE, "id_number": "371502199001011234", "plate": plate,
        "vehicle_type": "car", "insurer": "PICC", "ci_policy": "PDZA202637150000009999"}])
    r = platform.post("/api/reports", intake, body)
    assert r.status == 202, r.body
    incident_id = incident_id_for(body["report_id"])

    def routed():  # type: ignore[no-untyped-def]
        i = platform.get(f"/api/incidents/{incident_id}", dispatcher)
        return i.body if i.status == 200 and i.body.get("admission_id") else None
    inc = wait_for(routed, 30, 0.2, "the incident to get a destination hospital and an admission")
    hospital_id, admission_id = inc["hospital_id"], inc["admission_id"]
    hospital = platform.token("hospital", "急诊 端到端", hospital=hospital_id)

    sign_in(page, platform.base_url, hospital, desk="hospital", hospital=hospital_id)
    expect(page.get_by_test_id("desk-hospital")).to_be_visible()
    expect(page.get_by_test_id("desk-name")).to_contain_text("医院绿色通道")
    card = page.locator(f'[data-testid="admission-card"][data-adm="{admission_id}"]')
    expect(card).to_be_visible(timeout=15_000)
    card.click()
    detail = page.locator(f'[data-testid="admission-detail"][data-adm="{admission_id}"]')
    expect(detail.get_by_test_id("admission-status")).to_have_text("待接收")
    expect(page.get_by_test_id("bill-submit")).to_be_disabled()

    page.get_by_test_id("confirm-admission").click()
    expect(detail.get_by_test_id("admission-status")).to_have_text("已接收", timeout=10_000)

    # yuan typed by a person -> integer fen, exactly
    assert page.evaluate("import('/static/js/util.js').then(m => [m.yuanToFen('25000'), m.yuanToFen('25000.50'), "
                         "m.yuanToFen('0.1'), m.yuanToFen('1,234.05')])") == [2500000, 2500050, 10, 123405]
    amount = page.get_by_test_id("bill-amount")
    amount.fill("25000")
    expect(page.locator("#amount-hint")).to_contain_text("2500000")
    with page.expect_request(lambda q: q.method == "POST" and q.url.endswith("/bills")) as sent:
        page.get_by_test_id("bill-submit").click()
    posted = json.loads(sent.value.post_data)
    assert posted["amount_fen"] == 2500000 and isinstance(posted["amount_fen"], int)
    assert re.search(r'"amount_fen":\s*2500000[,}]', sent.value.post_data), "an integer in the JSON, never 2500000.0"

    split = page.get_by_test_id("bill-split")
    expect(split.get_by_test_id("split-total")).to_have_text("¥25,000.00", timeout=10_000)
    expect(split.get_by_test_id("split-insurer")).to_have_text("¥18,000.00")
    expect(split.get_by_test_id("split-fund")).to_have_text("¥7,000.00")
    expect(split).to_contain_text("PICC")
    assert PARTY_PHONE not in page.content() and PARTY_PHONE[3:] not in page.content()
    page.screenshot(path=str(artifacts / "dashboard-hospital.png"))
