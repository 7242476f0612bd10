"""Issue 14 items 4 and 6 against the running platform (real broker, worker processes, uvicorn, headless
Chromium): each attack that was seen, and that it now fails.
- browser hardening headers on every kind of page and API answer; the dashboard and the API docs load with
  no Content-Security-Policy violation (nothing from another origin, no inline script);
- numbers typed into free text (address, description, a party's note) masked in the API, the live feed,
  the public ``incidents`` topic and the map's tooltip;
- an insurer reads its own insured in full (an audit line), another insurer reads nothing of it;
- the rate limit engages per address whatever the tokens; list pages walk every item exactly once."""
from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from accidentlink.incidents import incident_id_for
from tests.support.platform import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

CST = timezone(timedelta(hours=8))
RAW_PHONE, RAW_ID = "13912345678", "37150219850101123X"
INSURED_PHONE, INSURED_ID = "+8613700002468", "371502199204045678"
SECRETS = (RAW_PHONE, "13987654321", "139 8765 4321", RAW_ID, "13700002468", INSURED_ID)


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def crash(*, lat: float, lon: float, parties: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "schema": "accident-report/1", "report_id": f"122-PII-{uuid.uuid4().hex[:12]}", "source": "122",
        "reported_at": datetime.now(CST).isoformat(timespec="seconds"),
        "location": {"lat": lat, "lon": lon, "address": f"聊临路 报警人电话{RAW_PHONE} {uuid.uuid4().hex[:4]}"},
        "injured": 1, "fatalities": 0, "vehicles_movable": False, "hit_and_run": False, "hazards": [],
        "reporter": {"name": "王某", "phone": "+8613800000000"},
        "parties": parties or [],
        "description": f"伤者身份证{RAW_ID}，家属电话 139 8765 4321",
    }


def insured(plate: str, insurer: str, phone: str, id_number: str) -> dict[str, Any]:
    return {"name": "赵六", "phone": phone, "id_number": id_number, "plate": plate, "vehicle_type": "car",
            "insurer": insurer, "ci_policy": f"POL-{plate}", "licensed": True, "note": f"车主电话{RAW_PHONE}"}


