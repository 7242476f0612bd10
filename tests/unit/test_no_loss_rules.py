"""Issue 14 item 2, "nothing is lost, nothing is counted twice", in-process: a report under a known id with other
content is a conflict (dead-lettered with that reason, never dropped), an identical redelivery is a no-op; an
``Idempotency-Key`` replays only for its caller, route and body."""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from accidentlink.intake_services import ReportConflict, conflict_reason, merge_report
from accidentlink.reports import parse_report
from connectors.sql.models import IncidentRow, RejectedMessage
from tests.fakes.intake import FakeIntakeUnitOfWork
from tests.support.reports import report


def _world(tmp_path: Path) -> Any:
    from tests.support.inprocess import World

    return World(tmp_path, "w")


def _decoy_and_real(w: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The attack: a property-only report sent first under a guessed id, then the real one under that id."""
    at = w.c.clock.now()
    decoy = report(report_id="122-20261122-000777", injured=0, movable=True, at=at)
    real = report(report_id="122-20261122-000777", injured=3, movable=False, hazards=["trapped", "fire"], at=at)
    return decoy, real


def _rejected(w: Any) -> list[str]:
    with w.store("intake").read() as s:
        return list(s.scalars(select(RejectedMessage.reason)))


def _incidents(w: Any) -> int:
    with w.store("intake").read() as s:
        return s.scalar(select(func.count()).select_from(IncidentRow))


@pytest.mark.parametrize("careful", [False, True])
def test_a_report_under_a_known_id_with_other_content_is_dead_lettered_not_dropped(tmp_path: Path,
                                                                                 careful: bool) -> None:
    w = _world(tmp_path)
    decoy, real = _decoy_and_real(w)
    w.intake([decoy], careful=careful)
    w.intake([real], careful=careful)
    reasons = _rejected(w)
    assert len(reasons) == 1 and reasons[0].startswith("conflict: report_id '122-20261122-000777'"), reasons
    assert "injured" in reasons[0] and "hazards" in reasons[0]
    with w.store("intake").read() as s:
        assert s.scalars(select(RejectedMessage.detected_by)).one() == "intake"
    w.intake([decoy], careful=careful)  # the decoy again: a redelivery, nothing dead-lettered
    assert len(_rejected(w)) == 1 and _incidents(w) == 1


def test_the_conflict_is_caught_within_one_batch_too(tmp_path: Path) -> None:
    w = _world(tmp_path)
    decoy, real = _decoy_and_real(w)
    w.intake([decoy, real, decoy])
    reasons = _rejected(w)
    assert len(reasons) == 1 and "conflict" in reasons[0] and _incidents(w) == 1


def test_the_same_conflicting_message_redelivered_is_dead_lettered_once(tmp_path: Path) -> None:
    from tests.support.inprocess import report_messages

    w = _world(tmp_path)
    decoy, real = _decoy_and_real(w)
    w.run("intake", report_messages([decoy], 0))
    msgs = report_messages([real], 1)
    w.run("intake", msgs)
    w.run("intake", msgs)  # faust redelivers the batch (no commit before a crash)
    assert len(_rejected(w)) == 1


def test_merge_report_refuses_other_content_under_a_recorded_id() -> None:
    from connectors.geo import geodesic_m

    uow = FakeIntakeUnitOfWork()
    decoy = parse_report(json.dumps(report(report_id="R-1", injured=0)))
    real = parse_report(json.dumps(report(report_id="R-1", injured=3, at=decoy.reported_at)))
    merge_report(decoy, uow, geodesic_m, at=decoy.reported_at)
    assert merge_report(decoy, uow, geodesic_m, at=decoy.reported_at).incident_id  # the same again: a no-op
    with pytest.raises(ReportConflict, match="injured"):
        merge_report(real, uow, geodesic_m, at=decoy.reported_at)
    assert len(uow.state.facts) == 1


def test_the_conflict_reason_names_fields_not_values() -> None:
    a = {"report_id": "R", "injured": 0, "reporter": {"phone": "+8613800000001"}}
    b = {"report_id": "R", "injured": 3, "reporter": {"phone": "+8613800000002"}}
    reason = conflict_reason("R", a, b)
    assert reason and "injured" in reason and "reporter" in reason and "13800000002" not in reason
    assert conflict_reason("R", a, json.loads(json.dumps(a))) is None


# ---------------------------------------------------------------- idempotency keys over HTTP, in-process
@pytest.fixture
def web(migrated: str, tmp_path: Path) -> Any:
    from accidentlink.bootstrap import build
    from accidentlink.demo import load_resources_into_db
    from accidentlink.settings import Settings
    from web.app import create_app

    c = build(Settings(var_dir=tmp_path, database_url=migrated, kafka_bootstrap="127.0.0.1:1"))
    load_resources_into_db(c)
    yield c, TestClient(create_app(c, producer=None), raise_server_exceptions=False)
    c.close()


def _auth(c: Any, role: str = "dispatcher", name: str = "调度员") -> dict[str, str]:
    from web.auth import create_token

    t, _ = create_token(c.store("web"), role, name, c.clock.now())
    return {"Authorization": f"Bearer {t}"}


def _unit(client: TestClient, h: dict[str, str]) -> str:
    return next(u["unit_id"] for u in client.get("/api/units?limit=5000", headers=h).json() if u["status"] == "available")


def test_an_idempotency_key_replays_only_the_same_body(web: Any) -> None:
    """The attack: the same key with another body replayed the first answer and lost the second request."""
    c, client = web
    h = _auth(c)
    path = f"/api/units/{_unit(client, h)}/status"
    first = client.post(path, json={"status": "out_of_service", "note": "检修"}, headers={**h, "Idempotency-Key": "k1"})
    assert first.status_code == 200 and first.json()["changed"] is True
    # the same body, keys in another order and other spacing: a replay
    again = client.post(path, content=b'{ "note": "\\u68c0\\u4fee",  "status": "out_of_service"}',
                        headers={**h, "Idempotency-Key": "k1", "Content-Type": "application/json"})
    assert again.status_code == 200 and again.headers.get("idempotent-replay") == "true" and again.json() == first.json()
    other = client.post(path, json={"status": "available"}, headers={**h, "Idempotency-Key": "k1"})
    assert other.status_code == 422 and "different body" in other.json()["error"]
    # nothing was lost: the unit is still out of service, and the other body under a new key acts
    fresh = client.post(path, json={"status": "available"}, headers={**h, "Idempotency-Key": "k2"})
    assert fresh.status_code == 200 and fresh.json()["status"] == "available" and fresh.json()["changed"] is True


def test_an_idempotency_key_is_its_callers_and_its_routes(web: Any) -> None:
    c, client = web
    h, other = _auth(c), _auth(c, name="另一调度员")
    unit = _unit(client, h)
    path = f"/api/units/{unit}/status"
    assert client.post(path, json={"status": "out_of_service"}, headers={**h, "Idempotency-Key": "k"}).status_code == 200
    theirs = client.post(path, json={"status": "available"}, headers={**other, "Idempotency-Key": "k"})
    assert theirs.status_code == 200 and theirs.json()["changed"] is True and "idempotent-replay" not in theirs.headers
    elsewhere = client.post("/api/incidents/INC-NOPE/close", json={}, headers={**h, "Idempotency-Key": "k"})
    assert elsewhere.status_code == 422 and "another request" in elsewhere.json()["error"]


def test_a_report_key_reused_for_another_report_is_422_not_the_first_answer(web: Any) -> None:
    """POST /api/reports used to replay the first report's answer for any body under the key: the second report
    was lost."""
    from connectors.sql.models import IdempotencyRow
    from web.deps import request_hash

    c, client = web
    h = _auth(c, "intake", "接警")
    first = report()
    token_id = None
    from web.auth import authenticate

    token_id = authenticate(c.store("web"), h["Authorization"][7:], c.clock.now()).token_id
    raw = json.dumps(first).encode()
    with c.store("web").uow() as uow:  # the first report's answer, as stored once the broker acknowledged it
        uow.session.add(IdempotencyRow(token_id=token_id, key="r1", method="POST", path="/api/reports",
                                       request_hash=request_hash(raw), status_code=202,
                                       body={"report_id": first["report_id"], "partition": 0, "offset": 1},
                                       created_at=c.clock.now()))
        uow.commit()
    replay = client.post("/api/reports", content=raw, headers={**h, "Idempotency-Key": "r1"})
    assert replay.status_code == 202 and replay.json()["report_id"] == first["report_id"]
    second = client.post("/api/reports", json=report(injured=3), headers={**h, "Idempotency-Key": "r1"})
    assert second.status_code == 422 and "different body" in second.json()["error"]


def test_a_report_under_a_recorded_id_with_other_content_is_409_over_http(web: Any, tmp_path: Path) -> None:
    from accidentlink.intake_services import merge_report as merge
    from connectors.geo import geodesic_m

    c, client = web
    h = _auth(c, "intake", "接警")
    decoy = report(report_id="122-X-1", injured=0)
    merge(parse_report(json.dumps(decoy)), c.intake_uow("test"), geodesic_m, at=c.clock.now())
    res = client.post("/api/reports", json={**decoy, "injured": 3, "hazards": ["fire"]}, headers=h)
    assert res.status_code == 409 and "conflict" in res.json()["error"] and "injured" in res.json()["error"]
    same = client.post("/api/reports", json=decoy, headers=h)
    assert same.status_code == 503  # the same report again passes the check (and needs the broker)
