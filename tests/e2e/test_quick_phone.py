"""The drivers' phone page (快处快赔) at 390x844 and the police's online determination desk at 1600x950, in
headless Chromium against the running platform: each driver answers about their OWN vehicle, adds the three
photos after seeing each preview, sees the liability that will result, signs by drawing, and sees the agreement,
the claim numbers, the insurers' hotlines and how to object; contradictory answers go to the police screen, where
an officer decides and both insurers' claims proceed (程序规定 20). The phone page runs under a strict CSP."""
from __future__ import annotations

import hashlib
import json
import re
import struct
import urllib.parse
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from connectors.kafka import read_all
from tests.support.platform import wait_for
from tests.support.reports import ZHANGDIAN, party, produce, report

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
PHONE = {"width": 390, "height": 844}
STRICT_CSP = "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'"


def _png(path: Path, w: int, h: int, seed: int) -> Path:
    """A real PNG (stripes), as a phone's camera would hand the page a picture."""
    rows = b"".join(b"\x00" + b"".join(bytes(((x * 7 + seed * 50) % 256, (y * 3 + seed * 90) % 256, (x + y) % 256))
                                       for x in range(w)) for y in range(h))
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


def _links(p, incident_id: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """phone -> the link texted to that party, read from the claims store's SMS outbox (what the phone got)."""
    from sqlalchemy import select

    from connectors.sql.db import Database
    from connectors.sql.models import SmsMessage

    db = Database(p.store_url("claims"))
    try:
        with db.read() as s:
            rows = s.scalars(select(SmsMessage).where(SmsMessage.incident_id == incident_id,
                                                       SmsMessage.purpose == "quick_link")).all()
            return {r.to: re.search(r"https?://\S+", r.body).group(0) for r in rows}  # type: ignore[union-attr]
    finally:
        db.dispose()


def _crash(p, a: str, b: str, dlat: float):  # type: ignore[no-untyped-def]
    """A minor two-car crash in 张店 (Zibo): car a (CPIC), car b (PICC); both drivers get a link."""
    cpic = p.token("insurer", "CPIC理赔", insurer="CPIC")
    r = report(lat=ZHANGDIAN[0] + dlat, lon=ZHANGDIAN[1],
               parties=[party(a, "CPIC", phone="+8613811110001"), party(b, "PICC", phone="+8613822220002")])
    produce(p.bootstrap, p.prefix + "accidents.reported", [r])
    claim = wait_for(lambda: next((c for c in p.get("/api/claims?limit=5000", cpic).body if c["plate"] == a), None),
                     30, what="the claim of car A")
    links = wait_for(lambda: (lambda l: l if len(l) == 2 else None)(_links(p, claim["incident_id"])), 30,
                     what="both drivers' links")
    return claim, links["+8613811110001"], links["+8613822220002"]


@pytest.fixture
def phone(browser):  # type: ignore[no-untyped-def]
    """A phone: 390x844, touch, Chinese; every page it opens on /quick/ gets a strict CSP; page errors and CSP
    refusals fail the test."""
    contexts, problems = [], []

    def open_phone():  # type: ignore[no-untyped-def]
        ctx = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  locale="zh-CN", timezone_id="Asia/Shanghai")
        ctx.set_default_timeout(15_000)

        def strict(route):  # type: ignore[no-untyped-def]
            resp = route.fetch()
            route.fulfill(response=resp, headers={**resp.headers, "content-security-policy": STRICT_CSP})
        ctx.route(re.compile(r".*/quick/QK-[^/]*$"), strict)
        pg = ctx.new_page()
        pg.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        pg.on("console", lambda m: problems.append(f"console: {m.text}") if "Content Security Policy" in m.text
              or "Refused to" in m.text else None)
        contexts.append(ctx)
        return pg

    yield open_phone
    for ctx in contexts:
        ctx.close()
    assert not problems, problems


def _open(pg, link: str) -> Any:  # type: ignore[no-untyped-def]
    resp = pg.goto(link)
    assert resp is not None and resp.status == 200
    assert resp.headers.get("referrer-policy") == "no-referrer"
    expect(pg.get_by_test_id("qk-my-plate")).to_be_visible()
    assert "t=" not in pg.url and "#" not in pg.url, f"the secret stayed in the address bar: {pg.url}"
    return resp


