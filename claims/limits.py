"""交强险 (compulsory third-party motor insurance) limits, versioned by effective date.

Source: 机动车交通事故责任强制保险条例 23 [O] (limits set by the regulator); the amounts in
``rules/ci_limits.json`` (domain.md §2 [S]). An accident uses the limits in force on its date.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class CiLimits:
    """One row of the limit table, all amounts in fen."""

    effective_from: date
    at_fault: bool
    death_disability_fen: int
    medical_fen: int
    property_fen: int
    source: str

    @property
    def total_fen(self) -> int:
        """All three heads together: what one 交强险 policy can pay for one accident at most."""
        return self.death_disability_fen + self.medical_fen + self.property_fen


@lru_cache(maxsize=1)
def _table() -> tuple[tuple[date, dict, str], ...]:
    doc = json.loads(resources.files("claims").joinpath("rules/ci_limits.json").read_text("utf-8"))
    rows = []
    for v in doc["versions"]:
        for side in ("at_fault", "not_at_fault"):
            amounts = v[side]
            for k, fen in amounts.items():
                if not isinstance(fen, int) or fen < 0:
                    raise ValueError(f"ci_limits.json: {v['effective_from']} {side}.{k} must be whole fen")
        rows.append((date.fromisoformat(v["effective_from"]), v, v["source"]))
    rows.sort(key=lambda r: r[0])
    return tuple(rows)


def ci_limits_on(accident_date: date, *, at_fault: bool = True) -> CiLimits:
    """The 交强险 limits in force on ``accident_date`` (条例 23 [O]; amounts domain.md §2 [S])."""
    chosen = None
    for eff, v, src in _table():
        if eff <= accident_date:
            chosen = (eff, v, src)
    if chosen is None:
        raise ValueError(f"no 交强险 limits known before {_table()[0][0]}")
    eff, v, src = chosen
    side = v["at_fault" if at_fault else "not_at_fault"]
    return CiLimits(eff, at_fault, side["death_disability_fen"], side["medical_fen"], side["property_fen"], src)


def medical_limit_fen(accident_date: date, *, at_fault: bool = True) -> int:
    """The 交强险 medical-expense limit per accident (18,000 yuan at fault since 2020-09-19)."""
    return ci_limits_on(accident_date, at_fault=at_fault).medical_fen
