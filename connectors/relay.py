"""Relays: publish outbox rows to Kafka and send owed SMS, after the transaction that wrote them.

Each process relays only its own rows (``owner``), so pipelines never wait on each other. Kafka
messages may be published again after a crash between send and mark (at-least-once, consumers
dedupe by id); an SMS never is: it is marked ``sending`` before the provider is called, and a row
found ``sending`` after a crash is set ``unknown`` for a person to check instead of texting twice.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol

from sqlalchemy import or_, select, update

from accidentlink.masking import mask_phone
from connectors.sql.db import Database
from connectors.sql.models import OutboxMessage, SmsMessage
from connectors.sql.outbox import WRITER, mark_in

log = logging.getLogger("accidentlink.relay")

# Replicas of one stage share a store: each relay publishes what its own process wrote, and adopts another
# writer's unsent rows only after this long (that writer crashed or stopped), so replicas rarely publish a
# row twice (at least once still holds: consumers dedupe by event id).
ADOPT_AFTER = timedelta(seconds=10)


class Publisher(Protocol):
    def send(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> Any: ...
    def flush(self) -> None: ...


class SmsSender(Protocol):
    live: bool

    def send(self, to: str, body: str) -> str: ...


class KafkaPublisher:
    def __init__(self, producer: Any):
        self.producer = producer

    def send(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> Any:
        return self.producer.send(topic, key=key, value=value, headers=headers or None)

    def flush(self) -> None:
        self.producer.flush(timeout=30)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class OutboxRelay:
    def __init__(self, db: Database, owner: str, publisher: Publisher | None, sms: SmsSender | None,
                 batch: int = 2000, on_published: Callable[[int], None] | None = None):
        self.db, self.owner, self.publisher, self.sms, self.batch = db, owner, publisher, sms, batch
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_published = on_published
        self.published = 0
        self.texted = 0
        # Published rows are marked sent later, in bulk: by the process's next pipeline transaction when one
        # takes them (``take_marks``: no write transaction of the relay's own in the way of the next
        # publish), else by the relay after ``mark_after_s``. Until marked they are not read again.
        self.handoff = False
        self.mark_after_s = 0.5
        self._marks_lock = threading.Lock()
        self._unsent_marks: list[int] = []
        self._held_marks: set[int] = set()
        self._unmarked: set[int] = set()
        self._high = 0  # the highest id published: later reads start above it ...
        self._scanned_at = 0.0  # ... and now and then from the start (a row committed out of id order)
        self._oldest_mark = 0.0
        self._handed: set[int] = set()  # held texts already given to their handsets, not yet marked held

    # ---------------------------------------------------------------- kafka
    def publish_pending(self) -> int:
        if self.publisher is None:
            return 0
        total = 0
        while True:
            self.db.wait_for_writers(0.1)
            full = time.monotonic() - self._scanned_at > 2.0
            with self.db.read() as s:
                q = select(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.key, OutboxMessage.value,
                           OutboxMessage.headers).where(
                    OutboxMessage.owner == self.owner, OutboxMessage.sent_at.is_(None),
                    # this process's rows; another replica's only once they have waited (its writer died)
                    or_(OutboxMessage.writer == WRITER, OutboxMessage.writer.is_(None),
                        OutboxMessage.created_at < _now() - ADOPT_AFTER))
                if not full:
                    q = q.where(OutboxMessage.id > self._high)
                rows = s.execute(q.order_by(OutboxMessage.id).limit(self.batch)).all()
            if full:
                self._scanned_at = time.monotonic()
            with self._marks_lock:
                rows = [r for r in rows if r.id not in self._unmarked]
            if not rows:
                break
            futures = [self.publisher.send(r.topic, r.key, r.value,
                                           [(k, bytes.fromhex(v)) for k, v in (r.headers or [])]) for r in rows]
            self.publisher.flush()
            for f in futures:  # raise if any failed: the rows stay pending and are retried
                if hasattr(f, "get"):
                    f.get(timeout=30)
            self._queue_marks([r.id for r in rows], [])
            self._high = max(self._high, rows[-1].id)
            total += len(rows)
            self.published += len(rows)
            if self.on_published:
                self.on_published(len(rows))
        self._settle_marks()
        return total

    def _settle_marks(self) -> None:
        """Write the marks now unless a pipeline transaction will take them soon enough."""
        if not self.handoff or time.monotonic() - self._oldest_mark > self.mark_after_s:
            self.mark_now()

    def _queue_marks(self, sent: list[int], held: list[int]) -> None:
        if not sent and not held:
            return
        with self._marks_lock:
            if not self._unsent_marks and not self._held_marks:
                self._oldest_mark = time.monotonic()
            self._unsent_marks.extend(sent)
            self._unmarked.update(sent)
            self._held_marks.update(held)

    def take_marks(self) -> tuple[list[int], list[int]]:
        """(outbox ids published, SMS ids to hold) for the caller to mark in its own transaction. Should
        that transaction roll back, the rows are published again after the next full read (at least once)."""
        with self._marks_lock:
            sent, held = self._unsent_marks, sorted(self._held_marks)
            self._unsent_marks, self._held_marks = [], set()
            self._unmarked.difference_update(sent)
        return sent, held

    def mark_now(self) -> None:
        sent, held = self.take_marks()
        if sent or held:
            with self.db.uow() as uow:
                mark_in(uow.session, sent, held, _now())
                uow.commit()

    # ---------------------------------------------------------------- sms
    def recover_sms(self) -> None:
        """At start: rows left ``sending`` by a crash may or may not have gone out; never re-send them."""
        if self.sms is None:  # a store that texts nobody
            return
        with self.db.uow() as uow:
            uow.session.execute(update(SmsMessage).where(SmsMessage.owner == self.owner,
                                                         SmsMessage.status == "sending")
                                .values(status="unknown", last_error="process stopped while sending; check the provider"))
            uow.commit()

    def send_pending_sms(self) -> int:
        if self.sms is None:
            return 0
        with self.db.read() as s:
            ids = list(s.scalars(select(SmsMessage.id).where(SmsMessage.owner == self.owner,
                                                             SmsMessage.status == "pending")
                                 .order_by(SmsMessage.id).limit(self.batch)))
        if not ids:
            return 0
        if not self.sms.live:  # no credentials: the outbox is the record a person reads ("held")
            hold = getattr(self.sms, "hold", None)
            new = [i for i in ids if i not in self._handed]
            self._handed.intersection_update(ids)  # the rest are marked held by now
            if hold is not None and new:  # the text as sent reaches only the party's handset (connectors.sms.HeldSms)
                with self.db.read() as s:
                    hold([(r.to, r.body) for r in s.execute(select(SmsMessage.to, SmsMessage.body)
                                                            .where(SmsMessage.id.in_(new)).order_by(SmsMessage.id))])
                self._handed.update(new)  # once per row, though its "held" mark may come a little later
            self._queue_marks([], ids)
            self._settle_marks()
            return 0
        sent = 0
        for sms_id in ids:
            with self.db.uow() as uow:
                claimed = uow.session.execute(update(SmsMessage).where(
                    SmsMessage.id == sms_id, SmsMessage.status == "pending")
                    .values(status="sending", attempts=SmsMessage.attempts + 1)).rowcount
                uow.commit()
            if not claimed:
                continue
            with self.db.read() as s:
                row = s.get(SmsMessage, sms_id)
                to, body = row.to, row.body
            try:
                sid = self.sms.send(to, body)
                status, err = "sent", None
            except Exception as e:  # the provider said no: a person looks at it, nothing is retried blindly
                sid, status, err = None, "failed", f"{type(e).__name__}: {e}"[:500]
                log.warning("sms to %s failed: %s", mask_phone(to), err)
            with self.db.uow() as uow:
                uow.session.execute(update(SmsMessage).where(SmsMessage.id == sms_id).values(
                    status=status, provider_sid=sid, last_error=err, sent_at=_now() if sid else None))
                uow.commit()
            sent += status == "sent"
        self.texted += sent
        return sent

    # ---------------------------------------------------------------- loop
    def notify(self) -> None:
        self._wake.set()

    def run_once(self) -> None:
        self.publish_pending()  # also holds owed texts when there are no credentials
        self.send_pending_sms()

    def start(self, poll_s: float = 0.5) -> None:
        self.recover_sms()

        def loop() -> None:
            while not self._stop.is_set():
                self._wake.wait(poll_s)
                self._wake.clear()
                try:
                    self.run_once()
                except Exception:
                    log.exception("relay %s: will retry", self.owner)
                    self._stop.wait(1.0)

        self._thread = threading.Thread(target=loop, name=f"relay-{self.owner}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10) -> None:
        """Stop the loop and try one last flush, within ``timeout_s`` (unsent rows wait in the database)."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=timeout_s)
        self.handoff = False  # no pipeline transaction comes any more: the last round marks its own rows
        last = threading.Thread(target=self._final_flush, daemon=True)
        last.start()
        last.join(timeout=timeout_s)

    def _final_flush(self) -> None:
        try:
            self.run_once()
        except Exception:
            log.warning("relay %s: final flush failed; rows stay pending", self.owner)
