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

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from accidentlink.clock import iso
from accidentlink.masking import mask_known_names, mask_name, mask_record, mask_text
from fund.cases import (
    AlreadyPaid, CaseKind, CaseState, FundCase, FundEvent, HitAndRunSolved, InvalidState, SamePersonApprovedAndPays,
    SecondApprovalRequired, SplitChanged, approve, calendar_gaps, case_to_dict, change_split, deadlines, event_to_dict,
    notify_police, open_case, open_case_reasons, overdue, pay, receive_application, reject, solve_hit_and_run,
)
from fund.commands import (
    ApplyForFuneralCosts, ApproveCase, BillReceived, CaseQuery, CasesQuery, IncidentReported, PayCase, QueueQuery,
    RecordHitAndRunSolved, RecordPoliceNotice, RejectCase,
)
from fund.cases import NoFundCondition
from fund.ledger import OWED_BACK, LedgerEntry, account_balance, entries_for_event
from fund.payer import CostKind, PayerSplit, answering_vehicle, route_bill
from fund.payer_reasons import reasons_json
from fund.ports import (
    BillCopy, CaseFile, CaseNote, FirstApproval, FundUnitOfWork, IncidentFacts, OverdueFlag, Payment, Recovery,
)

# the states in which a statutory step is still owed (the review queue; the overdue timer)
OPEN_STATES = (CaseState.OPENED, CaseState.POLICE_NOTIFIED, CaseState.APPLIED, CaseState.APPROVED)
# the hospitals' routing reasons that bring the fund in (fund.payer)
BILL_REASONS = frozenset({"above_ci_limit", "no_ci", "hit_and_run_vehicle_unknown", "hit_and_run_uninsured",
                          "ci_limit_used_up", "own_vehicle_not_third_party", "vehicle_unknown"})


log = logging.getLogger("accidentlink.fund")
CALENDAR_NOTE = "calendar_not_covered"  # the note (by) that records a calendar flag was raised, once per step


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
    d["calendar_flags"] = [_calendar_flag(g) for g in calendar_gaps(f.case)]
    return d


def _calendar_flag(g: Any) -> dict[str, Any]:
    years = "、".join(str(y) for y in g.years)
    return {"step": g.step, "due": iso(g.due), "years": list(g.years),
            "zh": f"节假日安排未收录{years}年：{g.step} 期限按周一至周五计算，请人工核对",
            "en": f"the holiday calendar does not cover {', '.join(map(str, g.years))}: the {g.step} deadline is "
                  f"counted Monday to Friday; check it"}


def _flag_calendar(uow: FundUnitOfWork, f: CaseFile, at: datetime) -> CaseFile:
    """A deadline counted through a year the holiday calendar does not cover is told to the administrators once
    per step (a note on the case, a ``CalendarNotCovered`` change on ``fund.cases``, a warning in the log)."""
    noted = {n.note.split(":", 1)[0] for n in f.notes if n.by == CALENDAR_NOTE}
    new = [g for g in calendar_gaps(f.case) if g.step not in noted]
    if not new:
        return f
    notes = tuple(CaseNote(at, CALENDAR_NOTE, f"{g.step}: {_calendar_flag(g)['zh']}") for g in new)
    f = replace(f, notes=f.notes + notes, updated_at=at, version=f.version + 1)
    uow.cases.save(f)
    event = {"type": "CalendarNotCovered", "steps": [g.step for g in new],
             "years": sorted({y for g in new for y in g.years})}
    uow.events.case_changed(f.case.case_id, _message(f, "CalendarNotCovered", event, at), at)
    log.warning("fund case %s: holiday calendar does not cover %s; deadlines %s counted Monday to Friday",
                f.case.case_id, event["years"], event["steps"])
    return f


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
        uow.ledger.add(entries_for_event(e, outstanding_advance_fen=outstanding if isinstance(e, HitAndRunSolved) else 0,
                                         debtor_known=f.case.responsible_party is not None))


def _apply(uow: FundUnitOfWork, f: CaseFile, case: FundCase, events: list[FundEvent], at: datetime, *,
           note: CaseNote | None = None) -> CaseFile:
    """A state change of the case (one version more; with a note when one is given), kept and told."""
    f = replace(f, case=case, updated_at=at, version=f.version + 1, notes=f.notes + ((note,) if note else ()))
    uow.cases.save(f)
    _publish(uow, f, events, at)
    return _flag_calendar(uow, f, at)


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
    return _flag_calendar(uow, f, at)


def _owed_back_recorded(uow: FundUnitOfWork, case_id: str) -> int:
    """What the ledger already records as owed back to the fund on this case (its receivable's balance)."""
    return account_balance(uow.ledger.of_case(case_id), OWED_BACK)


