"""Time: always timezone-aware. China Standard Time is UTC+08:00 with no DST."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol

CST = timezone(timedelta(hours=8), "CST")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(CST)


@dataclass
class FixedClock:
    """A clock for tests; ``advance`` moves it."""

    at: datetime = field(default_factory=lambda: datetime(2026, 11, 22, 8, 0, tzinfo=CST))

    def now(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> datetime:
        self.at = self.at + timedelta(**kw)
        return self.at


def parse_aware(value: str) -> datetime:
    """ISO 8601 with an offset; a naive time is an error (the contract says times carry offsets)."""
    if not isinstance(value, str):
        raise ValueError("a timestamp must be an ISO 8601 string")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {value[:40]!r}") from None
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"timestamp has no offset: {value[:40]!r}")
    return dt


def iso(dt: datetime) -> str:
    """ISO 8601 in China Standard Time (every time the platform shows carries the +08:00 offset)."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    dt = dt.astimezone(CST)
    return dt.isoformat(timespec="seconds") if dt.microsecond == 0 else dt.isoformat(timespec="milliseconds")


def as_aware(dt: datetime) -> datetime:
    """Rows read back from SQLite lose their offset; they were stored in UTC."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt
