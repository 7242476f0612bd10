"""The HTTP contract in the OpenAPI document: every contract route with its method, bearer security,
and the committed snapshot ``docs/openapi.json`` equal to what the app serves at ``/openapi.json``.

The app is built in-process on a temporary SQLite database; no broker is needed to produce the
document (the Kafka settings point at a closed port and nothing connects).

Regenerate the snapshot after changing a route:  python -m tests.unit.test_openapi
"""
from __future__ import annotations

import json
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT = REPO / "docs" / "openapi.json"
REGENERATE = "python -m tests.unit.test_openapi"

# contract.md, "HTTP": (method, path) of every route the outside world relies on.
CONTRACT_ROUTES = [
    ("post", "/api/reports"),
    ("get", "/api/incidents"),
    ("get", "/api/incidents/{incident_id}"),
    ("get", "/api/incidents/stream"),
    ("post", "/api/units/{unit_id}/status"),
    ("get", "/api/units"),
    ("get", "/api/hospitals/{hospital_id}/admissions"),
    ("post", "/api/hospitals/{hospital_id}/admissions/{admission_id}/confirm"),
    ("post", "/api/hospitals/{hospital_id}/admissions/{admission_id}/bills"),
    ("get", "/api/fund/cases"),
    ("post", "/api/fund/cases/{case_id}/approve"),
    ("post", "/api/fund/cases/{case_id}/reject"),
    ("post", "/api/fund/cases/{case_id}/pay"),
    ("get", "/api/claims"),
    ("post", "/api/claims/{claim_id}/{action}"),
    ("get", "/healthz"),
]
LIST_ROUTES = ["/api/incidents", "/api/units", "/api/hospitals/{hospital_id}/admissions", "/api/fund/cases",
               "/api/claims"]


def build_openapi(workdir: Path) -> dict[str, Any]:
    """The document the app serves at /openapi.json, from an app on fresh migrated SQLite stores."""
    from accidentlink.bootstrap import Container
    from accidentlink.clock import FixedClock
    from accidentlink.settings import Settings
    from connectors.sms import HeldSms
    from connectors.sql.stores import upgrade_all
    from web.app import create_app

    url = f"sqlite:///{workdir / 'openapi.db'}"  # a store per context beside it (openapi.<context>.db)
    upgrade_all(url, workdir)
    settings = Settings(var_dir=workdir, database_url=url, kafka_bootstrap="127.0.0.1:1", twilio_account_sid=None,
                        twilio_auth_token=None, twilio_from=None)
    container = Container(settings=settings, clock=FixedClock(), sms=HeldSms())
    try:
        app = create_app(container)  # no feed, no producer: nothing touches Kafka
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # starlette's note that its TestClient will move off httpx
            from starlette.testclient import TestClient

            client = TestClient(app)
        with client:
            r = client.get("/openapi.json")
        assert r.status_code == 200, r.text
        return r.json()
    finally:
        container.close()


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    yield build_openapi(tmp_path_factory.mktemp("openapi"))


@pytest.mark.parametrize(("method", "path"), CONTRACT_ROUTES, ids=[f"{m.upper()} {p}" for m, p in CONTRACT_ROUTES])
def test_every_contract_route_is_in_the_served_document(served: dict[str, Any], method: str, path: str) -> None:
    paths = served["paths"]
    assert path in paths, f"{path} is missing from /openapi.json"
    assert method in paths[path], f"{path} answers {sorted(paths[path])}, not {method.upper()}"


def test_the_document_is_openapi_3_with_a_title_and_version(served: dict[str, Any]) -> None:
    assert served["openapi"].startswith("3.")
    assert served["info"]["title"] and served["info"]["version"]


def test_bearer_security_is_declared_and_required_on_every_api_route(served: dict[str, Any]) -> None:
    """Every API route needs a bearer token, except Twilio's signed webhook and the parties' quick-handling
    routes, which need the secret link token sent to the party by SMS (an apiKey in the query)."""
    schemes = served.get("components", {}).get("securitySchemes", {})
    bearer = [name for name, s in schemes.items() if s.get("type") == "http" and s.get("scheme", "").lower() == "bearer"]
    link = [name for name, s in schemes.items() if s.get("type") == "apiKey" and s.get("in") in ("query", "header")]
    assert bearer, f"no HTTP bearer security scheme in {schemes}"
    unsecured = []
    for path, ops in served["paths"].items():
        if not path.startswith("/api/") or path == "/api/sms/inbound":  # Twilio's webhook signs instead
            continue
        for method, op in ops.items():
            names = {name for req in op.get("security", served.get("security", [])) for name in req}
            accepted = set(bearer) | (set(link) if path.startswith("/api/quick/{quick_id}") else set())
            if not names & accepted:
                unsecured.append(f"{method.upper()} {path}")
    assert not unsecured, f"routes without bearer security: {unsecured}"


def test_reports_route_answers_202(served: dict[str, Any]) -> None:
    assert "202" in served["paths"]["/api/reports"]["post"]["responses"]


def test_every_list_route_takes_a_limit(served: dict[str, Any]) -> None:
    for path in LIST_ROUTES:
        params = {p["name"]: p for p in served["paths"][path]["get"].get("parameters", [])}
        assert "limit" in params, f"GET {path} has no ?limit"
        assert params["limit"]["schema"].get("default") == 100, f"GET {path}: ?limit should default to 100"


def test_incident_stream_is_server_sent_events(served: dict[str, Any]) -> None:
    content = served["paths"]["/api/incidents/stream"]["get"]["responses"]["200"].get("content", {})
    assert "text/event-stream" in content


def test_committed_snapshot_equals_the_served_document(served: dict[str, Any]) -> None:
    assert SNAPSHOT.exists(), f"{SNAPSHOT.relative_to(REPO)} is missing: regenerate it with `{REGENERATE}`"
    committed = json.loads(SNAPSHOT.read_text("utf-8"))
    if committed != served:
        old_paths, new_paths = committed.get("paths", {}), served["paths"]
        differ = sorted(p for p in {*old_paths, *new_paths} if old_paths.get(p) != new_paths.get(p))
        pytest.fail(f"docs/openapi.json is out of date with the app (paths that differ: "
                    f"{', '.join(differ) or 'none; info or components differ'}). "
                    f"Regenerate it with `{REGENERATE}` and commit the result.")


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        doc = build_openapi(Path(d))
    SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
    SNAPSHOT.write_text(render(doc), "utf-8")
    print(f"wrote {SNAPSHOT.relative_to(REPO)} ({len(doc['paths'])} paths)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
