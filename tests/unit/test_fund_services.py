"""The rescue fund's use cases (``fund.services``) on the in-memory fake of its ports (``tests/fakes/fund.py``)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from accidentlink.clock import CST
from accidentlink.reports import AccidentReport, parse_report
from fund import Bill, BillItem, VehicleCover, province_rules, route_rescue_bill
from fund import services as F
from fund.cases import (
    AlreadyPaid, AmountAboveEntitlement, InvalidState, SamePersonApprovedAndPays, SecondApprovalRequired,
)
from fund.commands import (
    ApplyForFuneralCosts, ApproveCase, BillReceived, CaseQuery, CasesQuery, IncidentReported, PayCase, QueueQuery,
    RecordHitAndRunSolved, RecordPoliceNotice, RejectCase,
)
from fund.ledger import ADVANCES, BANK, RECOVERY_RECEIVABLE, account_balance
from fund.ports import BillCopy, IncidentFacts
from tests.fakes.fund import FakeFundUnitOfWork, FundState
from tests.support.reports import party, report

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=CST)  # a Sunday
PROVINCE = "shandong"
INCIDENT = "INC-20261122-0001"
CASE = "FC-20261122-0001"
MAKER, CHECKER, CASHIER = "fund_admin:甲:t1", "fund_admin:乙:t2", "fund_admin:丙:t3"


class Fund:
    """The fund's store in memory, and the use cases called the way the entry points call them."""

    def __init__(self) -> None:
        self.state = FundState()

    def uow(self) -> FakeFundUnitOfWork:
        return FakeFundUnitOfWork(self.state)

    def copy_incident(self, **kw: Any) -> IncidentFacts:
        facts = IncidentFacts(**{"incident_id": INCIDENT, "first_reported_at": T0, "fatalities": 0,
                                 "hit_and_run": False, **kw})
        self.state.incidents[facts.incident_id] = facts
        return facts

    def reported(self, at: datetime = T0, **kw: Any) -> Any:
        """A report of the incident reaches the fund (the pipeline copied the facts just before)."""
        r: AccidentReport = parse_report(json.dumps(report(at=T0, **kw), ensure_ascii=False))
        facts = self.copy_incident(fatalities=r.fatalities, hit_and_run=r.hit_and_run)
        return F.open_cases_for_incident(IncidentReported(r, facts, at), self.uow(), province=PROVINCE)

    def billed(self, amount_fen: int, *, vehicle: VehicleCover | None = None, bill_id: str = "BILL-1",
               at: datetime = T0) -> BillCopy:
        """A hospital's bill, routed as the hospitals' desk routes it, reaches the fund."""
        rules = province_rules(PROVINCE, T0.date())
        split = route_rescue_bill(Bill(T0, (BillItem(amount_fen=amount_fen),)), rules=rules,
                                  vehicle=vehicle or VehicleCover(has_ci=False, identified=False, hit_and_run=True))
        bill = BillCopy(bill_id, "ADM-1", INCIDENT, "LC-H-LC3", amount_fen, T0, ({"amount_fen": amount_fen},),
                        split.insurer_fen, split.fund_fen, split.insurer_code, {"reasons": list(split.reasons)}, at,
                        "hospital:LC-H-LC3")
        F.record_bill(BillReceived("bill_id:" + bill_id, bill, at), self.uow(), province=PROVINCE)
        return bill

    def approve(self, amount_fen: int, actor: str = MAKER, note: str = "") -> dict[str, Any]:
        return F.approve_case(ApproveCase(CASE, amount_fen, actor, T0 + timedelta(hours=1), note=note), self.uow(),
                              province=PROVINCE)

    def pay(self, actor: str = CASHIER) -> dict[str, Any]:
        return F.pay_case(PayCase(CASE, actor, T0 + timedelta(hours=2)), self.uow())

    def changes(self, case_id: str = CASE) -> list[str]:
        return [v["change"] for k, v, _ in self.state.messages if k == case_id]

    def case(self, case_id: str = CASE) -> dict[str, Any]:
        return F.case_detail(CaseQuery(case_id), self.uow()).case


