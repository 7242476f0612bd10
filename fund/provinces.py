"""Per-province rescue-fund rules, versioned by the accident date (``rules/provinces.json``).

The national rules are the ``default`` entry; a province lists only what it changes. Values the
sources do not settle ([S]/[U] in domain.md: window length, cash cap, applicant types, the
second-approver threshold) live in the JSON, never in code.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

DEFAULT = "default"
APPLICATION_KINDS = ("rescue", "funeral")


class UnknownProvince(LookupError):
    """No rules are configured for that province."""


@dataclass(frozen=True)
class Deadlines:
    """Statutory terms, in working days; ``payment`` None = no term in force."""

    police_notice: int
    fund_review: int
    payment: int | None
    funeral_payment: int
    source: str


@dataclass(frozen=True)
class ProvinceRules:
    """The rules of one province for accidents on one date."""

    province: str
    accident_date: date
    rescue_window: timedelta
    rescue_window_source: str
    deadlines: Deadlines
    cash_cap_fen: int | None
    cash_cap_source: str
    applicant_types: tuple[tuple[str, tuple[str, ...]], ...]
    applicant_types_source: str
    second_approval_threshold_fen: int | None
    second_approval_source: str

    def may_apply(self, kind: str, applicant_type: str) -> bool:
        """Whether that applicant may apply for that kind of advance (办法 2022 [S]; provincial rules [U])."""
        return applicant_type in dict(self.applicant_types).get(kind, ())


def _versioned(entries: list[dict[str, Any]], on: date, what: str) -> dict[str, Any]:
    chosen = None
    for e in sorted(entries, key=lambda e: e["effective_from"]):
        if date.fromisoformat(e["effective_from"]) <= on:
            chosen = e
    if chosen is None:
        raise ValueError(f"no {what} rule in force on {on}")
    return chosen


def _fen_or_none(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{what} must be null or whole fen")
    return value


def rules_from_dict(doc: dict[str, Any], province: str, on: date) -> ProvinceRules:
    """Resolve one province's rules on a date from the ``provinces.json`` shape (validating as it goes)."""
    provinces = doc["provinces"]
    key = province.lower()
    if key not in provinces:
        raise UnknownProvince(province)
    merged = {**provinces[DEFAULT], **provinces[key]}
    for name, value in merged.items():
        entries = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        for e in entries:
            if not e.get("source"):
                raise ValueError(f"provinces.json {key}.{name}: every entry needs a source")

    window = _versioned(merged["rescue_window"], on, "rescue window")
    hours = window["hours"]
    if not isinstance(hours, int) or hours <= 0:
        raise ValueError("rescue window hours must be a positive integer")
    d = _versioned(merged["deadlines_working_days"], on, "deadline")
    for step in ("police_notice", "fund_review", "funeral_payment"):
        if not isinstance(d[step], int) or d[step] < 0:
            raise ValueError(f"deadline {step} must be whole working days")
    if d["payment"] is not None and (not isinstance(d["payment"], int) or d["payment"] < 0):
        raise ValueError("deadline payment must be null or whole working days")
    applicants = merged["applicant_types"]["value"]
    if set(applicants) - set(APPLICATION_KINDS):
        raise ValueError(f"applicant_types: unknown kinds {sorted(set(applicants) - set(APPLICATION_KINDS))}")
    return ProvinceRules(
        province=key,
        accident_date=on,
        rescue_window=timedelta(hours=hours),
        rescue_window_source=window["source"],
        deadlines=Deadlines(d["police_notice"], d["fund_review"], d["payment"], d["funeral_payment"], d["source"]),
        cash_cap_fen=_fen_or_none(merged["cash_cap_fen"]["value"], "cash_cap_fen"),
        cash_cap_source=merged["cash_cap_fen"]["source"],
        applicant_types=tuple((k, tuple(v)) for k, v in sorted(applicants.items())),
        applicant_types_source=merged["applicant_types"]["source"],
        second_approval_threshold_fen=_fen_or_none(
            merged["second_approval_threshold_fen"]["value"], "second_approval_threshold_fen"),
        second_approval_source=merged["second_approval_threshold_fen"]["source"],
    )


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(resources.files("fund").joinpath("rules/provinces.json").read_text("utf-8"))
    return doc


def configured_provinces() -> tuple[str, ...]:
    return tuple(sorted(_document()["provinces"]))


@lru_cache(maxsize=256)
def province_rules(province: str, accident_date: date) -> ProvinceRules:
    """The fund rules of ``province`` for an accident on ``accident_date`` (办法 2022 / 试行办法 2010 [S])."""
    return rules_from_dict(_document(), province, accident_date)


def check_rules() -> None:
    """Load every province on each effective date and today's rules: call at start to fail fast."""
    doc = _document()
    dates = {date.fromisoformat(e["effective_from"]) for p in doc["provinces"].values()
             for v in p.values() if isinstance(v, list) for e in v}
    for name in doc["provinces"]:
        for on in dates:
            rules_from_dict(doc, name, on)
