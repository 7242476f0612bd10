"""The platform on a secured broker: SASL_SSL (SCRAM-SHA-512, a throw-away CA), the StandardAuthorizer denying
what no ACL allows, and the ACLs of ``connectors/data/kafka-acls.json``; every process signs in as its own
principal. A report still flows to dispatch, the rescue fund and claims; an eavesdropper without credentials, a
wrong password and a service outside its own topics are all refused (issue 14, item 3)."""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Iterator

import kafka.errors as Errors
import pytest
from kafka import TopicPartition

from accidentlink.settings import KafkaSecurity
from connectors import kafka as ck
from tests.support.platform import wait_for
from tests.support.reports import party, report

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# the platform's processes and the principal each signs in as (the rescue fund's group is ``rescue-fund``)
PRINCIPAL_OF = {"intake": "intake", "dispatch": "dispatch", "rescue-fund": "fund", "claims": "claims",
                "hospitals": "hospitals", "web": "web", "cli": "cli"}
REFUSED_TO_CONNECT = (Errors.KafkaTimeoutError, Errors.KafkaConnectionError)


@pytest.fixture(scope="module")
def secure() -> Iterator[object]:
    """A KRaft broker with only a SASL_SSL client listener, SCRAM users per service, ACLs with this module's
    topic prefix, and the platform's topics (created as admin)."""
    import tempfile

    from claims.services import known_insurers
    from connectors.kafka_broker import LocalKafka, ensure_libs, free_ports
    from streams.topics import declared

    prefix = f"s{uuid.uuid4().hex[:8]}."
    libs = ensure_libs(REPO / ".var")
    with tempfile.TemporaryDirectory(prefix="al-secure-kafka-") as tmp:
        ports = free_ports(2)
        broker = LocalKafka(Path(tmp), port=ports[0], controller_port=ports[1], libs_dir=libs, secure=True,
                            acl_prefix=prefix)
        t0 = time.monotonic()
        broker.start(timeout=120)
        print(f"\n[secure kafka] certificates, SCRAM users, broker and ACLs: {time.monotonic() - t0:.1f}s")
        try:
            ck.ensure_topics(broker.bootstrap, declared(known_insurers(), prefix),
                             security=broker.client_security("admin"))
            broker.prefix = prefix  # type: ignore[attr-defined]
            yield broker
        finally:
            broker.stop()


def _send(bootstrap: str, topic: str, key: bytes, value: bytes, security: KafkaSecurity) -> None:
    p = ck.make_producer(bootstrap, security=security, max_block_ms=10_000)
    try:
        p.send(topic, key=key, value=value).get(timeout=15)
    finally:
        p.close(timeout=5)


def _poll(bootstrap: str, topic: str, security: KafkaSecurity, group: str | None = None) -> list[object]:
    """Read ``topic`` from the beginning as ``security``'s principal: in ``group`` (subscribed) or in none
    (every partition assigned). Raises what the broker answers: kafka-python raises a group's refusal, but
    only logs a topic's (TOPIC_AUTHORIZATION_FAILED in the metadata answer, kept in the client's cluster view)
    and then reads nothing, so that refusal is raised here."""
    if group is None:
        c = ck.make_reader(bootstrap, security=security, auto_offset_reset="earliest")
        c.assign([TopicPartition(topic, p) for p in range(3)])
    else:
        c = ck.make_consumer(bootstrap, group, topic, security=security)
    try:
        got: list[object] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=500).values():
                got.extend(recs)
            if got:
                break
            if topic in c._cluster.unauthorized_topics:
                raise Errors.TopicAuthorizationFailedError(f"{topic}: the broker refused {security.username}")
        return got
    finally:
        c.close()