def _answer(pg, code: str, weather: str = "", impact: str = "") -> None:  # type: ignore[no-untyped-def]
    pg.get_by_test_id(f"qk-choice-{code}").click()
    expect(pg.get_by_test_id(f"qk-choice-{code}")).to_have_attribute("aria-pressed", "true")
    if weather:
        pg.get_by_test_id("qk-weather").fill(weather)
    if impact:
        pg.get_by_test_id("qk-impact").fill(impact)
    pg.get_by_test_id("qk-answer-submit").click()
    expect(pg.get_by_test_id("qk-my-answer")).to_be_visible()


def _photos(pg, tmp: Path) -> None:  # type: ignore[no-untyped-def]
    for i, kind in enumerate(("front_side", "rear_side", "impact_point")):
        shot = pg.get_by_test_id(f"qk-shot-{kind}")
        expect(shot).to_contain_text({"front_side": "车辆前侧", "rear_side": "车辆后侧", "impact_point": "碰撞部位"}[kind])
        expect(shot.locator(".guide")).to_contain_text("拍")
        pg.get_by_test_id(f"qk-file-{kind}").set_input_files(str(_png(tmp / f"{kind}.png", 320, 240, i)))
        preview = pg.get_by_test_id(f"qk-preview-{kind}")
        expect(preview).to_be_visible()  # the picture is shown before it is sent
        assert pg.evaluate("(c) => c.width > 100 && c.getContext('2d').getImageData(10, 10, 1, 1).data[3] === 255",
                           preview.element_handle()), "the preview shows the picture"
        pg.get_by_test_id(f"qk-upload-{kind}").click()
        expect(pg.get_by_test_id(f"qk-shot-done-{kind}")).to_be_visible()


def _small_targets(pg) -> list[str]:  # type: ignore[no-untyped-def]
    """Every visible control a thumb must hit, smaller than 44 px either way."""
    return pg.evaluate("""() => [...document.querySelectorAll('button, a, .shot-pick, .choice, input:not([type=file]), textarea, canvas[data-testid=qk-sign-pad]')]
        .filter(e => e.offsetParent !== null)
        .map(e => [e, e.getBoundingClientRect()])
        .filter(([e, r]) => r.height < 44 || r.width < 44)
        .map(([e, r]) => `${e.tagName}.${e.className} ${e.dataset.testid || e.textContent.trim().slice(0, 20)} ${Math.round(r.width)}x${Math.round(r.height)}`)""")


def _draw_signature(pg, dy: int = 0) -> None:  # type: ignore[no-untyped-def]
    pad = pg.get_by_test_id("qk-sign-pad")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    assert box and box["height"] >= 150
    x, y = box["x"], box["y"]
    for stroke in ([(30, 120), (70, 40), (110, 130), (150, 50)], [(180, 100), (230, 60), (280, 110), (320, 70)]):
        pg.mouse.move(x + stroke[0][0], y + stroke[0][1] + dy)
        pg.mouse.down()
        for px, py in stroke[1:]:
            pg.mouse.move(x + px, y + py + dy, steps=6)
        pg.mouse.up()


