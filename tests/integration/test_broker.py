"""The real local Kafka broker (connectors.kafka_broker) and the kafka-python adapters.

Needs Java 17 and, the first time only, Maven (to fetch the broker classpath into
$ACCIDENTLINK_VAR or <repo>/.var). Each test runs its own broker on free ports in tmp_path.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from connectors import kafka as ck
from connectors.kafka_broker import LocalKafka, ensure_libs, free_ports

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
VAR = Path(os.environ.get("ACCIDENTLINK_VAR") or REPO / ".var")


@pytest.fixture(scope="module")
def libs() -> Path:
    t0 = time.monotonic()
    path = ensure_libs(VAR)
    print(f"\n[kafka] ensure_libs: {time.monotonic() - t0:.1f}s -> {path}")
    return path


def _new_broker(data_dir: Path, libs: Path) -> LocalKafka:
    ports = free_ports(2)
    return LocalKafka(data_dir, port=ports[0], controller_port=ports[1], libs_dir=libs)


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_start_produce_consume_stop(tmp_path, libs):
    broker = _new_broker(tmp_path / "kafka", libs)
    t0 = time.monotonic()
    broker.start(timeout=90)
    print(f"[kafka] broker start (libs cached, fresh data dir): {time.monotonic() - t0:.1f}s")
    pid = broker.pid
    try:
        b = broker.bootstrap
        assert b == f"127.0.0.1:{broker.port}"
        assert ck.broker_is_up(b)
        assert broker.pid_path.read_text().strip() == str(pid)

        from streams.topics import PARTITIONS

        created = ck.ensure_topics(b, PARTITIONS)
        assert sorted(created) == sorted(PARTITIONS)
        assert ck.ensure_topics(b, PARTITIONS) == []  # idempotent

        run = uuid.uuid4().hex[:8].encode()
        sent = [(b"acc-%d" % i, b'{"n":%d,"run":"%s"}' % (i, run)) for i in range(50)]
        producer = ck.make_producer(b)
        try:
            futures = [producer.send("accidents.reported", key=k, value=v,
                                     headers=[("source", b"test")]) for k, v in sent]
            producer.flush(10)
            metas = [f.get(10) for f in futures]
        finally:
            producer.close()
        assert all(m.topic == "accidents.reported" for m in metas)
        # same key -> same partition
        assert len({m.partition for m in metas}) > 1

        group = "test-" + run.decode()
        consumer = ck.make_consumer(b, group, "accidents.reported")
        got = []
        try:
            deadline = time.monotonic() + 30
            while len(got) < len(sent) and time.monotonic() < deadline:
                for recs in consumer.poll(timeout_ms=500).values():
                    got.extend(recs)
            assert ck.consumer_group_members(b, [group, "no-such-group"]) == {
                group: 1, "no-such-group": 0}
            consumer.commit()
        finally:
            consumer.close()
        assert sorted((r.key, r.value) for r in got) == sorted(sent)
        assert all(r.headers == [("source", b"test")] for r in got)
        assert ck.consumer_group_members(b, [group]) == {group: 0}

        records = ck.read_all(b, "accidents.reported", timeout_s=15)
        assert sorted((r.key, r.value) for r in records) == sorted(sent)
        assert ck.read_all(b, "sms.inbound", timeout_s=5) == []
    finally:
        t1 = time.monotonic()
        broker.stop()
        print(f"[kafka] broker stop: {time.monotonic() - t1:.1f}s")

    assert _pid_gone(pid)
    assert not broker.pid_path.exists()
    assert not ck.broker_is_up(broker.bootstrap, timeout_s=1)


def test_stale_pid_file_crash_and_restart_keep_data(tmp_path, libs):
    data = tmp_path / "kafka"
    data.mkdir()
    (data / "broker.pid").write_text("999999\n")  # stale pid from a "previous run"
    broker = _new_broker(data, libs)
    with broker:
        b = broker.bootstrap
        ck.ensure_topics(b, {"incidents": 6})
        producer = ck.make_producer(b)
        producer.send("incidents", key=b"inc-1", value=b"before-crash").get(10)
        producer.close()

        # A second handle on the same data dir finds the live broker via the pid file.
        other = LocalKafka(data, port=broker.port, controller_port=broker.controller_port,
                           libs_dir=libs)
        assert other.running_pid() == broker.pid

        pid = broker.pid
        broker.kill()
        assert _pid_gone(pid)
        t0 = time.monotonic()
        broker.start(timeout=90)
        print(f"\n[kafka] start after SIGKILL: {time.monotonic() - t0:.1f}s")
        assert [r.value for r in ck.read_all(b, "incidents")] == [b"before-crash"]

        t0 = time.monotonic()
        broker.restart()
        print(f"[kafka] clean restart: {time.monotonic() - t0:.1f}s")
        assert [r.value for r in ck.read_all(b, "incidents")] == [b"before-crash"]
        pid = broker.pid
    assert _pid_gone(pid)
