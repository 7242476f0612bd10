"""Issue 14 item 5, "input that cannot do harm": each test replays an attack that used to succeed (a report dated
2199 or placed 1,600 km from every served area was dispatched to; a rescue start in year 9999 answered 500; a
lone surrogate was accepted with 202; duplicate keys were accepted; an insurer paid 10 billion yuan on a smaller
assessment; ``"accepted": "yes"`` was coerced)."""
from __future__ import annotations

import json
import warnings
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from accidentlink.clock import CST
from accidentlink.input_bounds import ServedArea, date_problem, report_time_problem, rules, served_area
from accidentlink.reports import InvalidReport, parse_report
from tests.support.reports import LIANGSHUI, ZHANGDIAN, report

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=CST)
SHENZHEN = (22.54, 114.06)  # about 1,600 km from 聊城


# ---------------------------------------------------------------- pure checks
def test_a_report_time_must_lie_in_a_sane_window_around_now() -> None:
    t = rules()["times"]
    assert report_time_problem(NOW, NOW) is None
    assert report_time_problem(NOW + timedelta(seconds=t["max_future_s"] - 1), NOW) is None
    assert "future" in report_time_problem(NOW + timedelta(seconds=t["max_future_s"] + 60), NOW)
    assert "future" in report_time_problem(datetime(2199, 1, 1, tzinfo=CST), NOW)
    assert report_time_problem(NOW - timedelta(days=t["report_max_age_days"] - 1), NOW) is None
    assert "days ago" in report_time_problem(datetime(2019, 5, 1, tzinfo=CST), NOW)


def test_any_other_date_in_year_9999_or_decades_back_is_refused() -> None:
    assert date_problem(NOW - timedelta(hours=3), NOW, "rescue_started_at") is None
    assert "future" in date_problem(datetime(9999, 12, 31, 23, 59, tzinfo=CST), NOW, "rescue_started_at")
    assert "past" in date_problem(datetime(1901, 1, 1, tzinfo=CST), NOW, "rescue_started_at")


def test_the_served_area_is_derived_from_the_data_with_a_margin() -> None:
    area = served_area()
    for lat, lon in (LIANGSHUI, ZHANGDIAN, (36.4718, 116.1010)):
        assert area.covers(lat, lon) and area.place_problem(lat, lon) is None
    assert "outside every served area" in area.place_problem(*SHENZHEN)
    assert not area.covers(39.90, 116.40)  # 北京: no unit of ours within reach
    one = ServedArea.around([(36.0, 116.0)], max_km=20, cell_deg=0.05)
    assert one.covers(36.0, 116.0) and one.covers(36.1, 116.1) and not one.covers(36.5, 116.0)


# ---------------------------------------------------------------- the parser
def test_duplicate_keys_are_refused_at_any_depth() -> None:
    r = json.dumps(report())
    for doubled in (r.replace('"injured": 0', '"injured": 3, "injured": 0'),
                    r.replace('"lat": ', '"lat": 1, "lat": ')):
        with pytest.raises(InvalidReport, match="duplicate key"):
            parse_report(doubled)


def test_a_lone_surrogate_is_refused_and_a_real_pair_is_kept() -> None:
    with pytest.raises(InvalidReport, match="lone surrogate"):
        parse_report(json.dumps({**report(), "description": "车祸\ud83d"}))
    with pytest.raises(InvalidReport, match="lone surrogate"):
        parse_report(json.dumps({**report(), "reporter": {"name": "\udc00", "phone": "+8613800000000"}}))
    assert parse_report(json.dumps({**report(), "description": "车祸😀"})).description == "车祸😀"


def test_the_gazetteer_step_does_not_launder_duplicate_keys() -> None:
    from accidentlink.intake import place

    raw = b'{"location": {"address": "\\u804a\\u4e34\\u8def\\u6881\\u6c34\\u9547\\u6bb5"}, "injured": 3, "injured": 0}'
    assert place(raw, lambda a: (36.39, 115.85)) == raw  # left as it came, for the parser to refuse


# ---------------------------------------------------------------- the Kafka path: dead letters, never forwarded
class _DeadLetters:
    def __init__(self) -> None:
        self.got: list[tuple[Any, str]] = []

    def dead_letter_each(self, rejected: list[tuple[Any, str]]) -> None:
        self.got += rejected