def _reconcile(uow: FundUnitOfWork, incident_id: str, province: str, at: datetime) -> CaseFile | None:
    """Bring the incident's rescue case in line with its bills: open it when bills exceed what the insurer
    covers, and take the hospital's application (the fund's share of the bills); when the bills were routed
    again, follow the new share (``fund.cases.change_split``: an approval above it withdrawn, a paid excess owed
    back and posted to the ledger). Idempotent; None when there is no case, or no bill to bring it in line with."""
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
    previous = f.eligible_fen
    if f.eligible_fen != fund_total or (hospital and f.hospital_id != hospital):
        f = replace(f, eligible_fen=fund_total, hospital_id=hospital, updated_at=at)
        uow.cases.save(f)
    case = f.case
    if fund_total > 0 and case.state in (CaseState.OPENED, CaseState.POLICE_NOTIFIED):
        case, events = receive_application(case, applicant_type="hospital", amount_fen=fund_total, at=at)
        f = _apply(uow, f, case, events, at)
    elif case.state in (CaseState.APPLIED, CaseState.APPROVED, CaseState.PAID):
        owed_by = ",".join(sorted({f"insurer:{b.insurer_code}" for b in bills if b.insurer_code})) or None
        case, events = change_split(case, fund_total, at=at, previous_fen=previous if case.state is not CaseState.APPLIED
                                    else (case.requested_fen or 0),
                                    owed_back_recorded_fen=_owed_back_recorded(uow, case.case_id), owed_by=owed_by)
        if events:
            note = None
            ev = events[0]
            if isinstance(ev, SplitChanged) and (ev.owed_back_change_fen or ev.approval_withdrawn):
                note = CaseNote(at, "routing", f"bills re-routed: fund share {ev.previous_fen} -> {ev.eligible_fen} fen"
                                + (f"; {ev.owed_back_fen} fen owed back by {ev.owed_by}" if ev.owed_back_fen else "")
                                + ("; approval withdrawn, review again" if ev.approval_withdrawn else ""))
            f = _apply(uow, f, case, events, at, note=note)
            recovery = uow.recoveries.get(case.case_id)
            if recovery is not None and isinstance(ev, SplitChanged) and case.state is CaseState.PAID:
                uow.recoveries.save(replace(recovery, amount_fen=max(0, (case.paid_fen or 0) - ev.owed_back_fen),
                                            updated_at=at))
            if uow.ledger.balance() != 0:
                raise RuntimeError("fund ledger out of balance")
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
        kept = uow.bills.get(bill.bill_id)
        if kept is None:
            uow.bills.add(bill)
        elif int(bill.routing.get("revision") or 0) > int(kept.routing.get("revision") or 0):
            uow.bills.save(bill)  # the split routed again (liability decided): the later revision stands
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
            f = _flag_calendar(uow, f, now)
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


def funeral_split(uow: FundUnitOfWork, incident: IncidentFacts, amount_fen: int,
                  deceased_id_number: str | None) -> PayerSplit:
    """Who pays funeral costs (条例 23, 24 [O]; domain.md §2-3): the 交强险 death and disability limit of the
    vehicle that answers for the death first (never the deceased's own vehicle's, 条例 3, 21), for that
    driver's liability as the hospitals' routing last told the fund (undetermined: the at-fault limit); the
    fund only what the insurer does not owe (above the limit, no 交强险, hit-and-run)."""
    bills = uow.bills.of_incident(incident.incident_id)
    shares = {b.routing.get("vehicle_plate"): b.routing.get("liability") for b in bills
              if b.routing.get("vehicle_plate") and b.routing.get("liability")}
    ans = answering_vehicle(uow.incidents.parties(incident.incident_id), hit_and_run=incident.hit_and_run,
                            patient_id_number=deceased_id_number, fled_plate=uow.incidents.fled_plate(incident.incident_id),
                            liability=shares)
    split = route_bill(amount_fen, vehicle=ans.cover, accident_date=incident.accident_date, at_fault=ans.at_fault,
                       kind=CostKind.FUNERAL)
    reasons = tuple(dict.fromkeys([*ans.reasons, *split.reasons]))
    return replace(split, reasons=reasons)