@pytest.fixture
def fund() -> Fund:
    return Fund()


def applied_hit_and_run(fund: Fund, amount_fen: int = 2_500_000) -> None:
    fund.reported(injured=1, hit_and_run=True)
    fund.billed(amount_fen)


# ------------------------------------------------------------------------------- cases open by themselves
def test_an_injured_hit_and_run_opens_one_case_with_the_police_notice_recorded(fund: Fund) -> None:
    fund.reported(injured=1, hit_and_run=True)
    fund.reported(injured=1, hit_and_run=True, source="120")  # the same crash, called in again
    assert list(fund.state.cases) == [CASE]
    case = fund.case()
    assert case["status"] == "police_notified" and case["reasons"] == ["hit_and_run"] and case["police_notified_at"]
    assert fund.changes() == ["CaseOpened", "PoliceNotified"]
    assert [kind for _, kind, _, _ in fund.state.timeline] == ["fund_CaseOpened", "fund_PoliceNotified"]


def test_a_crash_without_casualties_opens_no_case(fund: Fund) -> None:
    fund.reported(injured=0, hit_and_run=True)
    assert fund.state.cases == {} and fund.state.messages == []


def test_a_later_report_adds_its_reasons_to_the_open_case_without_a_message(fund: Fund) -> None:
    fund.reported(injured=1, hit_and_run=True)
    fund.reported(injured=1, hit_and_run=True, parties=[party("鲁P67890", None)])
    assert fund.case()["reasons"] == ["hit_and_run", "uninsured_vehicle"]
    assert fund.changes() == ["CaseOpened", "PoliceNotified"]


def test_a_bill_above_the_medical_limit_routes_the_excess_to_the_fund_and_the_case_takes_the_application(
        fund: Fund) -> None:
    fund.reported(injured=1, parties=[party("鲁P80001", "PICC")])  # insured: no case from the report alone
    assert fund.state.cases == {}
    bill = fund.billed(2_500_000, vehicle=VehicleCover(has_ci=True, insurer_code="PICC"))
    assert (bill.insurer_fen, bill.fund_fen) == (1_800_000, 700_000)
    case = fund.case()
    assert case["status"] == "applied" and case["reasons"] == ["above_ci_limit"]
    assert case["requested_fen"] == case["eligible_fen"] == 700_000 and case["hospital_id"] == "LC-H-LC3"
    assert fund.changes() == ["CaseOpened", "PoliceNotified", "ApplicationReceived"]


def test_a_bill_that_comes_before_the_incidents_facts_applies_when_they_arrive(fund: Fund) -> None:
    fund.billed(2_500_000)
    assert fund.state.cases == {} and "bill_id:BILL-1" in fund.state.processed
    fund.reported(injured=1, hit_and_run=True)
    case = fund.case()
    assert case["status"] == "applied" and case["eligible_fen"] == 2_500_000
    assert fund.changes() == ["CaseOpened", "PoliceNotified", "ApplicationReceived"]


def test_a_bill_delivered_twice_is_copied_and_applied_once(fund: Fund) -> None:
    applied_hit_and_run(fund)
    fund.billed(2_500_000)
    assert list(fund.state.bills) == ["BILL-1"] and fund.case()["eligible_fen"] == 2_500_000
    assert fund.changes().count("ApplicationReceived") == 1


def test_a_second_bill_raises_the_request_of_an_applied_case(fund: Fund) -> None:
    applied_hit_and_run(fund, 1_000_000)
    fund.billed(500_000, bill_id="BILL-2", at=T0 + timedelta(minutes=5))
    case = fund.case()
    assert case["requested_fen"] == case["eligible_fen"] == 1_500_000 and case["version"] == 3


