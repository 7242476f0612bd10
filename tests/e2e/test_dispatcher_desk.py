"""The dispatcher desk in headless Chromium at 1600x950, doing what a dispatcher does (issue 15, items 2
and 6): a crash with no unit nearby is flagged and put first, with distances, and the dispatcher orders a
unit they chose; reassigns to a chosen unit; closing with a patient aboard asks first; reopens; ETAs read
as durations; the map draws the districts' outlines and clusters pins; and with 3,000 open incidents and a
500-report burst through the broker the page answers input within 200 ms and its counts equal the API's."""
from __future__ import annotations

import random
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from accidentlink.incidents import incident_id_for
from tests.e2e.test_dashboard import sign_in
from tests.support.platform import wait_for
from tests.support.reports import produce, report

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

SHEN_SOUTH = (36.02, 115.55)  # 莘县 south: beyond every unit's reach (police 30 km, ambulance 20 km)
LIANGSHUI = (36.3923, 115.8571)


def _crash(lat: float, lon: float, address: str, injured: int = 1) -> dict:
    r = report(lat=lat, lon=lon, injured=injured, movable=False)
    r["location"]["address"] = address
    r["description"] = "两车相撞，一人受伤，司机被困"
    return r


def _kpi(page, name: str) -> int:  # type: ignore[no-untyped-def]
    return int(page.locator(f'#kpis [data-kpi="{name}"]').inner_text())


def test_no_unit_nearby_is_flagged_first_and_the_dispatcher_orders_a_chosen_unit_seeing_the_distance(
        platform, page, artifacts):  # type: ignore[no-untyped-def]
    dispatcher = platform.token("dispatcher", "王调度")
    intake = platform.token("intake", "122 接警")
    near = _crash(*LIANGSHUI, f"聊临路梁水镇段 {uuid.uuid4().hex[:4]}")
    far = _crash(*SHEN_SOUTH, f"莘县南部乡道 {uuid.uuid4().hex[:4]}")
    for r in (near, far):
        assert platform.post("/api/reports", intake, r).status == 202
    near_id, far_id = incident_id_for(near["report_id"]), incident_id_for(far["report_id"])
    wait_for(lambda: platform.get(f"/api/incidents/{far_id}", dispatcher).body.get("no_unit_nearby"), 30,
             what="the far crash flagged")
    wait_for(lambda: len(platform.get(f"/api/incidents/{near_id}", dispatcher).body.get("orders", [])) == 2, 30,
             what="the near crash's two orders")

    sign_in(page, platform.base_url, dispatcher)
    first = page.locator('[data-testid="incident-card"]').first
    expect(first).to_have_attribute("data-incident", far_id)  # put first, though not the newest nor the worst
    expect(first.get_by_test_id("no-unit-flag").first).to_contain_text("附近无可用")
    expect(first).to_contain_text("km")
    expect(page.locator('#kpis [data-kpi="no_unit_nearby"]')).to_have_text(
        str(platform.get("/api/incidents/counts", dispatcher).body["no_unit_nearby"]))
    first.click()
    box = page.get_by_test_id("no-unit-box")
    expect(box).to_contain_text("附近无可用救护车")
    expect(box).to_contain_text("公里")
    page.screenshot(path=str(artifacts / "dispatcher-no-unit-nearby.png"))

    # the dispatcher chooses the ambulance, seeing distances; one beyond its reach is marked so
    box.get_by_test_id("choose-unit-120").click()
    modal = page.get_by_test_id("modal")
    options = modal.locator("select option")
    expect(options.first).to_contain_text("超出服务范围")
    expect(options.first).to_contain_text(re.compile(r"\d+\.\d km · 约 (\d+ 小时 )?\d+ 分钟"))
    chosen = options.first.get_attribute("value")
    page.screenshot(path=str(artifacts / "dispatcher-choose-unit.png"))
    page.get_by_test_id("modal-ok").click()
    detail = page.locator(f'[data-testid="incident-detail"][data-incident="{far_id}"]')
    expect(detail.get_by_test_id(f"unit-status-{chosen}")).to_have_text("已派单")
    inc = platform.get(f"/api/incidents/{far_id}", dispatcher).body
    order = next(o for o in inc["orders"] if o["state"] == "active" and o["service"] == "120")
    assert order["unit_id"] == chosen and order["distance_m"] > 20_000
    assert [f["service"] for f in inc["no_unit_nearby"]] == ["122"], "police still to decide"
    # the ETA is a duration, not a clock-like time
    eta = detail.locator(f'[data-unit-row="{chosen}"] [data-testid="eta"]')
    expect(eta).to_have_text(re.compile(r"^约 (\d+ 小时 )?\d+ 分钟$"))
    expect(detail.get_by_test_id("notes")).to_contain_text("超出服务范围，调度员决定")

    # police too: add a unit; the flag goes
    detail.get_by_test_id("choose-unit-122").click()
    page.get_by_test_id("modal-ok").click()
    expect(page.get_by_test_id("no-unit-box")).to_have_count(0)
    expect(page.locator(f'[data-testid="incident-card"][data-incident="{far_id}"] [data-testid="no-unit-flag"]')).to_have_count(0)

    # reassign the near crash's ambulance to a unit the dispatcher chooses
    page.locator(f'[data-testid="incident-card"][data-incident="{near_id}"]').click()
    detail = page.locator(f'[data-testid="incident-detail"][data-incident="{near_id}"]')
    detail.get_by_test_id("reassign-to-120").click()
    pick = page.get_by_test_id("modal").locator("select option").nth(1).get_attribute("value")
    page.get_by_test_id("modal").locator("select").select_option(pick)
    page.get_by_test_id("modal").locator("textarea").fill("车辆故障")
    page.get_by_test_id("modal-ok").click()
    expect(detail.get_by_test_id(f"unit-status-{pick}")).to_have_text("已派单")
    expect(detail.get_by_test_id("notes")).to_contain_text("改派给")
    active = [o for o in platform.get(f"/api/incidents/{near_id}", dispatcher).body["orders"] if o["state"] == "active"]
    assert {o["service"]: o["unit_id"] for o in active}["120"] == pick
    # every note on the Chinese screen in Chinese
    notes = detail.get_by_test_id("notes").inner_text()
    assert "reassigned by" not in notes and "domain.md" not in notes and "quick_to_police" not in page.content()
    page.screenshot(path=str(artifacts / "dispatcher-reassigned.png"))


