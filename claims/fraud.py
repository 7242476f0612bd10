"""Duplicate-claim flags on a new claim, for a person to review. Nothing here decides, refuses or delays a claim.

- ``same_plate_recent_claims``: the same vehicle in other claims within the period;
- ``same_person_recent_claims``: the same person (ID number or phone, compared as keyed hashes by the claims
  store, never read in the clear) in other claims with other vehicles within the period.

The claims service (``claims.services.fraud_flags``) finds the other claims through its unit of work and
builds the flags here. Period and threshold: ``rules/fraud.json`` [U]; the texts name the other claims,
never a person's data.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

SAME_PLATE = "same_plate_recent_claims"
SAME_PERSON = "same_person_recent_claims"


@dataclass(frozen=True)
class FraudRules:
    period_days: int
    min_claims: int          # the new claim and at least (min_claims - 1) others raise a flag

    @property
    def period(self) -> timedelta:
        return timedelta(days=self.period_days)


def fraud_rules_from_dict(doc: dict[str, Any]) -> FraudRules:
    rules = FraudRules(int(doc["period_days"]), int(doc["min_claims"]))
    if rules.period_days <= 0 or rules.min_claims < 2:
        raise ValueError("fraud.json: period_days must be positive and min_claims at least 2")
    return rules


@lru_cache(maxsize=1)
def fraud_rules() -> FraudRules:
    return fraud_rules_from_dict(json.loads(resources.files("claims").joinpath("rules/fraud.json").read_text("utf-8")))


@dataclass(frozen=True)
class FraudFlag:
    code: str
    zh: str
    en: str
    claims: tuple[str, ...]


def duplicate_flags(same_plate: tuple[str, ...], same_person: tuple[str, ...],
                    rules: FraudRules | None = None) -> list[FraudFlag]:
    """The flags a new claim gets, given the other claims within the period that share its plate, and those
    (with other vehicles) that share its person. Flags only [U]."""
    rules = rules or fraud_rules()
    needed, days = rules.min_claims - 1, rules.period_days
    flags = []
    if same_plate and len(same_plate) >= needed:
        n = len(same_plate)
        flags.append(FraudFlag(SAME_PLATE, f"同一车牌近{days}天内另有{n}起理赔，请人工复核",
                               f"the same plate is in {n} other claim(s) within {days} days; review", same_plate))
    if same_person and len(same_person) >= needed:
        n = len(same_person)
        flags.append(FraudFlag(SAME_PERSON, f"同一当事人近{days}天内另有{n}起理赔（其他车辆），请人工复核",
                               f"the same person is in {n} other claim(s) with other vehicles within {days} days; "
                               f"review", same_person))
    return flags
