"""Rescue-fund use cases: open cases from incidents and bills, approve, reject, pay, recover, timers.

Cases open by themselves (条例 24 [O]): a casualty crash with a hit-and-run or an uninsured vehicle
(from the reports), or rescue costs above the 交强险 medical limit (from the hospitals' bills, whose
split ``fund.route_rescue_bill`` computed). The incident comes through the joint police platform,
which is the police's electronic notice to the fund (程序规定 42 [O] duty; information sharing of the
警保医 model), so the notice is recorded when the case opens.

Every use case has one shape, ``verb(event_or_command, uow, *, rules) -> result``: it enters the fund's
unit of work (``fund.ports.FundUnitOfWork``), loads, calls the domain (``fund.cases``, ``fund.ledger``),
records what changed and what others are told, commits, and returns the case as the desk sees it. The
desk's read models are functions over the unit of work too.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from accidentlink.clock import iso
from accidentlink.masking import mask_known_names, mask_name, mask_record, mask_text
from fund.cases import (
    AlreadyPaid, CaseKind, CaseState, FundCase, FundEvent, HitAndRunSolved, InvalidState, SamePersonApprovedAndPays,
    SecondApprovalRequired, approve, case_to_dict, deadlines, event_to_dict, notify_police, open_case,
    open_case_reasons, overdue, pay, receive_application, reject, solve_hit_and_run,
)
from fund.commands import (
    ApplyForFuneralCosts, ApproveCase, BillReceived, CaseQuery, CasesQuery, IncidentReported, PayCase, QueueQuery,
    RecordHitAndRunSolved, RecordPoliceNotice, RejectCase,
)
from fund.ledger import LedgerEntry, entries_for_event
from fund.ports import (
    BillCopy, CaseFile, CaseNote, FirstApproval, FundUnitOfWork, IncidentFacts, OverdueFlag, Payment, Recovery,
)

# the states in which a statutory step is still owed (the review queue; the overdue timer)
OPEN_STATES = (CaseState.OPENED, CaseState.POLICE_NOTIFIED, CaseState.APPLIED, CaseState.APPROVED)
# the hospitals' routing reasons that bring the fund in (fund.payer)
BILL_REASONS = frozenset({"above_ci_limit", "no_ci", "hit_and_run_vehicle_unknown", "hit_and_run_uninsured",
                          "ci_limit_used_up"})


class CaseNotFound(LookupError):
    pass


def case_id_for(incident_id: str, kind: str = "rescue") -> str:
    return ("FC-" if kind == "rescue" else "FF-") + incident_id[4:]


# ---------------------------------------------------------------- the case as the desk and fund.cases see it
def case_view(f: CaseFile) -> dict[str, Any]:
    d = case_to_dict(f.case)
    d["status"] = d.pop("state")
    d["victim_ref"] = mask_name(d.get("victim_ref"))  # a relative's or victim's name is personal data
    if d.get("responsible_party"):  # whom the fund recovers from: the desk needs the name, numbers in it masked
        d["responsible_party"] = mask_text(d["responsible_party"])
    d.update({"eligible_fen": f.eligible_fen, "hospital_id": f.hospital_id,
              "notes": mask_record([n.to_json() for n in f.notes]),  # free text: numbers typed into it masked
              "overdue": [o.to_json() for o in f.overdue_flags], "updated_at": iso(f.updated_at), "version": f.version,
              "first_approval": f.first_approval.to_json() if f.first_approval else None})
    d["deadlines"] = {k: iso(v) for k, v in deadlines(f.case).items()}
    return d


def _message(f: CaseFile, change: str, event: dict[str, Any], at: datetime) -> dict[str, Any]:
    """A ``fund.cases`` message (fund-case/1): what changed, and the case after it."""
    # a public topic: the people the case names are masked, also where a note repeats their name
    names = [f.case.responsible_party, f.case.victim_ref, event.get("driver_ref")]
    case = mask_known_names(case_view(f), [mask_text(n) if n else n for n in names])
    case["responsible_party"] = mask_name(case.get("responsible_party"))
    event = mask_known_names(mask_record({k: mask_name(v) if k in ("driver_ref", "responsible_party") and isinstance(v, str)
                                          else v for k, v in event.items()}), names)
    return {"schema": "fund-case/1", "event_id": f"{f.case.case_id}:{f.version}:{change}", "case_id": f.case.case_id,
            "incident_id": f.case.incident_id, "change": change, "at": iso(at), "event": event, "case": case}


def _publish(uow: FundUnitOfWork, f: CaseFile, events: list[FundEvent], at: datetime) -> None:
    """One ``fund.cases`` message and timeline entry per state change; money events also post to the ledger."""
    for e in events:
        ev = event_to_dict(e)
        uow.events.case_changed(f.case.case_id, _message(f, ev["type"], ev, at), at)
        uow.events.on_timeline(f.case.incident_id, f"fund_{ev['type']}", at, case_id=f.case.case_id)
        outstanding = f.case.paid_fen or 0
        uow.ledger.add(entries_for_event(e, outstanding_advance_fen=outstanding if isinstance(e, HitAndRunSolved) else 0))


def _apply(uow: FundUnitOfWork, f: CaseFile, case: FundCase, events: list[FundEvent], at: datetime, *,
           note: CaseNote | None = None) -> CaseFile:
    """A state change of the case (one version more; with a note when one is given), kept and told."""
    f = replace(f, case=case, updated_at=at, version=f.version + 1, notes=f.notes + ((note,) if note else ()))
    uow.cases.save(f)
    _publish(uow, f, events, at)
    return f


def _get(uow: FundUnitOfWork, case_id: str) -> CaseFile:
    f = uow.cases.get(case_id)
    if f is None:
        raise CaseNotFound(f"no fund case {case_id}")
    return f


# ---------------------------------------------------------------- cases open by themselves
def _open(uow: FundUnitOfWork, incident: IncidentFacts, reasons: list[str], province: str, at: datetime) -> CaseFile:
    case, events = open_case(case_id_for(incident.incident_id), incident.incident_id, reasons, province=province,
                             accident_date=incident.accident_date, opened_at=incident.first_reported_at)
    case, more = notify_police(case, at=at)
    f = CaseFile(case, accident_at=incident.first_reported_at, updated_at=at, version=1)
    uow.cases.add(f)
    _publish(uow, f, events + more, at)
    return f


def _reconcile(uow: FundUnitOfWork, incident_id: str, province: str, at: datetime) -> CaseFile | None:
    """Bring the incident's rescue case in line with its bills: open it when bills exceed what the insurer
    covers, and take the hospital's application (the fund's share of the bills). Idempotent; None when
    there is no case, or no bill to bring it in line with."""
    bills = uow.bills.of_incident(incident_id)
    if not bills:
        return None
    fund_total = sum(b.fund_fen for b in bills)
    hospital = max(b.hospital_id for b in bills)
    f = uow.cases.for_incident(incident_id, CaseKind.RESCUE)
    if f is None:
        incident = uow.incidents.get(incident_id) if fund_total > 0 else None
        if incident is None:
            return None
        reasons = sorted({r for b in bills for r in b.routing.get("reasons") or [] if r in BILL_REASONS})
        f = _open(uow, incident, reasons or ["costs_above_ci_limit"], province, at)
    if f.eligible_fen != fund_total or (hospital and f.hospital_id != hospital):
        f = replace(f, eligible_fen=fund_total, hospital_id=hospital, updated_at=at)
        uow.cases.save(f)
    case = f.case
    if fund_total > 0 and case.state in (CaseState.OPENED, CaseState.POLICE_NOTIFIED):
        case, events = receive_application(case, applicant_type="hospital", amount_fen=fund_total, at=at)
        f = _apply(uow, f, case, events, at)
    elif case.state is CaseState.APPLIED and case.requested_fen != fund_total:
        f = _apply(uow, f, replace(case, requested_fen=fund_total), [], at)
    return f


def open_cases_for_incident(event: IncidentReported, uow: FundUnitOfWork, *, province: str) -> CaseFile | None:
    """A casualty crash with a hit-and-run or an uninsured vehicle opens the incident's rescue case, once
    (later reports add their reasons); bills that arrived before the incident's facts apply to it now."""
    incident = event.incident
    with uow:
        f = _reconcile(uow, incident.incident_id, province, event.at)
        reasons = open_case_reasons(event.report)
        if reasons:
            f = uow.cases.for_incident(incident.incident_id, CaseKind.RESCUE)
            if f is None:
                f = _open(uow, incident, reasons, province, event.at)
            elif set(reasons) - set(f.case.reasons):
                merged = tuple(sorted(set(f.case.reasons) | set(reasons)))
                f = replace(f, case=replace(f.case, reasons=merged), updated_at=event.at)
                uow.cases.save(f)
        uow.commit()
    return f


