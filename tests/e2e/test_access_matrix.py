"""Who may call what: every HTTP route against every kind of caller (contract, "HTTP": roles, scopes,
error statuses and the one error shape), plus hashed tokens and the append-only audit trail."""
from __future__ import annotations

import http.client
from urllib.parse import quote
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest

from tests.support.platform import wait_for
from tests.support.reports import party, produce, report

pytestmark = pytest.mark.e2e
CST = timezone(timedelta(hours=8))

BAD_TOKENS = ("none", "malformed", "expired", "revoked")
PRINCIPALS = ("dispatcher", "hospital_a", "hospital_b", "fund_admin", "insurer_a", "insurer_b", "intake", "unit",
              "police", *BAD_TOKENS)
ROLE_OF = {"hospital_a": "hospital", "hospital_b": "hospital", "insurer_a": "insurer", "insurer_b": "insurer"}
INSURER_A, INSURER_B = "PICC", "CPIC"


def _bill(w: dict[str, Any]) -> dict[str, Any]:
    return {"amount_fen": 150000, "rescue_started_at": (datetime.now(CST) - timedelta(hours=1)).isoformat(timespec="seconds"),
            "items": []}


def _intake_report(w: dict[str, Any]) -> dict[str, Any]:
    return report(lat=36.5200, lon=115.9500, injured=0)


# (test id, method, path template, body factory or None, roles allowed, scope kind)
# scope kind: "hospital" = path names hospital A (hospital B is refused 403); "claim" = insurer A's claim
# (insurer B is answered 404: another insurer's claim is not visible); "unit" = the unit token's own unit;
# "missing" = a file that is not there (an allowed caller is answered 404).
Route = tuple[str, str, str, Callable[[dict[str, Any]], Any] | None, tuple[str, ...], str | None]
ROUTES: list[Route] = [
    ("incidents.list", "GET", "/api/incidents", None, ("dispatcher",), None),
    ("incidents.get", "GET", "/api/incidents/{inc}", None, ("dispatcher",), None),
    ("incidents.stream", "GET", "/api/incidents/stream", None, ("dispatcher",), None),
    ("incidents.close", "POST", "/api/incidents/{inc_x}/close", lambda w: {"reason": "access matrix"}, ("dispatcher",), None),
    ("incidents.reassign", "POST", "/api/incidents/{inc_x}/reassign", lambda w: {"service": "122", "reason": "matrix"},
     ("dispatcher",), None),
    ("incidents.counts", "GET", "/api/incidents/counts", None, ("dispatcher",), None),
    ("incidents.parties", "GET", "/api/incidents/{inc}/parties", None, ("dispatcher",), None),
    ("incidents.candidates", "GET", "/api/incidents/{inc}/candidates?service=120", None, ("dispatcher",), None),
    ("incidents.callback", "GET", "/api/incidents/{inc}/callers/122-NOT-A-CALLER/callback", None, ("dispatcher",),
     "missing"),
    # a unit that does not exist, an open incident reopened, plates of another crash: an allowed caller gets 409/422
    ("incidents.add_unit", "POST", "/api/incidents/{inc_x}/units", lambda w: {"unit_id": "NO-SUCH-UNIT", "reason": "m"},
     ("dispatcher",), None),
    ("incidents.reopen", "POST", "/api/incidents/{inc}/reopen", lambda w: {"reason": "matrix"}, ("dispatcher",), None),
    ("incidents.liability", "POST", "/api/incidents/{inc}/liability",
     lambda w: {"shares": [{"plate": "鲁X00000", "liability": "full"}]}, ("dispatcher",), None),
    ("units.list", "GET", "/api/units", None, ("dispatcher",), None),
    ("units.status", "POST", "/api/units/{unit}/status", lambda w: {"status": "out_of_service"}, ("dispatcher", "unit"),
     "unit"),
    ("reports.submit", "POST", "/api/reports", _intake_report, ("intake", "dispatcher"), None),
    ("hospital.admissions", "GET", "/api/hospitals/{ha}/admissions", None, ("hospital",), "hospital"),
    ("hospital.people", "GET", "/api/hospitals/{ha}/admissions/{adm}/people", None, ("hospital",), "hospital"),
    ("hospital.confirm", "POST", "/api/hospitals/{ha}/admissions/{adm}/confirm", lambda w: {}, ("hospital",), "hospital"),
    ("hospital.bills", "POST", "/api/hospitals/{ha}/admissions/{adm}/bills", _bill, ("hospital",), "hospital"),
    ("fund.cases", "GET", "/api/fund/cases", None, ("fund_admin",), None),
    ("fund.queue", "GET", "/api/fund/queue", None, ("fund_admin",), None),
    ("fund.case", "GET", "/api/fund/cases/{case}", None, ("fund_admin",), None),
    ("fund.approve", "POST", "/api/fund/cases/{case}/approve", lambda w: {"amount_fen": 100, "note": "m"}, ("fund_admin",),
     None),
    ("fund.reject", "POST", "/api/fund/cases/{case}/reject", lambda w: {"reason": "access matrix"}, ("fund_admin",), None),
    ("fund.pay", "POST", "/api/fund/cases/{case}/pay", lambda w: {}, ("fund_admin",), None),
    ("fund.police_notice", "POST", "/api/fund/cases/{case}/police-notice", lambda w: {}, ("dispatcher", "fund_admin"), None),
    ("fund.solved", "POST", "/api/fund/cases/{case}/hit-and-run-solved", lambda w: {"driver_ref": "肇事驾驶人"},
     ("dispatcher",), None),
    ("claims.list", "GET", "/api/claims", None, ("insurer",), None),
    ("claims.get", "GET", "/api/claims/{claim}", None, ("insurer",), "claim"),
    ("claims.action", "POST", "/api/claims/{claim}/request-documents", lambda w: {"note": "matrix"}, ("insurer",), "claim"),
    ("claims.route", "POST", "/api/claims/{claim}/route", lambda w: {"insurer": INSURER_A}, ("dispatcher",), None),
    ("sms.outbox", "GET", "/api/sms", None, ("dispatcher",), None),
    ("quick.queue", "GET", "/api/quick", None, ("dispatcher", "police"), None),
    # the case is open, not waiting for the police: an allowed caller is answered 409
    ("quick.determine", "POST", "/api/quick/{quick}/determine",
     lambda w: {"shares": {"鲁P77101": "full", "鲁P77102": "none"}, "reason": "access matrix"}, ("dispatcher", "police"), None),
    ("quick.evidence", "GET", "/api/quick/{quick}/evidence/" + "0" * 64, None, ("dispatcher", "police"), "missing"),
]


