"""The web app in-process (no broker, no server): the error shape and statuses of the contract for what
needs no Kafka. ``create_app`` with a real migrated database and ``producer=None`` or a fake producer."""
from __future__ import annotations

import json
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

with warnings.catch_warnings():  # starlette's note about httpx2; the client works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from tests.support.reports import report


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def container(migrated: str, tmp_path: Path) -> Iterator[Any]:
    from accidentlink.bootstrap import build
    from accidentlink.settings import Settings

    settings = Settings(var_dir=tmp_path, database_url=migrated, kafka_bootstrap=f"127.0.0.1:{_closed_port()}")
    c = build(settings)
    yield c
    c.close()


def _client(c: Any, producer: Any = None) -> TestClient:
    from web.app import create_app

    return TestClient(create_app(c, producer=producer), raise_server_exceptions=False)


@pytest.fixture
def client(container: Any) -> TestClient:
    return _client(container)


def token(c: Any, role: str, **scope: str) -> dict[str, str]:
    from web.auth import create_token

    t, _ = create_token(c.store("web"), role, f"test {role}", c.clock.now(), **scope)
    return {"Authorization": f"Bearer {t}"}


def error_of(res: Any) -> str:
    assert res.headers["content-type"].startswith("application/json"), res.headers
    body = res.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"].strip(), body
    return body["error"]


# ---------------------------------------------------------------- intake without a broker
def test_a_valid_report_without_a_broker_is_503_not_500(container: Any, client: TestClient) -> None:
    res = client.post("/api/reports", content=json.dumps(report()).encode(), headers=token(container, "intake"))
    assert res.status_code == 503
    assert "broker" in error_of(res)


@pytest.mark.parametrize("body,field", [
    (b"", "empty"), (b"{broken", "JSON"), (b"[]", "object"), (b"\xff", "UTF-8"),
    (json.dumps({**report(), "injured": -1}).encode(), "injured"),
    (json.dumps({**report(), "source": "110"}).encode(), "source"),
    (json.dumps({k: v for k, v in report().items() if k != "location"}).encode(), "location"),
    (json.dumps({**report(), "schema": "accident-report/9"}).encode(), "schema"),
])
def test_an_invalid_report_is_422_with_the_reason_before_any_broker_is_needed(container: Any, client: TestClient,
                                                                                 body: bytes, field: str) -> None:
    res = client.post("/api/reports", content=body, headers={**token(container, "intake"), "content-type": "application/json"})
    assert res.status_code == 422
    assert field in error_of(res)


def test_reports_need_an_intake_or_dispatcher_token(container: Any, client: TestClient) -> None:
    body = json.dumps(report()).encode()
    res = client.post("/api/reports", content=body)
    assert res.status_code == 401 and res.headers.get("www-authenticate") == "Bearer"
    error_of(res)
    res = client.post("/api/reports", content=body, headers={"Authorization": "Bearer al_not_a_real_token"})
    assert res.status_code == 401
    error_of(res)
    for role, scope in (("hospital", {"hospital_id": "LC-H-LC3"}), ("fund_admin", {}), ("insurer", {"insurer_id": "PICC"}),
                        ("unit", {"unit_id": "LC-120-CTR-1"})):
        res = client.post("/api/reports", content=body, headers=token(container, role, **scope))
        assert res.status_code == 403, role
        assert role in error_of(res)
    assert client.post("/api/reports", content=body, headers=token(container, "dispatcher")).status_code == 503


# ---------------------------------------------------------------- with a (fake) producer
@dataclass
class Meta:
    partition: int
    offset: int


class FakeFuture:
    def __init__(self, meta: Meta | None, error: Exception | None):
        self.meta, self.error = meta, error

    def get(self, timeout: float | None = None) -> Meta:
        if self.error:
            raise self.error
        assert self.meta is not None
        return self.meta


class FakeProducer:
    def __init__(self, error: Exception | None = None):
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.error = error

    def send(self, topic: str, key: bytes, value: bytes) -> FakeFuture:
        self.sent.append((topic, key, value))
        return FakeFuture(Meta(3, len(self.sent) - 1), self.error)


def test_a_valid_report_is_published_bytes_unchanged_keyed_by_its_id(container: Any) -> None:
    producer = FakeProducer()
    r = report(description="两车相撞 \u202e")
    raw = json.dumps(r, ensure_ascii=False, indent=1).encode("utf-8")
    res = _client(container, producer).post("/api/reports", content=raw, headers=token(container, "intake"))
    assert res.status_code == 202, res.text
    assert res.json() == {"report_id": r["report_id"], "partition": 3, "offset": 0}
    [(topic, key, value)] = producer.sent
    assert topic == container.topics.name("accidents.reported") and topic.endswith("accidents.reported")
    assert key == r["report_id"].encode() and value == raw


def test_a_broker_that_does_not_acknowledge_is_503(container: Any) -> None:
    res = _client(container, FakeProducer(error=TimeoutError("no ack"))).post(
        "/api/reports", content=json.dumps(report()).encode(), headers=token(container, "intake"))
    assert res.status_code == 503
    assert "acknowledge" in error_of(res)


def test_a_latitude_too_large_for_a_float_is_422(container: Any, client: TestClient) -> None:
    raw = json.dumps(report()).replace('"lat": 36.3923', '"lat": 1' + "0" * 400).encode()
    assert b"0" * 400 in raw
    res = client.post("/api/reports", content=raw, headers=token(container, "intake"))
    assert res.status_code == 422, res.text


def test_an_oversized_chunked_report_is_413(container: Any, client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(30):
            yield b"x" * 10_000

    res = client.post("/api/reports", content=chunks(), headers={**token(container, "intake"),
                                                                 "content-type": "application/json"})
    assert res.status_code == 413, res.text


def test_an_oversized_body_with_content_length_is_413(container: Any, client: TestClient) -> None:
    res = client.post("/api/reports", content=b"x" * (256 * 1024 + 1), headers=token(container, "intake"))
    assert res.status_code == 413
    assert "larger" in error_of(res)


# ---------------------------------------------------------------- unknown routes, wrong methods, the shape of errors
@pytest.mark.parametrize("path", ["/nope", "/api", "/api/nope", "/api/incidents/x/y/z", "/api/reports/123",
                                  "/static/nope.js", "/api/hospitals"])
def test_unknown_routes_are_404_json(client: TestClient, path: str) -> None:
    res = client.get(path)
    assert res.status_code == 404
    assert error_of(res) == "not found"


@pytest.mark.parametrize("method,path", [("PUT", "/api/reports"), ("GET", "/api/reports"), ("DELETE", "/api/incidents"),
                                         ("PATCH", "/api/units"), ("GET", "/api/fund/cases/FC-1/pay"),
                                         ("DELETE", "/api/claims/CLM-1"), ("POST", "/healthz"), ("POST", "/openapi.json")])
def test_a_wrong_method_is_405_json(client: TestClient, method: str, path: str) -> None:
    res = client.request(method, path)
    assert res.status_code == 405
    assert error_of(res) == "method not allowed"
    assert res.headers.get("allow"), "405 names the allowed methods"


def test_health_without_a_broker_is_503_json(client: TestClient) -> None:
    res = client.get("/healthz")
    assert res.status_code == 503
    body = res.json()
    assert body["status"] == "degraded" and body["database"] == "up" and body["broker"] == "down"
    assert {k for k in body if k.startswith("pipeline:")} == {"pipeline:intake", "pipeline:dispatch", "pipeline:rescue-fund",
                                                              "pipeline:claims", "pipeline:hospitals"}
    assert {k for k in body if k.startswith("store:")} == {f"store:{n}" for n in
                                                           ("intake", "dispatch", "hospitals", "fund", "claims", "web")}


def test_the_openapi_document_is_served(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.") and "/api/reports" in doc["paths"]


def test_validation_errors_name_the_field_in_one_readable_string(container: Any, client: TestClient) -> None:
    h = token(container, "fund_admin")
    res = client.post("/api/fund/cases/FC-X/approve", json={"amount_fen": "lots"}, headers=h)
    assert res.status_code == 422 and "amount_fen" in error_of(res)
    res = client.post("/api/fund/cases/FC-X/approve", json={"amount_fen": 1, "extra": 1}, headers=h)
    assert res.status_code == 404, "extra fields are welcome (contract) and ignored"
    res = client.get("/api/fund/cases?limit=0", headers=h)
    assert res.status_code == 422 and "limit" in error_of(res)
    res = client.get("/api/fund/cases?limit=many", headers=h)
    assert res.status_code == 422 and "limit" in error_of(res)


def test_domain_refusals_without_a_broker_keep_their_statuses(container: Any, client: TestClient) -> None:
    assert client.get("/api/fund/cases/FC-NOPE", headers=token(container, "fund_admin")).status_code == 404
    assert client.get("/api/claims/CLM-NOPE", headers=token(container, "insurer", insurer_id="PICC")).status_code == 404
    res = client.get("/api/hospitals/LC-H-OTHER/admissions", headers=token(container, "hospital", hospital_id="LC-H-LC3"))
    assert res.status_code == 403
    error_of(res)
    assert client.get("/api/incidents", headers=token(container, "dispatcher")).json() == []
