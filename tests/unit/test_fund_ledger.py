"""The fund's double-entry ledger in fen (道路交通安全法 75 [S]: the fund advances and recovers)."""
from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, strategies as st

from accidentlink.clock import CST
from fund.cases import AdvancePaid, HitAndRunSolved, PoliceNotified, RecoveryOpened
from fund.ledger import (
    ADVANCES, BANK, RECOVERY_RECEIVABLE, WRITTEN_OFF, LedgerEntry, account_balance, advance_paid_entries, balance,
    entries_for_event, recovery_opened_entries, recovery_received_entries, write_off_entries,
)

AT = datetime(2026, 10, 10, 9, tzinfo=CST)


def test_an_advance_debits_advances_and_credits_the_bank():
    legs = advance_paid_entries("FC-1", 700_000, AT)
    assert balance(legs) == 0
    assert account_balance(legs, ADVANCES) == 700_000 and account_balance(legs, BANK) == -700_000


def test_recovery_moves_the_advance_to_a_receivable_then_to_the_bank():
    legs = (advance_paid_entries("FC-1", 700_000, AT) + recovery_opened_entries("FC-1", 700_000, "driver-1", AT)
            + recovery_received_entries("FC-1", 400_000, AT) + write_off_entries("FC-1", 300_000, AT))
    assert balance(legs) == 0
    assert account_balance(legs, ADVANCES) == 0 and account_balance(legs, RECOVERY_RECEIVABLE) == 0
    assert account_balance(legs, BANK) == -300_000 and account_balance(legs, WRITTEN_OFF) == 300_000


def test_events_post_what_they_move():
    paid = entries_for_event(AdvancePaid("FC-1", 700_000, "cashier-wang", AT))
    unknown = entries_for_event(RecoveryOpened("FC-1", 700_000, None, AT))
    solved = entries_for_event(HitAndRunSolved("FC-1", "driver-1", AT), outstanding_advance_fen=700_000)
    assert unknown == () and entries_for_event(PoliceNotified("FC-1", AT)) == ()
    assert account_balance(paid + solved, RECOVERY_RECEIVABLE) == 700_000 and balance(paid + solved) == 0


def test_a_leg_is_a_debit_or_a_credit_in_whole_fen():
    with pytest.raises(ValueError):
        LedgerEntry("FC-1", BANK, 100, 100, AT)
    with pytest.raises(ValueError):
        LedgerEntry("FC-1", BANK, 0, 0, AT)
    with pytest.raises(ValueError):
        LedgerEntry("FC-1", BANK, 1.5, 0, AT)  # type: ignore[arg-type]


@given(st.lists(st.tuples(st.sampled_from(["advance", "open", "receive", "write_off"]),
                          st.integers(min_value=0, max_value=10**10)), max_size=30))
def test_any_sequence_of_postings_balances_to_zero(ops):
    make = {"advance": lambda a: advance_paid_entries("FC-1", a, AT),
            "open": lambda a: recovery_opened_entries("FC-1", a, "d", AT),
            "receive": lambda a: recovery_received_entries("FC-1", a, AT),
            "write_off": lambda a: write_off_entries("FC-1", a, AT)}
    legs = [leg for op, amount in ops for leg in make[op](amount)]
    assert balance(legs) == 0