def raw_get(p: Any, path: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", p.http_port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        r = conn.getresponse()
        head = {k.lower(): v for k, v in r.getheaders()}
        body = r.read(65536) if "text/event-stream" not in head.get("content-type", "") else b""
        return r.status, head, body
    finally:
        conn.close()


# ---------------------------------------------------------------- headers
def test_every_kind_of_page_and_api_answer_carries_the_hardening_headers(shared_platform):  # type: ignore[no-untyped-def]
    p = shared_platform
    d = p.token("dispatcher", "头部调度员")
    cases = [("/dashboard/", None), ("/docs", None), ("/quick/QK-NOPE", None), ("/openapi.json", None),
             ("/api/units?limit=1", d), ("/api/incidents?limit=1", d), ("/api/units", None), ("/api/nope", d),
             ("/healthz", None), ("/api/incidents/stream", d), ("/static/js/app.js", None),
             ("/docs/assets/swagger-ui-bundle.js", None)]
    for path, token in cases:
        status, h, _ = raw_get(p, path, token)
        assert status < 500, (path, status)
        csp = h.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, (path, csp)
        assert "script-src 'self'" in csp and "unsafe-eval" not in csp and "http" not in csp, (path, csp)
        assert h.get("x-content-type-options") == "nosniff" and h.get("x-frame-options") == "DENY", (path, h)
        assert h.get("referrer-policy") == "no-referrer", (path, h)
        if not path.startswith(("/static/", "/docs/assets/")):
            assert h.get("cache-control") == "no-store", (path, h.get("cache-control"))


# ---------------------------------------------------------------- the browser
def _csp_watch(page) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if m.type == "error" or "Content Security Policy" in m.text
            else None)
    page.on("requestfailed", lambda r: seen.append(f"failed {r.url}: {r.failure}")
            if "ERR_ABORTED" not in (r.failure or "") else None)  # the live feed, aborted on leaving the page
    page.on("request", lambda r: seen.append(f"third-party {r.url}")
            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
    return seen


def test_the_dashboard_and_the_api_docs_load_with_no_csp_violation(shared_platform, page):  # type: ignore[no-untyped-def]
    from tests.e2e.test_dashboard import sign_in

    p = shared_platform
    seen = _csp_watch(page)
    sign_in(page, p.base_url, p.token("dispatcher", "CSP 调度员"))
    expect(page.get_by_test_id("desk-dispatcher")).to_be_visible()
    expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "live", timeout=15_000)
    expect(page.locator("#map .unit-dot").first).to_be_attached()
    page.get_by_test_id("lang-toggle").click()
    page.goto(p.base_url + "/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)  # swagger-ui ran, from our own origin
    assert page.locator(".opblock").count() > 20
    page.wait_for_timeout(500)
    assert not [s for s in seen if "Content Security Policy" in s or "third-party" in s or "Refused" in s], seen
    assert not seen, seen


def test_numbers_typed_into_free_text_are_masked_in_the_api_feed_topic_and_map_tooltip(shared_platform, page):  # type: ignore[no-untyped-def]
    from connectors.kafka import read_all
    from tests.e2e.test_dashboard import sign_in

    p = shared_platform
    dispatcher, intake = p.token("dispatcher", "掩码调度员"), p.token("intake", "掩码接警台")
    body = crash(lat=36.40, lon=115.87)
    incident_id = incident_id_for(body["report_id"])
    feed: list[bytes] = []
    ready = threading.Event()

    def listen() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", p.http_port, timeout=30)
        conn.request("GET", "/api/incidents/stream", headers={"Authorization": f"Bearer {dispatcher}"})
        r = conn.getresponse()
        ready.set()
        end = time.monotonic() + 25
        while time.monotonic() < end:
            line = r.fp.readline()
            feed.append(line)
            if incident_id.encode() in line and b"hospital_assigned" in line:
                break
        conn.close()

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    assert ready.wait(10)
    sign_in(page, p.base_url, dispatcher)
    expect(page.get_by_test_id("conn")).to_have_attribute("data-state", "live", timeout=15_000)
    assert p.post("/api/reports", intake, body).status == 202
    dot = page.locator(f'#map [data-inc="{incident_id}"]')
    expect(dot).to_be_attached(timeout=15_000)
    tooltip = dot.locator("title").text_content() or ""
    assert "报警人电话139****5678" in tooltip and not leaks(tooltip), tooltip
    card = page.locator(f'[data-testid="incident-card"][data-incident="{incident_id}"]')
    expect(card).to_contain_text("139****5678")
    assert not leaks(page.content())
    t.join(timeout=30)
    text = b"".join(feed).decode("utf-8", "replace")
    assert incident_id in text, text[-500:]
    assert not leaks(text), leaks(text)
    detail = wait_for(lambda: (r := p.get(f"/api/incidents/{incident_id}", dispatcher)).status == 200 and r, 20)
    assert not leaks(json.dumps(detail.body, ensure_ascii=False))
    records = [r for r in read_all(p.bootstrap, p.prefix + "incidents", timeout_s=5) if incident_id.encode() in r.value]
    assert records and not any(leaks(r.value.decode()) for r in records)


# ---------------------------------------------------------------- need to know
def test_an_insurer_reads_its_own_insured_in_full_audited_and_another_insurer_nothing(shared_platform):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from connectors.sql.db import Database
    from connectors.sql.models import AuditRow

    p = shared_platform
    intake = p.token("intake", "理赔接警台")
    picc, cpic = p.token("insurer", "人保理赔员", insurer="PICC"), p.token("insurer", "太保理赔员", insurer="CPIC")
    plate = f"鲁P{uuid.uuid4().hex[:5].upper()}"
    body = crash(lat=36.45, lon=115.98, parties=[insured(plate, "PICC", INSURED_PHONE, INSURED_ID),
                                                 insured("鲁P0CPIC", "CPIC", "+8613600001357", "371502198805051111")])
    assert p.post("/api/reports", intake, body).status == 202
    claim = wait_for(lambda: next((c for c in p.get("/api/claims?limit=200", picc).body if c["plate"] == plate), None),
                     40, 0.3, "PICC's claim")
    assert not leaks(json.dumps(claim, ensure_ascii=False)), "the list stays masked: full identity one claim at a time"
    res = p.get(f"/api/claims/{claim['claim_id']}", picc)
    assert res.status == 200 and res.body["party"]["phone"] == INSURED_PHONE and res.body["party"]["id_number"] == INSURED_ID
    assert RAW_PHONE not in json.dumps(res.body, ensure_ascii=False)  # free text stays masked even for it
    db = Database(p.store_url("claims"))
    try:
        with db.read() as s:
            rows = [(r.role, r.token_id, r.detail) for r in s.scalars(select(AuditRow).where(
                AuditRow.action == "personal_data.read", AuditRow.target == claim["claim_id"]))]
    finally:
        db.dispose()
    assert rows and rows[-1][0] == "insurer" and rows[-1][2]["insurer"] == "PICC", rows
    other = p.get(f"/api/claims/{claim['claim_id']}", cpic)
    assert other.status in (403, 404) and INSURED_ID not in json.dumps(other.body, ensure_ascii=False)
    assert INSURED_ID not in json.dumps(p.get("/api/claims?limit=200", cpic).body, ensure_ascii=False)


# ---------------------------------------------------------------- rate limit, pages
def test_the_rate_limit_engages_per_address_whatever_the_real_tokens(platform_factory):  # type: ignore[no-untyped-def]
    p = platform_factory("web", HTTP_RATE_LIMIT_PER_S="1000", HTTP_RATE_LIMIT_PER_ADDRESS_PER_S="4")
    wait_for(lambda: p.get("/healthz").status in (200, 503), 60, 0.3, "web up")
    tokens = [p.token("dispatcher", f"地址{i}") for i in range(12)]
    results = [p.get("/api/units?limit=1", tok) for tok in tokens * 2]
    statuses = [r.status for r in results]
    assert set(statuses) <= {200, 429} and 429 in statuses, statuses
    refused = next(r for r in results if r.status == 429)
    assert int(refused.headers.get("Retry-After") or refused.headers.get("retry-after")) >= 1
    assert "retry" in refused.body["error"]
    assert statuses.count(200) <= 8 + 4 * 10, statuses


def test_list_pages_walked_by_cursor_show_every_item_exactly_once(shared_platform):  # type: ignore[no-untyped-def]
    p = shared_platform
    d, intake = p.token("dispatcher", "翻页调度员"), p.token("intake", "翻页接警台")
    for i in range(5):
        assert p.post("/api/reports", intake, crash(lat=36.30 + i * 0.02, lon=116.05)).status == 202
    wait_for(lambda: len(p.get("/api/incidents?limit=200", d).body) >= 5, 30, 0.3, "the incidents")
    for path, per_page in (("/api/incidents", 2), ("/api/units", 7)):
        for _attempt in range(3):  # units move between pages when one changes status meanwhile: walk again
            key = "incident_id" if path == "/api/incidents" else "unit_id"
            before = [i[key] for i in p.get(f"{path}?limit=200", d).body]
            seen = walk(p, d, path, per_page, key)
            after = [i[key] for i in p.get(f"{path}?limit=200", d).body]
            if before == after:
                break
        assert 0 < len(after) < 200
        assert len(seen) == len(set(seen)) and set(seen) == set(after), (path, len(seen), len(after))
    res = p.request("GET", "/api/incidents?limit=5000", d)  # one answer: a page, not the 5000 asked for
    assert res.status == 200 and len(res.body) <= 200
    assert p.get("/api/incidents?cursor=not-ours", d).status == 422


def walk(p: Any, token: str, path: str, per_page: int, key: str) -> list[str]:
    seen: list[str] = []
    url = f"{path}?limit={per_page}"
    while True:
        res = p.get(url, token)
        assert res.status == 200 and len(res.body) <= per_page, res.body
        seen += [i[key] for i in res.body]
        cursor = res.headers.get("X-Next-Cursor") or res.headers.get("x-next-cursor")
        if not cursor:
            return seen
        url = f"{path}?limit={per_page}&cursor={quote(cursor)}"