def test_closing_with_a_patient_aboard_asks_first_and_the_incident_can_be_reopened(platform, page, artifacts):  # type: ignore[no-untyped-def]
    dispatcher = platform.token("dispatcher", "王调度")
    intake = platform.token("intake", "122 接警")
    r = _crash(*LIANGSHUI, f"聊临路梁水镇段 {uuid.uuid4().hex[:4]}")
    assert platform.post("/api/reports", intake, r).status == 202
    incident_id = incident_id_for(r["report_id"])
    inc = wait_for(lambda: (lambda i: i if len(i.get("orders", [])) == 2 else None)(
        platform.get(f"/api/incidents/{incident_id}", dispatcher).body), 30, what="both orders")
    amb = next(o for o in inc["orders"] if o["service"] == "120")
    for st in ("acknowledged", "en_route", "on_scene", "transporting"):
        assert platform.post(f"/api/units/{amb['unit_id']}/status", dispatcher, {"status": st}).status == 200

    sign_in(page, platform.base_url, dispatcher)
    page.locator(f'[data-testid="incident-card"][data-incident="{incident_id}"]').click()
    detail = page.locator(f'[data-testid="incident-detail"][data-incident="{incident_id}"]')
    expect(detail.get_by_test_id(f"unit-status-{amb['unit_id']}")).to_have_text("转运伤员")
    expect(detail.get_by_test_id("callers")).to_contain_text("两车相撞")  # the full view has loaded
    detail.get_by_test_id("close-incident").click()
    page.get_by_test_id("modal").locator("textarea").fill("现场处理完毕")
    page.get_by_test_id("modal-ok").click()
    ask = page.get_by_test_id("modal")
    expect(ask).to_contain_text("仍有患者在救护车上")
    expect(ask).to_contain_text("仍载有患者")
    page.screenshot(path=str(artifacts / "dispatcher-close-asks.png"))
    assert platform.get(f"/api/incidents/{incident_id}", dispatcher).body["status"] == "open", "not closed before asked"
    page.get_by_test_id("modal-ok").click()
    expect(detail.locator(".status-pill")).to_have_text("已结案")
    assert platform.get(f"/api/incidents/{incident_id}", dispatcher).body["status"] == "closed"
    expect(detail.get_by_test_id("timeline")).to_contain_text("事故已结案")  # the view after closing has loaded

    detail.get_by_test_id("reopen-incident").click()
    page.get_by_test_id("modal").locator("textarea").fill("伤者增加")
    page.get_by_test_id("modal-ok").click()
    expect(detail.locator(".status-pill")).to_have_text("未结")
    expect(detail.get_by_test_id("notes")).to_contain_text("重新开启事故")
    assert platform.get(f"/api/incidents/{incident_id}", dispatcher).body["status"] == "open"
    page.screenshot(path=str(artifacts / "dispatcher-reopened.png"))
    # the same notes on the English screen, in English
    page.get_by_test_id("lang-toggle").click()
    notes = detail.get_by_test_id("notes")
    expect(notes).to_contain_text("Dispatcher 王调度 reopened the incident: 伤者增加")
    expect(notes).not_to_contain_text("重新开启事故")
    expect(detail.get_by_test_id("timeline")).to_contain_text("incident closed")


