"""``accidentlink replay``: an operator sends dead letters back to where they came from, after fixing
what rejected them (real broker; the command as an operator runs it)."""
from __future__ import annotations

from typing import Any

import pytest

from connectors.kafka import make_producer, read_all

pytestmark = pytest.mark.integration


def _dead_letter(producer: Any, prefix: str, key: bytes, value: bytes, offset: int) -> None:
    producer.send(prefix + "accidents.rejected", key=key, value=value, headers=[
        ("traceparent", f"00-{offset:032x}-{offset:016x}-01".encode()), ("error", "processing failed in claims: IntegrityError".encode()),
        ("source-topic", (prefix + "accidents.reported").encode()), ("source-partition", b"0"),
        ("source-offset", str(offset).encode())]).get(timeout=10)


def test_replay_sends_one_dead_letter_or_all_back_to_their_topic_bytes_unchanged(
        kafka: str, topics: str, migrated: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    from accidentlink.cli import main

    prefix = topics
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka)
    monkeypatch.setenv("ACCIDENTLINK_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("DATABASE_URL", migrated)
    monkeypatch.setenv("ACCIDENTLINK_VAR", str(tmp_path))
    first, second = '{"report_id": "122-R-1", "备注": "两车相撞"}'.encode(), b'{"report_id": "122-R-2"}'
    producer = make_producer(kafka)
    _dead_letter(producer, prefix, b"122-R-1", first, 7)
    _dead_letter(producer, prefix, b"122-R-2", second, 8)
    producer.close()

    assert main(["replay", "--offset", "8"]) == 0
    assert "replayed 1 message(s)" in capsys.readouterr().out
    back = read_all(kafka, prefix + "accidents.reported")
    assert [(r.key, r.value) for r in back] == [(b"122-R-2", second)]
    # the sender's own headers go back with it; the dead letter's reason and origin do not
    assert back[0].headers == [("traceparent", f"00-{8:032x}-{8:016x}-01".encode())]

    assert main(["replay"]) == 0
    assert "replayed 2 message(s)" in capsys.readouterr().out
    back = sorted((r.key, r.value) for r in read_all(kafka, prefix + "accidents.reported"))
    assert back == [(b"122-R-1", first), (b"122-R-2", second), (b"122-R-2", second)]