def expected(route: Route, who: str) -> str:
    """'401', '403', '404' or 'ok' (2xx, or a business 409/422)."""
    _, _, _, _, allowed, scope = route
    if who in BAD_TOKENS:
        return "401"
    role = ROLE_OF.get(who, who)
    if role not in allowed:
        return "403"
    if scope == "hospital" and who == "hospital_b":
        return "403"
    if scope == "claim" and who == "insurer_b":
        return "404"
    if scope == "missing":
        return "404"
    return "ok"


def assert_error_body(res: Any, ctx: str) -> None:
    assert isinstance(res.body, dict), f"{ctx}: error body is not a JSON object: {res.body!r}"
    assert isinstance(res.body.get("error"), str) and res.body["error"].strip(), f"{ctx}: no readable error: {res.body!r}"


# ---------------------------------------------------------------- the world the matrix acts on
def _incident_with(p, dispatcher: str, report_id: str, cond: Callable[[dict], bool], what: str) -> dict:  # type: ignore[no-untyped-def]
    def found():  # type: ignore[no-untyped-def]
        for i in p.get("/api/incidents?limit=5000", dispatcher).body:
            if report_id in i["report_ids"] and cond(i):
                return i
    return wait_for(found, 45, what=what)


def _token_id(db_url: str, token: str) -> str:
    from sqlalchemy import select

    from connectors.sql.db import Database
    from connectors.sql.models import TokenRow
    from web.auth import hash_token

    db = Database(db_url)
    try:
        with db.read() as s:
            return s.scalar(select(TokenRow.token_id).where(TokenRow.token_hash == hash_token(token)))
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def world(shared_platform) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    p = shared_platform
    dispatcher = p.token("dispatcher", "矩阵调度员")
    # a hit-and-run with an injured victim: ambulance, destination hospital, admission, rescue-fund case
    r_h = report(lat=36.4718, lon=116.1010, injured=1, hit_and_run=True)
    # an insured vehicle of insurer A: a claim
    r_c = report(lat=36.4000, lon=115.8700, injured=0, movable=False, parties=[party("鲁P77001", INSURER_A)])
    # an injured crash to close and reassign
    r_x = report(lat=36.4500, lon=115.9800, injured=1, movable=False)
    # a minor two-car crash: a quick-handling case, open (not waiting for the police)
    r_q = report(lat=36.4300, lon=115.9000, parties=[party("鲁P77101", INSURER_A, phone="+8613811117101"),
                                                     party("鲁P77102", INSURER_B, phone="+8613811117102")])
    produce(p.bootstrap, p.prefix + "accidents.reported", [r_h, r_c, r_x, r_q])

    inc_h = _incident_with(p, dispatcher, r_h["report_id"], lambda i: bool(i["hospital_id"]), "hit-and-run incident")
    inc_c = _incident_with(p, dispatcher, r_c["report_id"], lambda i: True, "insured incident")
    inc_x = _incident_with(p, dispatcher, r_x["report_id"], lambda i: len(i["orders"]) == 2, "incident with orders")
    ha = inc_h["hospital_id"]
    hb = "ZB-H-ZXYY" if ha != "ZB-H-ZXYY" else "LC-H-LC3"
    admin = p.token("fund_admin", "矩阵经办人")
    ins_a = p.token("insurer", "矩阵保险A", insurer=INSURER_A)
    hos_a = p.token("hospital", "矩阵医院A", hospital=ha)
    adm = wait_for(lambda: next((a for a in p.get(f"/api/hospitals/{ha}/admissions?limit=5000", hos_a).body
                                 if a["incident_id"] == inc_h["incident_id"]), None), 30, what="admission")
    case = wait_for(lambda: next((c for c in p.get("/api/fund/cases?limit=5000", admin).body
                                  if c["incident_id"] == inc_h["incident_id"]), None), 30, what="fund case")
    claim = wait_for(lambda: next((c for c in p.get("/api/claims?limit=5000", ins_a).body
                                   if c["incident_id"] == inc_c["incident_id"]), None), 30, what="claim")
    inc_q = _incident_with(p, dispatcher, r_q["report_id"], lambda i: True, "minor crash")
    # its claims and its quick-handling case are written in one transaction
    wait_for(lambda: any(c["incident_id"] == inc_q["incident_id"] for c in p.get("/api/claims?limit=5000", ins_a).body),
             30, what="the minor crash's claim")
    busy = {o["unit_id"] for i in p.get("/api/incidents?limit=5000", dispatcher).body for o in i["orders"]}
    unit = next(u for u in p.get("/api/units?limit=5000", dispatcher).body
                if u["status"] == "available" and u["unit_id"] not in busy)

    tokens = {
        "dispatcher": dispatcher, "hospital_a": hos_a,
        "hospital_b": p.token("hospital", "矩阵医院B", hospital=hb),
        "fund_admin": admin, "insurer_a": ins_a,
        "insurer_b": p.token("insurer", "矩阵保险B", insurer=INSURER_B),
        "intake": p.token("intake", "矩阵接警台"),
        "unit": p.token("unit", "矩阵车组", unit=unit["unit_id"]),
        "police": p.token("police", "矩阵交警"),
        "none": None,
        "malformed": "not a token \u00e9\u00e9 " + "x" * 40,
    }
    # expired: a valid token whose expiry is moved into the past (test set-up, straight in the database)
    expired = p.token("dispatcher", "过期调度员")
    from connectors.sql.db import Database
    from connectors.sql.models import TokenRow

    expired_id = _token_id(p.store_url("web"), expired)
    db = Database(p.store_url("web"))
    try:
        with db.uow() as uow:
            uow.session.get(TokenRow, expired_id).expires_at = datetime.now(CST) - timedelta(minutes=5)
            uow.commit()
    finally:
        db.dispose()
    tokens["expired"] = expired
    # revoked: through the command line, by the token's id
    revoked = p.token("dispatcher", "吊销调度员")
    assert p.get("/api/incidents?limit=1", revoked).status == 200
    p.cli("token", "revoke", _token_id(p.store_url("web"), revoked))
    tokens["revoked"] = revoked

    return {"p": p, "tokens": tokens, "inc": inc_h["incident_id"], "inc_x": inc_x["incident_id"],
            "inc_c": inc_c["incident_id"], "ha": ha, "hb": hb, "adm": adm["admission_id"], "case": case["case_id"],
            "claim": claim["claim_id"], "unit": unit["unit_id"], "quick": "QK-" + inc_q["incident_id"][4:]}


