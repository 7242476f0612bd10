"""kafka-python (3.0.x) adapters: topics, producer, consumer, health probes, a test reader.

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
from typing import Iterable, Mapping, NamedTuple, Sequence

import kafka.errors as Errors
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

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


def admin_client(bootstrap: str | Sequence[str], timeout_s: float = 10,
                 **overrides) -> KafkaAdminClient:
    """A KafkaAdminClient; raises (NoBrokersAvailable / KafkaTimeoutError) if unreachable."""
    ms = int(timeout_s * 1000)
    cfg = dict(bootstrap_servers=_bootstrap_list(bootstrap), client_id="accidentlink-admin",
               request_timeout_ms=ms, bootstrap_timeout_ms=ms)
    cfg.update(overrides)
    return KafkaAdminClient(**cfg)


def ensure_topics(bootstrap: str | Sequence[str], topics: Mapping[str, int],
                  replication: int = 1, timeout_s: float = 30) -> list[str]:
    """Create the missing topics (existing ones are left alone) and wait until metadata
    shows every topic in ``topics`` with a leader on each partition.

    Returns the names created by this call. A topic that exists with a different partition
    count is logged as a warning, not changed.
    """
    with contextlib.closing(admin_client(bootstrap, timeout_s)) as admin:
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


def make_producer(bootstrap: str | Sequence[str], **overrides) -> KafkaProducer:
    """Idempotent producer, acks='all', linger 5 ms; send bytes key/value (no serializers)."""
    cfg = dict(bootstrap_servers=_bootstrap_list(bootstrap), client_id="accidentlink-producer",
               enable_idempotence=True, acks="all", linger_ms=5)
    cfg.update(overrides)
    return KafkaProducer(**cfg)


def make_consumer(bootstrap: str | Sequence[str], group_id: str | None,
                  topics: str | Iterable[str], **kw) -> KafkaConsumer:
    """Subscribed consumer with manual commits (commit after the effect is stored) that
    starts from the earliest offset when the group has none. bytes key/value."""
    if isinstance(topics, str):
        topics = [topics]
    cfg = dict(bootstrap_servers=_bootstrap_list(bootstrap), group_id=group_id,
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


def broker_is_up(bootstrap: str | Sequence[str], timeout_s: float = 3) -> bool:
    """True if a broker answers a metadata (describe_cluster) call within ~timeout_s."""
    t0 = time.monotonic()
    if not _any_port_open(bootstrap, min(timeout_s, 1.0)):
        return False
    remaining = max(0.5, timeout_s - (time.monotonic() - t0))
    try:
        with contextlib.closing(admin_client(bootstrap, remaining,
                                             client_id="accidentlink-health")) as admin:
            return bool(admin.describe_cluster().get("brokers"))
    except Exception as e:  # noqa: BLE001 - health probe: any failure is "down"
        log.debug("broker_is_up(%s): %s: %s", bootstrap, type(e).__name__, e)
        return False


def consumer_group_members(bootstrap: str | Sequence[str], group_ids: Iterable[str],
                           timeout_s: float = 5) -> dict[str, int]:
    """{group_id: number of active members}; 0 for a group that is absent/empty/dead.

    Raises a kafka error if the broker cannot be reached (check broker_is_up first).
    """
    group_ids = list(dict.fromkeys(group_ids))
    counts = {g: 0 for g in group_ids}
    if not group_ids:
        return counts
    with contextlib.closing(admin_client(bootstrap, timeout_s,
                                         client_id="accidentlink-health")) as admin:
        described = admin.describe_groups(group_ids)
    for gid, info in described.items():
        if gid in counts and not info.get("error"):
            counts[gid] = len(info.get("members") or [])
    return counts


def read_all(bootstrap: str | Sequence[str], topic: str, timeout_s: float = 10) -> list[Record]:
    """Every record currently in ``topic`` (all partitions, from the beginning), sorted by
    (partition, offset). Test helper: no consumer group, nothing committed."""
    consumer = KafkaConsumer(bootstrap_servers=_bootstrap_list(bootstrap), group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest",
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
