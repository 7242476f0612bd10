"""Flags on a new claim for a person to review. Nothing here decides, refuses or delays a claim.

- ``same_plate``: the same vehicle in other claims within the period;
- ``same_person``: the same ID number or phone in other claims within the period;
- ``police_outcome_mismatch``: the police closed the accident as something other than what the
  claim says (another accident form, or not a traffic accident at all).

Reasons mask personal data (a reviewer sees which claims, not the full ID number or phone).
Period and threshold: ``rules/fraud.json`` [U].
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources

from accidentlink.masking import mask_id_number, mask_phone

# Police outcomes that mean no insured accident happened, whatever the claim says it was.
NOT_AN_ACCIDENT = frozenset({"not_traffic_accident", "no_accident", "false_report"})

SAME_PLATE = "same_plate"
SAME_PERSON = "same_person"
POLICE_OUTCOME_MISMATCH = "police_outcome_mismatch"


@dataclass(frozen=True)
class ClaimFacts:
    claim_id: str
    accident_at: datetime
    plates: tuple[str, ...] = ()
    id_numbers: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    claimed_form: str | None = None       # the accident form the claim states (see agreement.ACCIDENT_FORMS)
    police_closed_as: str | None = None   # how the police closed the accident, when they did


@dataclass(frozen=True)
class FraudFlag:
    kind: str
    claim_id: str
    related_claim_ids: tuple[str, ...]
    zh: str
    en: str


@dataclass(frozen=True)
class FraudRules:
    period_days: int
    min_claims: int


@lru_cache(maxsize=1)
def fraud_rules() -> FraudRules:
    doc = json.loads(resources.files("claims").joinpath("rules/fraud.json").read_text("utf-8"))
    rules = FraudRules(int(doc["period_days"]), int(doc["min_claims"]))
    if rules.period_days <= 0 or rules.min_claims < 2:
        raise ValueError("fraud.json: period_days must be positive and min_claims at least 2")
    return rules


def _plate(p: str) -> str:
    return re.sub(r"[\s·.-]", "", p).upper()


def _phone(p: str) -> str:
    digits = re.sub(r"\D", "", p)
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def _id(n: str) -> str:
    return n.strip().upper()


def duplicate_flags(
    new_claim_facts: ClaimFacts,
    recent_claims: Iterable[ClaimFacts],
    period_days: int | None = None,
    *,
    min_claims: int | None = None,
) -> list[FraudFlag]:
    """Same plate or person in several claims within the period; police outcome differs. Flags only [U]."""
    rules = fraud_rules()
    window = timedelta(days=period_days if period_days is not None else rules.period_days)
    threshold = min_claims if min_claims is not None else rules.min_claims
    if threshold < 2:
        raise ValueError("min_claims must be at least 2 (the new claim and one other)")
    needed = threshold - 1  # others besides the new claim
    new = new_claim_facts
    others = [c for c in recent_claims
              if c.claim_id != new.claim_id and abs(c.accident_at - new.accident_at) <= window]
    days = window.days
    flags: list[FraudFlag] = []

    for plate in dict.fromkeys(_plate(p) for p in new.plates if p and p.strip()):
        hits = tuple(c.claim_id for c in others if plate in {_plate(p) for p in c.plates if p})
        if len(hits) >= needed:
            flags.append(FraudFlag(SAME_PLATE, new.claim_id, hits,
                                   f"车辆 {plate} 在{days}天内另有{len(hits)}起理赔：{', '.join(hits)}，请人工复核",
                                   f"vehicle {plate} is in {len(hits)} other claim(s) within {days} days: {', '.join(hits)}; review"))

    people: list[tuple[str, str, str]] = []  # (kind, normalised value, masked)
    people += [("id", _id(n), mask_id_number(_id(n)) or "") for n in new.id_numbers if n and n.strip()]
    people += [("phone", _phone(p), mask_phone(p) or "") for p in new.phones if p and _phone(p)]
    for kind, value, masked in dict.fromkeys(people):
        if kind == "id":
            hits = tuple(c.claim_id for c in others if value in {_id(n) for n in c.id_numbers if n})
            label_zh, label_en = "身份证号", "ID number"
        else:
            hits = tuple(c.claim_id for c in others if value in {_phone(p) for p in c.phones if p})
            label_zh, label_en = "手机号", "phone"
        if len(hits) >= needed:
            flags.append(FraudFlag(SAME_PERSON, new.claim_id, hits,
                                   f"同一当事人（{label_zh} {masked}）在{days}天内另有{len(hits)}起理赔：{', '.join(hits)}，请人工复核",
                                   f"the same person ({label_en} {masked}) is in {len(hits)} other claim(s) within {days} days: "
                                   f"{', '.join(hits)}; review"))

    closed = (new.police_closed_as or "").strip()
    claimed = (new.claimed_form or "").strip()
    if closed and (closed in NOT_AN_ACCIDENT or claimed and closed != claimed):
        flags.append(FraudFlag(POLICE_OUTCOME_MISMATCH, new.claim_id, (),
                               f"理赔所述事故形态为“{new.claimed_form or '未填'}”，交警结案为“{new.police_closed_as}”，请人工复核",
                               f"the claim states {new.claimed_form!r} but the police closed the accident as "
                               f"{new.police_closed_as!r}; review"))
    return flags
