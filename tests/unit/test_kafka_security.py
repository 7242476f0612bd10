"""Kafka security settings reach every client from one place, the ACL table follows the AsyncAPI document's
topic ownership, and docker-compose runs each service as its own principal on a SASL_SSL-only broker
(issue 14, item 3; the broker itself: tests/integration/test_secure_broker.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from accidentlink.settings import KafkaSecurity
from connectors import kafka as ck
from connectors.kafka_acls import Binding, bindings, kafka_acls_commands, load_table, principals
from streams.topics import GROUPS

REPO = Path(__file__).resolve().parents[2]
SECURE_ENV = {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "claims"}


def test_plaintext_by_default_adds_nothing_to_the_clients(monkeypatch):
    for name in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE"):
        monkeypatch.delenv(name, raising=False)
    assert KafkaSecurity.from_env().protocol == "PLAINTEXT"
    assert ck.security_kwargs() == {}
    assert ck.client_config("a:1,b:2", client_id="x") == {"bootstrap_servers": ["a:1", "b:2"], "client_id": "x"}
    assert ck.faust_credentials() is None


def test_sasl_ssl_from_the_environment_with_the_password_in_a_file(tmp_path, monkeypatch):
    secret = tmp_path / "kafka_user_claims"
    secret.write_text("s3cret-from-file\n")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "sasl_ssl")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "claims")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "ignored-when-a-file-is-named")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("KAFKA_SSL_CAFILE", "/etc/ca.pem")
    kw = ck.security_kwargs()
    assert kw == {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "claims",
                  "sasl_plain_password": "s3cret-from-file", "ssl_cafile": "/etc/ca.pem", "ssl_check_hostname": True,
                  "ssl_certfile": None, "ssl_keyfile": None, "ssl_password": None}
    # every kafka-python client is built through client_config, so each gets the same
    assert ck.client_config("k:9092", group_id="g")["sasl_plain_username"] == "claims"
    assert "s3cret" not in repr(KafkaSecurity.from_env()), "the password stays out of logs and tracebacks"


def test_faust_gets_scram_over_tls_from_the_same_settings(monkeypatch):
    import faust

    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "dispatch")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "pw")
    monkeypatch.delenv("KAFKA_SASL_PASSWORD_FILE", raising=False)
    monkeypatch.delenv("KAFKA_SSL_CAFILE", raising=False)  # the system's CAs
    creds = ck.faust_credentials()
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.protocol.value, creds.mechanism.value, creds.username) == ("SASL_SSL", "SCRAM-SHA-512", "dispatch")
    assert creds.ssl_context is not None and creds.ssl_context.check_hostname

    from streams.app import make_app

    app = make_app("dispatch", "kafka:9092", "/tmp/unused")
    assert app.conf.broker_credentials.username == "dispatch"
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    assert ck.faust_credentials().protocol.value == "SASL_PLAINTEXT"


@pytest.mark.parametrize("env, message", [
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "web"}, "needs KAFKA_SASL_USERNAME and"),
    ({**SECURE_ENV, "KAFKA_SASL_PASSWORD": "x", "KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM"),
    ({**SECURE_ENV, "KAFKA_SASL_PASSWORD_FILE": "/nonexistent/pw"}, "cannot read it"),
    ({**SECURE_ENV, "KAFKA_SASL_PASSWORD": "x", "KAFKA_SSL_CHECK_HOSTNAME": "maybe"}, "true or false"),
])
def test_incomplete_or_wrong_settings_are_refused_with_their_name(env, message):
    with pytest.raises(ValueError, match=message):
        KafkaSecurity.from_env(env)


def test_a_process_that_never_touches_kafka_needs_no_credentials(monkeypatch):
    from accidentlink.settings import load

    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")  # compose's migrate job: no user of its own
    monkeypatch.delenv("KAFKA_SASL_USERNAME", raising=False)
    s = load()
    assert s.bootstrap
    with pytest.raises(ValueError):
        s.kafka_security


def test_as_env_round_trips_for_a_child_process():
    sec = KafkaSecurity(protocol="SASL_SSL", username="fund", password="p", cafile="/ca.pem", check_hostname=False)
    assert KafkaSecurity.from_env(sec.as_env()) == sec


# ------------------------------------------------------------------------------- the ACL table
def _asyncapi() -> dict:
    return yaml.safe_load((REPO / "docs" / "asyncapi.yaml").read_text("utf-8"))


def _owner_of_group(group: str) -> str:
    owners = [p for p, r in load_table()["principals"].items() if group in r.get("groups", ())]
    assert len(owners) == 1, f"group {group} must belong to exactly one principal, not {owners}"
    return owners[0]


def test_every_consumer_group_of_the_asyncapi_document_may_read_its_topics_and_nothing_else():
    doc = _asyncapi()
    acls = set(bindings())
    reads: dict[str, set[str]] = {}
    for op in doc["operations"].values():
        if op["action"] != "receive":
            continue
        topic = doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[1]]["address"]
        for group in op["bindings"]["kafka"]["groupId"]["enum"]:
            who = _owner_of_group(group)
            assert Binding(who, "TOPIC", topic, "LITERAL", "READ") in acls, (who, topic)
            assert Binding(who, "GROUP", group, "LITERAL", "READ") in acls, (who, group)
            reads.setdefault(who, set()).add(topic)
    for who, rights in load_table()["principals"].items():
        if rights.get("groups"):  # a worker reads what the document says it receives, nothing more
            assert set(rights["read"]) == reads[who], who
    assert {_owner_of_group(g) for g in GROUPS} == {"intake", "dispatch", "fund", "claims", "hospitals"}


def test_the_raw_reports_and_the_facts_with_personal_data_are_read_only_by_their_consumers():
    readers = lambda topic: {b.principal for b in bindings() if b.name == topic and b.operation == "READ"}  # noqa: E731
    assert readers("accidents.reported") == {"intake"}
    assert readers("intake.incident-facts") == {"dispatch", "fund", "claims", "hospitals"}
    writers = {b.principal for b in bindings() if b.name == "accidents.reported" and b.operation == "WRITE"}
    assert writers == {"web", "cli"}, "reports come in through the API or the CLI (outside senders: their own user)"
    assert writers.isdisjoint({"claims", "fund", "dispatch", "hospitals"})


def test_every_topic_named_in_the_table_is_one_the_platform_declares():
    from claims.services import known_insurers
    from streams.topics import declared

    topics = set(declared(known_insurers()))
    for b in bindings():
        if b.resource != "TOPIC" or b.operation == "ALL":
            continue
        assert (b.name in topics) if b.pattern == "LITERAL" else any(t.startswith(b.name) for t in topics), b


def test_a_prefix_isolates_every_name_and_the_broker_commands_say_the_same():
    plain, prefixed = bindings(), bindings(prefix="t1.")
    assert len(plain) == len(prefixed)
    assert all(b.name.startswith("t1.") for b in prefixed)
    insurer = next(b for b in prefixed if b.name == "t1.claims.insurer.")
    assert (insurer.principal, insurer.pattern) == ("claims", "PREFIXED")
    internal = [b for b in plain if b.operation == "ALL"]
    assert {(b.principal, b.name) for b in internal} >= {("intake", "intake-"), ("fund", "rescue-fund-")}
    cmd = kafka_acls_commands([insurer])[0]
    assert "--allow-principal User:claims --operation Write --resource-pattern-type prefixed --topic 't1.claims.insurer.'" in cmd
    assert "admin" not in principals(), "the super user has no ACL rows"


# ------------------------------------------------------------------------------- compose
def test_compose_runs_a_sasl_ssl_only_broker_with_acls_and_each_service_as_its_own_principal():
    doc = yaml.safe_load((REPO / "docker-compose.yml").read_text("utf-8"))
    services = doc["services"]
    k = services["kafka"]["environment"]
    assert "PLAINTEXT://" not in k["KAFKA_LISTENERS"] and k["KAFKA_ADVERTISED_LISTENERS"] == "SASL_SSL://kafka:9092"
    assert k["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert k["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false" and k["KAFKA_SUPER_USERS"] == "User:admin"
    assert "9093" not in " ".join(map(str, services["kafka"].get("ports", []))), "the controller is not published"
    users = {}
    for name in ("web", *(f"worker-{g}" for g in GROUPS)):
        env = services[name]["environment"]
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SSL_CAFILE"] == "/run/secrets/kafka_ca"
        user = env["KAFKA_SASL_USERNAME"]
        assert "KAFKA_SASL_PASSWORD" not in env, "passwords come from secrets, not the environment"
        assert env["KAFKA_SASL_PASSWORD_FILE"] == f"/run/secrets/kafka_user_{user}"
        assert {"kafka_ca", f"kafka_user_{user}"} == set(services[name]["secrets"]), name
        users[name] = user
    assert len(set(users.values())) == len(users), "no two services share a principal"
    assert set(users.values()) <= set(principals())
    for g in GROUPS:
        assert users[f"worker-{g}"] == _owner_of_group(g)
    job = services["kafka-security"]
    assert job["entrypoint"][:4] == ["python", "-m", "connectors.kafka_acls", "apply"]
    assert {f"kafka_user_{p}" for p in principals()} <= set(job["secrets"])
    assert services["topics"]["depends_on"]["kafka-security"]["condition"] == "service_completed_successfully"
    for name in ("web", *(f"worker-{g}" for g in GROUPS)):
        assert services[name]["depends_on"]["kafka-security"]["condition"] == "service_completed_successfully"
    assert (REPO / "deploy" / "kafka" / "start-broker.sh").is_file()
