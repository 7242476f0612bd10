"""kafka-python (3.0.x) adapters: topics, producer, consumer, health probes, a test reader; and the one place
where every client, kafka-python's and faust's, gets its TLS and SASL settings (``client_config``,
``faust_credentials``), from ``accidentlink.settings.KafkaSecurity`` (the environment) unless a caller passes
its own.

Keys and values are ``bytes`` everywhere: no serializers are configured; callers encode.
Checked against kafka-python 3.0.12: the admin client has ``describe_groups`` (there is no
``describe_consumer_groups``), ``create_topics`` takes a ``{name: {num_partitions, ...}}``
dict and returns a dict, and ``wait_for_topics`` waits for leaders on every partition.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
import ssl
from typing import TYPE_CHECKING, Any, Iterable, Mapping, NamedTuple, Sequence

import kafka.errors as Errors
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

if TYPE_CHECKING:
    from accidentlink.settings import KafkaSecurity

log = logging.getLogger(__name__)

class Record(NamedTuple):
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    partition: int
    offset: int


def _bootstrap_list(bootstrap: str | Sequence[str]) -> list[str]:
    if isinstance(bootstrap, str):
        return [b.strip() for b in bootstrap.split(",") if b.strip()]
    return list(bootstrap)


# ---------------------------------------------------------------------------- security, for every client

def current_security() -> "KafkaSecurity":
    """This process's Kafka security settings (``KAFKA_SECURITY_PROTOCOL`` and friends; PLAINTEXT by default)."""
    from accidentlink.settings import KafkaSecurity

    return KafkaSecurity.from_env()


def security_kwargs(security: "KafkaSecurity | None" = None) -> dict[str, Any]:
    """kafka-python's TLS/SASL arguments for ``security`` (default: the environment's). Nothing for PLAINTEXT, so
    the plaintext clients are built exactly as before."""
    sec = security if security is not None else current_security()
    if sec.protocol == "PLAINTEXT":
        return {}
    kw: dict[str, Any] = {"security_protocol": sec.protocol}
    if sec.uses_tls:
        kw.update(ssl_check_hostname=sec.check_hostname, ssl_cafile=sec.cafile, ssl_certfile=sec.certfile,
                  ssl_keyfile=sec.keyfile, ssl_password=sec.key_password)
    if sec.uses_sasl:
        kw.update(sasl_mechanism=sec.sasl_mechanism, sasl_plain_username=sec.username,
                  sasl_plain_password=sec.password)
    return kw


def client_config(bootstrap: str | Sequence[str], security: "KafkaSecurity | None" = None,
                  **kw: Any) -> dict[str, Any]:
    """The arguments of any kafka-python client: its brokers, its security, then the caller's own."""
    return {"bootstrap_servers": _bootstrap_list(bootstrap), **security_kwargs(security), **kw}


def ssl_context(security: "KafkaSecurity | None" = None) -> ssl.SSLContext | None:
    """An ``ssl.SSLContext`` for TLS protocols (aiokafka under faust takes a context, not files); None otherwise."""
    sec = security if security is not None else current_security()
    if not sec.uses_tls:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=sec.cafile)
    if sec.certfile:
        ctx.load_cert_chain(sec.certfile, sec.keyfile, sec.key_password)
    ctx.check_hostname = sec.check_hostname
    return ctx


def faust_credentials(security: "KafkaSecurity | None" = None) -> Any:
    """faust's ``broker_credentials`` for ``security``: ``SASLCredentials`` (SASL_SSL when it carries an ssl
    context), ``SSLCredentials`` for TLS alone, None for PLAINTEXT."""
    import faust

    sec = security if security is not None else current_security()
    if sec.uses_sasl:
        return faust.SASLCredentials(username=sec.username, password=sec.password, mechanism=sec.sasl_mechanism,
                                     ssl_context=ssl_context(sec))
    if sec.uses_tls:
        return faust.SSLCredentials(ssl_context(sec))
    return None


# ---------------------------------------------------------------------------- clients

