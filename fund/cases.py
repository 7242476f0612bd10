"""The rescue-fund advance case: a frozen ``FundCase`` and pure transitions returning events.

Rescue costs: ``opened`` (a 条例 24 condition met) -> ``police_notified`` -> ``applied`` (the
hospital's application and bill) -> ``approved`` | ``rejected`` -> ``paid``. The hospital may apply
before the police notice arrives (``applied`` then records the notice when it comes), but the
fund approves a rescue advance only once both are in (试行办法 15 [S]). Funeral costs: a relative
applies with the police body-disposal notice, no separate police notice step.

Each transition returns ``(new_case, events)``; a no-op (a repeated police notice) returns no
event, so handling a message twice equals handling it once.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime
from enum import Enum
from typing import Any, NamedTuple, Union

from accidentlink.clock import CST, iso
from accidentlink.money import check_fen
from accidentlink.reports import AccidentReport
from accidentlink.vehicles import FLED, is_motor_vehicle, role_of
from claims import medical_limit_fen
from fund.provinces import ProvinceRules, province_rules
from fund.workdays import WorkCalendar, add_working_days, default_calendar, uncovered_years



# ---- errors (the HTTP layer maps: 409 state, 403 person, 422 amount) -------------------------

class FundRuleViolation(Exception):
    """A fund rule refused the action."""


class InvalidState(FundRuleViolation):
    """The case is not in a state that allows this action (HTTP 409)."""


class NotApproved(InvalidState):
    """Payment asked for a case that is not approved (HTTP 409)."""


class AlreadyPaid(InvalidState):
    """The case is paid; a second payment pays nothing (HTTP 409)."""


class SamePersonApprovedAndPays(FundRuleViolation):
    """Maker-checker: whoever approved may not also pay (HTTP 403)."""


class SecondApprovalRequired(FundRuleViolation):
    """Above the province's threshold a second, different approver must sign (HTTP 403)."""

    def __init__(self, threshold_fen: int) -> None:
        super().__init__(f"amounts above {threshold_fen} fen need a second, different approver")
        self.threshold_fen = threshold_fen


class AmountAboveEntitlement(FundRuleViolation):
    """Approval above what the rules let the fund pay (HTTP 422 with ``allowed_fen``)."""

    def __init__(self, allowed_fen: int) -> None:
        super().__init__(f"amount above what the fund may pay: at most {allowed_fen} fen")
        self.allowed_fen = allowed_fen


class ApplicantNotAllowed(FundRuleViolation):
    """The province does not accept that applicant for that kind of advance (HTTP 403)."""


class NoFundCondition(FundRuleViolation):
    """None of the 条例 24 conditions holds: the fund has no case (HTTP 422)."""


# ---- the case ------------------------------------------------------------------------------

class CaseKind(str, Enum):
    RESCUE = "rescue"
    FUNERAL = "funeral"


class CaseState(str, Enum):
    OPENED = "opened"
    POLICE_NOTIFIED = "police_notified"
    APPLIED = "applied"
    APPROVED = "approved"
    REJECTED = "rejected"
    PAID = "paid"


@dataclass(frozen=True)
class FundCase:
    case_id: str
    incident_id: str
    kind: CaseKind
    state: CaseState
    reasons: tuple[str, ...]
    province: str
    accident_date: date
    opened_at: datetime                      # police handling the accident: the notice clock starts
    victim_ref: str | None = None
    police_notified_at: datetime | None = None
    applied_at: datetime | None = None
    applicant_type: str | None = None
    requested_fen: int | None = None
    approved_fen: int | None = None
    approved_by: str | None = None
    second_approved_by: str | None = None
    approved_at: datetime | None = None
    rejected_reason: str | None = None
    rejected_by: str | None = None
    rejected_at: datetime | None = None
    paid_fen: int | None = None
    paid_by: str | None = None
    paid_at: datetime | None = None
    responsible_party: str | None = None     # whom the fund recovers from, once known


# ---- events (past tense; one per state change, published on ``fund.cases``) ---------------