# ------------------------------------------------------------------------------- approval and payment
def test_approval_above_the_entitlement_is_refused_with_the_allowed_amount_and_changes_nothing(fund: Fund) -> None:
    applied_hit_and_run(fund)
    before = dict(fund.state.cases)
    with pytest.raises(AmountAboveEntitlement) as refused:
        fund.approve(2_500_001)
    assert refused.value.allowed_fen == 2_500_000
    assert fund.state.cases == before and "AdvanceApproved" not in fund.changes()


def test_the_approver_may_not_pay_even_with_another_token(fund: Fund) -> None:
    applied_hit_and_run(fund)
    assert fund.approve(2_500_000, note="逃逸案件")["status"] == "approved"
    with pytest.raises(SamePersonApprovedAndPays):
        fund.pay("fund_admin:甲:another-token")
    assert fund.pay(CHECKER)["status"] == "paid"


def test_above_the_threshold_a_different_second_approver_checks_the_first(fund: Fund) -> None:
    applied_hit_and_run(fund, 6_000_000)  # Shandong: above 5,000,000 fen two people sign
    first = fund.approve(6_000_000, MAKER)
    assert first["awaiting_second_approval"] is True and first["status"] == "applied"
    assert first["first_approval"]["by"] == MAKER
    with pytest.raises(SecondApprovalRequired):
        fund.approve(6_000_000, MAKER)
    second = fund.approve(6_000_000, CHECKER)
    assert second["status"] == "approved"
    assert (second["approved_by"], second["second_approved_by"]) == (MAKER, CHECKER)
    for approver in (MAKER, CHECKER):
        with pytest.raises(SamePersonApprovedAndPays):
            fund.pay(approver)
    assert fund.pay(CASHIER)["paid_fen"] == 6_000_000


def test_a_case_is_paid_once_into_a_balanced_ledger_with_a_recovery_opened(fund: Fund) -> None:
    applied_hit_and_run(fund)
    fund.approve(2_500_000)
    paid = fund.pay()
    assert paid["status"] == "paid" and paid["paid_fen"] == 2_500_000
    with pytest.raises(AlreadyPaid):
        fund.pay()
    assert list(fund.state.payments) == [CASE] and fund.changes().count("AdvancePaid") == 1
    detail = F.case_detail(CaseQuery(CASE), fund.uow())
    assert account_balance(detail.ledger, ADVANCES) == 2_500_000 and account_balance(detail.ledger, BANK) == -2_500_000
    assert detail.recovery is not None and detail.recovery.status == "open" and detail.recovery.responsible_party is None
    assert [b.bill_id for b in detail.bills] == ["BILL-1"]


def test_paying_an_unapproved_case_is_refused(fund: Fund) -> None:
    applied_hit_and_run(fund)
    with pytest.raises(InvalidState):
        fund.pay()
    assert fund.state.payments == {}


def test_a_solved_hit_and_run_names_the_debtor_and_moves_the_advance_to_the_receivable(fund: Fund) -> None:
    applied_hit_and_run(fund)
    fund.approve(2_500_000)
    fund.pay()
    solved = RecordHitAndRunSolved(CASE, "肇事车辆 鲁P88888 驾驶人", T0 + timedelta(days=3))
    case = F.hit_and_run_solved(solved, fund.uow())
    F.hit_and_run_solved(solved, fund.uow())  # the same news twice
    assert case["responsible_party"] == solved.driver_ref and case["notes"][-1]["by"] == "police"
    detail = F.case_detail(CaseQuery(CASE), fund.uow())
    assert detail.recovery is not None and detail.recovery.status == "driver_identified"
    assert account_balance(detail.ledger, RECOVERY_RECEIVABLE) == 2_500_000 and account_balance(detail.ledger, ADVANCES) == 0
    assert fund.changes().count("HitAndRunSolved") == 1