def admin_client(bootstrap: str | Sequence[str], timeout_s: float = 10, *,
                 security: "KafkaSecurity | None" = None, **overrides) -> KafkaAdminClient:
    """A KafkaAdminClient; raises (NoBrokersAvailable / KafkaTimeoutError) if unreachable."""
    ms = int(timeout_s * 1000)
    cfg = client_config(bootstrap, security, client_id="accidentlink-admin",
                        request_timeout_ms=ms, bootstrap_timeout_ms=ms)
    cfg.update(overrides)
    return KafkaAdminClient(**cfg)


def ensure_topics(bootstrap: str | Sequence[str], topics: Mapping[str, int],
                  replication: int = 1, timeout_s: float = 30, *,
                  security: "KafkaSecurity | None" = None) -> list[str]:
    """Create the missing topics (existing ones are left alone) and wait until metadata
    shows every topic in ``topics`` with a leader on each partition.

    Returns the names created by this call. A topic that exists with a different partition
    count is logged as a warning, not changed.
    """
    with contextlib.closing(admin_client(bootstrap, timeout_s, security=security)) as admin:
        existing = set(admin.list_topics())
        missing = {t: n for t, n in topics.items() if t not in existing}
        created: list[str] = []
        if missing:
            res = admin.create_topics(
                {t: {"num_partitions": n, "replication_factor": replication}
                 for t, n in missing.items()},
                timeout_ms=int(timeout_s * 1000), raise_errors=False)
            failures = []
            for t in res.get("topics", []):
                code = t.get("error_code", 0)
                if code == 0:
                    created.append(t["name"])
                elif Errors.for_code(code) is not Errors.TopicAlreadyExistsError:
                    failures.append(f"{t['name']}: {Errors.for_code(code).__name__} "
                                    f"{t.get('error_message') or ''}".strip())
            if failures:
                raise Errors.KafkaError("creating topics failed: " + "; ".join(failures))
        admin.wait_for_topics(list(topics), timeout_ms=int(timeout_s * 1000))
        for t in admin.describe_topics(list(topics)):
            want = topics.get(t["name"])
            have = len(t.get("partitions") or [])
            if want is not None and have != want:
                log.warning("topic %s has %d partitions, spec says %d (left as is)",
                            t["name"], have, want)
        if created:
            log.info("created topics: %s", ", ".join(sorted(created)))
        return created


def make_producer(bootstrap: str | Sequence[str], *, security: "KafkaSecurity | None" = None,
                  **overrides) -> KafkaProducer:
    """Idempotent producer, acks='all', linger 5 ms; send bytes key/value (no serializers)."""
    cfg = client_config(bootstrap, security, client_id="accidentlink-producer",
                        enable_idempotence=True, acks="all", linger_ms=5)
    cfg.update(overrides)
    return KafkaProducer(**cfg)


def make_consumer(bootstrap: str | Sequence[str], group_id: str | None,
                  topics: str | Iterable[str], *, security: "KafkaSecurity | None" = None,
                  **kw) -> KafkaConsumer:
    """Subscribed consumer with manual commits (commit after the effect is stored) that
    starts from the earliest offset when the group has none. bytes key/value."""
    if isinstance(topics, str):
        topics = [topics]
    cfg = client_config(bootstrap, security, group_id=group_id,
                        enable_auto_commit=False, auto_offset_reset="earliest")
    cfg.update(kw)
    return KafkaConsumer(*list(topics), **cfg)


def _any_port_open(bootstrap: str | Sequence[str], timeout_s: float) -> bool:
    for hp in _bootstrap_list(bootstrap):
        host, _, port = hp.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "localhost", int(port)),
                                          timeout=timeout_s):
                return True
        except (OSError, ValueError):
            continue
    return False