def _stream_status(p, token: str | None) -> tuple[int, Any, dict[str, str]]:  # type: ignore[no-untyped-def]
    """The live feed never ends for an allowed caller: read the status and the first bytes only."""
    import json

    conn = http.client.HTTPConnection("127.0.0.1", p.http_port, timeout=15)
    try:
        conn.request("GET", "/api/incidents/stream", headers={"Authorization": f"Bearer {token}"} if token else {})
        resp = conn.getresponse()
        headers = dict(resp.getheaders())
        if resp.status == 200:
            assert resp.getheader("content-type", "").startswith("text/event-stream")
            return 200, resp.read1(64), headers
        raw = resp.read()
        try:
            return resp.status, json.loads(raw), headers
        except ValueError:
            return resp.status, raw, headers
    finally:
        conn.close()


def call(w: dict[str, Any], route: Route, who: str, path: str | None = None) -> Any:
    from tests.support.platform import Response

    rid, method, template, body, _, _ = route
    p, token = w["p"], w["tokens"][who]
    path = path or template.format(**w)
    if rid == "incidents.stream":
        return Response(*_stream_status(p, token))
    if method == "GET":
        return p.get(path, token)
    return p.post(path, token, body(w) if body else {})


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("route", ROUTES, ids=[r[0] for r in ROUTES])
def test_every_route_against_every_caller(world, route, who):  # type: ignore[no-untyped-def]
    res = call(world, route, who)
    want = expected(route, who)
    ctx = f"{route[1]} {route[2]} as {who}: {res.status} {res.body!r}"[:600]
    assert res.status != 500, ctx
    if want == "ok" and route[0] == "fund.pay" and res.status == 403:
        # maker-checker: the one fund_admin of the matrix may have approved this case itself
        assert "maker-checker" in res.body["error"], ctx
    elif want == "ok":
        assert 200 <= res.status < 300 or res.status in (409, 422), ctx
    else:
        assert res.status == int(want), ctx
    if res.status >= 400:
        assert_error_body(res, ctx)
    if res.status == 401:
        assert "bearer" in res.headers.get("WWW-Authenticate", res.headers.get("www-authenticate", "")).lower(), ctx


