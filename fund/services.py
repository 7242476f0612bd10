"""Rescue-fund use cases: open cases from incidents and bills, approve, reject, pay, recover, timers.

Cases open by themselves (条例 24 [O]): a casualty crash with a hit-and-run or an uninsured vehicle
(from the reports), or rescue costs above the 交强险 medical limit (from the hospitals' bills, whose
split ``fund.route_rescue_bill`` computed). The incident comes through the joint police platform,
which is the police's electronic notice to the fund (程序规定 42 [O] duty; information sharing of the
警保医 model), so the notice is recorded when the case opens.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accidentlink.clock import CST, iso
from accidentlink.masking import mask_name
from accidentlink.incidents import IncidentFacts
from accidentlink.pipeline import Context, RawMessage, unseen_events
from accidentlink.reports import AccidentReport
from connectors.sql import batch
from connectors.sql import incidents as incident_repo
from connectors.sql.models import (
    BillRow, FundCaseRow, FundPaymentRow, IncidentRow, LedgerEntryRow, RecoveryRow,
)
from connectors.sql.outbox import emit
from fund.cases import (
    AlreadyPaid, CaseKind, CaseState, FundCase, FundEvent, HitAndRunSolved, InvalidState, SamePersonApprovedAndPays,
    SecondApprovalRequired, approve, case_to_dict, event_to_dict, notify_police, open_case, open_case_reasons, overdue,
    pay, receive_application, reject, solve_hit_and_run,
)
from fund.ledger import entries_for_event

log = logging.getLogger("accidentlink.fund")
CONSUMER = "rescue-fund"


class CaseNotFound(LookupError):
    pass


def case_id_for(incident_id: str, kind: str = "rescue") -> str:
    return ("FC-" if kind == "rescue" else "FF-") + incident_id[4:]


# ---------------------------------------------------------------- rows <-> domain
def to_domain(r: FundCaseRow) -> FundCase:
    return FundCase(
        case_id=r.case_id, incident_id=r.incident_id, kind=CaseKind(r.kind), state=CaseState(r.status),
        reasons=tuple(r.reasons or ()), province=r.province, accident_date=r.accident_date, opened_at=r.opened_at,
        victim_ref=r.victim_ref, police_notified_at=r.police_notified_at, applied_at=r.applied_at,
        applicant_type=r.applicant_type, requested_fen=r.requested_fen, approved_fen=r.approved_fen,
        approved_by=r.approved_by, second_approved_by=r.second_approved_by, approved_at=r.approved_at,
        rejected_reason=r.rejected_reason, rejected_by=r.rejected_by, rejected_at=r.rejected_at,
        paid_fen=r.paid_fen, paid_by=r.paid_by, paid_at=r.paid_at, responsible_party=r.responsible_party,
    )


def apply_domain(r: FundCaseRow, c: FundCase, now: datetime) -> None:
    r.status, r.reasons = c.state.value, list(c.reasons)
    for f in ("police_notified_at", "applied_at", "applicant_type", "requested_fen", "approved_fen", "approved_by",
              "second_approved_by", "approved_at", "rejected_reason", "rejected_by", "rejected_at", "paid_fen",
              "paid_by", "paid_at", "responsible_party", "victim_ref"):
        setattr(r, f, getattr(c, f))
    r.updated_at = now
    r.version = (r.version or 0) + 1


def case_json(s: Session, r: FundCaseRow, now: datetime | None = None) -> dict[str, Any]:
    d = case_to_dict(to_domain(r))
    d["status"] = d.pop("state")
    d["victim_ref"] = mask_name(d.get("victim_ref"))  # a relative's or victim's name is personal data
    d.update({"eligible_fen": r.eligible_fen, "hospital_id": r.hospital_id, "notes": r.notes or [],
              "overdue": r.overdue_flags or [], "updated_at": iso(r.updated_at), "version": r.version,
              "first_approval": r.first_approval})
    from fund.cases import deadlines

    d["deadlines"] = {k: iso(v) for k, v in deadlines(to_domain(r)).items()}
    return d


def _publish(s: Session, owner: str, topics: Any, r: FundCaseRow, events: list[FundEvent], now: datetime) -> None:
    """One ``fund.cases`` message per state change; money events also post to the ledger."""
    for e in events:
        ev = event_to_dict(e)
        value = {"schema": "fund-case/1", "event_id": f"{r.case_id}:{r.version}:{ev['type']}",
                 "case_id": r.case_id, "incident_id": r.incident_id, "change": ev["type"], "at": iso(now),
                 "event": ev, "case": case_json(s, r)}
        emit(s, owner, topics.name("fund.cases"), r.case_id, value, now)
        incident_repo.add_timeline(s, r.incident_id, now, f"fund_{ev['type']}", case_id=r.case_id)
        outstanding = r.paid_fen or 0
        for le in entries_for_event(e, outstanding_advance_fen=outstanding if isinstance(e, HitAndRunSolved) else 0):
            s.add(LedgerEntryRow(case_id=le.case_id, account=le.account, debit_fen=le.debit_fen,
                                 credit_fen=le.credit_fen, at=le.at, memo=le.memo))


def _open(s: Session, owner: str, topics: Any, incident: IncidentRow, reasons: list[str], province: str,
          now: datetime) -> FundCaseRow:
    case_id = case_id_for(incident.incident_id)
    accident_date = incident.first_reported_at.astimezone(CST).date()
    case, events = open_case(case_id, incident.incident_id, reasons, province=province, accident_date=accident_date,
                             opened_at=incident.first_reported_at)
    case, more = notify_police(case, at=now)
    row = FundCaseRow(case_id=case_id, incident_id=incident.incident_id, kind="rescue", province=case.province,
                      status=case.state.value, reasons=list(reasons), accident_at=incident.first_reported_at,
                      accident_date=accident_date, opened_at=case.opened_at, eligible_fen=0, notes=[],
                      overdue_flags=[], updated_at=now, version=0)
    apply_domain(row, case, now)
    s.add(row)
    s.flush()
    _publish(s, owner, topics, row, events + more, now)
    return row


def reconcile(s: Session, owner: str, topics: Any, incident_id: str, province: str, now: datetime) -> FundCaseRow | None:
    """Bring the incident's case in line with its bills: open it when bills exceed what the insurer
    covers, and take the hospital's application (the fund's share of the bills). Idempotent."""
    fund_total, hospital = s.execute(select(func.coalesce(func.sum(BillRow.fund_fen), 0), func.max(BillRow.hospital_id))
                                     .where(BillRow.incident_id == incident_id)).one()
    fund_total = int(fund_total)
    row = s.scalar(select(FundCaseRow).where(FundCaseRow.incident_id == incident_id, FundCaseRow.kind == "rescue"))
    if row is None:
        if fund_total <= 0:
            return None
        incident = s.get(IncidentRow, incident_id)
        reasons = sorted({r for rs in s.scalars(select(BillRow.routing).where(BillRow.incident_id == incident_id))
                          for r in (rs or {}).get("reasons", []) if r in ("above_ci_limit", "no_ci",
                          "hit_and_run_vehicle_unknown", "hit_and_run_uninsured", "ci_limit_used_up")}) or ["costs_above_ci_limit"]
        row = _open(s, owner, topics, incident, reasons, province, now)
    if row.eligible_fen != fund_total or (hospital and row.hospital_id != hospital):
        row.eligible_fen, row.hospital_id = fund_total, hospital
        row.updated_at = now
    case = to_domain(row)
    if fund_total > 0 and case.state in (CaseState.OPENED, CaseState.POLICE_NOTIFIED):
        case, events = receive_application(case, applicant_type="hospital", amount_fen=fund_total, at=now)
        apply_domain(row, case, now)
        _publish(s, owner, topics, row, events, now)
    elif case.state is CaseState.APPLIED and case.requested_fen != fund_total:
        apply_domain(row, replace(case, requested_fen=fund_total), now)
    return row


def copy_bill(s: Session, bill: dict[str, Any], now: datetime) -> None:
    """The fund's copy of a hospital's bill (``hospitals.bills``), once."""
    if s.get(BillRow, bill["bill_id"]) is not None:
        return
    s.add(BillRow(bill_id=bill["bill_id"], admission_id=bill["admission_id"], incident_id=bill["incident_id"],
                  hospital_id=bill["hospital_id"], amount_fen=int(bill["amount_fen"]),
                  rescue_started_at=datetime.fromisoformat(bill["rescue_started_at"]), items=bill.get("items") or [],
                  insurer_fen=int(bill.get("insurer_fen") or 0), fund_fen=int(bill.get("fund_fen") or 0),
                  insurer_code=bill.get("insurer"),
                  routing=bill.get("routing") or {"reasons": bill.get("reasons") or [],
                                                  "vehicle_plate": bill.get("vehicle_plate")},
                  created_at=datetime.fromisoformat(bill["at"]) if bill.get("at") else now,
                  created_by=bill.get("created_by") or f"hospital:{bill['hospital_id']}"))
    s.flush()


def incident_id_of(ctx: Context, report: AccidentReport) -> str | None:
    """The incident a report of this batch belongs to (its copy was recorded just before the handler)."""
    return (ctx.known_reports or {}).get(report.report_id)


# ---------------------------------------------------------------- the pipeline
class FundHandler:
    """The ``rescue-fund`` consumer group: reports open cases; bills apply to them; a timer flags
    overdue statutory steps."""

    def __init__(self, db: Any, topics: Any, clock: Any, province: str):
        self.db, self.topics_, self.clock, self.province = db, topics, clock, province

    @classmethod
    def build(cls, c: Any) -> "FundHandler":
        return cls(c.store("fund"), c.topics, c.clock, c.settings.province)

    def prepare(self, ctx: Context, reports: list[AccidentReport]) -> None:
        """Once per batch: which of the batch's new incidents were billed before their facts arrived here
        (``hospitals.bills`` and ``intake.incident-facts`` are read independently)."""
        cached = batch.cache(ctx.session, "fund")
        if cached is None:
            return
        cached["billed_early"] = set(ctx.session.scalars(select(BillRow.incident_id).where(
            BillRow.incident_id.in_({i for r in reports for i in [incident_id_of(ctx, r)] if i}))))

    def __call__(self, ctx: Context, report: AccidentReport, incident: IncidentFacts) -> None:
        s = ctx.session
        early = (batch.cache(s, "fund") or {}).get("billed_early")
        if early is None or incident.incident_id in early:
            reconcile(s, ctx.consumer, ctx.topics, incident.incident_id, self.province, ctx.now)
        reasons = open_case_reasons(report)
        if not reasons:
            return
        row = s.scalar(select(FundCaseRow).where(FundCaseRow.incident_id == incident.incident_id,
                                                 FundCaseRow.kind == "rescue"))
        if row is None:
            _open(s, ctx.consumer, ctx.topics, incident_repo.incident(s, incident.incident_id), reasons, self.province, ctx.now)
        elif set(reasons) - set(row.reasons):
            row.reasons = sorted(set(row.reasons) | set(reasons))
            row.updated_at = ctx.now

    def topics(self) -> dict[str, Any]:
        return {"hospitals.bills": self.on_bills}

    def timers(self) -> list[tuple[float, Any]]:
        return [(30.0, self.flag_overdue)]

    def on_bills(self, messages: list[RawMessage]) -> None:
        """The fund's own copy of each bill, then the incident's case brought in line with its bills (once
        the incident's facts are here too; otherwise when they arrive)."""
        now = self.clock.now()
        with self.db.uow() as uow:
            s = uow.session
            for bill in unseen_events(s, CONSUMER, messages, "bill_id", now):
                copy_bill(s, bill, now)
                if s.get(IncidentRow, bill["incident_id"]) is not None:
                    reconcile(s, CONSUMER, self.topics_, bill["incident_id"], self.province, now)
            uow.commit()

    def flag_overdue(self) -> int:
        """Statutory steps past due are flagged once each, to the role that owes them."""
        now = self.clock.now()
        n = 0
        with self.db.uow() as uow:
            s = uow.session
            rows = s.scalars(select(FundCaseRow).where(FundCaseRow.status.in_(
                ["opened", "police_notified", "applied", "approved"]))).all()
            for r in rows:
                late = overdue(to_domain(r), now)
                flagged = {f["step"] for f in r.overdue_flags or []}
                new = [o for o in late if o.step not in flagged]
                if not new:
                    continue
                r.overdue_flags = (r.overdue_flags or []) + [{"step": o.step, "owner": o.owner_role, "due": iso(o.due),
                                                              "flagged_at": iso(now)} for o in new]
                r.updated_at, r.version = now, r.version + 1
                value = {"schema": "fund-case/1", "event_id": f"{r.case_id}:{r.version}:Overdue", "case_id": r.case_id,
                         "incident_id": r.incident_id, "change": "Overdue", "at": iso(now),
                         "event": {"type": "Overdue", "steps": [o.step for o in new]}, "case": case_json(s, r)}
                emit(s, CONSUMER, self.topics_.name("fund.cases"), r.case_id, value, now)
                n += 1
            uow.commit()
        return n


# ---------------------------------------------------------------- the administrators' desk
def _get(s: Session, case_id: str) -> FundCaseRow:
    r = s.get(FundCaseRow, case_id)
    if r is None:
        raise CaseNotFound(f"no fund case {case_id}")
    return r


def list_cases(s: Session, limit: int, status: str | None = None, order: str = "newest") -> list[dict[str, Any]]:
    q = select(FundCaseRow)
    if status:
        q = q.where(FundCaseRow.status == status)
    q = q.order_by(FundCaseRow.opened_at.desc(), FundCaseRow.case_id.desc()).limit(limit)
    return [case_json(s, r) for r in s.scalars(q)]


def review_queue(s: Session, limit: int) -> list[dict[str, Any]]:
    """Cases awaiting a decision or a payment, the oldest deadline first."""
    rows = s.scalars(select(FundCaseRow).where(FundCaseRow.status.in_(["opened", "police_notified", "applied", "approved"]))).all()
    items = [case_json(s, r) for r in rows]
    items.sort(key=lambda d: min(d["deadlines"].values()) if d["deadlines"] else "9999")
    return items[:limit]


def approve_case(s: Session, owner: str, topics: Any, case_id: str, amount_fen: int, note: str, actor: str,
                 province: str, now: datetime) -> dict[str, Any]:
    """Never above what the rules allow (``AmountAboveEntitlement`` carries the allowed amount)."""
    r = _get(s, case_id)
    if r.kind == "rescue":
        r = reconcile(s, owner, topics, r.incident_id, province, now) or r  # a fast reviewer never sees stale bills
    case = to_domain(r)
    allowed = r.eligible_fen
    second = None
    if r.first_approval and r.first_approval.get("amount_fen") == amount_fen and r.first_approval.get("by") != actor:
        second = r.first_approval["by"]
    try:
        new, events = approve(case, amount_fen, actor, allowed, at=now, second_approver=second)
    except SecondApprovalRequired:
        if r.first_approval is None or r.first_approval.get("amount_fen") != amount_fen:
            r.first_approval = {"by": actor, "amount_fen": amount_fen, "at": iso(now), "note": note}
            r.updated_at = now
            return {**case_json(s, r), "awaiting_second_approval": True}
        raise
    if second:  # the earlier approver is the maker; this one checks
        new = replace(new, approved_by=second, second_approved_by=actor)
    apply_domain(r, new, now)
    if note:
        r.notes = (r.notes or []) + [{"at": iso(now), "by": actor, "note": note[:500]}]
    _publish(s, owner, topics, r, events, now)
    return case_json(s, r)


def reject_case(s: Session, owner: str, topics: Any, case_id: str, reason: str, actor: str, now: datetime) -> dict[str, Any]:
    r = _get(s, case_id)
    new, events = reject(to_domain(r), reason=reason, rejected_by=actor, at=now)
    apply_domain(r, new, now)
    _publish(s, owner, topics, r, events, now)
    return case_json(s, r)


def pay_case(s: Session, owner: str, topics: Any, case_id: str, actor: str, now: datetime) -> dict[str, Any]:
    """Exactly once: the domain refuses a second pay, and ``fund_payments`` has one row per case."""
    r = _get(s, case_id)
    if s.get(FundPaymentRow, case_id) is not None:
        raise AlreadyPaid(f"case {case_id} is already paid")
    if r.status == "approved" and _person(actor) in {_person(r.approved_by), _person(r.second_approved_by)}:
        # the same person holding another token is still the same person (maker-checker)
        raise SamePersonApprovedAndPays(f"{_person(actor)} approved case {case_id} and may not also pay it")
    new, events = pay(to_domain(r), actor, at=now)
    apply_domain(r, new, now)
    s.add(FundPaymentRow(case_id=case_id, amount_fen=new.paid_fen, hospital_id=r.hospital_id, paid_by=actor, paid_at=now))
    if s.get(RecoveryRow, "RC-" + case_id) is None:
        s.add(RecoveryRow(recovery_id="RC-" + case_id, case_id=case_id, status="open" if new.responsible_party is None
                          else "driver_identified", amount_fen=new.paid_fen,
                          responsible={"party": new.responsible_party}, opened_at=now, updated_at=now))
    _publish(s, owner, topics, r, events, now)
    s.flush()
    if ledger_balance(s) != 0:  # double entry: every posting balances, so the whole ledger does
        raise RuntimeError("fund ledger out of balance")
    return case_json(s, r)


def notice_from_police(s: Session, owner: str, topics: Any, case_id: str, now: datetime) -> dict[str, Any]:
    r = _get(s, case_id)
    new, events = notify_police(to_domain(r), at=now)
    if events:
        apply_domain(r, new, now)
        _publish(s, owner, topics, r, events, now)
    return case_json(s, r)


def hit_and_run_solved(s: Session, owner: str, topics: Any, case_id: str, driver_ref: str, now: datetime) -> dict[str, Any]:
    """The police name the fleeing driver (程序规定 48 [O]): the recovery record is updated and the fund
    administrators are told (a ``fund.cases`` event and a note on the case)."""
    r = _get(s, case_id)
    new, events = solve_hit_and_run(to_domain(r), driver_ref=driver_ref, at=now)
    if events:
        apply_domain(r, new, now)
        r.notes = (r.notes or []) + [{"at": iso(now), "by": "police", "note": f"hit-and-run solved: {driver_ref}"}]
        rec = s.get(RecoveryRow, "RC-" + case_id)
        if rec is not None:
            rec.status, rec.responsible, rec.updated_at = "driver_identified", {"party": driver_ref}, now
        _publish(s, owner, topics, r, events, now)
    return case_json(s, r)


def _person(actor: str | None) -> str | None:
    """``role:name:token_id`` -> ``role:name``."""
    return actor.rsplit(":", 1)[0] if actor else None


def apply_for_funeral_costs(s: Session, owner: str, topics: Any, incident_id: str, amount_fen: int, relative: str,
                            notice_ref: str, province: str, now: datetime) -> dict[str, Any]:
    """A relative applies for funeral costs with the police body-disposal notice (尸体处理通知书); the fund
    pays within 3 working days (试行办法 16; 办法 2022 [S]). Only for a death the fund covers (条例 24 [O])."""
    incident = s.get(IncidentRow, incident_id)
    if incident is None:
        raise CaseNotFound(f"no incident {incident_id}")
    if incident.fatalities < 1:
        raise InvalidState(f"incident {incident_id} records no death: no funeral costs to advance")
    rescue = s.scalar(select(FundCaseRow).where(FundCaseRow.incident_id == incident_id, FundCaseRow.kind == "rescue"))
    reasons = list(rescue.reasons) if rescue else [r for r, on in (("hit_and_run", incident.hit_and_run),) if on]
    if not reasons:
        raise InvalidState("no rescue-fund condition holds for this accident (条例 24): not a fund case")
    if s.scalar(select(FundCaseRow).where(FundCaseRow.incident_id == incident_id, FundCaseRow.kind == "funeral")):
        raise InvalidState(f"incident {incident_id} already has a funeral-cost case")
    case_id = case_id_for(incident_id, "funeral")
    accident_date = incident.first_reported_at.astimezone(CST).date()
    case, events = open_case(case_id, incident_id, reasons, province=province, accident_date=accident_date,
                             opened_at=now, kind=CaseKind.FUNERAL, victim_ref=relative[:100])
    case, more = receive_application(case, applicant_type="relative", amount_fen=amount_fen, at=now)
    row = FundCaseRow(case_id=case_id, incident_id=incident_id, kind="funeral", province=case.province,
                      status=case.state.value, reasons=reasons, accident_at=incident.first_reported_at,
                      accident_date=accident_date, opened_at=now, eligible_fen=amount_fen,
                      notes=[{"at": iso(now), "by": "relative", "note": f"尸体处理通知书 {notice_ref[:60]}"}],
                      overdue_flags=[], updated_at=now, version=0)
    apply_domain(row, case, now)
    s.add(row)
    s.flush()
    _publish(s, owner, topics, row, events + more, now)
    return case_json(s, row)


def ledger_balance(s: Session) -> int:
    d, c = s.execute(select(func.coalesce(func.sum(LedgerEntryRow.debit_fen), 0),
                            func.coalesce(func.sum(LedgerEntryRow.credit_fen), 0))).one()
    return int(d) - int(c)
