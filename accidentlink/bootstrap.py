"""The one wiring module: builds real (or, in tests, fake) collaborators and hands them out.

It is the only module that imports every package.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from accidentlink.clock import Clock, SystemClock
from accidentlink.pipeline import Pipeline, ReportHandler, TopicNames
from accidentlink.settings import Settings
from connectors.relay import KafkaPublisher, OutboxRelay, SmsSender
from connectors.sms import HeldSms, TwilioSms
from connectors.sql.db import Database
from connectors.sql.stores import CONTEXTS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connectors.photos import PhotoFolder
    from connectors.sql.claims import SqlClaimsUnitOfWork
    from connectors.sql.dispatch import SqlDispatchUnitOfWork
    from connectors.sql.fund import SqlFundUnitOfWork
    from connectors.sql.intake import IntakeHandler, SqlIntakeUnitOfWork
    from connectors.sql.hospitals import SqlHospitalsUnitOfWork
    from dispatch.units_index import UnitsIndex

# each consumer group and the store it owns
STORE_OF = {"intake": "intake", "dispatch": "dispatch", "rescue-fund": "fund", "claims": "claims",
            "hospitals": "hospitals"}

log = logging.getLogger("accidentlink.bootstrap")


@dataclass
class Container:
    settings: Settings
    stores: dict[str, Database] = field(default_factory=dict)
    clock: Clock = field(default_factory=SystemClock)
    topics: TopicNames = field(default_factory=lambda: TopicNames(os.environ.get("ACCIDENTLINK_TOPIC_PREFIX", "")))
    sms: SmsSender | None = None
    _producer: Any = None
    _dispatch_fleet: UnitsIndex | None = None

    def producer(self) -> Any:
        if self._producer is None:
            from connectors.kafka import make_producer

            self._producer = make_producer(self.settings.bootstrap)
        return self._producer

    def store(self, context: str) -> Database:
        """One context's own database (opened on first use)."""
        db = self.stores.get(context)
        if db is None:
            if context not in CONTEXTS:
                raise ValueError(f"no store named {context!r}")
            db = self.stores[context] = Database(self.settings.store_url(context))
        return db

    def relay(self, owner: str, context: str, *, kafka: bool = True) -> OutboxRelay:
        from connectors.sql.stores import TABLES

        sms = self.sms if "sms_outbox" in TABLES[context] else None  # only contexts that text people
        return OutboxRelay(self.store(context), owner, KafkaPublisher(self.producer()) if kafka else None, sms)

    def geodesic(self) -> Callable[[float, float, float, float], float]:
        from connectors.geo import geodesic_m

        return geodesic_m

    def intake_uow(self, owner: str = "intake", *, joining: Session | None = None) -> SqlIntakeUnitOfWork:
        """The intake's unit of work (``accidentlink.intake_ports.IntakeUnitOfWork``) on its own store: part of the
        transaction ``joining`` (the merge's pipeline batch), which its caller commits, or a transaction of its own
        (a closing)."""
        from connectors.sql.intake import SqlIntakeUnitOfWork

        if joining is not None:
            return SqlIntakeUnitOfWork.joining(joining, owner, self.topics)
        return SqlIntakeUnitOfWork(self.store("intake"), owner, self.topics)

    def fund_uow(self, owner: str = "rescue-fund", *, joining: Session | None = None,
                 read_only: bool = False) -> SqlFundUnitOfWork:
        """The rescue fund's unit of work (``fund.ports.FundUnitOfWork``) on its own store: a transaction of its
        own (``read_only``: one that never takes SQLite's write lock), or part of the transaction ``joining``,
        which its caller commits (a pipeline batch; an HTTP request with its audit line). ``owner``: whose
        relay publishes what it emits."""
        from connectors.sql.fund import SqlFundUnitOfWork

        if joining is not None:
            return SqlFundUnitOfWork.joining(joining, owner, self.topics)
        return SqlFundUnitOfWork(self.store("fund"), owner, self.topics, read_only=read_only)

    def hospitals_uow(self, owner: str = "hospitals", *, joining: Session | None = None,
                      read_only: bool = False) -> SqlHospitalsUnitOfWork:
        """The hospitals' unit of work (``hospitals.ports.HospitalsUnitOfWork``) on their own store, as
        ``fund_uow``: a transaction of its own (or a read-only one), or part of the transaction ``joining``."""
        from connectors.sql.hospitals import SqlHospitalsUnitOfWork

        if joining is not None:
            return SqlHospitalsUnitOfWork.joining(joining, owner, self.topics)
        return SqlHospitalsUnitOfWork(self.store("hospitals"), owner, self.topics, read_only=read_only)

    def dispatch_uow(self, owner: str = "web", *, joining: Session | None = None,
                     read_only: bool = False) -> SqlDispatchUnitOfWork:
        """Dispatch's unit of work (``dispatch.ports.DispatchUnitOfWork``) on its own store, in the same three
        ways as ``fund_uow``: a transaction of its own, a read-only one, or part of ``joining`` (a pipeline
        batch; an HTTP request with its audit line), which its caller commits."""
        from connectors.sql.dispatch import SqlDispatchUnitOfWork

        if joining is not None:
            return SqlDispatchUnitOfWork.joining(joining, owner, self.topics)
        return SqlDispatchUnitOfWork(self.store("dispatch"), owner, self.topics, read_only=read_only)

    def dispatch_fleet(self) -> UnitsIndex:
        """The units and hospitals dispatch chooses from, in memory: one per process."""
        if self._dispatch_fleet is None:
            from connectors.sql.dispatch import load_fleet

            self._dispatch_fleet = load_fleet(self.store("dispatch"))
        return self._dispatch_fleet

    def claims_uow(self, owner: str = "claims", *, joining: Session | None = None,
                   read_only: bool = False) -> SqlClaimsUnitOfWork:
        """The claims unit of work (``claims.ports.ClaimsUnitOfWork``) on its own store, as ``fund_uow`` is the
        fund's: a transaction of its own, or part of the transaction ``joining``, which its caller commits."""
        from connectors.sql.claims import SqlClaimsUnitOfWork

        if joining is not None:
            return SqlClaimsUnitOfWork.joining(joining, owner, self.topics)
        return SqlClaimsUnitOfWork(self.store("claims"), owner, self.topics, read_only=read_only)

    def claims_photos(self) -> PhotoFolder:
        """Where the parties' scene photos are kept (``claims.ports.PhotoStore``)."""
        from connectors.photos import PhotoFolder

        return PhotoFolder(self.settings.var_dir)

    def handler(self, group: str) -> ReportHandler | None:
        if group == "intake":
            return None
        if group == "hospitals":
            from connectors.sql.hospitals import HospitalsHandler

            return HospitalsHandler(self.hospitals_uow, self.store("hospitals"), self.clock, self.settings.province)
        if group == "dispatch":
            from connectors.sql.dispatch import DispatchHandler

            return DispatchHandler(self.dispatch_uow, self.clock, self.dispatch_fleet(), self.settings.ack_timeout_s)
        if group == "rescue-fund":
            from connectors.sql.fund import FundHandler

            return FundHandler(self.fund_uow, self.clock, self.settings.province)
        if group == "claims":
            from connectors.sql.claims import ClaimsHandler

            return ClaimsHandler(self.claims_uow, self.store("claims"), self.clock, self.settings.base_url,
                                 self.settings.region)
        raise ValueError(f"no pipeline named {group!r}")

    def pipeline(self, group: str) -> Pipeline:
        """The intake's merge (``intake``) or a pipeline's processing of incident facts, on its own store."""
        if group == "intake":
            from accidentlink.intake import merge_locks
            from connectors.sql.intake import IntakeMerge

            return Pipeline(self.store("intake"), "intake", None, self.clock, self.topics,
                            merge=IntakeMerge(self.intake_uow, self.geodesic()), batch_locks=merge_locks)
        dispatch = group == "dispatch"
        return Pipeline(self.store(STORE_OF[group]), group, self.handler(group), self.clock, self.topics,
                        with_orders=dispatch, on_timeline=dispatch, batch_locks=_incident_locks if dispatch else None)

    def intake_handler(self) -> IntakeHandler:
        """The intake's reaction to ``incidents``: a closed incident takes no more reports."""
        from connectors.sql.intake import IntakeHandler

        return IntakeHandler(self.intake_uow, self.clock)

    def rekeyer(self, dead_letters: Pipeline) -> "Any":
        from accidentlink.intake import BY_AREA_TOPIC, Rekeyer
        from connectors.geo import GazetteerGeocoder

        producer = self.producer()
        geocoder = GazetteerGeocoder()

        def send(topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
            producer.send(topic, key=key, value=value, headers=headers or None)

        return Rekeyer(dead_letters, send, lambda: producer.flush(timeout=30), self.topics.name(BY_AREA_TOPIC),
                       geocoder.geocode, check=self.report_check())

    def report_check(self) -> "Any":
        """What a valid report must still satisfy to go on (its time around now, its place in the served area)."""
        from accidentlink.input_bounds import report_problem, served_area

        area = served_area(self.settings.resources)
        return lambda report: report_problem(report, self.clock.now(), area)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)
        for db in self.stores.values():
            db.dispose()


def build(settings: Settings | None = None, **overrides: Any) -> Container:
    from accidentlink.settings import load

    settings = settings or load()
    stores = overrides.pop("stores", None) or {}
    sms = overrides.pop("sms", None)
    if sms is None:
        sms = (TwilioSms(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_from,
                         settings.twilio_api_base) if settings.sms_live else HeldSms(settings.var_dir / "handsets"))
    return Container(settings=settings, stores=stores, sms=sms, **overrides)


def _incident_locks(changes: list[Any]) -> list[str]:
    """A dispatch batch locks the incidents its facts changes are about."""
    from connectors.sql.dispatch import incident_locks

    return incident_locks(c.facts.incident_id for c in changes)