def record_bill(event: BillReceived, uow: FundUnitOfWork, *, province: str) -> None:
    """The fund's own copy of a hospital's bill, once; then the incident's case brought in line with its
    bills (once the incident's facts are here too; otherwise when they arrive)."""
    bill = event.bill
    with uow:
        if uow.inbox.seen(event.event_id):
            return
        if uow.bills.get(bill.bill_id) is None:
            uow.bills.add(bill)
        if uow.incidents.get(bill.incident_id) is not None:
            _reconcile(uow, bill.incident_id, province, event.at)
        uow.inbox.mark(event.event_id, event.at)
        uow.commit()


def flag_overdue(now: datetime, uow: FundUnitOfWork) -> int:
    """Statutory steps past due are flagged once each, to the role that owes them; returns how many cases
    got a new flag."""
    n = 0
    with uow:
        for f in uow.cases.in_states(OPEN_STATES):
            flagged = {o.step for o in f.overdue_flags}
            new = [o for o in overdue(f.case, now) if o.step not in flagged]
            if not new:
                continue
            flags = tuple(OverdueFlag(o.step, o.owner_role, o.due, now) for o in new)
            f = replace(f, overdue_flags=f.overdue_flags + flags, updated_at=now, version=f.version + 1)
            uow.cases.save(f)
            uow.events.case_changed(f.case.case_id, _message(f, "Overdue", {"type": "Overdue",
                                                                            "steps": [o.step for o in new]}, now), now)
            n += 1
        uow.commit()
    return n


