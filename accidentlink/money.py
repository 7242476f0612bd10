"""Money is an integer number of fen (1 yuan = 100 fen). Never a float, never a Decimal."""
from __future__ import annotations

FEN_PER_YUAN = 100


def yuan(amount: int) -> int:
    """Whole yuan to fen: ``yuan(18_000) == 1_800_000``."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError("yuan() takes a whole number of yuan")
    return amount * FEN_PER_YUAN


def format_fen(amount_fen: int) -> str:
    """``2500000`` -> ``"25,000.00"`` (for people; machines keep the integer)."""
    sign = "-" if amount_fen < 0 else ""
    whole, cents = divmod(abs(amount_fen), FEN_PER_YUAN)
    return f"{sign}{whole:,}.{cents:02d}"


def check_fen(value: object, field: str = "amount_fen") -> int:
    """Validate an amount that arrived from outside: a non-negative JSON integer."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{field} must be an integer number of fen")
    if value < 0:
        raise ValueError(f"{field} must not be negative")
    return value