@dataclass(frozen=True)
class CaseOpened:
    case_id: str
    incident_id: str
    kind: str
    reasons: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class PoliceNotified:
    case_id: str
    at: datetime


@dataclass(frozen=True)
class ApplicationReceived:
    case_id: str
    applicant_type: str
    amount_fen: int
    at: datetime


@dataclass(frozen=True)
class AdvanceApproved:
    case_id: str
    amount_fen: int
    approved_by: str
    second_approved_by: str | None
    at: datetime


@dataclass(frozen=True)
class AdvanceRejected:
    case_id: str
    reason: str
    rejected_by: str
    at: datetime


@dataclass(frozen=True)
class AdvancePaid:
    case_id: str
    amount_fen: int
    paid_by: str
    at: datetime


@dataclass(frozen=True)
class RecoveryOpened:
    case_id: str
    amount_fen: int
    debtor: str | None          # None while a hit-and-run driver is unknown
    at: datetime


@dataclass(frozen=True)
class HitAndRunSolved:
    case_id: str
    driver_ref: str
    at: datetime


@dataclass(frozen=True)
class SplitChanged:
    """The bills were routed again (liability decided or reviewed): what the fund covers is now ``eligible_fen``.

    ``approval_withdrawn``: an approval above the new entitlement no longer stands (the case is ``applied``
    again). ``owed_back_fen``: of an advance already paid, what the fund has paid beyond its share, now owed
    back to it (in total, after this change; ``owed_back_change_fen`` this change's part) by ``owed_by``.
    ``further_owed_fen``: the fund's share above what it paid, for a supplementary application."""

    case_id: str
    previous_fen: int
    eligible_fen: int
    at: datetime
    approval_withdrawn: bool = False
    owed_back_fen: int = 0
    owed_back_change_fen: int = 0
    owed_by: str | None = None
    further_owed_fen: int = 0


FundEvent = Union[CaseOpened, PoliceNotified, ApplicationReceived, AdvanceApproved, AdvanceRejected,
                  AdvancePaid, RecoveryOpened, HitAndRunSolved, SplitChanged]


def event_to_dict(event: FundEvent) -> dict[str, Any]:
    """A JSON-ready dict: ``{"type": "AdvancePaid", ...}``, times ISO 8601, money integer fen."""
    out: dict[str, Any] = {"type": type(event).__name__}
    for f in fields(event):
        v = getattr(event, f.name)
        out[f.name] = iso(v) if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v
    return out


def case_to_dict(case: FundCase) -> dict[str, Any]:
    d = asdict(case)
    for k, v in d.items():
        if isinstance(v, datetime):
            d[k] = iso(v)
        elif isinstance(v, date):
            d[k] = v.isoformat()
        elif isinstance(v, Enum):
            d[k] = v.value
        elif isinstance(v, tuple):
            d[k] = list(v)
    return d


# ---- opening -------------------------------------------------------------------------------

def open_case_reasons(report: AccidentReport, *, rescue_costs_fen: int = 0, at_fault: bool | None = None,
                      accident_date: date | None = None) -> list[str]:
    """Why the fund must advance: hit-and-run, an uninsured vehicle, costs above the limit (条例 24 [O]).

    Only casualties bring the fund in (it never pays property loss). ``rescue_costs_fen``: the
    rescue costs billed so far in the accident, against one vehicle's shared medical limit.
    """
    if report.casualties == 0:
        return []
    reasons = []
    if report.hit_and_run:
        reasons.append("hit_and_run")
    # only motor vehicles carry 交强险 (条例 2 [O]): never an e-bike or bicycle, plate or not (one list:
    # accidentlink/vehicles.py); a fleeing vehicle is the hit-and-run reason's, not an "uninsured" one
    if any(is_motor_vehicle(p) and role_of(p) != FLED and not p.has_ci for p in report.parties):
        reasons.append("uninsured_vehicle")
    on = accident_date or report.reported_at.astimezone(CST).date()
    if rescue_costs_fen > medical_limit_fen(on, at_fault=at_fault is not False):
        reasons.append("costs_above_ci_limit")
    return reasons