@pytest.mark.parametrize("value,reason", [
    (report(at=datetime(2199, 1, 1, 8, 0, tzinfo=CST)), "future"),
    (report(lat=SHENZHEN[0], lon=SHENZHEN[1]), "outside every served area"),
    (json.dumps(report()).replace('"injured": 0', '"injured": 3, "injured": 0'), "duplicate key"),
    (json.dumps({**report(), "description": "\ud800"}), "lone surrogate"),
])
def test_the_intake_dead_letters_harmful_reports_with_the_reason_and_forwards_none(value: Any, reason: str) -> None:
    from accidentlink.bootstrap import build
    from accidentlink.intake import Rekeyer
    from accidentlink.pipeline import RawMessage
    from accidentlink.settings import Settings

    c = build(Settings(kafka_bootstrap="127.0.0.1:1"))
    raw = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    sent: list[Any] = []
    dead = _DeadLetters()
    Rekeyer(dead, lambda *a: sent.append(a), lambda: None, "by-area", lambda a: None,  # type: ignore[arg-type]
            check=c.report_check()).process([RawMessage("accidents.reported", 0, 7, b"k", raw.encode("utf-8", "surrogatepass"))])
    assert sent == [] and len(dead.got) == 1 and reason in dead.got[0][1], dead.got
    good: list[Any] = []
    Rekeyer(dead, lambda *a: good.append(a), lambda: None, "by-area", lambda a: None,  # type: ignore[arg-type]
            check=c.report_check()).process([RawMessage("accidents.reported", 0, 8, b"k", json.dumps(report()).encode())])
    assert len(good) == 1


# ---------------------------------------------------------------- HTTP: 422 before 202 (and before the broker)
@pytest.fixture
def web(migrated: str, tmp_path: Path) -> Any:
    from accidentlink.bootstrap import build
    from accidentlink.settings import Settings
    from web.app import create_app

    c = build(Settings(var_dir=tmp_path, database_url=migrated, kafka_bootstrap="127.0.0.1:1"))
    yield c, TestClient(create_app(c, producer=None), raise_server_exceptions=False)
    c.close()


def _auth(c: Any, role: str, **scope: str) -> dict[str, str]:
    from web.auth import create_token

    t, _ = create_token(c.store("web"), role, f"test {role}", c.clock.now(), **scope)
    return {"Authorization": f"Bearer {t}", "Content-Type": "application/json"}


@pytest.mark.parametrize("raw,reason", [
    (json.dumps(report(at=datetime(2199, 1, 1, 8, 0, tzinfo=CST))), "future"),
    (json.dumps(report(lat=SHENZHEN[0], lon=SHENZHEN[1])), "outside every served area"),
    (json.dumps(report()).replace('"injured": 0', '"injured": 3, "injured": 0'), "duplicate key"),
    (json.dumps({**report(), "description": "\ud800"}), "lone surrogate"),
    (json.dumps({**report(), "location": {"address": "聊临路梁水镇段"}, "description": "\ud800"}), "lone surrogate"),
])
def test_a_harmful_report_is_422_with_the_reason_over_http(web: Any, raw: str, reason: str) -> None:
    c, client = web
    res = client.post("/api/reports", content=raw.encode(), headers=_auth(c, "intake"))
    assert res.status_code == 422 and reason in res.json()["error"], res.text
    ok = client.post("/api/reports", content=json.dumps(report()).encode(), headers=_auth(c, "intake"))
    assert ok.status_code == 503  # a sane report passes every check (and then needs the broker)


def test_a_rescue_start_in_year_9999_is_422_not_500(web: Any) -> None:
    c, client = web
    h = _auth(c, "hospital", hospital_id="LC-H-LC3")
    for started in ("9999-12-31T23:59:59+08:00", "2199-01-01T08:00:00+08:00", "1901-01-01T08:00:00+08:00"):
        res = client.post("/api/hospitals/LC-H-LC3/admissions/ADM-NOPE/bills", headers=h,
                          content=json.dumps({"amount_fen": 100, "rescue_started_at": started}).encode())
        assert res.status_code == 422 and "rescue_started_at" in res.json()["error"], res.text
    item = client.post("/api/hospitals/LC-H-LC3/admissions/ADM-NOPE/bills", headers=h, content=json.dumps(
        {"amount_fen": 100, "rescue_started_at": c.clock.now().isoformat(),
         "items": [{"amount_fen": 100, "incurred_at": "9999-01-01T00:00:00+08:00"}]}).encode())
    assert item.status_code == 422 and "incurred_at" in item.json()["error"]


@pytest.mark.parametrize("body", [{"accepted": "yes"}, {"accepted": 1}, {"accepted": "true"}])
def test_a_decision_is_a_json_boolean_never_coerced(web: Any, body: dict[str, Any]) -> None:
    c, client = web
    res = client.post("/api/claims/CLM-NOPE/decide", headers=_auth(c, "insurer", insurer_id="CPIC"),
                      content=json.dumps(body).encode())
    assert res.status_code == 422 and "accepted" in res.json()["error"], res.text


@pytest.mark.parametrize("body", [{"amount_fen": "150000"}, {"amount_fen": 1500.0}, {"amount_fen": True}])
def test_money_is_a_json_integer_never_coerced(web: Any, body: dict[str, Any]) -> None:
    c, client = web
    res = client.post("/api/claims/CLM-NOPE/pay", headers=_auth(c, "insurer", insurer_id="CPIC"),
                      content=json.dumps(body).encode())
    assert res.status_code == 422, res.text


