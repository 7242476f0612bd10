"""The dispatcher desk shows the statutory grade (zh/en), filters by it, and shows the police's timers."""
from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from accidentlink.incidents import incident_id_for
from tests.e2e.test_dashboard import accident, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def test_the_desk_shows_the_grade_filters_by_it_and_shows_the_police_timers(platform, page):  # type: ignore[no-untyped-def]
    dispatcher = platform.token("dispatcher", "调度员 等级")
    intake = platform.token("intake", "122 接警 等级")
    sign_in(page, platform.base_url, dispatcher)
    expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "live", timeout=15_000)
    big = {**accident(address=f"等级测试甲 {uuid.uuid4().hex[:6]}"), "fatalities": 10}
    small = {**accident(address=f"等级测试乙 {uuid.uuid4().hex[:6]}"), "location": {"lat": 36.47, "lon": 116.10}}
    for body in (big, small):
        assert platform.post("/api/reports", intake, body).status == 202
    big_card = page.locator(f'[data-testid="incident-card"][data-incident="{incident_id_for(big["report_id"])}"]')
    small_card = page.locator(f'[data-testid="incident-card"][data-incident="{incident_id_for(small["report_id"])}"]')
    expect(big_card).to_be_visible(timeout=15_000)
    expect(small_card).to_be_visible(timeout=15_000)
    expect(big_card.get_by_test_id("grade")).to_have_text("重大事故")
    expect(small_card.get_by_test_id("grade")).to_have_count(0)

    page.get_by_test_id("grade-filter").select_option("major")
    expect(small_card).to_have_count(0)
    expect(big_card).to_be_visible()

    big_card.click()
    timer = page.locator('[data-testid="incident-detail"] [data-testid="police-timer"][data-timer="determination_ordinary"]')
    expect(timer).to_be_visible(timeout=10_000)
    expect(timer).to_contain_text("交警认定（一般程序")
    page.get_by_test_id("lang-toggle").click()
    expect(big_card.get_by_test_id("grade")).to_have_text("Major (10+ deaths)")
    expect(timer).to_contain_text("Police determination (ordinary")