def open_case(case_id: str, incident_id: str, reasons: list[str] | tuple[str, ...], *, province: str,
              accident_date: date, opened_at: datetime, kind: CaseKind = CaseKind.RESCUE,
              victim_ref: str | None = None) -> tuple[FundCase, list[FundEvent]]:
    """Open an advance case when a 条例 24 [O] condition holds (办法 2022 [S])."""
    if not reasons:
        raise NoFundCondition("no rescue-fund condition holds (条例 24): not a fund case")
    if opened_at.tzinfo is None:
        raise ValueError("opened_at must carry an offset")
    kind = CaseKind(kind)
    case = FundCase(case_id, incident_id, kind, CaseState.OPENED, tuple(reasons), province.lower(),
                    accident_date, opened_at, victim_ref=victim_ref)
    return case, [CaseOpened(case_id, incident_id, kind.value, tuple(reasons), opened_at)]


# ---- transitions -----------------------------------------------------------------------------

def _refuse_if_closed(case: FundCase, action: str) -> None:
    if case.state is CaseState.PAID:
        raise AlreadyPaid(f"case {case.case_id} is already paid; cannot {action}")
    if case.state is CaseState.REJECTED:
        raise InvalidState(f"case {case.case_id} was rejected; cannot {action}")


def notify_police(case: FundCase, *, at: datetime) -> tuple[FundCase, list[FundEvent]]:
    """The police notify the fund in writing (程序规定 42 [O]; 试行办法 13 [S]); a repeat is a no-op."""
    if case.police_notified_at is not None:
        return case, []
    state = CaseState.POLICE_NOTIFIED if case.state is CaseState.OPENED else case.state
    return replace(case, state=state, police_notified_at=at), [PoliceNotified(case.case_id, at)]


def receive_application(case: FundCase, *, applicant_type: str, amount_fen: int, at: datetime,
                        rules: ProvinceRules | None = None) -> tuple[FundCase, list[FundEvent]]:
    """The hospital (rescue) or a relative (funeral) applies (试行办法 14, 16 [S]; applicants per province)."""
    check_fen(amount_fen)
    if case.state not in (CaseState.OPENED, CaseState.POLICE_NOTIFIED):
        _refuse_if_closed(case, "apply")
        raise InvalidState(f"case {case.case_id} already has an application (state {case.state.value})")
    rules = rules or province_rules(case.province, case.accident_date)
    if not rules.may_apply(case.kind.value, applicant_type):
        raise ApplicantNotAllowed(f"{applicant_type!r} may not apply for a {case.kind.value} advance in {rules.province}")
    new = replace(case, state=CaseState.APPLIED, applied_at=at, applicant_type=applicant_type, requested_fen=amount_fen)
    return new, [ApplicationReceived(case.case_id, applicant_type, amount_fen, at)]


def approve(case: FundCase, amount_fen: int, approver: str, allowed_fen: int, *, at: datetime,
            second_approver: str | None = None,
            rules: ProvinceRules | None = None) -> tuple[FundCase, list[FundEvent]]:
    """Approve an advance up to the entitlement (条例 24 [O]; review 办法 2022 [S]; second approver [U]).

    ``allowed_fen`` is what routing allows (``PayerSplit.fund_fen``); above it the approval is
    refused with the allowed amount. Above the province's threshold a second, different approver
    is required.
    """
    check_fen(amount_fen)
    check_fen(allowed_fen, "allowed_fen")
    if case.state is not CaseState.APPLIED:
        _refuse_if_closed(case, "approve")
        raise InvalidState(f"case {case.case_id} has no application to approve (state {case.state.value})")
    if case.kind is CaseKind.RESCUE and case.police_notified_at is None:
        raise InvalidState(f"case {case.case_id}: the police notice has not arrived (试行办法 15)")
    if amount_fen == 0:
        raise ValueError("an approval of 0 fen is a rejection: reject with reasons instead")
    if amount_fen > allowed_fen:
        raise AmountAboveEntitlement(allowed_fen)
    rules = rules or province_rules(case.province, case.accident_date)
    threshold = rules.second_approval_threshold_fen
    if threshold is not None and amount_fen > threshold:
        if second_approver is None or second_approver == approver:
            raise SecondApprovalRequired(threshold)
    new = replace(case, state=CaseState.APPROVED, approved_fen=amount_fen, approved_by=approver,
                  second_approved_by=second_approver, approved_at=at)
    return new, [AdvanceApproved(case.case_id, amount_fen, approver, second_approver, at)]


