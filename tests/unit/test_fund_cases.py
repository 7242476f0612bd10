"""The fund case state machine and its statutory timers (条例 24 [O]; 试行办法 / 办法 2022 [S])."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import pytest

from accidentlink.clock import CST
from accidentlink.reports import AccidentReport, Location, Party
from fund.cases import (
    AdvanceApproved, AdvancePaid, AlreadyPaid, AmountAboveEntitlement, ApplicantNotAllowed, ApplicationReceived,
    CaseKind, CaseOpened, CaseState, HitAndRunSolved, InvalidState, NoFundCondition, NotApproved, Overdue,
    PoliceNotified, RecoveryOpened, SamePersonApprovedAndPays, SecondApprovalRequired, approve, case_to_dict,
    deadlines, event_to_dict, notify_police, open_case, open_case_reasons, overdue, pay, receive_application,
    reject, solve_hit_and_run,
)
from fund.provinces import province_rules


def cst(y: int, m: int, d: int, hh: int = 10) -> datetime:
    return datetime(y, m, d, hh, tzinfo=CST)


def end_of(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 23, 59, 59, tzinfo=CST)


def report(**kw: Any) -> AccidentReport:
    base: dict[str, Any] = dict(report_id="122-1", source="122", reported_at=cst(2026, 9, 30), location=Location(36.45, 115.98),
                injured=1, fatalities=0, vehicles_movable=False, hit_and_run=False,
                parties=(Party(plate="鲁P12345", vehicle_type="car", insurer="PICC", ci_policy="P1"),))
    base.update(kw)
    return AccidentReport(**base)


def opened(province: str = "default", at: datetime = cst(2026, 9, 30), kind: CaseKind = CaseKind.RESCUE):
    case, _ = open_case("FC-1", "INC-1", ["hit_and_run"], province=province, accident_date=at.date(),
                        opened_at=at, kind=kind)
    return case


def approved_case(province: str = "default", amount: int = 700_000):
    case = opened(province)
    case, _ = notify_police(case, at=cst(2026, 9, 30, 15))
    case, _ = receive_application(case, applicant_type="hospital", amount_fen=amount, at=cst(2026, 10, 8))
    case, _ = approve(case, amount, "approver-li", allowed_fen=amount, at=cst(2026, 10, 9))
    return case


# ---- opening (条例 24 [O]) ---------------------------------------------------------------------

def test_hit_and_run_opens_a_fund_case():
    """条例 24(3) [O]."""
    assert open_case_reasons(report(hit_and_run=True)) == ["hit_and_run"]


def test_uninsured_vehicle_opens_a_fund_case_but_a_pedestrian_party_does_not():
    """条例 24(2) [O]: a motor vehicle without 交强险."""
    r = report(parties=(Party(plate="鲁P9", vehicle_type="car"), Party(name="行人", vehicle_type="pedestrian")))
    assert open_case_reasons(r) == ["uninsured_vehicle"]
    assert open_case_reasons(report(parties=(Party(name="行人", vehicle_type="pedestrian"),))) == []


def test_costs_above_the_medical_limit_open_a_fund_case():
    """条例 24(1) [O]: above 18,000 yuan at fault (2020-09-19 limits)."""
    assert open_case_reasons(report(), rescue_costs_fen=1_800_000) == []
    assert open_case_reasons(report(), rescue_costs_fen=1_800_001) == ["costs_above_ci_limit"]


def test_property_only_accident_opens_no_fund_case():
    """条例 24 [O]: the fund never pays property loss."""
    assert open_case_reasons(report(injured=0, hit_and_run=True, parties=())) == []
    with pytest.raises(NoFundCondition):
        open_case("FC-0", "INC-0", [], province="default", accident_date=date(2026, 9, 30), opened_at=cst(2026, 9, 30))


# ---- the happy path ---------------------------------------------------------------------------

def test_case_goes_from_opened_to_paid_emitting_past_tense_events():
    case, e1 = open_case("FC-1", "INC-1", ["hit_and_run"], province="default", accident_date=date(2026, 9, 30),
                         opened_at=cst(2026, 9, 30))
    case, e2 = notify_police(case, at=cst(2026, 9, 30, 15))
    assert case.state is CaseState.POLICE_NOTIFIED
    case, e3 = receive_application(case, applicant_type="hospital", amount_fen=900_000, at=cst(2026, 10, 8))
    case, e4 = approve(case, 700_000, "approver-li", allowed_fen=700_000, at=cst(2026, 10, 9))
    case, e5 = pay(case, "cashier-wang", at=cst(2026, 10, 10))
    assert case.state is CaseState.PAID and case.paid_fen == 700_000
    kinds = [type(e) for e in e1 + e2 + e3 + e4 + e5]
    assert kinds == [CaseOpened, PoliceNotified, ApplicationReceived, AdvanceApproved, AdvancePaid, RecoveryOpened]
    json.dumps([event_to_dict(e) for e in e1 + e2 + e3 + e4 + e5])
    assert case_to_dict(case)["state"] == "paid"


def test_a_repeated_police_notice_changes_nothing():
    """Handling an event twice equals handling it once (style §5)."""
    case, _ = notify_police(opened(), at=cst(2026, 9, 30, 15))
    again, events = notify_police(case, at=cst(2026, 10, 1))
    assert again == case and events == []


def test_hospital_may_apply_before_the_police_notice_but_approval_waits_for_it():
    """试行办法 15 [S]: the fund reviews once it holds the police notice and the application."""
    case, _ = receive_application(opened(), applicant_type="hospital", amount_fen=500_000, at=cst(2026, 10, 8))
    with pytest.raises(InvalidState):
        approve(case, 500_000, "approver-li", allowed_fen=500_000, at=cst(2026, 10, 9))
    case, _ = notify_police(case, at=cst(2026, 10, 9))
    assert case.state is CaseState.APPLIED
    case, _ = approve(case, 500_000, "approver-li", allowed_fen=500_000, at=cst(2026, 10, 9))
    assert case.state is CaseState.APPROVED


# ---- refusals ---------------------------------------------------------------------------------

def test_approval_above_the_entitlement_is_refused_with_the_allowed_amount():
    """条例 24(1) [O]: the fund pays the excess only (contract: 422 with the allowed amount)."""
    case, _ = notify_police(opened(), at=cst(2026, 9, 30, 15))
    case, _ = receive_application(case, applicant_type="hospital", amount_fen=2_500_000, at=cst(2026, 10, 8))
    with pytest.raises(AmountAboveEntitlement) as exc:
        approve(case, 2_500_000, "approver-li", allowed_fen=700_000, at=cst(2026, 10, 9))
    assert exc.value.allowed_fen == 700_000


def test_approving_without_an_application_is_an_invalid_state():
    with pytest.raises(InvalidState):
        approve(opened(), 100, "approver-li", allowed_fen=100, at=cst(2026, 10, 9))


def test_the_approver_may_not_pay_maker_checker():
    """Contract: two different people approve and pay (the approver's pay answers 403)."""
    with pytest.raises(SamePersonApprovedAndPays):
        pay(approved_case(), "approver-li", at=cst(2026, 10, 10))


def test_a_second_payment_pays_nothing():
    """Contract: a second pay of a paid case answers 409 and pays nothing."""
    paid, _ = pay(approved_case(), "cashier-wang", at=cst(2026, 10, 10))
    with pytest.raises(AlreadyPaid):
        pay(paid, "cashier-zhao", at=cst(2026, 10, 11))
    with pytest.raises(AlreadyPaid):
        approve(paid, 1, "approver-li", allowed_fen=1, at=cst(2026, 10, 11))
    with pytest.raises(AlreadyPaid):
        reject(paid, reason="late", rejected_by="approver-li", at=cst(2026, 10, 11))


def test_paying_an_unapproved_case_is_refused():
    with pytest.raises(NotApproved):
        pay(opened(), "cashier-wang", at=cst(2026, 10, 10))


def test_a_rejected_case_cannot_be_paid_and_needs_reasons():
    """试行办法 15 [S]: a refusal gives written reasons."""
    case, _ = notify_police(opened(), at=cst(2026, 9, 30, 15))
    with pytest.raises(ValueError):
        reject(case, reason=" ", rejected_by="approver-li", at=cst(2026, 10, 9))
    case, events = reject(case, reason="not one of the three cases", rejected_by="approver-li", at=cst(2026, 10, 9))
    assert case.state is CaseState.REJECTED and events[0].reason == "not one of the three cases"
    with pytest.raises(NotApproved):
        pay(case, "cashier-wang", at=cst(2026, 10, 10))


def test_shandong_requires_a_second_different_approver_above_50000_yuan():
    """[U] provincial setting second_approval_threshold_fen = 5,000,000 (fund/rules/provinces.json)."""
    case = opened("shandong")
    case, _ = notify_police(case, at=cst(2026, 9, 30, 15))
    case, _ = receive_application(case, applicant_type="hospital", amount_fen=6_000_000, at=cst(2026, 10, 8))
    with pytest.raises(SecondApprovalRequired) as exc:
        approve(case, 6_000_000, "approver-li", allowed_fen=6_000_000, at=cst(2026, 10, 9))
    assert exc.value.threshold_fen == 5_000_000
    with pytest.raises(SecondApprovalRequired):
        approve(case, 6_000_000, "approver-li", allowed_fen=6_000_000, at=cst(2026, 10, 9), second_approver="approver-li")
    ok, _ = approve(case, 6_000_000, "approver-li", allowed_fen=6_000_000, at=cst(2026, 10, 9),
                    second_approver="approver-sun")
    with pytest.raises(SamePersonApprovedAndPays):
        pay(ok, "approver-sun", at=cst(2026, 10, 10))
    small, _ = approve(case, 5_000_000, "approver-li", allowed_fen=6_000_000, at=cst(2026, 10, 9))
    assert small.state is CaseState.APPROVED


def test_default_province_accepts_only_the_hospital_for_rescue_costs():
    """办法 2022 / 试行办法 14 [S]: the hospital applies for rescue costs; Shandong [U] also victims."""
    with pytest.raises(ApplicantNotAllowed):
        receive_application(opened(), applicant_type="victim", amount_fen=1, at=cst(2026, 10, 8))
    case, _ = receive_application(opened("shandong"), applicant_type="victim", amount_fen=1, at=cst(2026, 10, 8))
    assert case.state is CaseState.APPLIED
    with pytest.raises(InvalidState):
        receive_application(case, applicant_type="victim", amount_fen=1, at=cst(2026, 10, 8))


# ---- recovery (程序规定 48 [O]; 道路交通安全法 75 [S]) -------------------------------------------

def test_paying_opens_recovery_and_a_solved_hit_and_run_names_the_debtor():
    paid, events = pay(approved_case(), "cashier-wang", at=cst(2026, 10, 10))
    assert events[-1] == RecoveryOpened("FC-1", 700_000, None, cst(2026, 10, 10))
    solved, ev = solve_hit_and_run(paid, driver_ref="driver-371502", at=cst(2026, 11, 1))
    assert ev == [HitAndRunSolved("FC-1", "driver-371502", cst(2026, 11, 1))]
    assert solve_hit_and_run(solved, driver_ref="driver-371502", at=cst(2026, 11, 2)) == (solved, [])


# ---- timers across the 2026 National Day (working days) ----------------------------------------

def test_police_notice_is_due_three_working_days_after_handling_across_national_day():
    """试行办法 13 [S] / 程序规定 42 [O]: Wed 09-30 -> 10-08, 10-09, 10-10 (make-up Saturday)."""
    case = opened()
    assert deadlines(case)["police_notice"] == end_of(2026, 10, 10)
    assert overdue(case, datetime(2026, 10, 10, 23, 0, tzinfo=CST)) == []
    late = overdue(case, datetime(2026, 10, 11, 0, 0, tzinfo=CST))
    assert late == [Overdue("police_notice", "police", end_of(2026, 10, 10))]
    notified, _ = notify_police(case, at=datetime(2026, 10, 12, 9, tzinfo=CST))
    assert overdue(notified, datetime(2026, 10, 12, 10, tzinfo=CST)) == []


def test_review_is_due_three_working_days_after_the_later_of_notice_and_application():
    """办法 2022 [S]: review within 3 working days (Spring Festival 2026: 02-14 worked, 02-15..23 off)."""
    case = opened(at=cst(2026, 2, 10))
    case, _ = receive_application(case, applicant_type="hospital", amount_fen=1, at=cst(2026, 2, 11))
    assert "fund_review" not in deadlines(case)
    case, _ = notify_police(case, at=cst(2026, 2, 13))
    assert deadlines(case)["fund_review"] == end_of(2026, 2, 25)
    assert overdue(case, cst(2026, 2, 26)) == [Overdue("fund_review", "fund_admin", end_of(2026, 2, 25))]


def test_review_took_five_working_days_before_2022():
    """试行办法 15 [S]: 5 working days for accidents before 2022-01-01."""
    case = opened(at=cst(2026, 2, 10))
    case, _ = notify_police(case, at=cst(2026, 2, 10))
    case, _ = receive_application(case, applicant_type="hospital", amount_fen=1, at=cst(2026, 2, 26))
    old_rules = province_rules("default", date(2021, 6, 1))
    # Thu 02-26: 02-27, 02-28 (make-up), 03-02, 03-03, 03-04.
    assert deadlines(case, rules=old_rules)["fund_review"] == end_of(2026, 3, 4)


def test_payment_is_due_two_working_days_after_approval():
    """办法 2022 [S]: transfer within 2 working days of approval; Fri 10-09 -> Sat 10-10, Mon 10-12."""
    case = approved_case()
    assert deadlines(case)["payment"] == end_of(2026, 10, 12)
    assert overdue(case, cst(2026, 10, 13)) == [Overdue("payment", "fund_admin", end_of(2026, 10, 12))]
    paid, _ = pay(case, "cashier-wang", at=cst(2026, 10, 13))
    assert overdue(paid, cst(2026, 10, 14)) == []


def test_funeral_costs_are_paid_within_three_working_days_of_the_application():
    """试行办法 16 [S] (kept 2022): funeral advance within 3 working days; relative applies."""
    case = opened(kind=CaseKind.FUNERAL, at=cst(2026, 9, 28))
    case, _ = receive_application(case, applicant_type="relative", amount_fen=3_000_000, at=cst(2026, 9, 30))
    assert deadlines(case) == {"funeral_payment": end_of(2026, 10, 10)}
    case, _ = approve(case, 3_000_000, "approver-li", allowed_fen=3_000_000, at=cst(2026, 10, 8))
    assert overdue(case, cst(2026, 10, 11)) == [Overdue("funeral_payment", "fund_admin", end_of(2026, 10, 10))]


def test_a_rejected_case_has_nothing_overdue():
    case, _ = reject(opened(), reason="duplicate", rejected_by="approver-li", at=cst(2026, 9, 30, 12))
    assert overdue(case, cst(2026, 12, 1)) == []


def test_cases_are_frozen():
    case = opened()
    with pytest.raises(Exception):
        case.state = CaseState.PAID  # type: ignore[misc]
    assert replace(case, state=CaseState.PAID).state is CaseState.PAID and case.state is CaseState.OPENED