def test_rear_end_both_drivers_answer_for_their_own_car_see_the_liability_sign_and_get_the_agreement(
        shared_platform, phone, artifacts, tmp_path):  # type: ignore[no-untyped-def]
    p = shared_platform
    claim_a, link_a, link_b = _crash(p, "鲁C95001", "鲁C95002", 0.07)
    assert "#t=" in link_a and "?t=" not in link_a, "the secret travels in the fragment"
    qid = urllib.parse.urlparse(link_a).path.rsplit("/", 1)[1]
    tok_a = urllib.parse.parse_qs(urllib.parse.urlparse(link_a).fragment)["t"][0]

    # driver A: the car that stood waiting
    a = phone()
    _open(a, link_a)
    expect(a.get_by_test_id("qk-answer")).to_contain_text("我的车辆当时在做什么")
    expect(a.get_by_test_id("qk-answer")).to_contain_text("鲁C95001")
    _answer(a, "stopped_waiting", weather="晴", impact="车尾")
    expect(a.get_by_test_id("qk-my-answer")).to_contain_text("停车等待")
    expect(a.get_by_test_id("qk-waiting")).to_contain_text("等待对方回答")
    _photos(a, tmp_path)
    assert _small_targets(a) == []
    a.screenshot(path=str(artifacts / "phone-answer-and-photos.png"), full_page=True)

    # driver B opens an older link (?t=): accepted, and gone from the address bar at once
    b = phone()
    _open(b, f"{p.base_url}/quick/{qid}?t={urllib.parse.parse_qs(urllib.parse.urlparse(link_b).fragment)['t'][0]}")
    _answer(b, "rear_ending")
    shares = b.get_by_test_id("qk-shares")
    expect(shares).to_be_visible()  # the liability that will result, before anyone signs
    expect(b.get_by_test_id("qk-share-鲁C95002")).to_have_attribute("data-degree", "full")
    expect(b.get_by_test_id("qk-share-鲁C95002")).to_contain_text("全部责任")
    expect(b.get_by_test_id("qk-share-鲁C95001")).to_contain_text("无责任")
    expect(b.get_by_test_id("qk-sign-submit")).to_be_disabled()  # nothing drawn yet
    assert _small_targets(b) == []
    b.screenshot(path=str(artifacts / "phone-liability-before-signing.png"), full_page=True)
    _draw_signature(b)
    b.get_by_test_id("qk-sign-submit").click()
    expect(b.get_by_test_id("qk-signed-wait")).to_be_visible()

    # driver A sees the same liability (the page follows B's answer), signs, and the agreement binds
    expect(a.get_by_test_id("qk-share-鲁C95001")).to_contain_text("无责任", timeout=20_000)
    _draw_signature(a, dy=-25)
    a.screenshot(path=str(artifacts / "phone-signing.png"), full_page=True)
    a.get_by_test_id("qk-sign-submit").click()
    expect(a.get_by_test_id("qk-agreement-kind")).to_contain_text("自行协商协议书")
    expect(a.get_by_test_id("qk-agree-liability-鲁C95002")).to_have_text("全部责任")
    expect(a.get_by_test_id("qk-agree-liability-鲁C95001")).to_have_text("无责任")
    expect(a.get_by_test_id("qk-agree-鲁C95002")).to_contain_text("追尾前车")
    expect(a.get_by_test_id("qk-outcome")).to_contain_text("晴")
    expect(a.get_by_test_id("qk-outcome")).to_contain_text("车尾")
    for plate in ("鲁C95001", "鲁C95002"):  # both drawn signatures, on the agreement
        sig = a.get_by_test_id(f"qk-sig-{plate}")
        expect(sig).to_be_visible()
        assert a.evaluate("""(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 0; i < d.length; i += 4) if (d[i] < 100) return true; return false; }""", sig.element_handle()), \
            "the signature image has ink"
    expect(a.get_by_test_id("qk-claim-鲁C95001")).to_contain_text(claim_a["claim_id"])
    expect(a.get_by_test_id("qk-claim-鲁C95002")).to_contain_text("CLM-")
    expect(a.get_by_test_id("qk-hotline-CPIC")).to_contain_text("95500")
    expect(a.get_by_test_id("qk-hotline-PICC").get_by_role("link")).to_have_attribute("href", "tel:95518")
    expect(a.get_by_test_id("qk-how-object")).to_contain_text("异议")
    assert _small_targets(a) == []
    a.screenshot(path=str(artifacts / "phone-agreement.png"), full_page=True)
    a.get_by_test_id("qk-lang").click()
    expect(a.get_by_test_id("qk-agreement-kind")).to_contain_text("Self-negotiation agreement")
    expect(a.get_by_test_id("qk-agree-liability-鲁C95002")).to_have_text("Full liability")
    a.screenshot(path=str(artifacts / "phone-agreement-en.png"), full_page=True)

    # B's page, refreshed: the agreement too; the signature is kept as a PNG under its SHA-256
    b.reload()
    expect(b.get_by_test_id("qk-agreement-kind")).to_contain_text("自行协商协议书")
    view = json.loads(urllib.request.urlopen(urllib.request.Request(f"{p.base_url}/api/quick/{qid}",
                                                                    headers={"X-Quick-Token": tok_a})).read())
    sha = next(x["signature_sha256"] for x in view["outcome"]["agreement"]["parties"] if x["plate"] == "鲁C95001")
    with urllib.request.urlopen(urllib.request.Request(f"{p.base_url}/api/quick/{qid}/files/{sha}",
                                                       headers={"X-Quick-Token": tok_a})) as r:
        data = r.read()
        assert r.headers["Content-Type"] == "image/png" and data.startswith(b"\x89PNG")
    assert hashlib.sha256(data).hexdigest() == sha
    cpic = p.token("insurer", "CPIC理赔", insurer="CPIC")
    got = wait_for(lambda: (lambda c: c if c["facts"].get("liability") else None)(
        p.get(f"/api/claims/{claim_a['claim_id']}", cpic).body), 20, what="liability on A's claim")
    assert got["facts"]["liability"]["own_share"] == "none"


