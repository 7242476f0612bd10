"""The rescue fund (救助基金): payer routing, rescue window, cases and timers, ledger.

Other packages use only what is exported here.
"""
from fund.cases import (
    AdvanceApproved, AdvancePaid, AdvanceRejected, AlreadyPaid, AmountAboveEntitlement, ApplicantNotAllowed,
    ApplicationReceived, CaseKind, CaseOpened, CaseState, FundCase, FundEvent, FundRuleViolation, HitAndRunSolved,
    InvalidState, NoFundCondition, NotApproved, Overdue, PoliceNotified, RecoveryOpened, SamePersonApprovedAndPays,
    SecondApprovalRequired, approve, case_to_dict, deadlines, event_to_dict, notify_police, open_case,
    open_case_reasons, overdue, pay, receive_application, reject, solve_hit_and_run,
)
from fund.ledger import (
    LedgerEntry, account_balance, advance_paid_entries, balance, entries_for_event, recovery_opened_entries,
    recovery_received_entries, write_off_entries,
)
from fund.payer import CostKind, PayerSplit, VehicleCover, route_bill, route_rescue_bill
from fund.provinces import Deadlines, ProvinceRules, UnknownProvince, check_rules, province_rules
from fund.window import Bill, BillItem, WindowSplit, fund_eligible_fen, rescue_window_end, split_by_window
from fund.workdays import (
    WorkCalendar, add_working_days, default_calendar, is_working_day, uncovered_years, working_days_between,
)

__all__ = [
    "AdvanceApproved", "AdvancePaid", "AdvanceRejected", "AlreadyPaid", "AmountAboveEntitlement",
    "ApplicantNotAllowed", "ApplicationReceived", "CaseKind", "CaseOpened", "CaseState", "FundCase", "FundEvent",
    "FundRuleViolation", "HitAndRunSolved", "InvalidState", "NoFundCondition", "NotApproved", "Overdue",
    "PoliceNotified", "RecoveryOpened", "SamePersonApprovedAndPays", "SecondApprovalRequired", "approve",
    "case_to_dict", "deadlines", "event_to_dict", "notify_police", "open_case", "open_case_reasons", "overdue",
    "pay", "receive_application", "reject", "solve_hit_and_run",
    "LedgerEntry", "account_balance", "advance_paid_entries", "balance", "entries_for_event",
    "recovery_opened_entries", "recovery_received_entries", "write_off_entries",
    "CostKind", "PayerSplit", "VehicleCover", "route_bill", "route_rescue_bill",
    "Deadlines", "ProvinceRules", "UnknownProvince", "check_rules", "province_rules",
    "Bill", "BillItem", "WindowSplit", "fund_eligible_fen", "rescue_window_end", "split_by_window",
    "WorkCalendar", "add_working_days", "default_calendar", "is_working_day", "uncovered_years",
    "working_days_between",
]
