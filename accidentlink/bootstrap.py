"""The one wiring module: builds real (or, in tests, fake) collaborators and hands them out.

It is the only module that imports every package.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from accidentlink.clock import Clock, SystemClock
from accidentlink.pipeline import Pipeline, ReportHandler, TopicNames
from accidentlink.settings import Settings
from connectors.relay import KafkaPublisher, OutboxRelay, SmsSender
from connectors.sms import HeldSms, TwilioSms
from connectors.sql.db import Database

log = logging.getLogger("accidentlink.bootstrap")


@dataclass
class Container:
    settings: Settings
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    topics: TopicNames = field(default_factory=lambda: TopicNames(os.environ.get("ACCIDENTLINK_TOPIC_PREFIX", "")))
    sms: SmsSender | None = None
    _producer: Any = None

    def producer(self) -> Any:
        if self._producer is None:
            from connectors.kafka import make_producer

            self._producer = make_producer(self.settings.bootstrap)
        return self._producer

    def relay(self, owner: str, *, kafka: bool = True) -> OutboxRelay:
        return OutboxRelay(self.db, owner, KafkaPublisher(self.producer()) if kafka else None, self.sms)

    def geodesic(self) -> Callable[[float, float, float, float], float]:
        from connectors.geo import geodesic_m

        return geodesic_m

    def handler(self, group: str) -> ReportHandler:
        if group == "dispatch":
            from dispatch.services import DispatchHandler

            return DispatchHandler.build(self)
        if group == "rescue-fund":
            from fund.services import FundHandler

            return FundHandler.build(self)
        if group == "claims":
            from claims.services import ClaimsHandler

            return ClaimsHandler.build(self)
        raise ValueError(f"no pipeline named {group!r}")

    def pipeline(self, group: str) -> Pipeline:
        return Pipeline(self.db, group, self.handler(group), self.clock, self.geodesic(), self.topics)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)
        self.db.dispose()


def build(settings: Settings | None = None, **overrides: Any) -> Container:
    from accidentlink.settings import load

    settings = settings or load()
    db = overrides.pop("db", None) or Database(settings.db_url)
    sms = overrides.pop("sms", None)
    if sms is None:
        sms = (TwilioSms(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_from,
                         settings.twilio_api_base) if settings.sms_live else HeldSms())
    return Container(settings=settings, db=db, sms=sms, **overrides)
