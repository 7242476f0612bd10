"""The dispatcher desk's counts come from the store (issue 15: with 3,006 open the desk said "未结 279",
and the overdue count stayed 0 through late acknowledgements): GET /api/incidents/counts in-process."""
from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.seed import incident_row, seed_incidents


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Any]:
    from accidentlink.bootstrap import Container
    from accidentlink.clock import FixedClock
    from accidentlink.demo import load_resources_into_db
    from accidentlink.settings import Settings
    from connectors.sms import HeldSms
    from connectors.sql.stores import upgrade_all
    from web.app import create_app
    from web.auth import create_token

    url = f"sqlite:///{tmp_path / 'run.db'}"
    upgrade_all(url, tmp_path)
    clock = FixedClock()
    c = Container(settings=Settings(var_dir=tmp_path, database_url=url, kafka_bootstrap="127.0.0.1:1",
                                    twilio_account_sid=None, twilio_auth_token=None, twilio_from=None),
                  clock=clock, sms=HeldSms())
    load_resources_into_db(c)
    headers = {"Authorization": "Bearer " + create_token(c.store("web"), "dispatcher", "王调度", clock.now())[0]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

        with TestClient(create_app(c)) as client:
            yield c, clock, client, headers


def _dispatch(c: Any, incident_id: str) -> None:
    from dispatch.commands import DispatchIncident
    from dispatch.services import dispatch_incident

    with c.store("dispatch").uow() as tx:
        dispatch_incident(DispatchIncident(incident_id, c.clock.now()), c.dispatch_uow("web", joining=tx.session),
                          c.dispatch_fleet())
        tx.commit()


def test_counts_are_the_stores_not_a_pages_and_overdue_moves_when_an_acknowledgement_is_late(desk: Any) -> None:
    c, clock, client, headers = desk
    t0 = clock.now()
    far = [incident_row(f"INC-FAR{n:05d}", 36.02, 115.55 + n * 1e-4, t0 - timedelta(minutes=1), injured=1)
           for n in range(3)]  # 莘县 south: no unit within reach
    rows = [incident_row(f"INC-SEED{n:05d}", 36.40 + (n % 50) * 1e-3, 115.90 + (n // 50) * 1e-3,
                         t0 - timedelta(hours=1, seconds=n)) for n in range(1200)]
    with c.store("dispatch").uow() as tx:
        seed_incidents(tx.session, rows + far + [incident_row("INC-NEAR1", 36.3923, 115.8571, t0, injured=1)])
        tx.commit()
    for f in far:
        _dispatch(c, f["incident_id"])
    _dispatch(c, "INC-NEAR1")
    page = client.get("/api/incidents?limit=50&flagged_first=true&status=open", headers=headers).json()
    assert len(page) == 50
    assert {i["incident_id"] for i in page[:3]} == {f["incident_id"] for f in far}, "no unit nearby: first"
    assert all(i["no_unit_nearby"] for i in page[:3]) and not page[3]["no_unit_nearby"]
    counts = client.get("/api/incidents/counts", headers=headers).json()
    assert counts["open"] == 1204 and counts["no_unit_nearby"] == 3
    assert counts["overdue"] == 0 and counts["pending_ack"] == 2
    clock.advance(seconds=61)  # the acknowledgement target (targets.json acknowledge_timeout_s: 60 s) passes
    late = client.get("/api/incidents/counts", headers=headers).json()
    assert late["overdue"] == 1 and late["overdue_orders"] == 2
    near = client.get("/api/incidents/INC-NEAR1", headers=headers).json()
    for o in near["orders"]:
        assert client.post(f"/api/units/{o['unit_id']}/status", json={"status": "acknowledged"},
                           headers=headers).status_code == 200
    after = client.get("/api/incidents/counts", headers=headers).json()
    assert after["pending_ack"] == 0 and after["overdue"] == 0


def test_the_incident_shows_what_callers_said_with_the_number_masked_until_asked(desk: Any) -> None:
    c, clock, client, headers = desk
    from connectors.sql.models import ReportRow

    t0 = clock.now()
    with c.store("dispatch").uow() as tx:
        seed_incidents(tx.session, [incident_row("INC-CALL1", 36.3923, 115.8571, t0, injured=1)])
        tx.session.add(ReportRow(report_id="120-C-1", incident_id="INC-CALL1", source="120", reported_at=t0,
                                 received_at=t0, payload={"description": "两车相撞，一人被困，电话13812345678",
                                                          "reporter": {"name": "李四", "phone": "+8613812345678"}}))
        tx.commit()
    d = client.get("/api/incidents/INC-CALL1", headers=headers).json()
    assert d["callers"] == [{"report_id": "120-C-1", "source": "120", "reported_at": d["callers"][0]["reported_at"],
                             "description": "两车相撞，一人被困，电话138****5678", "caller": "李*",
                             "callback": "+86138****5678", "has_callback": True}]
    r = client.get("/api/incidents/INC-CALL1/callers/120-C-1/callback", headers=headers)
    assert r.status_code == 200 and r.json()["callback"] == "+8613812345678"


def test_close_with_a_patient_aboard_answers_409_with_the_reason_in_both_languages(desk: Any) -> None:
    c, clock, client, headers = desk
    with c.store("dispatch").uow() as tx:
        seed_incidents(tx.session, [incident_row("INC-PAT1", 36.3923, 115.8571, clock.now(), injured=1)])
        tx.commit()
    _dispatch(c, "INC-PAT1")
    amb = next(o for o in client.get("/api/incidents/INC-PAT1", headers=headers).json()["orders"] if o["service"] == "120")
    for st in ("acknowledged", "en_route", "on_scene", "transporting"):
        assert client.post(f"/api/units/{amb['unit_id']}/status", json={"status": st}, headers=headers).status_code == 200
    r = client.post("/api/incidents/INC-PAT1/close", json={"reason": "处理完毕"}, headers=headers)
    assert r.status_code == 409 and r.json()["reason"] == "patient_aboard"
    assert "仍载有患者" in r.json()["reason_zh"] and "patient" in r.json()["reason_en"]
    r = client.post("/api/incidents/INC-PAT1/close", json={"reason": "处理完毕", "confirmed": True}, headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = client.post("/api/incidents/INC-PAT1/reopen", json={"reason": "伤者增加"}, headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "open" and r.json()["changed"]