def apply_for_funeral_costs(cmd: ApplyForFuneralCosts, uow: FundUnitOfWork, *, province: str) -> dict[str, Any]:
    """A relative applies for funeral costs with the police body-disposal notice (尸体处理通知书); the fund
    pays within 3 working days (试行办法 16; 办法 2022 [S]). Only for a death the fund covers (条例 24 [O]), and
    only what the insurer of the vehicle that answers for the death does not owe (``funeral_split``): the
    case's entitlement is the fund's share, so an approval above it is refused."""
    with uow:
        incident = uow.incidents.get(cmd.incident_id)
        if incident is None:
            raise CaseNotFound(f"no incident {cmd.incident_id}")
        if incident.fatalities < 1:
            raise InvalidState(f"incident {cmd.incident_id} records no death: no funeral costs to advance")
        if uow.cases.for_incident(cmd.incident_id, CaseKind.FUNERAL) is not None:
            raise InvalidState(f"incident {cmd.incident_id} already has a funeral-cost case")
        split = funeral_split(uow, incident, cmd.amount_fen, cmd.deceased_id_number)
        if split.insurer_fen == 0 and not set(split.reasons) & BILL_REASONS - {"vehicle_unknown"}:
            raise InvalidState("no rescue-fund condition holds for this accident (条例 24): not a fund case")
        if split.fund_fen == 0:
            raise NoFundCondition(
                f"the 交强险 death and disability limit of insurer {split.insurer_code} ({split.limit_fen} fen) covers "
                f"these funeral costs first (条例 23): no rescue-fund condition holds (条例 24); apply to the insurer")
        reasons = [r for r in split.reasons if r in BILL_REASONS] or list(split.reasons)
        case, events = open_case(case_id_for(cmd.incident_id, "funeral"), cmd.incident_id, reasons, province=province,
                                 accident_date=incident.accident_date, opened_at=cmd.at, kind=CaseKind.FUNERAL,
                                 victim_ref=cmd.relative[:100])
        case, more = receive_application(case, applicant_type="relative", amount_fen=cmd.amount_fen, at=cmd.at)
        notes = (CaseNote(cmd.at, "relative", f"尸体处理通知书 {cmd.notice_ref[:60]}"),)
        if split.insurer_fen:
            notes += (CaseNote(cmd.at, "routing", f"交强险死亡伤残限额先付: insurer {split.insurer_code} owes "
                                                  f"{split.insurer_fen} fen; the fund at most {split.fund_fen} fen"),)
        f = CaseFile(case, accident_at=incident.first_reported_at, updated_at=cmd.at, version=1,
                     eligible_fen=split.fund_fen, notes=notes)
        uow.cases.add(f)
        _publish(uow, f, events + more, cmd.at)
        uow.commit()
    view = case_view(f)
    view["payers"] = {"insurer": split.insurer_code, "insurer_fen": split.insurer_fen, "fund_fen": split.fund_fen,
                      "uncovered_fen": split.uncovered_fen, "reasons": list(split.reasons),
                      "reason_texts": reasons_json(split.reasons)}
    return view


# ---------------------------------------------------------------- the desk's read models
def list_cases(query: CasesQuery, uow: FundUnitOfWork) -> list[dict[str, Any]]:
    with uow:
        return [case_view(f) for f in uow.cases.recent(query.limit, query.status)]


def with_countdown(view: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The case with the working days left to each statutory deadline (negative: working days late), as the
    clerk counts them on the fund's calendar (``fund.workdays``)."""
    from accidentlink.clock import parse_aware
    from fund.workdays import working_days_between

    left = {}
    for step, due in (view.get("deadlines") or {}).items():
        at = parse_aware(due)
        left[step] = working_days_between(now, at) if at >= now else -working_days_between(at, now)
    return {**view, "working_days_left": left}


QUEUE_SORTS = {
    "deadline": (lambda d: min(d["deadlines"].values()) if d["deadlines"] else "9999", False),
    "newest": (lambda d: d.get("opened_at") or "", True),
    "oldest": (lambda d: d.get("opened_at") or "", False),
    "amount": (lambda d: d.get("eligible_fen") or 0, True),
}


def review_queue(query: QueueQuery, uow: FundUnitOfWork) -> list[dict[str, Any]]:
    """Cases awaiting a decision or a payment that match the clerk's search and filters, in the chosen order
    (soonest deadline first by default); ``query.offset`` pages on."""
    return review_queue_page(query, uow)[0]


def review_queue_page(query: QueueQuery, uow: FundUnitOfWork) -> tuple[list[dict[str, Any]], int]:
    """The queue's page and how many cases match in all."""
    if query.sort not in QUEUE_SORTS:
        raise ValueError(f"sort must be one of {', '.join(QUEUE_SORTS)}")
    with uow:
        items = [case_view(f) for f in uow.cases.in_states(OPEN_STATES)]
    needle = query.search.strip().upper()
    items = [d for d in items
             if (not needle or any(needle in str(d.get(k) or "").upper() for k in ("case_id", "incident_id", "hospital_id")))
             and (not query.status or d["status"] == query.status)
             and (not query.kind or d.get("kind") == query.kind)
             and (not query.overdue or d["overdue"])]
    key, reverse = QUEUE_SORTS[query.sort]
    items.sort(key=lambda d: (key(d), d["case_id"]), reverse=reverse)
    return items[query.offset:query.offset + query.limit], len(items)


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
