"""Hostile HTTP: oversized bodies, floods, malformed and wrong-typed input, retries and a schema-driven
fuzz of every operation. The contract: a 4xx with {"error": "..."} for bad input, never a 500."""
from __future__ import annotations

import http.client
import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.support.platform import wait_for
from tests.support.reports import report

pytestmark = pytest.mark.e2e

LIMIT = 256 * 1024
HOSPITAL = "LC-H-LC3"
INSURER = "PICC"
CST = timezone(timedelta(hours=8))


def assert_error(res: Any, ctx: Any = "") -> None:
    assert isinstance(res.body, dict), f"{ctx}: error body is not a JSON object: {res.status} {res.body!r}"[:500]
    assert isinstance(res.body.get("error"), str) and res.body["error"].strip(), f"{ctx}: {res.status} {res.body!r}"[:500]


@pytest.fixture(scope="module")
def tokens(shared_platform) -> dict[str, str]:  # type: ignore[no-untyped-def]
    p = shared_platform
    return {"dispatcher": p.token("dispatcher", "敌意调度员"), "intake": p.token("intake", "敌意接警台"),
            "fund_admin": p.token("fund_admin", "敌意经办人"), "hospital": p.token("hospital", "敌意医院", hospital=HOSPITAL),
            "insurer": p.token("insurer", "敌意保险", insurer=INSURER)}