def test_a_rejected_case_takes_no_approval(fund: Fund) -> None:
    applied_hit_and_run(fund)
    rejected = F.reject_case(RejectCase(CASE, "非救助基金垫付范围", MAKER, T0 + timedelta(hours=1)), fund.uow())
    assert rejected["status"] == "rejected" and rejected["rejected_reason"] == "非救助基金垫付范围"
    with pytest.raises(InvalidState):
        fund.approve(2_500_000)


def test_a_repeated_police_notice_changes_nothing(fund: Fund) -> None:
    fund.reported(injured=1, hit_and_run=True)
    case = F.record_police_notice(RecordPoliceNotice(CASE, T0 + timedelta(hours=5)), fund.uow())
    assert case["police_notified_at"] == fund.case()["police_notified_at"] and case["version"] == 1
    assert fund.changes() == ["CaseOpened", "PoliceNotified"]


# ------------------------------------------------------------------------------- funeral costs
def funeral(fund: Fund, incident_id: str = INCIDENT, at: datetime = T0) -> dict[str, Any]:
    return F.apply_for_funeral_costs(ApplyForFuneralCosts(incident_id, 1_200_000, "李某某", "聊公交尸字2026-001", at),
                                     fund.uow(), province=PROVINCE)


def test_a_relative_applies_for_funeral_costs_of_a_hit_and_run_death_once(fund: Fund) -> None:
    fund.copy_incident(fatalities=1, hit_and_run=True)
    case = funeral(fund)
    assert case["kind"] == "funeral" and case["status"] == "applied" and case["eligible_fen"] == 1_200_000
    assert case["victim_ref"] != "李某某" and "funeral_payment" in case["deadlines"]
    assert fund.changes(case["case_id"]) == ["CaseOpened", "ApplicationReceived"]
    with pytest.raises(InvalidState):
        funeral(fund)


@pytest.mark.parametrize("facts", [{"fatalities": 0, "hit_and_run": True}, {"fatalities": 1, "hit_and_run": False}])
def test_funeral_costs_need_a_death_the_fund_covers(fund: Fund, facts: dict[str, Any]) -> None:
    fund.copy_incident(**facts)
    with pytest.raises(InvalidState):
        funeral(fund)
    assert fund.state.cases == {}


def test_funeral_costs_of_an_unknown_incident_are_not_found(fund: Fund) -> None:
    with pytest.raises(F.CaseNotFound):
        funeral(fund, "INC-20261122-9999")


# ------------------------------------------------------------------------------- timers and the desk's views
def test_overdue_steps_are_flagged_once_to_the_role_that_owes_them(fund: Fund) -> None:
    applied_hit_and_run(fund)
    later = T0 + timedelta(days=40)
    assert F.flag_overdue(later, fund.uow()) == 1
    assert F.flag_overdue(later, fund.uow()) == 0
    overdue = [v for _, v, _ in fund.state.messages if v["change"] == "Overdue"]
    assert [v["event"]["steps"] for v in overdue] == [["fund_review"]]
    assert fund.case()["overdue"][0]["owner"] == "fund_admin"


def test_the_desk_lists_cases_by_status_and_queues_the_oldest_deadline_first(fund: Fund) -> None:
    applied_hit_and_run(fund)
    fund.copy_incident(incident_id="INC-20261120-0002", fatalities=1, hit_and_run=True)
    funeral(fund, "INC-20261120-0002", at=T0 + timedelta(days=2))  # applied later: due later
    assert [c["case_id"] for c in F.list_cases(CasesQuery(10, "applied"), fund.uow())] == ["FF-20261120-0002", CASE]
    assert F.list_cases(CasesQuery(10, "paid"), fund.uow()) == []
    assert [c["case_id"] for c in F.review_queue(QueueQuery(10), fund.uow())] == [CASE, "FF-20261120-0002"]
    with pytest.raises(F.CaseNotFound):
        F.case_detail(CaseQuery("FC-NOPE"), fund.uow())