def test_the_platform_runs_with_a_principal_per_service_and_a_report_reaches_dispatch_fund_and_claims(
        secure, migrated, tmp_path):
    from connectors.kafka_broker import free_port
    from tests.support.platform import Platform

    k, prefix = secure, secure.prefix  # type: ignore[attr-defined]
    var = tmp_path / "var"
    var.mkdir()
    p = Platform(k.bootstrap, migrated, prefix, var, free_port(), env_extra={"DISPATCH_ACK_TIMEOUT_S": "300"},
                 child_env={name: k.client_security(who).as_env() for name, who in PRINCIPAL_OF.items()})
    # nothing of the test runner's own (PLAINTEXT) settings reaches a child: each signs in as itself
    assert p.env_of("claims")["KAFKA_SASL_USERNAME"] == "claims"
    assert p.env_of("rescue-fund")["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    t0 = time.monotonic()
    p.cli("demo")
    p.start()
    try:
        p.wait_healthy(150)
        print(f"[secure kafka] platform healthy in {time.monotonic() - t0:.1f}s")
        # an injured hit-and-run (dispatch, the fund) and an insured car crash (dispatch, claims), sent as the cli
        hit_and_run = report(injured=1, hit_and_run=True, lat=36.41, lon=115.87)
        insured = report(injured=1, lat=36.45, lon=115.91, parties=[party("鲁P90001")])
        for r in (hit_and_run, insured):
            _send(k.bootstrap, prefix + "accidents.reported", r["report_id"].encode(),
                  json.dumps(r, ensure_ascii=False).encode(), k.client_security("cli"))
        admin = k.client_security("admin")

        def on(topic: str, pred) -> list[dict]:  # type: ignore[no-untyped-def]
            found = [v for v in (json.loads(r.value) for r in ck.read_all(k.bootstrap, prefix + topic, 10,
                                                                             security=admin)) if pred(v)]
            return found or None  # type: ignore[return-value]

        def incident_of(r: dict) -> str:
            found = wait_for(lambda: on("incidents", lambda v: r["report_id"] in json.dumps(v)), 60,
                             what=f"the incident of {r['report_id']}")
            return found[0]["incident_id"]

        hit_and_run_id, insured_id = incident_of(hit_and_run), incident_of(insured)
        ids = {hit_and_run_id, insured_id}
        assert len(ids) == 2
        orders = wait_for(lambda: (lambda os: os if len(os) >= 4 else None)(
            on("dispatch.orders", lambda v: v.get("incident_id") in ids)), 60, what="both crashes' orders")
        assert {(o["incident_id"], o["service"]) for o in orders} == {(i, s) for i in ids for s in ("120", "122")}
        cases = wait_for(lambda: on("fund.cases", lambda v: v.get("incident_id") in ids), 60, what="a fund case")
        assert {c["incident_id"] for c in cases} == {hit_and_run_id}
        claims = wait_for(lambda: on("claims.events", lambda v: v.get("change") == "opened"), 60, what="a claim")
        assert {c["incident_id"] for c in claims} == {insured_id}
        for name, proc in p.procs.items():
            assert proc.poll() is None, f"{name} died: {p.log_tail(name)}"
            log_text = p.logs[name].read_text(errors="replace")
            # the ACL table gives each service all it needs: none was refused anything on the way
            assert "AuthorizationFailed" not in log_text and "not authorized" not in log_text, \
                f"{name} was refused: {log_text[-2000:]}"
        print(f"[secure kafka] report to orders, fund case and claim, whole test: {time.monotonic() - t0:.1f}s")
    finally:
        p.stop()


def test_a_client_without_credentials_reads_and_writes_nothing(secure):
    k, topic = secure, secure.prefix + "accidents.reported"  # type: ignore[attr-defined]
    # plaintext, as the attacker on the compose network did: the listener speaks only TLS
    with pytest.raises(REFUSED_TO_CONNECT):
        ck.admin_client(k.bootstrap, 5, security=KafkaSecurity())
    with pytest.raises(REFUSED_TO_CONNECT):
        ck.make_producer(k.bootstrap, security=KafkaSecurity(), max_block_ms=5000, bootstrap_timeout_ms=5000).send(
            topic, key=b"forged", value=b'{"source":"120"}').get(timeout=10)
    # TLS that trusts the CA but signs in as nobody: SASL is required
    tls_only = KafkaSecurity(protocol="SSL", cafile=k.client_security().cafile)
    with pytest.raises(REFUSED_TO_CONNECT):
        ck.admin_client(k.bootstrap, 5, security=tls_only)
    # TLS that does not trust the broker's CA (a man in the middle would present such a certificate)
    with pytest.raises(REFUSED_TO_CONNECT):
        ck.admin_client(k.bootstrap, 5, security=KafkaSecurity(
            protocol="SASL_SSL", username="intake", password=k.password("intake")))
    # and nothing forged arrived: the intake (allowed) sees no "forged" key
    assert all(r.key != b"forged" for r in ck.read_all(k.bootstrap, topic, 10, security=k.client_security("intake")))


def test_a_wrong_password_is_refused_by_scram(secure):
    k = secure

    def refusals() -> int:  # the broker's own record of each refused sign-in
        log = (k.log_dir / "server.log").read_text(errors="replace")
        return log.count("invalid credentials with SASL mechanism SCRAM-SHA-512")

    before = refusals()
    with pytest.raises(REFUSED_TO_CONNECT):
        ck.admin_client(k.bootstrap, 8, security=k.client_security("intake", password="not-the-password"))
    after_wrong = wait_for(lambda: (lambda n: n if n > before else None)(refusals()), 10,
                           what="the broker to log the refused password")
    with pytest.raises(REFUSED_TO_CONNECT):  # a known password under another name
        ck.admin_client(k.bootstrap, 8, security=k.client_security("admin", password=k.password("claims")))
    wait_for(lambda: refusals() > after_wrong, 10, what="the broker to log the borrowed password")
    # the right one works: the refusal was about the password
    ck.admin_client(k.bootstrap, 15, security=k.client_security("intake")).close()


def test_a_service_reads_and_writes_only_its_own_topics(secure):
    k, prefix = secure, secure.prefix  # type: ignore[attr-defined]
    claims, web = k.client_security("claims"), k.client_security("web")
    forged = json.dumps(report(source="120", injured=3, hazards=["fire"])).encode()
    # claims may not forge a 120 report ...
    with pytest.raises(Errors.TopicAuthorizationFailedError):
        _send(k.bootstrap, prefix + "accidents.reported", b"forged-by-claims", forged, claims)
    # ... nor an order to a unit
    with pytest.raises(Errors.TopicAuthorizationFailedError):
        _send(k.bootstrap, prefix + "dispatch.orders", b"o", b"{}", claims)
    # nor read the raw reports (phones, ID numbers), not even from its own consumer group
    with pytest.raises(Errors.TopicAuthorizationFailedError):
        _poll(k.bootstrap, prefix + "accidents.reported", claims, group=prefix + "claims")
    with pytest.raises(Errors.TopicAuthorizationFailedError):
        _poll(k.bootstrap, prefix + "fund.cases", claims)
    with pytest.raises(Errors.TopicAuthorizationFailedError):  # the CLI's reader says so too, never "empty"
        ck.read_all(k.bootstrap, prefix + "accidents.reported", 5, security=claims)
    # nor join another service's group (its offsets)
    with pytest.raises(Errors.GroupAuthorizationFailedError):
        _poll(k.bootstrap, prefix + "intake.incident-facts", claims, group=prefix + "dispatch")
    # the web process publishes the desks' changes but never reads the incident facts with personal data
    with pytest.raises(Errors.TopicAuthorizationFailedError):
        _poll(k.bootstrap, prefix + "intake.incident-facts", web)
    # what claims owns it may do: write its events, read the incident facts in its own group
    _send(k.bootstrap, prefix + "claims.events", b"c", b'{"change":"probe"}', claims)
    _poll(k.bootstrap, prefix + "intake.incident-facts", claims, group=prefix + "claims")
    # and the intake, the one reader of accidents.reported, reads it; nothing claims sent arrived
    keys = {r.key for r in ck.read_all(k.bootstrap, prefix + "accidents.reported", 10,
                                       security=k.client_security("intake"))}
    assert b"forged-by-claims" not in keys


def test_a_rotated_password_replaces_the_old_one(secure):
    """README, "rotating passwords": the same ``upsert_users`` the compose job runs; the old password stops."""
    import contextlib

    from connectors.kafka_acls import upsert_users

    k = secure
    old = k.password("cli")
    with contextlib.closing(ck.admin_client(k.bootstrap, 10, security=k.client_security("admin"))) as admin:
        assert upsert_users(admin, {"cli": "rotated-" + old}) == ["cli"]
    _send(k.bootstrap, k.prefix + "accidents.reported", b"after-rotation", b"{}",  # type: ignore[attr-defined]
          k.client_security("cli", password="rotated-" + old))
    with pytest.raises(REFUSED_TO_CONNECT):
        ck.admin_client(k.bootstrap, 5, security=k.client_security("cli", password=old))
    with contextlib.closing(ck.admin_client(k.bootstrap, 10, security=k.client_security("admin"))) as admin:
        upsert_users(admin, {"cli": old})  # back, for the other tests of the module