def reject(case: FundCase, *, reason: str, rejected_by: str, at: datetime) -> tuple[FundCase, list[FundEvent]]:
    """Refuse with written reasons to police and hospital (试行办法 15 [S]; 办法 2022 [S])."""
    if not reason or not reason.strip():
        raise ValueError("a rejection needs written reasons")
    if case.state not in (CaseState.OPENED, CaseState.POLICE_NOTIFIED, CaseState.APPLIED):
        _refuse_if_closed(case, "reject")
        raise InvalidState(f"case {case.case_id} is {case.state.value}; cannot reject")
    new = replace(case, state=CaseState.REJECTED, rejected_reason=reason, rejected_by=rejected_by, rejected_at=at)
    return new, [AdvanceRejected(case.case_id, reason, rejected_by, at)]


def pay(case: FundCase, payer_person: str, *, at: datetime) -> tuple[FundCase, list[FundEvent]]:
    """Transfer the approved advance; opens the recovery (道路交通安全法 75 [S]; maker-checker)."""
    if case.state is CaseState.PAID:
        raise AlreadyPaid(f"case {case.case_id} is already paid")
    if case.state is not CaseState.APPROVED or case.approved_fen is None:
        raise NotApproved(f"case {case.case_id} is {case.state.value}, not approved")
    if payer_person in (case.approved_by, case.second_approved_by):
        raise SamePersonApprovedAndPays(f"{payer_person} approved case {case.case_id} and may not also pay it")
    new = replace(case, state=CaseState.PAID, paid_fen=case.approved_fen, paid_by=payer_person, paid_at=at)
    return new, [AdvancePaid(case.case_id, case.approved_fen, payer_person, at),
                 RecoveryOpened(case.case_id, case.approved_fen, case.responsible_party, at)]


def change_split(case: FundCase, eligible_fen: int, *, at: datetime, previous_fen: int,
                 owed_back_recorded_fen: int = 0, owed_by: str | None = None) -> tuple[FundCase, list[FundEvent]]:
    """The fund's share of the incident's bills changed after re-routing (程序规定 60 [O] liability; 条例 24 [O]).

    Money already paid is never paid twice: a paid advance above the new share becomes an amount owed back to
    the fund (``owed_back_recorded_fen``: what the ledger already records as owed back); below it, the rest is
    owed further. An approval above the new share is withdrawn (the case is ``applied`` again, for the new
    amount); an application's amount follows the share. No change, no event.
    """
    check_fen(eligible_fen, "eligible_fen")
    if case.state is CaseState.PAID:
        paid = case.paid_fen or 0
        owed_back = max(0, paid - eligible_fen)
        further = max(0, eligible_fen - paid)
        delta = owed_back - owed_back_recorded_fen
        if delta == 0 and eligible_fen == previous_fen:
            return case, []
        return case, [SplitChanged(case.case_id, previous_fen, eligible_fen, at, owed_back_fen=owed_back,
                                   owed_back_change_fen=delta, owed_by=owed_by if owed_back else None,
                                   further_owed_fen=further)]
    if eligible_fen == previous_fen:
        return case, []
    if case.state is CaseState.APPROVED and (case.approved_fen or 0) > eligible_fen:
        new = replace(case, state=CaseState.APPLIED, requested_fen=eligible_fen, approved_fen=None, approved_by=None,
                      second_approved_by=None, approved_at=None)
        return new, [SplitChanged(case.case_id, previous_fen, eligible_fen, at, approval_withdrawn=True)]
    if case.state is CaseState.APPLIED:
        case = replace(case, requested_fen=eligible_fen)
    return case, [SplitChanged(case.case_id, previous_fen, eligible_fen, at)]