@pytest.mark.quiet  # input latency in the page: measured on a machine not running the other tests
def test_3000_open_and_a_500_report_burst_keep_the_page_responsive_and_its_counts_equal_to_the_api(
        platform, page, artifacts):  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from tests.support.seed import incident_row, seed_incidents

    dispatcher = platform.token("dispatcher", "王调度")
    # 3,000 open incidents seeded straight into dispatch's store (the fastest honest path: the rows dispatch's
    # copy holds), a few of them far from every unit and flagged "no unit nearby" as dispatch notes them
    now = datetime.now(timezone.utc)
    rng = random.Random(15)
    rows = [incident_row(f"INC-SEED{n:06d}", 36.30 + rng.random() * 0.3, 115.80 + rng.random() * 0.35,
                         now - timedelta(minutes=30, seconds=n), injured=n % 3 == 0) for n in range(2990)]
    for n in range(10):
        at = now - timedelta(minutes=20, seconds=n)
        note = {"at": at.isoformat(), "kind": "no_unit_available", "text": "附近无可用救护车（20.0 公里内无空闲单位）",
                "text_en": "No ambulance unit nearby", "service": "120", "reach_m": 20000,
                "nearest_unit_id": None, "nearest_unit_name": None, "nearest_distance_m": None}
        rows.append(incident_row(f"INC-FAR{n:06d}", SHEN_SOUTH[0] - n * 1e-3, SHEN_SOUTH[1], at, injured=1, notes=[note]))
    engine = create_engine(platform.store_url("dispatch"))
    with Session(engine) as s:
        seed_incidents(s, rows)
        s.commit()
    engine.dispose()
    api = platform.get("/api/incidents/counts", dispatcher).body
    assert api["open"] >= 3000 and api["no_unit_nearby"] == 10

    sign_in(page, platform.base_url, dispatcher)
    expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "live", timeout=15_000)
    expect(page.locator('#kpis [data-kpi="open"]')).to_have_text(str(api["open"]))
    expect(page.get_by_test_id("incident-more")).to_contain_text(f"共 {api['open']} 起")
    expect(page.locator('[data-testid="incident-card"]').first.get_by_test_id("no-unit-flag").first).to_be_visible()
    # the map: the districts' real outlines (16: 8 in each city), pins clustered where they pile up
    expect(page.locator("#map .district-area")).to_have_count(16)
    expect(page.locator('#map [data-district="东昌府区"]')).to_have_count(1)
    expect(page.locator('#map [data-district="张店区"]')).to_have_count(1)
    expect(page.locator("#map .inc-cluster").first).to_be_attached()
    page.screenshot(path=str(artifacts / "map-outlines-clusters.png"))

    # input latency, measured in the page: from the key's event time to the frame after it was handled
    page.evaluate("""() => {
      window.__lat = [];
      document.querySelector('[data-testid="incident-search"]').addEventListener('input', (ev) => {
        const t0 = ev.timeStamp;
        requestAnimationFrame(() => window.__lat.push(performance.now() - t0));
      });
    }""")
    search = page.get_by_test_id("incident-search")
    search.click()
    intake_topic = platform.prefix + "accidents.reported"
    # 500 crashes on a grid 0.01° apart (about 1 km: none merges with another) over 东昌府区
    burst = [_crash(36.30 + (n // 20) * 0.01, 115.75 + (n % 20) * 0.01, f"突发测试路段 {n}", injured=n % 2)
             for n in range(500)]
    produce(platform.bootstrap, intake_topic, burst)  # the burst through the real broker
    for n in range(40):  # type while the burst arrives
        page.keyboard.type("聊" if n % 2 == 0 else "")
        page.keyboard.press("Backspace")
        page.wait_for_timeout(150)
    lat = page.evaluate("window.__lat")
    assert len(lat) >= 40, lat
    worst = max(lat)
    print(f"input latency during the burst: n={len(lat)} max={worst:.0f} ms p50={sorted(lat)[len(lat) // 2]:.0f} ms")
    assert worst < 200, f"input answered in {worst:.0f} ms during the burst (all: {[round(x) for x in lat]})"

    # the burst is in; the desk's counts equal the API's
    wait_for(lambda: platform.get("/api/incidents/counts", dispatcher).body["open"] >= api["open"] + 500, 120,
             what="the burst through the pipeline")

    def same() -> bool:
        truth = platform.get("/api/incidents/counts", dispatcher).body
        shown = {k: _kpi(page, k) for k in ("open", "no_unit_nearby", "overdue", "pending_ack")}
        return shown == {k: truth[k] for k in shown} and truth or False

    truth = wait_for(same, 60, interval=1, what="the desk's counts equal to the API's")
    assert truth["open"] > 3000
    page.screenshot(path=str(artifacts / "dispatcher-3000-open-burst.png"))