def broker_is_up(bootstrap: str | Sequence[str], timeout_s: float = 3, *,
                 security: "KafkaSecurity | None" = None) -> bool:
    """True if a broker answers a metadata (describe_cluster) call within ~timeout_s."""
    t0 = time.monotonic()
    if not _any_port_open(bootstrap, min(timeout_s, 1.0)):
        return False
    remaining = max(0.5, timeout_s - (time.monotonic() - t0))
    try:
        with contextlib.closing(admin_client(bootstrap, remaining, security=security,
                                             client_id="accidentlink-health")) as admin:
            return bool(admin.describe_cluster().get("brokers"))
    except Exception as e:  # noqa: BLE001 - health probe: any failure is "down"
        log.debug("broker_is_up(%s): %s: %s", bootstrap, type(e).__name__, e)
        return False


def consumer_group_members(bootstrap: str | Sequence[str], group_ids: Iterable[str],
                           timeout_s: float = 5, *,
                           security: "KafkaSecurity | None" = None) -> dict[str, int]:
    """{group_id: number of active members}; 0 for a group that is absent/empty/dead.

    Raises a kafka error if the broker cannot be reached (check broker_is_up first).
    """
    group_ids = list(dict.fromkeys(group_ids))
    counts = {g: 0 for g in group_ids}
    if not group_ids:
        return counts
    with contextlib.closing(admin_client(bootstrap, timeout_s, security=security,
                                         client_id="accidentlink-health")) as admin:
        described = admin.describe_groups(group_ids)
    for gid, info in described.items():
        if gid in counts and not info.get("error"):
            counts[gid] = len(info.get("members") or [])
    return counts


def make_reader(bootstrap: str | Sequence[str], *topics: str, security: "KafkaSecurity | None" = None,
                **kw: Any) -> KafkaConsumer:
    """A consumer in no group that commits nothing (the live feed, the bench, ``read_all``); subscribed to
    ``topics`` if any are named, else left for the caller to ``assign``."""
    cfg = client_config(bootstrap, security, group_id=None, enable_auto_commit=False, **kw)
    return KafkaConsumer(*topics, **cfg)


def _raise_if_refused(consumer: KafkaConsumer, topic: str) -> None:
    """A topic the broker refuses this principal is not "empty": say so. A metadata request for all topics
    leaves refused ones out silently, so ask for this one (an assignment) and look at the answer, which
    kafka-python keeps rather than raises."""
    cluster = getattr(consumer, "_cluster", None)
    if cluster is None:
        return
    consumer.assign([TopicPartition(topic, 0)])
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and topic not in cluster.unauthorized_topics:
        consumer.poll(timeout_ms=200)
    if topic in cluster.unauthorized_topics:
        raise Errors.TopicAuthorizationFailedError(f"{topic}: not authorized for this client")


def read_all(bootstrap: str | Sequence[str], topic: str, timeout_s: float = 10, *,
             security: "KafkaSecurity | None" = None) -> list[Record]:
    """Every record currently in ``topic`` (all partitions, from the beginning), sorted by
    (partition, offset). Test helper: no consumer group, nothing committed."""
    consumer = make_reader(bootstrap, security=security, auto_offset_reset="earliest",
                           client_id="accidentlink-read-all")
    try:
        deadline = time.monotonic() + timeout_s
        parts = None
        while time.monotonic() < deadline:
            parts = consumer.partitions_for_topic(topic)
            if parts:
                break
            time.sleep(0.1)
        if not parts:
            if (security if security is not None else current_security()).protocol != "PLAINTEXT":
                _raise_if_refused(consumer, topic)
            return []
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out: list[Record] = []
        pending = {tp for tp in tps if end[tp] > 0}
        while pending and time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=200)
            for tp, recs in batch.items():
                for r in recs:
                    if r.offset < end[tp]:
                        out.append(Record(r.key, r.value, list(r.headers or []),
                                          r.partition, r.offset))
            for tp in list(pending):
                if consumer.position(tp) >= end[tp]:
                    pending.discard(tp)
        if pending:
            raise Errors.KafkaTimeoutError(
                f"read_all({topic}): not all records read within {timeout_s}s "
                f"(stuck on {sorted(tp.partition for tp in pending)})")
        out.sort(key=lambda r: (r.partition, r.offset))
        return out
    finally:
        consumer.close()
