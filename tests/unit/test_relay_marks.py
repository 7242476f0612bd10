"""The relay publishes each outbox row once and has it marked sent by the pipeline's next transaction
(or by itself after a quiet spell). The publisher here records what it was given; the real producer
is exercised by the integration and e2e tests."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from connectors.relay import OutboxRelay
from connectors.sql.db import Database, upgrade
from connectors.sql.models import OutboxMessage
from connectors.sql.outbox import emit, mark_in


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    def send(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> Any:
        self.sent.append((topic, key, value))
        return None

    def flush(self) -> None:
        pass


def _db(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'relay.db'}"
    upgrade(url, context="dispatch")  # a store whose relay publishes (dispatch's)
    return Database(url)


def _queue(db: Database, n: int, start: int = 0) -> None:
    now = datetime.now(timezone.utc)
    with db.uow() as uow:
        for i in range(start, start + n):
            emit(uow.session, "dispatch", "dispatch.orders", f"INC-{i}", {"order_id": f"ORD-{i}"}, now)
        uow.commit()


def _handing_over(tmp_path: Path, rows: int) -> tuple[Database, Recorder, OutboxRelay]:
    """A relay whose marks wait for a pipeline transaction (none comes by itself), and queued rows."""
    db, out = _db(tmp_path), Recorder()
    relay = OutboxRelay(db, "dispatch", out, None)
    relay.handoff, relay.mark_after_s = True, 3600
    _queue(db, rows)
    return db, out, relay


def _pending(db: Database) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None)))


def test_rows_handed_to_the_pipeline_are_published_once_and_marked_in_its_transaction(tmp_path: Path) -> None:
    db, out, relay = _handing_over(tmp_path, rows=5)
    assert relay.publish_pending() == 5
    assert relay.publish_pending() == 0  # not yet marked, but not published again either
    relay._scanned_at = 0  # even the periodic full pass skips rows waiting for their mark
    assert relay.publish_pending() == 0
    assert [k for _, k, _ in out.sent] == [f"INC-{i}".encode() for i in range(5)] and _pending(db) == 5
    with db.uow() as uow:  # what a pipeline batch does with them
        mark_in(uow.session, *relay.take_marks(), datetime.now(timezone.utc))
        uow.commit()
    assert _pending(db) == 0
    _queue(db, 2, start=5)
    assert relay.publish_pending() == 2 and len(out.sent) == 7


def test_without_a_pipeline_transaction_the_relay_marks_its_rows_itself(tmp_path: Path) -> None:
    db = _db(tmp_path)
    relay = OutboxRelay(db, "dispatch", Recorder(), None)
    relay.handoff, relay.mark_after_s = True, 0.05
    _queue(db, 3)
    relay.publish_pending()
    assert _pending(db) == 3
    time.sleep(0.1)
    relay.publish_pending()
    assert _pending(db) == 0


def test_marks_lost_with_a_rolled_back_transaction_mean_the_rows_go_out_again(tmp_path: Path) -> None:
    db, out, relay = _handing_over(tmp_path, rows=2)
    relay.publish_pending()
    with db.uow() as uow:
        mark_in(uow.session, *relay.take_marks(), datetime.now(timezone.utc))
        uow.session.rollback()  # the pipeline's batch failed
    relay._scanned_at = 0
    relay.publish_pending()
    assert len(out.sent) == 4  # at least once: published again, never lost