# ------------------------------------------------------------------------------- calendars that know their limits
@pytest.mark.parametrize("year", [2024, 2028])
def test_a_deadline_in_a_year_the_holiday_calendar_does_not_cover_is_flagged_once_to_the_administrators(
        fund: Fund, year: int, caplog: pytest.LogCaptureFixture) -> None:
    at = datetime(year, 3, 1, 9, 0, tzinfo=CST)
    fund.copy_incident(first_reported_at=at)
    r: AccidentReport = parse_report(json.dumps(report(at=at, injured=1, hit_and_run=True), ensure_ascii=False))
    with caplog.at_level("WARNING", logger="accidentlink.fund"):
        F.open_cases_for_incident(IncidentReported(r, fund.state.incidents[INCIDENT], at), fund.uow(), province=PROVINCE)
    case = fund.case()
    assert [(f["step"], f["years"]) for f in case["calendar_flags"]] == [("police_notice", [year])]
    assert str(year) in case["calendar_flags"][0]["zh"] and "Monday to Friday" in case["calendar_flags"][0]["en"]
    assert fund.changes().count("CalendarNotCovered") == 1
    assert any(str(year) in m for m in caplog.messages)
    F.flag_overdue(at + timedelta(hours=1), fund.uow())
    assert fund.changes().count("CalendarNotCovered") == 1, "told once per step"


def test_a_deadline_inside_the_calendar_raises_no_flag(fund: Fund) -> None:
    applied_hit_and_run(fund)
    assert fund.case()["calendar_flags"] == [] and "CalendarNotCovered" not in fund.changes()


def test_a_period_running_from_a_covered_year_into_an_uncovered_one_names_the_uncovered_year() -> None:
    from fund.workdays import add_working_days, uncovered_years

    start = datetime(2027, 12, 30, 9, 0, tzinfo=CST)
    due = add_working_days(start, 3)
    assert due.year == 2028 and uncovered_years(start, due) == [2028]
    assert uncovered_years(datetime(2026, 12, 30, 9, 0, tzinfo=CST), datetime(2027, 1, 5, tzinfo=CST)) == []


# ------------------------------------------------------------------------------- bills routed again (liability)
def rerouted(fund: Fund, bill: BillCopy, insurer_fen: int, fund_fen: int, revision: int = 1,
             at: datetime = T0 + timedelta(days=1)) -> None:
    """The hospitals' desk routed the bill again (``change: rerouted``); the message reaches the fund."""
    from dataclasses import replace as _replace

    again = _replace(bill, insurer_fen=insurer_fen, fund_fen=fund_fen, insurer_code="PICC" if insurer_fen else None,
                     routing={**bill.routing, "revision": revision, "liability": "primary"})
    F.record_bill(BillReceived(f"bill_id:{bill.bill_id}:r{revision}", again, at), fund.uow(), province=PROVINCE)


def test_a_rerouted_bill_changes_the_applied_amount_once(fund: Fund) -> None:
    applied_hit_and_run(fund)
    bill = fund.state.bills["BILL-1"]
    rerouted(fund, bill, 1_800_000, 700_000)
    rerouted(fund, bill, 1_800_000, 700_000)  # redelivered
    case = fund.case()
    assert case["eligible_fen"] == 700_000 and case["requested_fen"] == 700_000
    assert fund.changes().count("SplitChanged") == 1 and fund.state.bills["BILL-1"].fund_fen == 700_000
    with pytest.raises(AmountAboveEntitlement):
        fund.approve(2_500_000)


def test_an_approval_above_the_new_share_is_withdrawn(fund: Fund) -> None:
    applied_hit_and_run(fund)
    fund.approve(2_500_000)
    rerouted(fund, fund.state.bills["BILL-1"], 1_800_000, 700_000)
    case = fund.case()
    assert case["status"] == "applied" and case["approved_fen"] is None and case["requested_fen"] == 700_000
    assert "approval withdrawn" in case["notes"][-1]["note"]
    with pytest.raises(InvalidState):
        fund.pay()