def _raw(p, method: str, path: str, token: str | None, body: bytes | None, headers: dict[str, str] | None = None,  # type: ignore[no-untyped-def]
         chunked: bool = False) -> Any:
    """A request through http.client (urllib would refuse some of what a hostile client sends)."""
    from tests.support.platform import Response

    conn = http.client.HTTPConnection("127.0.0.1", p.http_port, timeout=30)
    h = {"Content-Type": "application/json", **(headers or {})}
    if token:
        h["Authorization"] = f"Bearer {token}"
    try:
        if chunked:
            conn.request(method, path, body=iter([body[i:i + 16384] for i in range(0, len(body), 16384)]), headers=h,
                         encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        payload = r.read()
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = payload.decode(errors="replace")
        return Response(r.status, parsed, dict(r.getheaders()))
    except (ConnectionResetError, BrokenPipeError) as e:  # the server may stop reading an oversized body
        return Response(-1, repr(e), {})
    finally:
        conn.close()


# ---------------------------------------------------------------- size
def test_an_oversized_body_is_refused_413_with_an_error(shared_platform, tokens):  # type: ignore[no-untyped-def]
    p = shared_platform
    big = json.dumps(report(description="长" * (LIMIT // 2))).encode()
    assert len(big) > LIMIT
    for path, who in (("/api/reports", "intake"), ("/api/fund/cases/FC-NOPE/approve", "fund_admin"),
                      (f"/api/hospitals/{HOSPITAL}/admissions/ADM-NOPE/bills", "hospital")):
        res = _raw(p, "POST", path, tokens[who], big)
        assert res.status == 413, (path, res.status, str(res.body)[:200])
        assert_error(res, path)
    # just under the limit is read (and judged on its content)
    ok = report(description="x" * (LIMIT - 2000))
    res = p.post("/api/reports", tokens["intake"], ok)
    assert res.status in (202, 422), res.body
    assert p.healthy()


@pytest.mark.parametrize("path,who", [("/api/fund/cases/FC-NOPE/approve", "fund_admin"),
                                      pytest.param("/api/reports", "intake")])
def test_an_oversized_chunked_body_without_content_length_is_refused_413(shared_platform, tokens, path, who):  # type: ignore[no-untyped-def]
    p = shared_platform
    big = json.dumps(report(description="x" * (LIMIT + 10_000))).encode()
    res = _raw(p, "POST", path, tokens[who], big, chunked=True)
    assert res.status == 413, (res.status, str(res.body)[:200])
    assert_error(res, path)
    assert p.healthy()


# ---------------------------------------------------------------- floods
def test_a_flood_from_one_token_is_throttled_429_and_the_server_keeps_answering(platform_factory):  # type: ignore[no-untyped-def]
    p = platform_factory(HTTP_RATE_LIMIT_PER_S="5")
    p.wait_healthy()
    flooder, other = p.token("dispatcher", "洪水"), p.token("dispatcher", "旁人")
    from concurrent.futures import ThreadPoolExecutor

    started = time.monotonic()
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda _: p.get("/api/units?limit=1", flooder), range(60)))
    elapsed = time.monotonic() - started
    statuses = [r.status for r in results]
    throttled = next((r for r in results if r.status == 429), None)
    assert set(statuses) <= {200, 429}, statuses
    assert throttled is not None, f"no throttling in {elapsed:.1f}s: {statuses}"
    # a bucket of 2x the rate, refilled at the rate: no more got through than that allows
    assert 5 <= statuses.count(200) <= 10 + 5 * elapsed + 1, (elapsed, statuses)
    assert_error(throttled, "429")
    assert throttled.headers.get("Retry-After") or throttled.headers.get("retry-after")
    assert p.get("/api/units?limit=1", other).status == 200, "another token is not throttled by this one"
    res = p.get("/healthz")
    assert res.status == 200 and res.body["status"] == "ok", res.body
    time.sleep(1.5)
    assert p.get("/api/units?limit=1", flooder).status == 200, "the bucket refills"


def test_a_flood_of_made_up_tokens_from_one_address_is_throttled(platform_factory):  # type: ignore[no-untyped-def]
    p = platform_factory("web", HTTP_RATE_LIMIT_PER_S="5", HTTP_RATE_LIMIT_PER_ADDRESS_PER_S="5")
    wait_for(lambda: p.get("/healthz").status in (200, 503), 60, 0.3, "web up")
    statuses = [p.get("/api/units?limit=1", f"al_fake{i:04d}").status for i in range(60)]
    assert set(statuses) <= {401, 429}
    assert 429 in statuses, "every made-up token got its own fresh bucket"


# ---------------------------------------------------------------- bad input
ROUTES_WITH_BODIES = [
    ("/api/reports", "intake"),
    ("/api/fund/cases/FC-NOPE/approve", "fund_admin"),
    ("/api/fund/cases/FC-NOPE/reject", "fund_admin"),
    ("/api/fund/cases/FC-NOPE/hit-and-run-solved", "dispatcher"),
    (f"/api/hospitals/{HOSPITAL}/admissions/ADM-NOPE/bills", "hospital"),
    ("/api/units/LC-120-CTR-1/status", "dispatcher"),
    ("/api/incidents/INC-NOPE/close", "dispatcher"),
    ("/api/incidents/INC-NOPE/reassign", "dispatcher"),
    ("/api/claims/CLM-NOPE/assess", "insurer"),
    ("/api/claims/CLM-NOPE/route", "dispatcher"),
]
GARBAGE = [b"{broken", b"", b"null", b"[]", b"\"text\"", b"12", b"\xff\xfe\x00{", b"[" * 50_000,
           b'{"a": ' * 2000, "{\"\u202e\U0001F4A5\": \"\\ud800\\udfff\\u0000\"}".encode(), b"{}" * 100]


@pytest.mark.parametrize("path,who", ROUTES_WITH_BODIES, ids=[r[0] for r in ROUTES_WITH_BODIES])
def test_unreadable_bodies_get_a_4xx_with_an_error_and_never_a_500(shared_platform, tokens, path, who):  # type: ignore[no-untyped-def]
    p = shared_platform
    for body in GARBAGE:
        res = _raw(p, "POST", path, tokens[who], body)
        assert 400 <= res.status < 500, (path, body[:40], res.status, res.body)
        assert_error(res, (path, body[:40]))


BAD_FIELDS: list[tuple[str, str, Any]] = [
    # wrong types
    ("/api/fund/cases/FC-NOPE/approve", "fund_admin", {"amount_fen": "abc"}),
    ("/api/fund/cases/FC-NOPE/approve", "fund_admin", {"amount_fen": [100]}),
    ("/api/fund/cases/FC-NOPE/approve", "fund_admin", {"amount_fen": {"fen": 100}}),
    ("/api/fund/cases/FC-NOPE/approve", "fund_admin", {"amount_fen": 100, "note": 5}),
    ("/api/fund/cases/FC-NOPE/reject", "fund_admin", {"reason": None}),
    ("/api/fund/cases/FC-NOPE/reject", "fund_admin", {"reason": ""}),
    ("/api/units/LC-120-CTR-1/status", "dispatcher", {"status": 5}),
    ("/api/units/LC-120-CTR-1/status", "dispatcher", {"status": "flying"}),
    ("/api/units/LC-120-CTR-1/status", "dispatcher", {"status": "available", "lat": "north"}),
    ("/api/units/LC-120-CTR-1/status", "dispatcher", {"status": "available", "lat": 91}),
    ("/api/incidents/INC-NOPE/reassign", "dispatcher", {"service": 122}),
    ("/api/incidents/INC-NOPE/reassign", "dispatcher", {"service": "119"}),
    ("/api/claims/CLM-NOPE/decide", "insurer", {"accepted": [True]}),
    ("/api/claims/CLM-NOPE/route", "dispatcher", {"insurer": 1}),
    # negative money
    ("/api/fund/cases/FC-NOPE/approve", "fund_admin", {"amount_fen": -700000}),
    ("/api/fund/cases/FC-NOPE/approve", "fund_admin", {"amount_fen": 0}),
    (f"/api/hospitals/{HOSPITAL}/admissions/ADM-NOPE/bills", "hospital",
     {"amount_fen": -1, "rescue_started_at": "2026-11-22T08:00:00+08:00"}),
    (f"/api/hospitals/{HOSPITAL}/admissions/ADM-NOPE/bills", "hospital",
     {"amount_fen": 100, "rescue_started_at": "2026-11-22T08:00:00+08:00", "items": [{"amount_fen": -100}]}),
    ("/api/claims/CLM-NOPE/assess", "insurer", {"amount_fen": -1}),
    # fractional fen, huge numbers
    ("/api/fund/cases/FC-NOPE/approve", "fund_admin", {"amount_fen": 12.5}),
    ("/api/fund/cases/FC-NOPE/approve", "fund_admin", {"amount_fen": 10 ** 30}),
    ("/api/fund/cases/FC-NOPE/approve", "fund_admin", {"amount_fen": 10 ** 12 + 1}),
    (f"/api/hospitals/{HOSPITAL}/admissions/ADM-NOPE/bills", "hospital",
     {"amount_fen": 2 ** 63, "rescue_started_at": "2026-11-22T08:00:00+08:00"}),
    ("/api/claims/CLM-NOPE/pay", "insurer", {"amount_fen": 10 ** 100}),
    # bad times, over-long text
    (f"/api/hospitals/{HOSPITAL}/admissions/ADM-NOPE/bills", "hospital",
     {"amount_fen": 100, "rescue_started_at": "yesterday"}),
    ("/api/fund/cases/FC-NOPE/reject", "fund_admin", {"reason": "长" * 5000}),
    ("/api/fund/cases/FC-NOPE/hit-and-run-solved", "dispatcher", {"driver_ref": "x" * 201}),
]


EXTRA_FIELDS = [  # contract: "more fields are welcome" -- they are ignored, never acted on
    ("/api/fund/cases/FC-NOPE/approve", "fund_admin", {"amount_fen": 100, "approved_by": "someone else"}),
    ("/api/fund/cases/FC-NOPE/pay", "fund_admin", {"paid_fen": 999999}),
    ("/api/incidents/INC-NOPE/close", "dispatcher", {"reason": "x", "status": "open"}),
    (f"/api/hospitals/{HOSPITAL}/admissions/ADM-NOPE/bills", "hospital",
     {"amount_fen": 100, "rescue_started_at": "2026-11-22T08:00:00+08:00", "fund_fen": 100}),
]


@pytest.mark.parametrize("path,who,body", EXTRA_FIELDS, ids=[b[0].rsplit("/", 1)[-1] for b in EXTRA_FIELDS])
def test_extra_fields_are_welcome_but_change_nothing(shared_platform, tokens, path, who, body):  # type: ignore[no-untyped-def]
    res = shared_platform.post(path, tokens[who], body)
    assert res.status == 404, (path, body, res.status, res.body)  # judged on the known fields alone
    assert_error(res, body)


@pytest.mark.parametrize("path,who,body", BAD_FIELDS, ids=[f"{i}-{b[0].rsplit('/', 1)[-1]}" for i, b in enumerate(BAD_FIELDS)])
def test_bad_fields_get_422_with_a_readable_reason(shared_platform, tokens, path, who, body):  # type: ignore[no-untyped-def]
    res = shared_platform.post(path, tokens[who], body)
    assert res.status == 422, (path, body, res.status, res.body)
    assert_error(res, body)


def test_non_finite_numbers_are_refused(shared_platform, tokens):  # type: ignore[no-untyped-def]
    p = shared_platform
    for path, who, raw in (("/api/fund/cases/FC-NOPE/approve", "fund_admin", b'{"amount_fen": NaN}'),
                           ("/api/fund/cases/FC-NOPE/approve", "fund_admin", b'{"amount_fen": 1e400}'),
                           ("/api/fund/cases/FC-NOPE/approve", "fund_admin", b'{"amount_fen": -Infinity}'),
                           ("/api/units/LC-120-CTR-1/status", "dispatcher", b'{"status": "available", "lat": NaN}'),
                           ("/api/units/LC-120-CTR-1/status", "dispatcher", b'{"status": "available", "lon": Infinity}')):
        res = _raw(p, "POST", path, tokens[who], raw)
        assert res.status == 422, (raw, res.status, res.body)
        assert_error(res, raw)


MONEY_NOT_INTEGER = [("/api/fund/cases/FC-NOPE/approve", "fund_admin", {"amount_fen": v}) for v in (700000.0, "700000", True)] + [
    (f"/api/hospitals/{HOSPITAL}/admissions/ADM-NOPE/bills", "hospital",
     {"amount_fen": 100.0, "rescue_started_at": "2026-11-22T08:00:00+08:00"}),
    ("/api/claims/CLM-NOPE/assess", "insurer", {"amount_fen": "100"}),
]


def test_money_must_be_a_json_integer(shared_platform, tokens):  # type: ignore[no-untyped-def]
    accepted = []
    for path, who, body in MONEY_NOT_INTEGER:
        res = shared_platform.post(path, tokens[who], body)
        assert res.status < 500, (body, res.body)
        if res.status != 422:  # 404 means the body passed validation and the route went looking for the object
            accepted.append((path, body, res.status))
    assert not accepted, f"non-integer money accepted: {accepted}"


def test_report_bodies_that_break_the_schema_are_refused_with_the_field_named(shared_platform, tokens):  # type: ignore[no-untyped-def]
    p = shared_platform
    cases = [({"injured": -1}, "injured"), ({"injured": 10 ** 30}, "injured"), ({"injured": 1.5}, "injured"),
             ({"injured": "2"}, "injured"), ({"fatalities": True}, "fatalities"), ({"location": {"lat": 1e300, "lon": 0}}, "location.lat"),
             ({"location": {"lat": 36.0}}, "location.lon"), ({"source": "110"}, "source"), ({"schema": "accident-report/2"}, "schema"),
             ({"reported_at": "2026-11-22T08:15:03"}, "reported_at"), ({"hazards": ["meteor"]}, "hazard"),
             ({"parties": [{"plate": 123}]}, "parties[0].plate"), ({"parties": "nobody"}, "parties"),
             ({"report_id": "   "}, "report_id"), ({"report_id": "x" * 101}, "report_id"),
             ({"vehicles_movable": "yes"}, "vehicles_movable")]
    for change, field in cases:
        body = report(**{k: v for k, v in change.items() if k not in ("location", "report_id", "source", "schema")})
        body.update({k: v for k, v in change.items() if k in ("location", "report_id", "source", "schema")})
        res = p.post("/api/reports", tokens["intake"], body)
        assert res.status == 422, (change, res.status, res.body)
        assert_error(res, change)
        assert field in res.body["error"], (field, res.body["error"])


PATHS = ["/api/incidents/..%2F..%2F..%2Fetc%2Fpasswd", "/api/incidents/%2e%2e", "/api/incidents/..;/admin",
         "/api/incidents/%00", "/api/incidents/" + "A" * 4000, "/api/incidents/%E2%80%AE%F0%9F%92%A5",
         "/api/incidents/%ff%fe", "/api/incidents/1%20OR%201=1", "/api/incidents/'%3B%20DROP%20TABLE%20incidents%3B--",
         "/api/fund/cases/..%2F..%2Fclaims", "/api/claims/%2e%2e%2f%2e%2e%2fincidents", "/api/claims/CLM%00",
         "/api/hospitals/..%2FLC-H-LC3/admissions", "/api/units/..%2F..%2F/status",
         "/api/incidents?limit=-1", "/api/incidents?limit=0", "/api/incidents?limit=5001",
         "/api/incidents?limit=1e3", "/api/incidents?limit=99999999999999999999999", "/api/incidents?status=%00",
         "/static/../../etc/passwd", "/static/..%2F..%2Fpyproject.toml", "/api/../healthz/../api/incidents"]


def test_hostile_paths_and_queries_are_4xx_with_an_error(shared_platform, tokens):  # type: ignore[no-untyped-def]
    p = shared_platform
    who = {"/api/fund": "fund_admin", "/api/claims": "insurer", "/api/hospitals": "hospital"}
    for path in PATHS:
        token = tokens[next((v for k, v in who.items() if path.startswith(k)), "dispatcher")]
        res = _raw(p, "GET", path, token, None)
        if path.endswith(("%00", "=%00")) and res.status == 200:
            continue  # an unknown status filter is an empty list
        assert 400 <= res.status < 500 and res.status != 401, (path, res.status, str(res.body)[:200])
        assert_error(res, path)
        assert "root:" not in json.dumps(res.body) and "[project]" not in json.dumps(res.body)
    for path in ("/api/units/..%2F..%2F/status", "/api/incidents/%2e%2e/close", "/api/fund/cases/%00/pay"):
        res = _raw(p, "POST", path, tokens["dispatcher" if "fund" not in path else "fund_admin"], b'{"status": "available"}')
        assert 400 <= res.status < 500, (path, res.status, res.body)
        assert_error(res, path)


def test_unicode_and_control_characters_in_a_report_never_stop_the_pipelines(shared_platform, tokens):  # type: ignore[no-untyped-def]
    """A report full of odd text is taken (202) or refused (422); when taken it becomes an incident (or is
    dead-lettered), and the platform stays healthy."""
    from connectors.kafka import read_all

    p = shared_platform
    r = report(lat=36.6100, lon=116.2100)
    raw = json.dumps(r, ensure_ascii=False)
    raw = raw.replace('"description": "测试"', '"description": "\\ud800 \\u0000 \u202e\U0001F4A5 \\udfff \u200b"')
    raw = raw.replace('"name": "王某"', '"name": "\\u0000\\ud83d"')
    assert "\\ud800" in raw and "\\ud83d" in raw
    res = _raw(p, "POST", "/api/reports", tokens["intake"], raw.encode())
    assert res.status in (202, 422), res.body
    if res.status == 422:
        assert_error(res, "odd text")
        return

    def landed() -> bool:
        incidents = p.get("/api/incidents?limit=5000", tokens["dispatcher"]).body
        if any(r["report_id"] in i["report_ids"] for i in incidents):
            return True
        return any(m.key == r["report_id"].encode() for m in read_all(p.bootstrap, p.prefix + "accidents.rejected"))
    wait_for(landed, 40, 0.5, "the odd report to become an incident or be dead-lettered")
    follow = report(lat=36.6300, lon=116.2500)
    assert p.post("/api/reports", tokens["intake"], follow).status == 202
    wait_for(lambda: any(follow["report_id"] in i["report_ids"]
                         for i in p.get("/api/incidents?limit=5000", tokens["dispatcher"]).body), 40, 0.5,
             "a normal report after it")
    wait_for(p.healthy, 20, 0.5, "healthy")


# ---------------------------------------------------------------- retries
def test_a_repeated_idempotency_key_returns_the_first_answer(shared_platform, tokens):  # type: ignore[no-untyped-def]
    p = shared_platform
    d = tokens["dispatcher"]
    unit = next(u for u in p.get("/api/units?limit=5000", d).body if u["status"] == "available" and u["service"] == "122")
    path = f"/api/units/{unit['unit_id']}/status"
    first = p.post(path, d, {"status": "out_of_service", "note": "检修"}, headers={"Idempotency-Key": "hostile-1"})
    assert first.status == 200 and first.body["changed"] is True, first.body
    again = p.post(path, d, {"status": "out_of_service", "note": "检修"}, headers={"Idempotency-Key": "hostile-1"})
    assert again.status == 200 and again.body == first.body
    assert (again.headers.get("Idempotent-Replay") or again.headers.get("idempotent-replay")) == "true"
    fresh = p.post(path, d, {"status": "out_of_service"}, headers={"Idempotency-Key": "hostile-2"})
    assert fresh.status == 200 and fresh.body["changed"] is False, "a new key acts again (and changes nothing)"
    # the key belongs to its token: another token with the same key is a new request
    other = p.token("dispatcher", "另一调度员")
    mine = p.post(path, other, {"status": "available"}, headers={"Idempotency-Key": "hostile-1"})
    assert mine.status == 200 and mine.body["status"] == "available"
    # a key reused for another request, or an unusable key
    reused = p.post("/api/incidents/INC-NOPE/close", d, {}, headers={"Idempotency-Key": "hostile-1"})
    assert reused.status == 422
    assert_error(reused, "reused key")
    for bad in ("k" * 201, "   "):
        res = p.post(path, d, {"status": "available"}, headers={"Idempotency-Key": bad})
        assert res.status == 422
        assert_error(res, "bad key")
    # an error answer is replayed too
    e1 = p.post("/api/fund/cases/FC-NOPE/pay", tokens["fund_admin"], {}, headers={"Idempotency-Key": "hostile-3"})
    e2 = p.post("/api/fund/cases/FC-NOPE/pay", tokens["fund_admin"], {}, headers={"Idempotency-Key": "hostile-3"})
    assert e1.status == e2.status == 404 and e1.body == e2.body


def test_a_retried_report_with_the_same_idempotency_key_returns_the_first_answer(shared_platform, tokens):  # type: ignore[no-untyped-def]
    p = shared_platform
    r = report(lat=36.6600, lon=116.3000)
    first = p.post("/api/reports", tokens["intake"], r, headers={"Idempotency-Key": "rep-1"})
    again = p.post("/api/reports", tokens["intake"], r, headers={"Idempotency-Key": "rep-1"})
    assert first.status == again.status == 202
    assert again.body == first.body


def test_an_unauthenticated_caller_gets_401_whatever_the_body(shared_platform):  # type: ignore[no-untyped-def]
    res = _raw(shared_platform, "POST", "/api/fund/cases/FC-NOPE/approve", None, b"{broken")
    assert res.status == 401, res.body


# ---------------------------------------------------------------- schema-driven fuzzing
def _operations() -> list[tuple[str, str]]:
    from types import SimpleNamespace

    from accidentlink.settings import Settings
    from web.app import create_app

    doc = create_app(SimpleNamespace(settings=Settings())).openapi()  # type: ignore[arg-type]
    return [(m.upper(), path) for path, item in doc["paths"].items() for m in item
            if m in ("get", "post", "put", "patch", "delete") and not path.endswith("/stream")]


OPERATIONS = _operations()


def _role_for(method: str, path: str) -> str:
    if path.startswith("/api/hospitals"):
        return "hospital"
    if path.startswith("/api/fund") and not path.endswith("hit-and-run-solved"):
        return "fund_admin"
    if path.startswith("/api/claims") and not path.endswith("/route"):
        return "insurer"
    if path == "/api/reports":
        return "intake"
    return "dispatcher"


@pytest.fixture(scope="module")
def api_schema(shared_platform):  # type: ignore[no-untyped-def]
    import schemathesis

    return schemathesis.openapi.from_url(shared_platform.base_url + "/openapi.json")


def test_the_fuzzed_operations_are_every_operation_but_the_stream(api_schema):  # type: ignore[no-untyped-def]
    served = {(r.ok().method.upper(), r.ok().path) for r in api_schema.get_all_operations()}
    assert served == set(OPERATIONS) | {("GET", "/api/incidents/stream")}


@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_schemathesis_finds_no_server_error(shared_platform, api_schema, tokens, method, path):  # type: ignore[no-untyped-def]
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error

    p = shared_platform
    op = api_schema[path][method]
    headers = {"Authorization": f"Bearer {tokens[_role_for(method, path)]}"}
    strategy = op.as_strategy(GenerationMode.POSITIVE) | op.as_strategy(GenerationMode.NEGATIVE)

    @settings(max_examples=40, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(case=strategy)
    def run(case) -> None:  # type: ignore[no-untyped-def]
        if case.path_parameters and "hospital_id" in case.path_parameters:
            case.path_parameters["hospital_id"] = HOSPITAL  # past the scope check, into the body's validation
        case.call_and_validate(base_url=p.base_url, headers=headers, checks=[not_a_server_error], timeout=30)

    run()


# ---------------------------------------------------------------- issue 14 item 5: input that cannot do harm
def test_a_report_dated_2199_or_placed_far_outside_every_served_area_is_never_dispatched_to(shared_platform, tokens):  # type: ignore[no-untyped-def]
    """The attack: a report dated 2199, and one 1,600 km from every served area, were dispatched to."""
    from connectors.kafka import read_all
    from tests.support.reports import produce

    p = shared_platform
    future = report(injured=2, lat=36.4000, lon=115.9000, at=datetime(2199, 1, 1, 8, 0, tzinfo=CST))
    far = report(injured=2, lat=22.5400, lon=114.0600)  # 深圳
    old = report(injured=2, lat=36.4000, lon=115.9100, at=datetime(2019, 5, 1, 8, 0, tzinfo=CST))
    for r, why in ((future, "future"), (far, "outside every served area"), (old, "days ago")):
        res = p.post("/api/reports", tokens["intake"], r)
        assert res.status == 422 and why in res.body["error"], res.body
    produce(p.bootstrap, p.prefix + "accidents.reported", [future, far, old])
    ids = {r["report_id"].encode(): why for r, why in ((future, "future"), (far, "outside"), (old, "days ago"))}

    def dead():  # type: ignore[no-untyped-def]
        got = {m.key: dict(m.headers)["error"].decode() for m in read_all(p.bootstrap, p.prefix + "accidents.rejected")
               if m.key in ids}
        return got if len(got) == 3 else None
    for key, error in wait_for(dead, 30, what="all three dead-lettered").items():
        assert ids[key] in error, error
    follow = report(lat=36.4100, lon=115.9200)
    produce(p.bootstrap, p.prefix + "accidents.reported", [follow])
    wait_for(lambda: any(follow["report_id"] in i["report_ids"]
                         for i in p.get("/api/incidents?limit=5000", tokens["dispatcher"]).body), 30, what="a sane report after them")
    incidents = p.get("/api/incidents?limit=5000", tokens["dispatcher"]).body
    assert not [i for i in incidents if {future["report_id"], far["report_id"], old["report_id"]} & set(i["report_ids"])]


@pytest.mark.parametrize("raw_edit,why", [
    (lambda raw: raw.replace('"injured": 0', '"injured": 0, "injured": 3'), "duplicate key"),
    (lambda raw: raw.replace('"description": "测试"', '"description": "\\ud800"'), "lone surrogate"),
])
def test_duplicate_keys_and_lone_surrogates_are_422_before_202(shared_platform, tokens, raw_edit, why):  # type: ignore[no-untyped-def]
    p = shared_platform
    raw = raw_edit(json.dumps(report(lat=36.6100, lon=116.2100), ensure_ascii=False))
    res = _raw(p, "POST", "/api/reports", tokens["intake"], raw.encode())
    assert res.status == 422 and why in res.body["error"], res.body


def test_a_rescue_start_in_year_9999_and_coerced_decisions_are_422_not_500(shared_platform, tokens):  # type: ignore[no-untyped-def]
    p = shared_platform
    bill = p.post(f"/api/hospitals/{HOSPITAL}/admissions/ADM-NOPE/bills", tokens["hospital"],
                  {"amount_fen": 100, "rescue_started_at": "9999-12-31T23:59:59+08:00"})
    assert bill.status == 422 and "rescue_started_at" in bill.body["error"], bill.body
    for body in ({"accepted": "yes"}, {"accepted": 1}):
        res = p.post("/api/claims/CLM-NOPE/decide", tokens["insurer"], body)
        assert res.status == 422 and "accepted" in res.body["error"], res.body
    res = p.post("/api/claims/CLM-NOPE/pay", tokens["insurer"], {"amount_fen": "1000000000000"})
    assert res.status == 422, res.body