def solve_hit_and_run(case: FundCase, *, driver_ref: str, at: datetime) -> tuple[FundCase, list[FundEvent]]:
    """The police tell the fund who the fleeing driver is (程序规定 48 [O]); the same news twice is a no-op."""
    if case.responsible_party == driver_ref:
        return case, []
    if case.responsible_party is not None:
        raise InvalidState(f"case {case.case_id} already names {case.responsible_party} as responsible")
    return replace(case, responsible_party=driver_ref), [HitAndRunSolved(case.case_id, driver_ref, at)]


# ---- statutory timers ----------------------------------------------------------------------

POLICE_NOTICE = "police_notice"
FUND_REVIEW = "fund_review"
PAYMENT = "payment"
FUNERAL_PAYMENT = "funeral_payment"

OWNER_ROLE = {POLICE_NOTICE: "police", FUND_REVIEW: "fund_admin", PAYMENT: "fund_admin",
              FUNERAL_PAYMENT: "fund_admin"}


class Overdue(NamedTuple):
    step: str
    owner_role: str
    due: datetime


def _clocks(case: FundCase, rules: ProvinceRules | None = None) -> dict[str, tuple[datetime, int]]:
    """When each started step's clock started, and its working days (试行办法 13, 15, 16; 办法 2022 [S]).

    Police notice: from the police handling the accident (``opened_at``). Review: from when the
    fund holds both the police notice and the application. Payment: from approval. Funeral: from
    the relative's application, covering review and payment.
    """
    d = (rules or province_rules(case.province, case.accident_date)).deadlines
    clocks: dict[str, tuple[datetime, int]] = {}
    if case.kind is CaseKind.FUNERAL:
        if case.applied_at is not None:
            clocks[FUNERAL_PAYMENT] = (case.applied_at, d.funeral_payment)
        return clocks
    clocks[POLICE_NOTICE] = (case.opened_at, d.police_notice)
    if case.applied_at is not None and case.police_notified_at is not None:
        clocks[FUND_REVIEW] = (max(case.applied_at, case.police_notified_at), d.fund_review)
    if case.approved_at is not None and d.payment is not None:
        clocks[PAYMENT] = (case.approved_at, d.payment)
    return clocks


def deadlines(case: FundCase, calendar: WorkCalendar | None = None,
              rules: ProvinceRules | None = None) -> dict[str, datetime]:
    """Due times of the steps whose clock has started (working days; see ``_clocks``)."""
    cal = calendar or default_calendar()
    return {step: add_working_days(start, n, cal) for step, (start, n) in _clocks(case, rules).items()}


class CalendarGap(NamedTuple):
    step: str
    due: datetime
    years: tuple[int, ...]


def calendar_gaps(case: FundCase, calendar: WorkCalendar | None = None,
                  rules: ProvinceRules | None = None) -> list[CalendarGap]:
    """The deadlines counted through a year ``rules/holidays.json`` does not cover (counted Monday to Friday
    there): the case shows them, and the administrators are told, so a person checks the date."""
    cal = calendar or default_calendar()
    out = []
    for step, (start, n) in _clocks(case, rules).items():
        due = add_working_days(start, n, cal)
        years = uncovered_years(start, due, cal)
        if years:
            out.append(CalendarGap(step, due, tuple(years)))
    return out


def _done(case: FundCase, step: str) -> bool:
    if step == POLICE_NOTICE:
        return case.police_notified_at is not None
    if step == FUND_REVIEW:
        return case.state in (CaseState.APPROVED, CaseState.REJECTED, CaseState.PAID)
    return case.state in (CaseState.PAID, CaseState.REJECTED)


def overdue(case: FundCase, now: datetime, calendar: WorkCalendar | None = None,
            rules: ProvinceRules | None = None) -> list[Overdue]:
    """Steps past their due time and not done, with the role that owes them (working-day terms [S])."""
    if case.state is CaseState.REJECTED:
        return []
    return [Overdue(step, OWNER_ROLE[step], due)
            for step, due in deadlines(case, calendar, rules).items()
            if now > due and not _done(case, step)]
