"""The rescue window: only rescue costs of the first days after rescue starts are the fund's.

A bill has ``rescue_started_at`` and items, each with ``amount_fen`` and an optional
``incurred_at``. An item without ``incurred_at`` counts as inside the window (the hospital bills
rescue costs; we do not push a cost out on a missing timestamp). The window is half-open:
a cost at exactly ``rescue_started_at + window`` is outside it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from accidentlink.money import check_fen
from fund.provinces import ProvinceRules


@dataclass(frozen=True)
class BillItem:
    amount_fen: int
    incurred_at: datetime | None = None
    description: str = ""

    def __post_init__(self) -> None:
        check_fen(self.amount_fen)
        if self.incurred_at is not None and self.incurred_at.tzinfo is None:
            raise ValueError("incurred_at must carry an offset")


@dataclass(frozen=True)
class Bill:
    """A hospital's rescue-cost bill for one victim. ``extended``: the hospital gave written reasons."""

    rescue_started_at: datetime
    items: tuple[BillItem, ...]
    extended: bool = False

    def __post_init__(self) -> None:
        if self.rescue_started_at.tzinfo is None:
            raise ValueError("rescue_started_at must carry an offset")

    @property
    def amount_fen(self) -> int:
        return sum(i.amount_fen for i in self.items)


@dataclass(frozen=True)
class WindowSplit:
    inside_fen: int
    outside_fen: int
    window_ends_at: datetime
    extended: bool
    source: str

    @property
    def amount_fen(self) -> int:
        return self.inside_fen + self.outside_fen


def rescue_window_end(rescue_started_at: datetime, rules: ProvinceRules) -> datetime:
    """When the fund's window closes (办法 2022: 7 days; 试行办法 12: 72 hours before 2022 [S])."""
    return rescue_started_at + rules.rescue_window


def split_by_window(bill: Bill, rules: ProvinceRules) -> WindowSplit:
    """Bill costs inside vs after the window; with written reasons all count (办法 2022 [S])."""
    end = rescue_window_end(bill.rescue_started_at, rules)
    outside = 0 if bill.extended else sum(
        i.amount_fen for i in bill.items if i.incurred_at is not None and i.incurred_at >= end)
    return WindowSplit(bill.amount_fen - outside, outside, end, bill.extended, rules.rescue_window_source)


def fund_eligible_fen(bill: Bill | int, rules: ProvinceRules) -> int:
    """Of a bill, the fen inside the rescue window (a bare amount has no dates: all inside) (办法 2022 [S])."""
    if isinstance(bill, Bill):
        return split_by_window(bill, rules).inside_fen
    return check_fen(bill, "bill_fen")