def test_a_hospital_addressing_another_hospitals_admission_under_its_own_scope_gets_404(world):  # type: ignore[no-untyped-def]
    p, hb, adm, tok = world["p"], world["hb"], world["adm"], world["tokens"]["hospital_b"]
    own = p.get(f"/api/hospitals/{hb}/admissions?limit=5000", tok)
    assert own.status == 200 and all(a["admission_id"] != adm for a in own.body), "another hospital's admission leaked"
    for res in (p.post(f"/api/hospitals/{hb}/admissions/{adm}/confirm", tok),
                p.post(f"/api/hospitals/{hb}/admissions/{adm}/bills", tok, _bill(world)),
                p.get(f"/api/hospitals/{hb}/admissions/{adm}/people", tok)):
        assert res.status == 404, res.body
        assert_error_body(res, "other hospital's admission")


LISTS = [(rid, template, allowed[0]) for rid, method, template, _, allowed, _ in ROUTES
         if method == "GET" and rid.split(".")[1] in ("list", "admissions", "cases", "queue", "outbox")]


@pytest.mark.parametrize("rid,template,role", LISTS, ids=[r[0] for r in LISTS])
def test_every_list_takes_a_cursor_only_from_itself_and_pages_behind_the_same_role(world, rid, template, role):  # type: ignore[no-untyped-def]
    """The paging parameters (``limit`` clamped at 200, ``cursor``) under the same access rules as the list."""
    p, t = world["p"], world["tokens"]
    who = {"hospital": "hospital_a", "insurer": "insurer_a"}.get(role, role)
    path = template.format(**world)
    assert p.get(f"{path}?limit=5000", t[who]).status == 200
    assert p.get(f"{path}?limit=0", t[who]).status == 422
    bad = p.get(f"{path}?cursor=bm90LW91cnM", t[who])
    assert bad.status == 422 and "cursor" in bad.body["error"], bad.body
    assert p.get(f"{path}?cursor=bm90LW91cnM", t["intake"]).status in (401, 403)
    first = p.get(f"{path}?limit=1", t[who])
    cursor = first.headers.get("X-Next-Cursor") or first.headers.get("x-next-cursor")
    if cursor:
        nxt = p.get(f"{path}?limit=1&cursor={quote(cursor)}", t[who])
        assert nxt.status == 200 and nxt.body != first.body
        assert p.get(f"{path}?limit=1&cursor={quote(cursor)}", t["none"]).status == 401


