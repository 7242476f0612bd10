"""The platform in one process, without a broker: each stage's ``Pipeline`` is fed by hand, on real SQLite
stores (a file per context), and what one stage published (its outbox) is what the next one reads."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from accidentlink.bootstrap import Container
from accidentlink.clock import FixedClock
from accidentlink.pipeline import BatchResult, Pipeline, RawMessage
from accidentlink.settings import Settings
from connectors.sms import HeldSms
from connectors.sql.db import Database
from connectors.sql.models import OutboxMessage
from connectors.sql.stores import upgrade_all

FACTS = "intake.incident-facts"


def report_messages(reports: list[dict[str, Any]], first_offset: int = 0) -> list[RawMessage]:
    return [RawMessage("accidents.reported", 0, first_offset + i, r["report_id"].encode(),
                       json.dumps(r, ensure_ascii=False).encode()) for i, r in enumerate(reports)]


class World:
    def __init__(self, tmp_path: Path, name: str, clock: Any = None):
        from accidentlink.demo import load_resources_into_db

        d = tmp_path / name
        d.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{d / 'al.db'}"
        upgrade_all(url, d)
        settings = Settings(var_dir=d, database_url=url, kafka_bootstrap="127.0.0.1:1", twilio_account_sid=None,
                            twilio_auth_token=None, twilio_from=None)
        self.c = Container(settings=settings, clock=clock or FixedClock(), sms=HeldSms())
        load_resources_into_db(self.c)
        self._pipelines: dict[str, Pipeline] = {}
        self._cursor: dict[tuple[str, str], int] = {}
        self._offset = 0

    def store(self, name: str) -> Database:
        return self.c.store(name)

    def pipeline(self, group: str) -> Pipeline:
        if group not in self._pipelines:
            self._pipelines[group] = self.c.pipeline(group)
        return self._pipelines[group]

    def run(self, group: str, msgs: list[RawMessage], *, careful: bool = False) -> BatchResult:
        p = self.pipeline(group)
        if careful:
            return p._process(msgs, [p._parse(m) for m in msgs], careful=True)
        return p.process(msgs)

    def intake(self, reports: list[dict[str, Any]], *, careful: bool = False) -> list[RawMessage]:
        """The intake's merge of these reports (as if re-keyed); returns the incident-facts messages it published."""
        msgs = report_messages(reports, self._offset)
        self._offset += len(reports)
        self.run("intake", msgs, careful=careful)
        return self.published("intake", FACTS)

    def published(self, store: str, topic: str) -> list[RawMessage]:
        """What a store's outbox holds for a topic that was not returned by an earlier call, as messages."""
        last = self._cursor.get((store, topic), 0)
        with self.store(store).read() as s:
            rows = s.execute(select(OutboxMessage.id, OutboxMessage.key, OutboxMessage.value).where(
                OutboxMessage.topic == topic, OutboxMessage.id > last).order_by(OutboxMessage.id)).all()
        if rows:
            self._cursor[(store, topic)] = rows[-1][0]
        return [RawMessage(topic, 0, i, k, v) for i, k, v in rows]

    def values(self, store: str, topic: str) -> list[dict[str, Any]]:
        with self.store(store).read() as s:
            return [json.loads(v) for v in s.scalars(select(OutboxMessage.value).where(
                OutboxMessage.topic == topic).order_by(OutboxMessage.id))]
