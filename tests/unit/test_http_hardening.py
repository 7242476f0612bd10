"""Issue 14 item 6 in-process (the app on a real migrated store, no broker): the browser-hardening headers on
every kind of answer, the rate limit per token and per address with a readable 429, capped list pages
walked with an opaque cursor (every item exactly once), and an incident's notes bounded while it waits."""
from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from tests.unit.test_web_inprocess import _closed_port, token


def make_container(migrated: str, tmp_path: Path, **settings: Any) -> Any:
    from accidentlink.bootstrap import build
    from accidentlink.settings import Settings

    return build(Settings(var_dir=tmp_path, database_url=migrated, kafka_bootstrap=f"127.0.0.1:{_closed_port()}",
                          **settings))


@pytest.fixture
def c(migrated: str, tmp_path: Path) -> Iterator[Any]:
    c = make_container(migrated, tmp_path, rate_limit_per_s=1000, rate_limit_per_address_per_s=1000)
    yield c
    c.close()


def client(c: Any) -> TestClient:
    from web.app import create_app

    return TestClient(create_app(c), raise_server_exceptions=False)


@pytest.mark.parametrize("path", ["/dashboard/", "/docs", "/api/units", "/api/nope", "/quick/QK-NOPE", "/openapi.json",
                                  "/static/js/app.js"])
def test_every_kind_of_answer_carries_the_hardening_headers(c: Any, path: str) -> None:
    res = client(c).get(path, headers=token(c, "dispatcher"))
    csp = res.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0] and "unsafe-eval" not in csp
    assert "http" not in csp  # no third-party origin
    assert res.headers["x-content-type-options"] == "nosniff" and res.headers["x-frame-options"] == "DENY"
    assert res.headers["referrer-policy"] == "no-referrer"
    if not path.startswith("/static/"):
        assert res.headers["cache-control"] == "no-store", (path, res.headers.get("cache-control"))


def test_the_api_docs_page_loads_nothing_from_another_origin(c: Any) -> None:
    cl = client(c)
    page = cl.get("/docs").text
    assert "cdn" not in page.lower() and "http" not in page.replace("http-equiv", "")
    assert "<script>" not in page and "<style" not in page  # no inline script or style: the CSP allows neither
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/static/js/api-docs.js"):
        assert asset in page and cl.get(asset).status_code == 200, asset


def test_the_rate_limit_engages_per_token_with_a_readable_429(migrated: str, tmp_path: Path) -> None:
    c = make_container(migrated, tmp_path, rate_limit_per_s=3, rate_limit_per_address_per_s=1000)
    cl, flooder, other = client(c), token(c, "dispatcher"), token(c, "dispatcher")
    statuses = [cl.get("/api/units?limit=1", headers=flooder).status_code for _ in range(20)]
    assert 429 in statuses and statuses.count(200) <= 7, statuses
    res = cl.get("/api/units?limit=1", headers=flooder)
    assert res.status_code == 429 and int(res.headers["retry-after"]) >= 1
    assert "retry" in res.json()["error"] and "秒后重试" in res.json()["error"]
    assert res.headers["x-frame-options"] == "DENY"  # the refusal is hardened too
    assert cl.get("/api/units?limit=1", headers=other).status_code == 200  # another desk is not held back
    c.close()


def test_the_rate_limit_engages_per_address_whatever_the_tokens(migrated: str, tmp_path: Path) -> None:
    c = make_container(migrated, tmp_path, rate_limit_per_s=1000, rate_limit_per_address_per_s=3)
    cl = client(c)
    tokens = [token(c, "dispatcher") for _ in range(20)]
    statuses = [cl.get("/api/units?limit=1", headers=t).status_code for t in tokens]
    assert 429 in statuses and statuses.count(200) <= 7, statuses
    c.close()


def test_the_defaults_sit_well_below_what_one_web_process_serves() -> None:
    from accidentlink.settings import Settings

    s = Settings()
    assert s.rate_limit_per_s * 2 <= 50 and s.rate_limit_per_address_per_s * 2 <= 100  # README: ~250/s measured


