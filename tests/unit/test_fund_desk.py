"""The fund clerk's desk (issue 15 item 4) on the in-memory fake: the queue searched, filtered and sorted on the
server, so the case waiting 1,008th of 1,009 is found; the working-day countdown; the actions a clerk may not
take, with the reason, before any dialog."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from accidentlink.reports import parse_report
from fund import services as F
from fund.commands import IncidentReported, QueueQuery
from fund.desk_actions import actions_for
from tests.support.reports import report
from tests.unit.test_fund_services import CASE, CASHIER, CHECKER, MAKER, PROVINCE, T0, Fund, applied_hit_and_run


def many_open_cases(fund: Fund, n: int) -> None:
    """n hit-and-run cases a minute apart: the first opened by the use case, the rest its copies in the store (the
    fake copies its whole state per unit of work, so opening a thousand one by one would take minutes)."""
    facts = fund.copy_incident(incident_id="INC-20261121-0000", hit_and_run=True, first_reported_at=T0)
    r = parse_report(json.dumps(report(at=T0, injured=1, hit_and_run=True), ensure_ascii=False))
    F.open_cases_for_incident(IncidentReported(r, facts, T0), fund.uow(), province=PROVINCE)
    first = fund.state.cases["FC-20261121-0000"]
    for i in range(1, n):
        at = T0 + timedelta(minutes=i)
        case = replace(first.case, case_id=f"FC-20261121-{i:04d}", incident_id=f"INC-20261121-{i:04d}",
                       opened_at=at, police_notified_at=at)
        fund.state.cases[case.case_id] = replace(first, case=case)


def test_the_case_waiting_1008th_of_1009_is_found_by_its_number_and_the_total_is_told() -> None:
    fund = Fund()
    many_open_cases(fund, 1009)
    page, total = F.review_queue_page(QueueQuery(500), fund.uow())
    assert total == 1009 and len(page) == 500
    wanted = "FC-20261121-1007"
    assert wanted not in {c["case_id"] for c in page}, "the first page does not hold it"
    found, total = F.review_queue_page(QueueQuery(500, search="21-1007"), fund.uow())
    assert [c["case_id"] for c in found] == [wanted] and total == 1
    newest, _ = F.review_queue_page(QueueQuery(3, sort="newest"), fund.uow())
    assert [c["case_id"] for c in newest] == ["FC-20261121-1008", wanted, "FC-20261121-1006"]
    nxt, _ = F.review_queue_page(QueueQuery(2, sort="newest", offset=1), fund.uow())
    assert [c["case_id"] for c in nxt] == [wanted, "FC-20261121-1006"]


def test_filters_by_status_kind_and_lateness() -> None:
    fund = Fund()
    applied_hit_and_run(fund)
    many_open_cases(fund, 3)
    applied, total = F.review_queue_page(QueueQuery(50, status="applied"), fund.uow())
    assert [c["case_id"] for c in applied] == [CASE] and total == 1
    assert F.review_queue_page(QueueQuery(50, kind="funeral"), fund.uow()) == ([], 0)
    assert F.review_queue_page(QueueQuery(50, overdue=True), fund.uow())[1] == 0
    by_amount, _ = F.review_queue_page(QueueQuery(50, sort="amount"), fund.uow())
    assert by_amount[0]["case_id"] == CASE, "the largest eligible amount first"
    with pytest.raises(ValueError):
        F.review_queue_page(QueueQuery(50, sort="whatever"), fund.uow())


def test_the_countdown_counts_working_days_left_and_late() -> None:
    fund = Fund()
    applied_hit_and_run(fund)
    case = fund.case()
    step, due = next(iter(case["deadlines"].items()))
    from accidentlink.clock import parse_aware
    before = F.with_countdown(case, parse_aware(due) - timedelta(days=7))["working_days_left"][step]
    after = F.with_countdown(case, parse_aware(due) + timedelta(days=7))["working_days_left"][step]
    assert before >= 4 and after <= -4


def test_the_actions_a_clerk_may_not_take_say_why_in_both_languages() -> None:
    fund = Fund()
    applied_hit_and_run(fund)
    assert actions_for(fund.case(), MAKER)["approve"] == {"allowed": True}
    assert actions_for(fund.case(), MAKER)["pay"]["code"] == "not_approved"
    fund.approve(2_500_000, MAKER)
    case = fund.case()
    if case["status"] != "approved":  # above the province's threshold: a second approver checks the first
        mine = actions_for(case, MAKER)["approve"]
        assert mine["code"] == "you_approved_first" and "另一位审批人" in mine["zh"] and "different" in mine["en"]
        fund.approve(2_500_000, CHECKER)
        case = fund.case()
    pay = actions_for(case, MAKER)["pay"]
    assert not pay["allowed"] and pay["code"] == "you_approved" and "maker-checker" in pay["en"]
    assert actions_for(case, CASHIER)["pay"] == {"allowed": True}
    assert actions_for(case, CASHIER)["reject"]["code"] == "not_open"