# ---------------------------------------------------------------- the administrators' desk
def approve_case(cmd: ApproveCase, uow: FundUnitOfWork, *, province: str) -> dict[str, Any]:
    """Never above what the rules allow (``AmountAboveEntitlement`` carries the allowed amount). Above the
    province's threshold the first approval waits for a second, different approver, who checks it."""
    with uow:
        f = _get(uow, cmd.case_id)
        if f.case.kind is CaseKind.RESCUE:  # a fast reviewer never sees stale bills
            f = _reconcile(uow, f.case.incident_id, province, cmd.at) or f
        first = f.first_approval
        second = first.by if first and first.amount_fen == cmd.amount_fen and first.by != cmd.actor else None
        try:
            case, events = approve(f.case, cmd.amount_fen, cmd.actor, f.eligible_fen, at=cmd.at, second_approver=second)
        except SecondApprovalRequired:
            if first is None or first.amount_fen != cmd.amount_fen:
                f = replace(f, first_approval=FirstApproval(cmd.actor, cmd.amount_fen, cmd.at, cmd.note), updated_at=cmd.at)
                uow.cases.save(f)
                uow.commit()
                return {**case_view(f), "awaiting_second_approval": True}
            raise
        if second:  # the earlier approver is the maker; this one checks
            case = replace(case, approved_by=second, second_approved_by=cmd.actor)
        f = _apply(uow, f, case, events, cmd.at, note=CaseNote(cmd.at, cmd.actor, cmd.note[:500]) if cmd.note else None)
        uow.commit()
    return case_view(f)


def reject_case(cmd: RejectCase, uow: FundUnitOfWork) -> dict[str, Any]:
    with uow:
        f = _get(uow, cmd.case_id)
        case, events = reject(f.case, reason=cmd.reason, rejected_by=cmd.actor, at=cmd.at)
        f = _apply(uow, f, case, events, cmd.at)
        uow.commit()
    return case_view(f)


def pay_case(cmd: PayCase, uow: FundUnitOfWork) -> dict[str, Any]:
    """Exactly once: the domain refuses a second pay, and the store keeps one payment per case. Paying opens
    the recovery (道路交通安全法 75 [S])."""
    with uow:
        f = _get(uow, cmd.case_id)
        if uow.payments.get(cmd.case_id) is not None:
            raise AlreadyPaid(f"case {cmd.case_id} is already paid")
        case = f.case
        if case.state is CaseState.APPROVED and _person(cmd.actor) in {_person(case.approved_by),
                                                                      _person(case.second_approved_by)}:
            # the same person holding another token is still the same person (maker-checker)
            raise SamePersonApprovedAndPays(f"{_person(cmd.actor)} approved case {cmd.case_id} and may not also pay it")
        case, events = pay(case, cmd.actor, at=cmd.at)
        f = _apply(uow, f, case, events, cmd.at)
        uow.payments.add(Payment(cmd.case_id, case.paid_fen or 0, f.hospital_id, cmd.actor, cmd.at))
        if uow.recoveries.get(cmd.case_id) is None:
            uow.recoveries.save(Recovery("RC-" + cmd.case_id, cmd.case_id, "open" if case.responsible_party is None
                                         else "driver_identified", case.paid_fen or 0, case.responsible_party,
                                         opened_at=cmd.at, updated_at=cmd.at))
        if uow.ledger.balance() != 0:  # double entry: every posting balances, so the whole ledger does
            raise RuntimeError("fund ledger out of balance")
        uow.commit()
    return case_view(f)