def test_contradicting_answers_go_to_the_police_screen_where_an_officer_decides_and_the_claims_proceed(
        shared_platform, phone, page, artifacts, tmp_path):  # type: ignore[no-untyped-def]
    from tests.e2e.test_dashboard import sign_in

    p = shared_platform
    claim_a, link_a, link_b = _crash(p, "鲁C96001", "鲁C96002", 0.09)
    qid = urllib.parse.urlparse(link_a).path.rsplit("/", 1)[1]
    a = phone()
    _open(a, link_a)
    _photos(a, tmp_path)
    _answer(a, "stopped_waiting")
    b = phone()
    _open(b, link_b)
    _answer(b, "driving_normally")  # the car behind says it only drove along: the answers contradict
    expect(b.get_by_test_id("qk-police")).to_contain_text("交警会查看")
    expect(b.get_by_test_id("qk-outcome")).to_contain_text("矛盾")
    b.screenshot(path=str(artifacts / "phone-dispute-to-police.png"), full_page=True)

    officer = p.token("police", "交警 在线定责")
    sign_in(page, p.base_url, officer)
    expect(page.get_by_test_id("desk-police")).to_be_visible()
    expect(page.get_by_test_id("desk-name")).to_have_text("交警在线定责台")
    card = page.locator(f'[data-testid="police-card"][data-quick="{qid}"]')
    expect(card).to_be_visible(timeout=15_000)
    card.click()
    detail = page.locator(f'[data-testid="police-detail"][data-quick="{qid}"]')
    expect(detail.get_by_test_id("police-why")).to_contain_text("矛盾")
    expect(detail.get_by_test_id("police-answer-鲁C96001")).to_contain_text("停车等待")
    expect(detail.get_by_test_id("police-answer-鲁C96002")).to_contain_text("正常行驶")
    expect(detail.get_by_test_id("police-photo")).to_have_count(3)
    expect(detail.locator(".police-img")).to_have_count(3)  # the photos themselves, fetched with the officer's token
    detail.get_by_test_id("police-degree-鲁C96001").select_option("none")
    detail.get_by_test_id("police-degree-鲁C96002").select_option("full")
    detail.get_by_test_id("police-reason").fill("照片显示鲁C96001停车等待，鲁C96002未保持安全距离追尾")
    page.screenshot(path=str(artifacts / "police-decide.png"))
    detail.get_by_test_id("police-submit").click()
    expect(page.get_by_test_id("police-done")).to_contain_text("已认定")
    expect(card).to_have_count(0, timeout=15_000)
    page.screenshot(path=str(artifacts / "police-decided.png"))
    page.get_by_test_id("lang-toggle").click()
    expect(page.get_by_test_id("desk-name")).to_have_text("Police online determination desk")
    expect(page.get_by_test_id("police-done")).to_contain_text("Decided: both insurers' claims proceed")
    expect(page.get_by_test_id("police-done")).to_contain_text("Full liability")
    page.get_by_test_id("lang-toggle").click()

    # the claims proceed on the officer's determination
    picc = p.token("insurer", "PICC理赔", insurer="PICC")
    b_claim = wait_for(lambda: next((c for c in p.get("/api/claims?limit=5000", picc).body
                                     if c["plate"] == "鲁C96002" and c["facts"].get("liability")), None), 20,
                       what="liability on B's claim")
    assert b_claim["facts"]["liability"] == {"kind": "police_determination", "shares": {"鲁C96001": "none", "鲁C96002": "full"},
                                             "own_share": "full"}
    events = wait_for(lambda: [e for e in (json.loads(m.value) for m in read_all(p.bootstrap, p.prefix + "claims.events"))
                               if e["change"] == "liability_determined" and e["incident_id"] == claim_a["incident_id"]]
                      or None, 20, what="liability_determined on claims.events")
    assert {e["claim_id"] for e in events} >= {claim_a["claim_id"], b_claim["claim_id"]}
    # both drivers' phones show the determination
    expect(a.get_by_test_id("qk-agreement-kind")).to_contain_text("交警在线认定", timeout=20_000)
    expect(a.get_by_test_id("qk-agree-liability-鲁C96002")).to_have_text("全部责任")
    a.screenshot(path=str(artifacts / "phone-police-determined.png"), full_page=True)