def test_an_insurer_never_sees_another_insurers_claim(world):  # type: ignore[no-untyped-def]
    p, claim, tok = world["p"], world["claim"], world["tokens"]["insurer_b"]
    listed = p.get("/api/claims?limit=5000", tok)
    assert listed.status == 200 and all(c["claim_id"] != claim for c in listed.body)
    assert all(c["insurer"] == INSURER_B for c in listed.body)
    for action in ("documents-complete", "assess", "decide", "agree", "pay", "no-such-step"):
        res = p.post(f"/api/claims/{claim}/{action}", tok, {})
        assert res.status == 404, (action, res.body)
        assert_error_body(res, action)
    mine = p.get(f"/api/claims/{claim}", world["tokens"]["insurer_a"])
    assert mine.status == 200 and mine.body["insurer"] == INSURER_A


def test_a_unit_token_may_change_only_its_own_unit(world):  # type: ignore[no-untyped-def]
    p, w = world["p"], world
    other = next(u["unit_id"] for u in p.get("/api/units?limit=5000", w["tokens"]["dispatcher"]).body
                 if u["unit_id"] != w["unit"])
    res = p.post(f"/api/units/{other}/status", w["tokens"]["unit"], {"status": "available"})
    assert res.status == 403
    assert_error_body(res, "other unit")
    assert p.get("/api/units", w["tokens"]["unit"]).status == 403, "a unit token does not read the dispatch board"


def test_unknown_objects_are_404_for_the_roles_that_may_see_them(world):  # type: ignore[no-untyped-def]
    p, t = world["p"], world["tokens"]
    for path, who in (("/api/incidents/INC-DOESNOTEXIST", "dispatcher"), ("/api/fund/cases/FC-NOPE", "fund_admin"),
                      ("/api/claims/CLM-NOPE", "insurer_a")):
        res = p.get(path, t[who])
        assert res.status == 404, (path, res.body)
        assert_error_body(res, path)
    res = p.post("/api/units/NO-SUCH-UNIT/status", t["dispatcher"], {"status": "available"})
    assert res.status == 404 and res.body["error"]
    res = p.post("/api/fund/cases/FC-NOPE/pay", t["fund_admin"], {})
    assert res.status == 404 and res.body["error"]


def test_no_token_travels_in_a_url_not_even_to_the_stream(world):  # type: ignore[no-untyped-def]
    """Issue 14 item 6: a token in a query string ends in logs, history and referrers. The stream takes the
    Authorization header like every route (the dashboard reads it with fetch); ``?access_token=`` is refused."""
    p, t = world["p"], world["tokens"]
    for path in ("/api/incidents/stream", "/api/incidents"):
        res = p.get(f"{path}?access_token={quote(t['dispatcher'])}")
        assert res.status == 401, (path, res.body)
        assert_error_body(res, path)
    for who in BAD_TOKENS[1:]:
        res = p.get(f"/api/incidents/stream?access_token={quote(t[who])}")
        assert res.status == 401, (who, res.body)


def test_tokens_are_stored_hashed_only(world):  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from web.auth import hash_token

    p = world["p"]
    live = {k: v for k, v in world["tokens"].items() if v and k != "malformed"}
    from connectors.sql.db import make_engine

    engine = make_engine(p.store_url("web"))
    try:
        with engine.connect() as c:
            rows = [tuple(r) for r in c.execute(text("SELECT * FROM tokens"))]
            hashes = {r[0] for r in c.execute(text("SELECT token_hash FROM tokens"))}
    finally:
        engine.dispose()
    dump = repr(rows)
    for who, token in live.items():
        assert token not in dump, f"{who}'s token is stored in plain text"
        assert token.split("_", 1)[-1] not in dump
        assert hash_token(token) in hashes, f"{who}'s token is not stored as its SHA-256"


def test_the_audit_log_refuses_update_and_delete(world):  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    p, w = world["p"], world
    # at least one audited action, so that the triggers have a row to refuse
    assert p.post(f"/api/hospitals/{w['ha']}/admissions/{w['adm']}/confirm", w["tokens"]["hospital_a"]).status == 200
    from connectors.sql.db import make_engine

    engine = make_engine(p.store_url("hospitals"))  # the hospital's confirmation is audited in its own store
    try:
        with engine.connect() as c:
            before = c.execute(text("SELECT COUNT(*), MIN(actor) FROM audit_log")).one()
        assert before[0] >= 1
        for stmt in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log",
                     "UPDATE audit_log SET detail = '{}' WHERE id = (SELECT MIN(id) FROM audit_log)"):
            with pytest.raises(Exception):
                with engine.begin() as c:
                    c.execute(text(stmt))
        with engine.connect() as c:
            after = c.execute(text("SELECT COUNT(*), MIN(actor) FROM audit_log")).one()
        assert after[0] >= before[0] and after[1] == before[1], "the audit trail was changed"
    finally:
        engine.dispose()