def record_police_notice(cmd: RecordPoliceNotice, uow: FundUnitOfWork) -> dict[str, Any]:
    """The police's written notice (程序规定 42 [O]); a repeat changes nothing."""
    with uow:
        f = _get(uow, cmd.case_id)
        case, events = notify_police(f.case, at=cmd.at)
        if events:
            f = _apply(uow, f, case, events, cmd.at)
        uow.commit()
    return case_view(f)


def hit_and_run_solved(cmd: RecordHitAndRunSolved, uow: FundUnitOfWork) -> dict[str, Any]:
    """The police name the fleeing driver (程序规定 48 [O]): the recovery record is updated and the fund
    administrators are told (a ``fund.cases`` event and a note on the case)."""
    with uow:
        f = _get(uow, cmd.case_id)
        case, events = solve_hit_and_run(f.case, driver_ref=cmd.driver_ref, at=cmd.at)
        if events:
            f = _apply(uow, f, case, events, cmd.at,
                       note=CaseNote(cmd.at, "police", f"hit-and-run solved: {cmd.driver_ref}"))
            recovery = uow.recoveries.get(cmd.case_id)
            if recovery is not None:
                uow.recoveries.save(replace(recovery, status="driver_identified", responsible_party=cmd.driver_ref,
                                            updated_at=cmd.at))
        uow.commit()
    return case_view(f)


def _person(actor: str | None) -> str | None:
    """``role:name:token_id`` -> ``role:name``."""
    return actor.rsplit(":", 1)[0] if actor else None


def apply_for_funeral_costs(cmd: ApplyForFuneralCosts, uow: FundUnitOfWork, *, province: str) -> dict[str, Any]:
    """A relative applies for funeral costs with the police body-disposal notice (尸体处理通知书); the fund
    pays within 3 working days (试行办法 16; 办法 2022 [S]). Only for a death the fund covers (条例 24 [O])."""
    with uow:
        incident = uow.incidents.get(cmd.incident_id)
        if incident is None:
            raise CaseNotFound(f"no incident {cmd.incident_id}")
        if incident.fatalities < 1:
            raise InvalidState(f"incident {cmd.incident_id} records no death: no funeral costs to advance")
        rescue = uow.cases.for_incident(cmd.incident_id, CaseKind.RESCUE)
        reasons = list(rescue.case.reasons) if rescue else ["hit_and_run"] if incident.hit_and_run else []
        if not reasons:
            raise InvalidState("no rescue-fund condition holds for this accident (条例 24): not a fund case")
        if uow.cases.for_incident(cmd.incident_id, CaseKind.FUNERAL) is not None:
            raise InvalidState(f"incident {cmd.incident_id} already has a funeral-cost case")
        case, events = open_case(case_id_for(cmd.incident_id, "funeral"), cmd.incident_id, reasons, province=province,
                                 accident_date=incident.accident_date, opened_at=cmd.at, kind=CaseKind.FUNERAL,
                                 victim_ref=cmd.relative[:100])
        case, more = receive_application(case, applicant_type="relative", amount_fen=cmd.amount_fen, at=cmd.at)
        f = CaseFile(case, accident_at=incident.first_reported_at, updated_at=cmd.at, version=1,
                     eligible_fen=cmd.amount_fen, notes=(CaseNote(cmd.at, "relative", f"尸体处理通知书 {cmd.notice_ref[:60]}"),))
        uow.cases.add(f)
        _publish(uow, f, events + more, cmd.at)
        uow.commit()
    return case_view(f)


# ---------------------------------------------------------------- the desk's read models
def list_cases(query: CasesQuery, uow: FundUnitOfWork) -> list[dict[str, Any]]:
    with uow:
        return [case_view(f) for f in uow.cases.recent(query.limit, query.status)]


def review_queue(query: QueueQuery, uow: FundUnitOfWork) -> list[dict[str, Any]]:
    """Cases awaiting a decision or a payment, the oldest deadline first."""
    with uow:
        items = [case_view(f) for f in uow.cases.in_states(OPEN_STATES)]
    items.sort(key=lambda d: min(d["deadlines"].values()) if d["deadlines"] else "9999")
    return items[:query.limit]


@dataclass(frozen=True)
class CaseDetail:
    case: dict[str, Any]
    bills: list[BillCopy]
    ledger: list[LedgerEntry]
    recovery: Recovery | None


def case_detail(query: CaseQuery, uow: FundUnitOfWork) -> CaseDetail:
    """One case with its incident's bills, its ledger postings and its recovery."""
    with uow:
        f = _get(uow, query.case_id)
        return CaseDetail(case_view(f), uow.bills.of_incident(f.case.incident_id), uow.ledger.of_case(query.case_id),
                          uow.recoveries.get(query.case_id))