def _seed_incidents(c: Any, n: int) -> set[str]:
    from accidentlink.clock import FixedClock
    from connectors.sql.models import IncidentRow

    at = FixedClock().now()
    ids = set()
    with c.store("dispatch").uow() as tx:
        for i in range(n):  # several share a first-reported time: the cursor breaks the tie by id
            iid = f"INC-PAGE{i:04d}"
            ids.add(iid)
            tx.session.add(IncidentRow(incident_id=iid, created_at=at, status="open", version=1, notes=[],
                                       lat=36.39, lon=115.85, address="测试", first_reported_at=at - timedelta(minutes=i // 3),
                                       last_reported_at=at, injured=0, fatalities=0, vehicles_movable=True,
                                       hit_and_run=False, hazards=[], plates=[], sources=["122"], severity="minor",
                                       updated_at=at, cell="x"))
        tx.commit()
    return ids


def test_a_list_is_capped_and_its_cursor_walks_every_item_exactly_once(c: Any) -> None:
    ids = _seed_incidents(c, 450)
    cl, d = client(c), token(c, "dispatcher")
    res = cl.get("/api/incidents?limit=5000", headers=d)  # the old way: clamped, not 6.7 MB
    assert res.status_code == 200 and len(res.json()) == 200 and res.headers["x-next-cursor"]
    first_cursor = res.headers["x-next-cursor"]
    seen: list[str] = []
    url = "/api/incidents?limit=150"
    while True:
        res = cl.get(url, headers=d)
        assert res.status_code == 200, res.text
        seen += [i["incident_id"] for i in res.json()]
        nxt = res.headers.get("x-next-cursor")
        if not nxt:
            break
        assert 'rel="next"' in res.headers["link"]
        url = f"/api/incidents?limit=150&cursor={nxt}"
    assert len(seen) == len(set(seen)) and set(seen) == ids
    assert cl.get("/api/incidents?cursor=bm9wZQ", headers=d).status_code == 422
    assert cl.get("/api/units?cursor=" + first_cursor, headers=d).status_code == 422
    assert cl.get("/api/incidents?limit=0", headers=d).status_code == 422


def test_a_positional_list_is_paged_too(c: Any) -> None:
    from accidentlink.demo import load_resources_into_db

    load_resources_into_db(c)
    cl, d = client(c), token(c, "dispatcher")
    everything = [u["unit_id"] for u in cl.get("/api/units?limit=5000", headers=d).json()]
    first = cl.get("/api/units?limit=7", headers=d)
    second = cl.get(f"/api/units?limit=7&cursor={first.headers['x-next-cursor']}", headers=d)
    assert len(everything) > 14 and [u["unit_id"] for u in first.json() + second.json()] == everything[:14]


def test_an_incident_waiting_for_units_keeps_its_notes_bounded() -> None:
    """Both services short, round after round: the notes said "awaiting a unit" once per wait (they grew
    by two a round before); any note stays short, and no incident keeps more than MAX_NOTES."""
    from accidentlink.clock import FixedClock
    from dispatch.notes import MAX_NOTES, MAX_TEXT, repeats_the_wait, with_note
    from dispatch.records import Note

    at = FixedClock().now()
    notes: tuple[Note, ...] = ()
    for round_ in range(1000):
        for service in ("122", "120"):
            text = f"no available {service} unit: retrying"
            if not repeats_the_wait(notes, "no_unit_available", text):
                notes = with_note(notes, Note(at + timedelta(seconds=round_), "no_unit_available", text))
    assert len(notes) == 2
    for i in range(500):
        notes = with_note(notes, Note(at, "escalated" if i % 2 else "reassigned", "长" * 10_000))
    assert len(notes) == MAX_NOTES and all(len(n.text) <= MAX_TEXT for n in notes)
    assert notes[0].kind == "no_unit_available"  # how it started is kept


@pytest.mark.parametrize("path", ["/api/units", "/api/fund/cases", "/api/claims", "/api/sms", "/api/incidents"])
def test_paging_parameters_are_judged_after_the_callers_right(c: Any, path: str) -> None:
    cl = client(c)
    assert cl.get(f"{path}?cursor=bm90LW91cnM").status_code == 401
    assert cl.get(f"{path}?cursor=bm90LW91cnM&limit=0", headers=token(c, "intake")).status_code == 403