# ---------------------------------------------------------------- what an insurer moves
def _claim(assessed: int, ci_policy: str | None = "PDZA1", own_share: str | None = None,
           reported_at: str = "2026-11-22T08:00:00+08:00") -> Any:
    facts: dict[str, Any] = {"reported_at": reported_at}
    if own_share:
        facts["liability"] = {"own_share": own_share}
    return SimpleNamespace(assessed_fen=assessed, ci_policy=ci_policy, facts=facts, opened_at=NOW)


def test_an_insurers_payment_is_bounded_by_the_assessed_amount() -> None:
    from claims.lifecycle_rules import PaymentAboveBound, check_action

    assert check_action(_claim(150_000), "pay", {"amount_fen": 150_000}) == {"paid_fen": 150_000}
    assert check_action(_claim(150_000), "pay", {}) == {"paid_fen": 150_000}
    with pytest.raises(PaymentAboveBound) as e:
        check_action(_claim(150_000), "pay", {"amount_fen": 10_000_000_000_00})  # 10 billion yuan
    assert e.value.allowed_fen == 150_000 and "assessed" in str(e.value)


def test_a_ci_claim_pays_at_most_the_limit_for_the_crash_date_and_the_drivers_liability() -> None:
    from claims.lifecycle_rules import PaymentAboveBound, check_action
    from claims.limits import ci_limits_on

    big = 50_000_000
    at_fault = ci_limits_on(datetime(2026, 11, 22).date(), at_fault=True).total_fen
    not_at_fault = ci_limits_on(datetime(2026, 11, 22).date(), at_fault=False).total_fen
    before_2020 = ci_limits_on(datetime(2019, 5, 1).date(), at_fault=True).total_fen
    assert check_action(_claim(big), "pay", {"amount_fen": at_fault}) == {"paid_fen": at_fault}
    for claim, limit in ((_claim(big), at_fault), (_claim(big, own_share="none"), not_at_fault),
                         (_claim(big, reported_at="2019-05-01T08:00:00+08:00"), before_2020)):
        with pytest.raises(PaymentAboveBound) as e:
            check_action(claim, "pay", {"amount_fen": limit + 1})
        assert e.value.allowed_fen == limit and "交强险" in str(e.value)
    assert check_action(_claim(big, ci_policy=None), "pay", {"amount_fen": big}) == {"paid_fen": big}


@pytest.mark.parametrize("path,role,scope,raw,why", [
    ("/api/claims/CLM-NOPE/pay", "insurer", {"insurer_id": "CPIC"},
     '{"amount_fen": 100, "amount_fen": 100000000000}', "duplicate key 'amount_fen'"),
    ("/api/claims/CLM-NOPE/decide", "insurer", {"insurer_id": "CPIC"},
     '{"accepted": false, "reasons": "x", "accepted": true}', "duplicate key 'accepted'"),
    ("/api/fund/cases/FC-NOPE/approve", "fund_admin", {}, '{"amount_fen": 1, "note": "\\udc00"}', "lone surrogate"),
    ("/api/hospitals/LC-H-LC3/admissions/ADM-NOPE/bills", "hospital", {"hospital_id": "LC-H-LC3"},
     '{"amount_fen": 100, "rescue_started_at": "2026-11-30T08:00:00+08:00", "amount_fen": 1}', "duplicate key"),
])
def test_money_and_decision_bodies_with_duplicate_keys_or_lone_surrogates_are_422(web: Any, path: str, role: str,
                                                                                 scope: dict[str, str], raw: str,
                                                                                 why: str) -> None:
    c, client = web
    res = client.post(path, content=raw.encode(), headers=_auth(c, role, **scope))
    assert res.status_code == 422 and why in res.json()["error"], res.text
    fine = client.post(path, content=b'{"amount_fen": 100, "accepted": true, "rescue_started_at": "x"}',
                       headers=_auth(c, role, **scope))
    assert fine.status_code != 500 and "duplicate" not in fine.text


def test_an_operator_replaying_old_dead_letters_can_widen_the_report_window_and_nothing_else(monkeypatch) -> None:
    from datetime import datetime, timedelta, timezone

    from accidentlink import input_bounds

    now = datetime(2026, 11, 30, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    old = now - timedelta(days=400)
    try:
        assert input_bounds.report_time_problem(old, now) is not None
        monkeypatch.setenv(input_bounds.REPORT_MAX_AGE_ENV, "500")
        input_bounds.rules.cache_clear()
        assert input_bounds.report_time_problem(old, now) is None
        assert input_bounds.report_time_problem(now + timedelta(hours=1), now) is not None  # the future stays refused
        monkeypatch.setenv(input_bounds.REPORT_MAX_AGE_ENV, "forever")
        input_bounds.rules.cache_clear()
        import pytest

        with pytest.raises(ValueError, match="whole number of days"):
            input_bounds.rules()
    finally:
        monkeypatch.delenv(input_bounds.REPORT_MAX_AGE_ENV, raising=False)
        input_bounds.rules.cache_clear()
