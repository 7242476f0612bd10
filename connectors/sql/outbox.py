"""Writing to the outbox tables inside the caller's transaction (Kafka messages and SMS)."""
from __future__ import annotations

import json
import os
import socket
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.sql import batch
from connectors.sql.models import OutboxMessage, SmsMessage


# this process, as the writer of the outbox rows it queues (``OutboxMessage.writer``)
WRITER = f"{socket.gethostname()[:20]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def to_json_bytes(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def emit(session: Session, owner: str, topic: str, key: str | bytes | None, value: dict[str, Any] | bytes,
         now: datetime, headers: list[tuple[str, bytes]] | None = None) -> None:
    """Queue one Kafka message; the owner's relay publishes it after the transaction commits."""
    row = {"owner": owner, "writer": WRITER, "topic": topic, "key": key.encode("utf-8") if isinstance(key, str) else key,
           "value": value if isinstance(value, bytes) else to_json_bytes(value),
           "headers": [[k, v.hex()] for k, v in headers] if headers else None, "created_at": now, "sent_at": None}
    buffered = batch.current(session)
    if buffered is not None:
        buffered.outbox.append(row)
    else:
        session.add(OutboxMessage(**row))


def enqueue_sms(session: Session, owner: str, dedupe_key: str, to: str, body: str, purpose: str,
                now: datetime, incident_id: str | None = None) -> bool:
    """Owe one text message, at most once per ``dedupe_key``; False when it was already owed (inside a
    pipeline batch the check happens when the batch is written, and this answers True)."""
    buffered = batch.current(session)
    if buffered is not None:
        buffered.sms.append({"dedupe_key": dedupe_key, "owner": owner, "to": to, "body": body, "purpose": purpose,
                             "incident_id": incident_id, "status": "pending", "attempts": 0, "created_at": now})
        return True
    if session.scalar(select(SmsMessage.id).where(SmsMessage.dedupe_key == dedupe_key)) is not None:
        return False
    session.add(SmsMessage(dedupe_key=dedupe_key, owner=owner, to=to, body=body, purpose=purpose,
                           incident_id=incident_id, status="pending", attempts=0, created_at=now))
    return True


SMS_STORES = ("dispatch", "claims", "fund")  # the contexts that text people (each keeps its own SMS outbox)


def sms_outbox(store: Any, limit: int, incident_id: str | None = None) -> list[tuple[str, Any]]:
    """The texts of every context that sends them, newest first: ``(store name, a copy of the row)``."""
    from types import SimpleNamespace

    found: list[tuple[str, Any]] = []
    for name in SMS_STORES:
        with store(name).read() as s:
            q = select(SmsMessage).order_by(SmsMessage.id.desc()).limit(limit)
            if incident_id:
                q = q.where(SmsMessage.incident_id == incident_id)
            found += [(name, SimpleNamespace(**{c.key: getattr(m, c.key) for c in SmsMessage.__table__.columns}))
                      for m in s.scalars(q)]
    found.sort(key=lambda x: (x[1].created_at, x[1].id), reverse=True)
    return found[:limit]


def mark_in(session: Session, sent: list[int], held: list[int], now: datetime) -> None:
    """Mark outbox rows sent and SMS rows held, in the caller's transaction."""
    for i in range(0, len(sent), 500):
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(sent[i:i + 500])).values(sent_at=now))
    for i in range(0, len(held) if held else 0, 500):
        session.execute(update(SmsMessage).where(SmsMessage.id.in_(held[i:i + 500]),
                                                 SmsMessage.status == "pending").values(status="held"))
