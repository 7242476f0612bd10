"""SQLAlchemy 2 typed mappings: rows, not domain objects. Alembic owns the schema (migrations/)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, Boolean, CheckConstraint, Date, DateTime, Float, ForeignKey, Index, Integer,
    LargeBinary, MetaData, String, Text, TypeDecorator, UniqueConstraint, text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class AwareDateTime(TypeDecorator):
    """Stored in UTC; always read back timezone-aware (SQLite keeps no offset of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: times carry offsets")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: AwareDateTime, dict[str, Any]: JSON, list[Any]: JSON, int: Integer}


Money = BigInteger


def flushed_after(target: str) -> Any:
    """A many-to-one that is never loaded (``lazy="raise"``) and exists so that one flush inserts the
    referenced row before the rows that refer to it: a pipeline batch adds an incident and its orders,
    claims or fund case and writes them all at its end."""
    return relationship(target, lazy="raise")


# ---------------------------------------------------------------- delivery bookkeeping
class ProcessedEvent(Base):
    """Inbox: (consumer, event_id) seen; written in the same transaction as the change it caused."""

    __tablename__ = "processed_events"
    consumer: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[datetime]


class OutboxMessage(Base):
    """Kafka messages to publish after commit; the owner's relay sends them and marks them sent."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(40))
    # the process that wrote it: its own relay publishes it; another replica's relay only adopts it once it
    # has waited ``connectors.relay.ADOPT_AFTER`` (its writer died), so replicas do not publish each other's rows
    writer: Mapped[str | None] = mapped_column(String(40))
    topic: Mapped[str] = mapped_column(String(120))
    key: Mapped[bytes | None] = mapped_column(LargeBinary)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[list[Any] | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_outbox_pending", "owner", "sent_at", "id"),)


class RejectedMessage(Base):
    """One row per rejected input message, whichever pipeline saw it first: dead-lettered once."""

    __tablename__ = "rejected_messages"
    topic: Mapped[str] = mapped_column(String(120), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    detected_by: Mapped[str] = mapped_column(String(40))
    detected_at: Mapped[datetime]


class SmsMessage(Base):
    """SMS outbox: the record that a text is owed. Sent once by the SMS relay; read by people when no
    Twilio credentials are configured."""

    __tablename__ = "sms_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    owner: Mapped[str] = mapped_column(String(40))
    to: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(40))
    incident_id: Mapped[str | None] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, sent, held, failed
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_sms_pending", "owner", "status", "id"),)


# ---------------------------------------------------------------- incidents and reports
class IncidentRow(Base):
    __tablename__ = "incidents"
    incident_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="open")
    severity: Mapped[str] = mapped_column(String(20))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(500))
    first_reported_at: Mapped[datetime]
    last_reported_at: Mapped[datetime]
    injured: Mapped[int]
    fatalities: Mapped[int]
    vehicles_movable: Mapped[bool] = mapped_column(Boolean)
    hit_and_run: Mapped[bool] = mapped_column(Boolean)
    hazards: Mapped[list[Any]]
    plates: Mapped[list[Any]]
    sources: Mapped[list[Any]]
    hospital_id: Mapped[str | None] = mapped_column(String(40))
    quick_handling: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    # the 0.01° grid cell of (lat, lon) (``connectors.sql.batch.cell_key``): a batch reads the open incidents
    # near all its reports with one indexed query
    cell: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_incidents_geo_time", "status", "lat", "lon", "last_reported_at"),
                      Index("ix_incidents_cell", "status", "cell", "last_reported_at"),
                      Index("ix_incidents_updated", "updated_at"))


class ReportRow(Base):
    __tablename__ = "reports"
    report_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.incident_id"), index=True)
    incident_row: Mapped["IncidentRow"] = flushed_after("IncidentRow")
    source: Mapped[str] = mapped_column(String(10))
    reported_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]


class TimelineEntry(Base):
    __tablename__ = "incident_timeline"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # a context's own entries about an incident; they may precede its copy of the facts (no foreign key)
    incident_id: Mapped[str] = mapped_column(String(40), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]]


# ---------------------------------------------------------------- dispatch resources
class PostRow(Base):
    __tablename__ = "posts"
    post_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    city: Mapped[str] = mapped_column(String(40))
    approx: Mapped[bool] = mapped_column(Boolean, default=True)
    paired_hospital_id: Mapped[str | None] = mapped_column(String(40))


class HospitalRow(Base):
    __tablename__ = "hospitals"
    hospital_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    city: Mapped[str] = mapped_column(String(40))
    trauma_level: Mapped[int] = mapped_column(Integer, default=0)
    green_channel: Mapped[bool] = mapped_column(Boolean, default=True)
    approx: Mapped[bool] = mapped_column(Boolean, default=True)


class UnitRow(Base):
    __tablename__ = "units"
    unit_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    service: Mapped[str] = mapped_column(String(4))
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    home: Mapped[str] = mapped_column(String(40))
    phone: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="available")
    status_at: Mapped[datetime]
    incident_id: Mapped[str | None] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, default=1)
    __table_args__ = (CheckConstraint(
        "status in ('available','dispatched','acknowledged','en_route','on_scene','transporting','at_hospital','out_of_service')",
        name="status"), Index("ix_units_service_status", "service", "status"), Index("ix_units_status_at", "status_at"))


class OrderRow(Base):
    __tablename__ = "orders"
    order_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.incident_id"), index=True)
    incident_row: Mapped["IncidentRow"] = flushed_after("IncidentRow")
    service: Mapped[str] = mapped_column(String(4))
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.unit_id"), index=True)
    distance_m: Mapped[int]
    eta_s: Mapped[int]
    issued_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20), default="active")  # active, released, completed, cancelled
    unit_status: Mapped[str] = mapped_column(String(20), default="dispatched")
    status_times: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    replaces_order_id: Mapped[str | None] = mapped_column(String(60))
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    overdue_flags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    __table_args__ = (
        # one active order per service per incident: a redelivered incident never orders twice
        Index("uq_orders_active_service", "incident_id", "service", unique=True,
              sqlite_where=text("state = 'active'"), postgresql_where=text("state = 'active'")),
        # one active order per unit: no unit is double-booked
        Index("uq_orders_active_unit", "unit_id", unique=True,
              sqlite_where=text("state = 'active'"), postgresql_where=text("state = 'active'")),
    )


# ---------------------------------------------------------------- hospitals
class AdmissionRow(Base):
    __tablename__ = "admissions"
    admission_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    # the pre-arrival notice comes from dispatch (an ``incidents`` change) and may arrive before the
    # hospitals context has its copy of the incident's facts: no foreign key to the copy
    incident_id: Mapped[str] = mapped_column(String(40), index=True)
    hospital_id: Mapped[str] = mapped_column(ForeignKey("hospitals.hospital_id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="notified")  # notified, confirmed, cancelled
    patients: Mapped[int]
    injuries: Mapped[dict[str, Any]]
    eta_at: Mapped[datetime | None]
    notified_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    confirmed_by: Mapped[str | None] = mapped_column(String(200))
    # the notice follows the incident: the ambulance bringing the patients, as it last reported (unit_id, status,
    # at), and why the notice was withdrawn (incident_closed, redirected)
    ambulance: Mapped[dict[str, Any] | None]
    withdrawn_at: Mapped[datetime | None]
    withdrawn_reason: Mapped[str | None] = mapped_column(String(40))
    # how the payers stand on this admission's bills (fund / insurer: status, amount_fen, at, ref), from their events
    payments: Mapped[dict[str, Any] | None]
    __table_args__ = (UniqueConstraint("incident_id", "hospital_id", name="uq_admissions_incident_hospital"),)


class BillRow(Base):
    __tablename__ = "bills"
    bill_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    # the hospitals context's bill, and the fund's copy of it (from ``hospitals.bills``): no foreign key,
    # the fund's store has no admissions
    admission_id: Mapped[str] = mapped_column(String(60), index=True)
    incident_id: Mapped[str] = mapped_column(String(40), index=True)
    hospital_id: Mapped[str] = mapped_column(String(40))
    amount_fen: Mapped[int] = mapped_column(Money)
    rescue_started_at: Mapped[datetime]
    items: Mapped[list[Any]]
    insurer_fen: Mapped[int] = mapped_column(Money, default=0)
    fund_fen: Mapped[int] = mapped_column(Money, default=0)
    insurer_code: Mapped[str | None] = mapped_column(String(40))
    routing: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    # the hospital's invoice number; the natural key (``invoice:<n>``, else the admission and a content hash) is
    # unique per hospital, so a bill sent twice is recorded, routed and paid once (hospitals_0002, fund_0002)
    invoice_number: Mapped[str | None] = mapped_column(String(60))
    natural_key: Mapped[str | None] = mapped_column(String(140))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (CheckConstraint("amount_fen >= 0", name="amount_nonneg"),
                      CheckConstraint("insurer_fen >= 0 AND fund_fen >= 0 AND insurer_fen + fund_fen <= amount_fen",
                                      name="split_adds_up"),
                      UniqueConstraint("hospital_id", "natural_key", name="uq_bills_hospital_natural_key"))


# ---------------------------------------------------------------- rescue fund
class FundCaseRow(Base):
    __tablename__ = "fund_cases"
    case_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.incident_id"), index=True)
    incident_row: Mapped["IncidentRow"] = flushed_after("IncidentRow")
    kind: Mapped[str] = mapped_column(String(20), default="rescue")  # rescue, funeral
    province: Mapped[str] = mapped_column(String(40), default="shandong")
    status: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list[Any]]
    accident_at: Mapped[datetime]
    accident_date: Mapped[date] = mapped_column(Date)
    victim_ref: Mapped[str | None] = mapped_column(String(120))
    applicant_type: Mapped[str | None] = mapped_column(String(20))
    requested_fen: Mapped[int | None] = mapped_column(Money)
    rejected_by: Mapped[str | None] = mapped_column(String(200))
    rejected_at: Mapped[datetime | None]
    responsible_party: Mapped[str | None] = mapped_column(String(200))
    first_approval: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    opened_at: Mapped[datetime]
    police_notified_at: Mapped[datetime | None]
    applied_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_fen: Mapped[int | None] = mapped_column(Money)
    second_approved_by: Mapped[str | None] = mapped_column(String(200))
    rejected_reason: Mapped[str | None] = mapped_column(Text)
    paid_at: Mapped[datetime | None]
    paid_by: Mapped[str | None] = mapped_column(String(200))
    paid_fen: Mapped[int | None] = mapped_column(Money)
    eligible_fen: Mapped[int] = mapped_column(Money, default=0)
    hospital_id: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    overdue_flags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)
    __table_args__ = (CheckConstraint("approved_fen IS NULL OR approved_fen >= 0", name="approved_nonneg"),
                      # one rescue case and at most one funeral case per incident
                      UniqueConstraint("incident_id", "kind", name="uq_fund_cases_incident_kind"),
                      Index("ix_fund_cases_updated", "updated_at"))


class FundPaymentRow(Base):
    """At most one payment per case: the primary key makes a double payment impossible."""

    __tablename__ = "fund_payments"
    case_id: Mapped[str] = mapped_column(ForeignKey("fund_cases.case_id"), primary_key=True)
    amount_fen: Mapped[int] = mapped_column(Money)
    hospital_id: Mapped[str | None] = mapped_column(String(40))
    paid_by: Mapped[str] = mapped_column(String(200))
    paid_at: Mapped[datetime]
    __table_args__ = (CheckConstraint("amount_fen >= 0", name="amount_nonneg"),)


class LedgerEntryRow(Base):
    __tablename__ = "fund_ledger"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(60), index=True)
    account: Mapped[str] = mapped_column(String(60))
    debit_fen: Mapped[int] = mapped_column(Money, default=0)
    credit_fen: Mapped[int] = mapped_column(Money, default=0)
    at: Mapped[datetime]
    memo: Mapped[str] = mapped_column(String(200))
    __table_args__ = (CheckConstraint("debit_fen >= 0 AND credit_fen >= 0", name="nonneg"),)


class RecoveryRow(Base):
    __tablename__ = "recoveries"
    recovery_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("fund_cases.case_id"), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open, driver_identified, recovered, closed
    amount_fen: Mapped[int] = mapped_column(Money, default=0)
    responsible: Mapped[dict[str, Any]]
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# ---------------------------------------------------------------- claims
class ClaimRow(Base):
    __tablename__ = "claims"
    claim_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.incident_id"), index=True)
    incident_row: Mapped["IncidentRow"] = flushed_after("IncidentRow")
    insurer: Mapped[str] = mapped_column(String(40), index=True)
    routed: Mapped[bool] = mapped_column(Boolean, default=True)
    plate: Mapped[str] = mapped_column(String(20))
    ci_policy: Mapped[str | None] = mapped_column(String(60))
    party: Mapped[dict[str, Any]]
    # salted hashes of the party's ID number and phone: duplicate checks without scanning personal data
    id_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(30))
    kind: Mapped[str] = mapped_column(String(20))  # quick, injury, property
    facts: Mapped[dict[str, Any]]
    owed_to_hospital_fen: Mapped[int] = mapped_column(Money, default=0)
    assessed_fen: Mapped[int | None] = mapped_column(Money)
    paid_fen: Mapped[int | None] = mapped_column(Money)
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    timestamps: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    overdue_flags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)
    __table_args__ = (UniqueConstraint("incident_id", "plate", name="uq_claims_incident_plate"),
                      Index("ix_claims_insurer_opened", "insurer", "opened_at"),
                      Index("ix_claims_plate_opened", "plate", "opened_at"))


class QuickCaseRow(Base):
    """Online quick handling of a minor crash (快处快赔): the parties' shared case."""

    __tablename__ = "quick_cases"
    quick_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.incident_id"), unique=True)
    incident_row: Mapped["IncidentRow"] = flushed_after("IncidentRow")
    region: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(30))  # open, agreed, police_queue, determined, police_attend
    eligibility: Mapped[dict[str, Any]]
    parties: Mapped[list[Any]]
    photos: Mapped[list[Any]] = mapped_column(JSON, default=list)
    situations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    confirmations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# ---------------------------------------------------------------- access, audit, idempotency
class TokenRow(Base):
    __tablename__ = "tokens"
    token_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    hospital_id: Mapped[str | None] = mapped_column(String(40))
    insurer_id: Mapped[str | None] = mapped_column(String(40))
    unit_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuditRow(Base):
    """Append-only (triggers in the migration refuse UPDATE and DELETE)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    token_id: Mapped[str | None] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(120))
    detail: Mapped[dict[str, Any]]


class IdempotencyRow(Base):
    __tablename__ = "idempotency_keys"
    token_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(300))
    # sha256 of the request's body: a key replays only for the same body (web_0002; None before it)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    status_code: Mapped[int]
    body: Mapped[dict[str, Any] | list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
