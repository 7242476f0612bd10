"""The fund's double-entry ledger, in integer fen.

Each posting is a tuple of ``LedgerEntry`` legs whose debits equal their credits, so the
``balance`` of any set of whole postings is zero. Accounts:

- ``fund.bank``: the fund's bank account (an asset; a payment credits it).
- ``fund.advances``: advances paid out and not yet claimed from anyone (an asset: the fund
  advances, it does not give; 道路交通安全法 75 [S]).
- ``fund.recovery_receivable``: advances claimed back from a named party.
- ``fund.written_off``: recoveries given up (an expense).
- ``fund.owed_back_receivable``: paid advances above the fund's share once the bills were routed again
  (liability decided): owed back to the fund by the insurer that now owes them. Its balance is what is owed.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from accidentlink.money import check_fen
from fund.cases import AdvancePaid, FundEvent, HitAndRunSolved, RecoveryOpened, SplitChanged

BANK = "fund.bank"
ADVANCES = "fund.advances"
RECOVERY_RECEIVABLE = "fund.recovery_receivable"
WRITTEN_OFF = "fund.written_off"
OWED_BACK = "fund.owed_back_receivable"


class UnbalancedPosting(ValueError):
    """A posting whose debits and credits differ."""


@dataclass(frozen=True)
class LedgerEntry:
    """One leg: exactly one of ``debit_fen`` and ``credit_fen`` is positive."""

    case_id: str
    account: str
    debit_fen: int
    credit_fen: int
    at: datetime
    memo: str = ""

    def __post_init__(self) -> None:
        check_fen(self.debit_fen, "debit_fen")
        check_fen(self.credit_fen, "credit_fen")
        if (self.debit_fen > 0) == (self.credit_fen > 0):
            raise ValueError("a ledger leg is either a debit or a credit, and not zero")


def balance(entries: Iterable[LedgerEntry]) -> int:
    """Debits minus credits: zero for any set of whole postings."""
    return sum(e.debit_fen - e.credit_fen for e in entries)


def account_balance(entries: Iterable[LedgerEntry], account: str) -> int:
    """Debits minus credits on one account (an asset's balance is positive)."""
    return sum(e.debit_fen - e.credit_fen for e in entries if e.account == account)


def _posting(case_id: str, debit: str, credit: str, amount_fen: int, at: datetime, memo: str) -> tuple[LedgerEntry, ...]:
    check_fen(amount_fen)
    if amount_fen == 0:
        return ()
    legs = (LedgerEntry(case_id, debit, amount_fen, 0, at, memo), LedgerEntry(case_id, credit, 0, amount_fen, at, memo))
    if balance(legs) != 0:  # cannot happen by construction; kept as the invariant's guard
        raise UnbalancedPosting(memo)
    return legs


def advance_paid_entries(case_id: str, amount_fen: int, at: datetime) -> tuple[LedgerEntry, ...]:
    """Advance paid to the hospital or relative: debit advances, credit bank."""
    return _posting(case_id, ADVANCES, BANK, amount_fen, at, "rescue-fund advance paid")


def recovery_opened_entries(case_id: str, amount_fen: int, debtor: str, at: datetime) -> tuple[LedgerEntry, ...]:
    """Claim the advance back from the party responsible (道路交通安全法 75 [S]): receivable from advances."""
    return _posting(case_id, RECOVERY_RECEIVABLE, ADVANCES, amount_fen, at, f"recovery from {debtor}")


def recovery_received_entries(case_id: str, amount_fen: int, at: datetime) -> tuple[LedgerEntry, ...]:
    """Money recovered: debit bank, credit the receivable."""
    return _posting(case_id, BANK, RECOVERY_RECEIVABLE, amount_fen, at, "recovery received")


def write_off_entries(case_id: str, amount_fen: int, at: datetime) -> tuple[LedgerEntry, ...]:
    """A recovery given up: debit written-off, credit the receivable."""
    return _posting(case_id, WRITTEN_OFF, RECOVERY_RECEIVABLE, amount_fen, at, "recovery written off")


def owed_back_entries(case_id: str, change_fen: int, owed_by: str | None, at: datetime, *,
                      debtor_known: bool = False) -> tuple[LedgerEntry, ...]:
    """A paid advance above the fund's new share: owed back (debit the receivable, credit the advance or its
    recovery claim); a negative change (a review that raised the share again) reverses that much."""
    against = RECOVERY_RECEIVABLE if debtor_known else ADVANCES
    memo = f"re-routed: owed back by {owed_by or 'the party now liable'}"
    if change_fen >= 0:
        return _posting(case_id, OWED_BACK, against, change_fen, at, memo)
    return _posting(case_id, against, OWED_BACK, -change_fen, at, "re-routed again: less owed back")


def entries_for_event(event: FundEvent, *, outstanding_advance_fen: int = 0,
                      debtor_known: bool = False) -> tuple[LedgerEntry, ...]:
    """The postings a case event makes; events that move no money make none.

    ``RecoveryOpened`` with an unknown debtor leaves the advance in ``fund.advances`` until
    ``HitAndRunSolved`` names the driver; then ``outstanding_advance_fen`` (what is still in
    advances for the case) moves to the receivable.
    """
    if isinstance(event, AdvancePaid):
        return advance_paid_entries(event.case_id, event.amount_fen, event.at)
    if isinstance(event, RecoveryOpened) and event.debtor is not None:
        return recovery_opened_entries(event.case_id, event.amount_fen, event.debtor, event.at)
    if isinstance(event, SplitChanged) and event.owed_back_change_fen:
        return owed_back_entries(event.case_id, event.owed_back_change_fen, event.owed_by, event.at,
                                 debtor_known=debtor_known)
    if isinstance(event, HitAndRunSolved) and outstanding_advance_fen:
        return recovery_opened_entries(event.case_id, outstanding_advance_fen, event.driver_ref, event.at)
    return ()