def test_a_paid_advance_above_the_new_share_is_owed_back_in_a_balanced_ledger_never_paid_twice(fund: Fund) -> None:
    from fund.ledger import OWED_BACK

    applied_hit_and_run(fund)
    fund.approve(2_500_000)
    fund.pay()
    bill = fund.state.bills["BILL-1"]
    rerouted(fund, bill, 1_800_000, 700_000)
    rerouted(fund, bill, 1_800_000, 700_000)  # redelivered: nothing more
    detail = F.case_detail(CaseQuery(CASE), fund.uow())
    assert account_balance(detail.ledger, OWED_BACK) == 1_800_000
    assert account_balance(detail.ledger, BANK) == -2_500_000, "nothing paid again"
    assert sum(e.debit_fen - e.credit_fen for e in fund.state.ledger) == 0
    [changed] = [v for k, v, _ in fund.state.messages if v["change"] == "SplitChanged"]
    assert changed["event"]["owed_back_fen"] == 1_800_000 and changed["event"]["owed_by"] == "insurer:PICC"
    assert detail.recovery is not None and detail.recovery.amount_fen == 700_000
    assert list(fund.state.payments) == [CASE]
    rerouted(fund, bill, 0, 2_500_000, revision=2)  # a review puts it back on the fund
    detail = F.case_detail(CaseQuery(CASE), fund.uow())
    assert account_balance(detail.ledger, OWED_BACK) == 0 and account_balance(detail.ledger, BANK) == -2_500_000


def test_an_injured_e_bike_rider_hit_by_an_insured_car_opens_no_uninsured_vehicle_case(fund: Fund) -> None:
    fund.reported(injured=1, parties=[party("鲁P12345"), {"name": "孙某", "plate": "鲁P电0001", "vehicle_type": "e_bike",
                                                          "role": "cyclist", "insurer": None, "ci_policy": None}])
    assert fund.state.cases == {}


def test_funeral_costs_an_insured_vehicle_owes_are_not_advanced_by_the_fund(fund: Fund) -> None:
    from accidentlink.reports import Party
    from fund.cases import NoFundCondition

    fund.copy_incident(fatalities=1)
    fund.state.parties[INCIDENT] = [Party(plate="鲁P12345", insurer="PICC", ci_policy="POL-1"),
                                    Party(name="李某", id_number="371502198504041234", role="pedestrian")]
    with pytest.raises(NoFundCondition) as refused:
        F.apply_for_funeral_costs(ApplyForFuneralCosts(INCIDENT, 1_200_000, "李某某", "聊公交尸字2026-002", T0,
                                                       deceased_id_number="371502198504041234"), fund.uow(),
                                  province=PROVINCE)
    assert "PICC" in str(refused.value) and fund.state.cases == {}


def test_funeral_costs_above_the_insurers_death_limit_are_advanced_only_above_it(fund: Fund) -> None:
    from accidentlink.reports import Party

    fund.copy_incident(fatalities=1)
    fund.state.parties[INCIDENT] = [Party(plate="鲁P12345", insurer="PICC", ci_policy="POL-1")]
    fund.state.bills["B-0"] = BillCopy("B-0", "ADM-1", INCIDENT, "LC-H-LC3", 100, T0, (), 100, 0, "PICC",
                                       {"vehicle_plate": "鲁P12345", "liability": "none"}, T0, "hospital:LC-H-LC3")
    case = F.apply_for_funeral_costs(ApplyForFuneralCosts(INCIDENT, 5_000_000, "李某某", "聊公交尸字2026-003", T0),
                                     fund.uow(), province=PROVINCE)
    assert case["payers"]["insurer_fen"] == 1_800_000 and case["eligible_fen"] == 3_200_000
    with pytest.raises(AmountAboveEntitlement):
        F.approve_case(ApproveCase(case["case_id"], 5_000_000, MAKER, T0 + timedelta(hours=1)), fund.uow(),
                       province=PROVINCE)
