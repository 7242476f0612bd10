"""The hospital, fund and insurer desks as their users work them (issue 15 items 3-5), in headless Chromium at
1600x950 against the running platform; screenshots in test-artifacts/ (hospital-*.png, fund-*.png, insurer-*.png)."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from tests.e2e.test_dashboard import sign_in
from tests.support.platform import wait_for
from tests.support.reports import party, produce, report

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
CST = timezone(timedelta(hours=8))
CODE = re.compile(r"\b[a-z]+(?:_[a-z]+){1,}\b")  # a routing or reason code such as fault_undetermined_assumed_at_fault


def send(p, *reports):  # type: ignore[no-untyped-def]
    produce(p.bootstrap, p.prefix + "accidents.reported", list(reports))


def incident_of(p, dispatcher, report_id, *, hospital=True):  # type: ignore[no-untyped-def]
    def found():  # type: ignore[no-untyped-def]
        for i in p.get("/api/incidents?limit=5000", dispatcher).body:
            if report_id in i["report_ids"] and (i.get("admission_id") or not hospital):
                return i
    return wait_for(found, 45, 0.3, "the incident (with its destination hospital)")


def logout(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login")).to_be_visible()


def visible_codes(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [c for c in CODE.findall(page.inner_text("body")) if c not in {"at_fault"}]


# ------------------------------------------------------------------------------------------ the hospital
def test_the_hospitals_notice_follows_the_incident_and_its_bill_reads_in_words(shared_platform, page, artifacts):  # type: ignore[no-untyped-def]
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    plate = f"鲁P{uuid.uuid4().int % 100000:05d}"
    first = report(lat=36.3901, lon=115.8601, injured=2, movable=False, parties=[party(plate, "PICC")])
    send(p, first)
    inc = incident_of(p, dispatcher, first["report_id"])
    hid, adm = inc["hospital_id"], inc["admission_id"]
    nurse = p.token("hospital", "急诊科", hospital=hid)

    sign_in(page, p.base_url, nurse, desk="hospital", hospital=hid)
    card = page.locator(f'[data-testid="admission-card"][data-adm="{adm}"]')
    expect(card).to_be_visible(timeout=20_000)
    expect(card.get_by_test_id("card-patients")).to_have_text("伤员 2 人")

    # a second caller reports a third casualty of the same crash: the notice says 3, as the incident does
    send(p, report(lat=36.3902, lon=115.8602, injured=3, movable=False, parties=[party(plate, "PICC")], source="120"))
    expect(card.get_by_test_id("card-patients")).to_have_text("伤员 3 人", timeout=20_000)

    # the ambulance's live status reaches the hospital
    detail = p.get(f"/api/incidents/{inc['incident_id']}", dispatcher).body
    amb = next(o["unit_id"] for o in detail["orders"] if str(o["service"]) == "120" and o.get("state", "active") == "active")
    for status in ("acknowledged", "en_route"):
        assert p.post(f"/api/units/{amb}/status", dispatcher, {"status": status}).status == 200
    card.click()
    shown = page.locator(f'[data-testid="admission-detail"][data-adm="{adm}"]')
    expect(shown).to_be_visible()
    expect(page.get_by_test_id("ambulance-status")).to_contain_text(amb, timeout=20_000)
    expect(page.get_by_test_id("ambulance-status")).to_contain_text("出发途中", timeout=20_000)

    page.get_by_test_id("confirm-admission").click()
    expect(shown.get_by_test_id("admission-status")).to_have_text("已接收", timeout=10_000)
    page.get_by_test_id("bill-amount").fill("25000")
    page.get_by_test_id("bill-submit").click()
    split = page.get_by_test_id("bill-split")
    expect(split.get_by_test_id("split-insurer")).to_have_text("¥18,000.00", timeout=10_000)
    reasons = split.get_by_test_id("bill-reasons")
    expect(reasons).to_contain_text("责任尚未认定")
    expect(reasons).to_contain_text("救助基金垫付")
    assert not visible_codes(page), visible_codes(page)
    page.screenshot(path=str(artifacts / "hospital-bill.png"))
    page.get_by_test_id("lang-toggle").click()
    expect(page.get_by_test_id("bill-why").first).to_contain_text("Liability is not determined yet")
    assert not visible_codes(page), visible_codes(page)
    page.screenshot(path=str(artifacts / "hospital-bill-en.png"))
    page.get_by_test_id("lang-toggle").click()

    # another crash: an uninsured vehicle, and the dispatcher closes the incident before anyone arrives
    second = report(lat=36.4101, lon=115.8801, injured=1, movable=False, parties=[party(f"鲁P{uuid.uuid4().int % 100000:05d}", None)])
    send(p, second)
    other = incident_of(p, dispatcher, second["report_id"])
    if other["hospital_id"] != hid:
        hid = other["hospital_id"]
        logout(page)
        sign_in(page, p.base_url, p.token("hospital", "急诊科二", hospital=hid), desk="hospital", hospital=hid)
    card2 = page.locator(f'[data-testid="admission-card"][data-adm="{other["admission_id"]}"]')
    expect(card2).to_be_visible(timeout=20_000)
    assert p.post(f"/api/incidents/{other['incident_id']}/close", dispatcher, {"reason": "误报"}).status == 200
    expect(card2.get_by_test_id("card-withdrawn")).to_have_text("事故已结案，伤员不再送来", timeout=20_000)
    card2.click()
    expect(page.get_by_test_id("withdrawn-notice")).to_be_visible()
    expect(page.get_by_test_id("confirm-admission")).to_have_count(0)
    page.screenshot(path=str(artifacts / "hospital-withdrawn.png"))


# ------------------------------------------------------------------------------------------ the fund clerk
def _fund_case(p, dispatcher, lat: float = 36.4301):  # type: ignore[no-untyped-def]
    """A hit-and-run with an injured victim, admitted and billed 25,000 yuan: a case waiting for approval (each
    caller gives its own place, or the reports would merge into one incident)."""
    r = report(lat=lat, lon=115.9001, injured=1, movable=False, hit_and_run=True)
    send(p, r)
    inc = incident_of(p, dispatcher, r["report_id"])
    hid, adm = inc["hospital_id"], inc["admission_id"]
    nurse = p.token("hospital", "急诊科", hospital=hid)
    wait_for(lambda: p.post(f"/api/hospitals/{hid}/admissions/{adm}/confirm", nurse).status == 200, 30, 0.3, "admission")
    bill = p.post(f"/api/hospitals/{hid}/admissions/{adm}/bills", nurse,
                  {"amount_fen": 2_500_000, "rescue_started_at": datetime.now(CST).isoformat(timespec="seconds")})
    assert bill.status == 201, bill.body
    admin = p.token("fund_admin", "查看")

    def applied():  # type: ignore[no-untyped-def]
        for c in p.get("/api/fund/cases?limit=5000", admin).body:
            if c["incident_id"] == inc["incident_id"] and c["status"] == "applied":
                return c
    return wait_for(applied, 30, 0.3, "the fund case to take the bill")


def test_the_fund_clerk_finds_a_case_and_sees_what_they_may_not_do_and_why(shared_platform, page, artifacts):  # type: ignore[no-untyped-def]
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    case = _fund_case(p, dispatcher)
    cid = case["case_id"]
    maker, checker = p.token("fund_admin", "经办人甲"), p.token("fund_admin", "复核人乙")

    sign_in(page, p.base_url, maker, desk="fund_admin")
    expect(page.get_by_test_id("desk-fund")).to_be_visible()
    expect(page.get_by_test_id("fund-count")).to_contain_text("共", timeout=15_000)
    # the server searches: whatever its place in the queue, the case is found by part of its number
    with page.expect_request(lambda q: "/api/fund/queue" in q.url and "q=" in q.url):
        page.get_by_test_id("fund-search").fill(cid[-6:])
    cards = page.get_by_test_id("case-card")
    expect(cards).to_have_count(1, timeout=10_000)
    expect(page.get_by_test_id("fund-count")).to_have_text("显示 1 件，共 1 件")
    cards.first.click()
    detail = page.locator(f'[data-testid="case-detail"][data-case="{cid}"]')
    expect(detail).to_be_visible()
    # before any dialog: paying is unavailable, and says why
    expect(page.get_by_test_id("fund-pay")).to_be_disabled()
    expect(page.get_by_test_id("why-pay")).to_have_text("案件尚未审批通过，不能支付")
    expect(page.get_by_test_id("fund-working")).to_contain_text("¥25,000.00")
    expect(detail).to_contain_text("工作日")  # the countdown to each deadline, in working days
    page.get_by_test_id("fund-approve").click()
    expect(page.get_by_test_id("modal")).to_be_visible()
    page.get_by_test_id("modal-ok").click()
    expect(detail.get_by_test_id("case-status")).to_have_text("已批准", timeout=10_000)
    expect(page.get_by_test_id("why-pay")).to_have_text("您审批了此案件，支付须由另一人办理（审批与支付分离）")
    expect(page.get_by_test_id("fund-pay")).to_be_disabled()
    assert "[object Object]" not in page.inner_text("body")
    page.screenshot(path=str(artifacts / "fund-maker-cannot-pay.png"))

    logout(page)
    sign_in(page, p.base_url, checker, desk="fund_admin")
    page.get_by_test_id("fund-search").fill(cid)
    expect(page.get_by_test_id("case-card")).to_have_count(1, timeout=10_000)
    page.get_by_test_id("case-card").first.click()
    expect(page.get_by_test_id("fund-pay")).to_be_enabled(timeout=10_000)
    page.get_by_test_id("fund-pay").click()
    modal = page.get_by_test_id("modal")
    expect(modal).to_contain_text("收款方")
    expect(modal).to_contain_text(case["hospital_id"])
    expect(modal).to_contain_text("基金银行存款")
    page.screenshot(path=str(artifacts / "fund-pay-dialog.png"))
    page.get_by_test_id("modal-ok").click()
    detail = page.locator(f'[data-testid="case-detail"][data-case="{cid}"]')
    expect(detail.get_by_test_id("case-status")).to_have_text("已垫付", timeout=10_000)
    accounts = page.get_by_test_id("ledger-account")
    expect(accounts.first).to_be_visible()
    texts = accounts.all_inner_texts()
    assert texts and not any("fund." in x for x in texts), texts
    assert "[object Object]" not in page.inner_text("body")
    page.screenshot(path=str(artifacts / "fund-paid.png"))
    # in English: the tabs are not cut
    page.get_by_test_id("lang-toggle").click()
    expect(page.get_by_test_id("fund-tab-queue")).to_have_text("Review queue")
    for tab in page.get_by_test_id("fund-tabs").locator("button").all():
        assert tab.evaluate("b => b.scrollWidth <= b.clientWidth + 1"), tab.inner_text()
    expect(page.get_by_test_id("ledger-account").first).not_to_contain_text("fund.")
    page.screenshot(path=str(artifacts / "fund-paid-en.png"))

    # the hospital learns of the payment from the fund's events
    hid = case["hospital_id"]
    logout(page)
    page.get_by_test_id("lang-toggle").click()
    sign_in(page, p.base_url, p.token("hospital", "急诊科", hospital=hid), desk="hospital", hospital=hid)
    adm = next(a for a in p.get(f"/api/hospitals/{hid}/admissions?limit=5000", p.token("hospital", "查", hospital=hid)).body
               if a["incident_id"] == case["incident_id"])
    card = page.locator(f'[data-testid="admission-card"][data-adm="{adm["admission_id"]}"]')
    expect(card).to_be_visible(timeout=15_000)
    card.click()
    expect(page.get_by_test_id("payment-fund")).to_contain_text("已付款", timeout=20_000)
    expect(page.get_by_test_id("payment-fund")).to_contain_text("¥25,000.00")
    page.screenshot(path=str(artifacts / "hospital-paid-by-fund.png"))


# ------------------------------------------------------------------------------------------ the insurer
def test_the_insurer_finds_a_claim_by_plate_and_gets_a_second_look_above_the_limit(shared_platform, page, artifacts):  # type: ignore[no-untyped-def]
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    plate = f"鲁P{uuid.uuid4().int % 100000:05d}"
    r = report(lat=36.4501, lon=115.9201, injured=1, movable=False, parties=[party(plate, "PICC")])
    send(p, r)
    inc = incident_of(p, dispatcher, r["report_id"])
    hid, adm = inc["hospital_id"], inc["admission_id"]
    nurse = p.token("hospital", "急诊科", hospital=hid)
    wait_for(lambda: p.post(f"/api/hospitals/{hid}/admissions/{adm}/confirm", nurse).status == 200, 30, 0.3, "admission")
    assert p.post(f"/api/hospitals/{hid}/admissions/{adm}/bills", nurse,
                  {"amount_fen": 1_000_000, "rescue_started_at": datetime.now(CST).isoformat(timespec="seconds")}).status == 201
    insurer = p.token("insurer", "人保理赔", insurer="PICC")

    def owed():  # type: ignore[no-untyped-def]
        for c in p.get("/api/claims?limit=5000", insurer).body:
            if c["plate"] == plate and c["owed_to_hospital_fen"]:
                return c
    claim = wait_for(owed, 30, 0.3, "the claim to owe the hospital")

    sign_in(page, p.base_url, insurer, desk="insurer")
    expect(page.get_by_test_id("desk-insurer")).to_be_visible()
    with page.expect_request(lambda q: "/api/claims?" in q.url and "q=" in q.url):
        page.get_by_test_id("claim-search").fill(plate[-5:])
    cards = page.get_by_test_id("claim-card")
    expect(cards).to_have_count(1, timeout=10_000)
    cards.first.click()
    detail = page.locator(f'[data-testid="claim-detail"][data-claim="{claim["claim_id"]}"]')
    expect(detail).to_be_visible()
    expect(detail.get_by_test_id("claim-deadlines")).to_contain_text("一次性书面告知所需材料（1日内）")
    expect(detail.get_by_test_id("claim-deadlines")).to_contain_text("剩余")
    expect(detail.get_by_test_id("claim-bills")).to_contain_text("¥10,000.00")
    page.screenshot(path=str(artifacts / "insurer-claim.png"))

    def step(name: str, amount: str | None = None) -> None:
        page.get_by_test_id(f"claim-{name}").click()
        if name in ("assess", "decide", "pay"):
            expect(page.get_by_test_id("modal")).to_be_visible()
            if amount is not None:
                page.get_by_test_id("modal-amount_fen").fill(amount)
            page.get_by_test_id("modal-ok").click()
        expect(page.get_by_test_id("modal")).to_have_count(0) if name != "pay" else None

    step("request-documents")
    expect(detail.get_by_test_id("claim-status")).to_have_text("已通知补充材料", timeout=10_000)
    step("documents-complete")
    expect(detail.get_by_test_id("claim-deadlines")).to_contain_text("作出赔付决定（5日内）", timeout=10_000)
    step("assess", "250000")
    expect(detail.get_by_test_id("claim-status")).to_have_text("已核定", timeout=10_000)
    step("decide")
    expect(detail.get_by_test_id("claim-decision")).to_contain_text("本公司赔付决定", timeout=10_000)
    step("agree")
    expect(detail.get_by_test_id("claim-deadlines")).to_contain_text("支付赔款（10日内）", timeout=10_000)
    # paying 250,000 yuan on an injury claim is above the 交强险 limit (198,000 at fault): a warning, a second look
    page.get_by_test_id("claim-pay").click()
    modal = page.get_by_test_id("modal")
    expect(modal).to_contain_text("收款方")
    expect(modal).to_contain_text("医院（直接支付）")
    page.get_by_test_id("modal-amount_fen").fill("250000")
    page.get_by_test_id("modal-ok").click()
    warning = page.get_by_test_id("modal")
    expect(warning).to_contain_text("超出交强险限额")
    expect(warning).to_contain_text("¥198,000.00")
    page.screenshot(path=str(artifacts / "insurer-over-limit.png"))
    warning.get_by_role("button", name="取消").click()
    expect(page.get_by_test_id("modal")).to_have_count(0)
    expect(detail.get_by_test_id("claim-status")).to_have_text("已达成协议"), "nothing paid without the second look"


# ------------------------------------------------------------------------------------------ every page, both languages
ENGLISH_RUN = re.compile(r"\b[A-Za-z][A-Za-z'’-]+(?:[ ]+[A-Za-z][A-Za-z'’-]*)+\b")  # two or more English words
CHINESE = re.compile(r"[\u3400-\u9fff]+")
ALLOWED_ENGLISH = {"AccidentLink", "PICC", "CPIC", "PAIC", "km", "ETA", "ID", "SMS", "Token", "token create",
                   "accidentlink token create", "English"}


def _screen_text(page) -> str:  # type: ignore[no-untyped-def]
    """What a person reads: the visible text, placeholders, titles, labels and option texts of the whole page."""
    return page.evaluate("""() => {
      // the language switch names the other language, as every bilingual site does: it is not read as this screen's
      const toggle = document.getElementById('lang-btn');
      const keep = toggle ? toggle.textContent : '';
      if (toggle) toggle.textContent = '';
      const parts = [document.body.innerText];
      if (toggle) toggle.textContent = keep;
      for (const el of document.querySelectorAll('[placeholder],[title],[aria-label],option')) {
        if (el.closest('[hidden]') || el === toggle) continue;
        for (const a of ['placeholder', 'title', 'aria-label']) if (el.getAttribute(a)) parts.push(el.getAttribute(a));
        if (el.tagName === 'OPTION') parts.push(el.textContent);
      }
      return parts.join('\\n');
    }""")


def _data_words(p, token) -> set[str]:  # type: ignore[no-untyped-def]
    """Names that are data, not interface: units, posts, hospitals and places as the demo data spells them."""
    import json
    from pathlib import Path

    words: set[str] = set()
    repo = Path(__file__).resolve().parents[2]
    for f in (repo / "dispatch" / "data").glob("*.json"):
        doc = json.loads(f.read_text("utf-8"))
        for key in ("hospitals", "posts", "units"):
            words |= {x.get("name", "") for x in doc.get(key, [])}
    geo = json.loads((repo / "web" / "static" / "geo" / "region.json").read_text("utf-8"))
    words |= {x.get("name", "") for x in geo.get("hospitals", [])}
    # place names with no English name are proper nouns shown as written; one with an English name must use it
    words |= {(f.get("properties") or {}).get("zh", "") for f in geo.get("features", [])
              if not (f.get("properties") or {}).get("en")}
    for outline in (repo / "web" / "static" / "geo").glob("*.geojson"):  # districts and counties, no English name
        words |= {(f.get("properties") or {}).get("name", "") for f in json.loads(outline.read_text("utf-8"))["features"]}
    gazetteer = json.loads((repo / "connectors" / "data" / "gazetteer.json").read_text("utf-8"))
    words |= {x["name"] for x in gazetteer.get("places", []) if x.get("kind") != "city"}
    words |= {"测试路段", "测试"}  # the addresses and descriptions the tests' callers gave
    for i in p.get("/api/incidents?limit=5000", token).body:
        words.add(i.get("address") or "")
        words.add((i.get("location") or {}).get("address") or "")
    return {w for w in words if w}


def _problems(text: str, lang: str, dictionary: dict, data: set[str]) -> list[str]:
    found = []
    keys = {k for d in dictionary.values() for k in d}
    for k in keys:
        if re.search(rf"(?<![\w.]){re.escape(k)}(?![\w.])", text):
            found.append(f"untranslated key {k}")
    found += [f"code {c}" for c in CODE.findall(text)]
    for w in sorted(data, key=len, reverse=True):
        text = text.replace(w, " ")
    text = re.sub(r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-Z][A-Z0-9]{4,6}", " ", text)  # plates
    text = re.sub(r"[\u3400-\u9fff]\*+", " ", text)  # masked names (张*)
    text = re.sub(r"[\u3400-\u9fff]某+", " ", text)  # people's names as the test data gives them (张某), shown in full
    if lang == "zh":
        runs = [r for r in ENGLISH_RUN.findall(text) if r not in ALLOWED_ENGLISH and not re.fullmatch(r"[A-Z0-9 -]+", r)]
        found += [f"English on the Chinese screen: {r!r}" for r in runs]
    else:
        allowed = {"交强险", "某"}  # the insurance as the law names it; masked names are data
        runs = [r for r in CHINESE.findall(text) if r not in allowed]
        found += [f"Chinese on the English screen: {r!r}" for r in runs]
        found += [f"Chinese punctuation on the English screen: {m!r}" for m in re.findall(r".{0,12}[（），：；。].{0,12}", text)]
    return found


def test_every_desk_and_tab_speaks_one_language_at_a_time(shared_platform, page, artifacts):  # type: ignore[no-untyped-def]
    p = shared_platform
    dispatcher = p.token("dispatcher", "调度员")
    # something on every desk: a billed hit-and-run (a fund case, an admission) and an insured injured party (a claim)
    _fund_case(p, dispatcher, lat=36.5101)
    insured = report(lat=36.4701, lon=115.9401, injured=1, movable=False,
                     parties=[party(f"鲁P{uuid.uuid4().int % 100000:05d}", "PICC")])
    send(p, insured)
    incident_of(p, dispatcher, insured["report_id"])
    page.goto(p.base_url + "/dashboard/")
    expect(page.get_by_test_id("login")).to_be_visible()
    dictionary = page.evaluate("import('/static/js/i18n-desks.js').then(() => import('/static/js/i18n.js')).then(m => m.DICTIONARY)")
    data = _data_words(p, dispatcher)
    any_hospital = next((i for i in p.get("/api/incidents?limit=5000", dispatcher).body if i.get("hospital_id")), None)
    desks = [("login", None, {}), ("dispatcher", dispatcher, {}),
             ("fund_admin", p.token("fund_admin", "经办人"), {}), ("insurer", p.token("insurer", "理赔", insurer="PICC"), {})]
    if any_hospital:
        hid = any_hospital["hospital_id"]
        desks.append(("hospital", p.token("hospital", "急诊", hospital=hid), {"hospital": hid}))
    problems: list[str] = []
    for desk, token, extra in desks:
        for lang in ("zh", "en"):
            page.evaluate(f"localStorage.clear(); localStorage.setItem('al.lang', '{lang}')")
            if token:
                sign_in(page, p.base_url, token, desk=desk, **extra)
                expect(page.get_by_test_id(f"desk-{'fund' if desk == 'fund_admin' else desk}")).to_be_visible()
            else:
                page.goto(p.base_url + "/dashboard/")
                expect(page.get_by_test_id("login")).to_be_visible()
            page.wait_for_timeout(1500)  # the desk's first load and its detail
            screens = [("", None)]
            if desk == "fund_admin":
                screens = [("queue", "fund-tab-queue"), ("cases", "fund-tab-cases")]
            for name, tab in screens:
                if tab:
                    page.get_by_test_id(tab).click()
                    page.wait_for_timeout(800)
                first = page.locator('[data-testid$="-card"]').first
                if first.count():
                    first.click()
                    page.wait_for_timeout(800)
                problems += [f"{desk}{'/' + name if name else ''} [{lang}]: {x}"
                             for x in _problems(_screen_text(page), lang, dictionary, data)]
                page.screenshot(path=str(artifacts / f"i18n-{desk}{'-' + name if name else ''}-{lang}.png"))
    assert not problems, "\n".join(sorted(set(problems)))
