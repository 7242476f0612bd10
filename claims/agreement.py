"""The self-negotiation agreement (自行协商协议书) or the police's electronic determination record.

Its fields are those of 程序规定 21 [O]: time, place, weather, each party's name, licence or ID
number, phone, vehicle type and plate, insurer and policy number, the accident form, the point of
impact and each party's liability. One party enters, the other confirms; both sign. The scene is
fixed by at least three photos: front-side, rear-side and the point of impact (domain.md §4 [S]).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib import resources

from accidentlink.reports import Party
from claims.liability import DEGREES

SELF_NEGOTIATION = "self_negotiation"        # 自行协商协议书, signed by the parties
POLICE_DETERMINATION = "police_determination"  # 电子事故认定 by the police online (程序规定 20 [O])
KINDS = (SELF_NEGOTIATION, POLICE_DETERMINATION)

# 事故形态 (GA 16.2 [S]); free text is refused so insurers can count.
ACCIDENT_FORMS = (
    "head_on_collision", "side_collision", "rear_end_collision", "turning_collision", "collision_other",
    "sideswipe", "run_over", "rollover", "fall", "fire", "explosion", "hit_fixed_object", "other",
)



@lru_cache(maxsize=1)
def _photo_rules() -> dict:
    """``rules/photos.json``: the required scene photos, optional kinds and the minimum count, each with its source."""
    doc = json.loads(resources.files("claims").joinpath("rules/photos.json").read_text("utf-8"))
    required, optional, least = tuple(doc["required_kinds"]), tuple(doc["optional_kinds"]), int(doc["min_photos"])
    if not required or set(required) & set(optional) or least < 1:
        raise ValueError("photos.json: required kinds, optional kinds apart from them, and a positive minimum")
    return {"required": required, "all": required + optional, "min": least}


REQUIRED_PHOTO_KINDS: tuple[str, ...] = _photo_rules()["required"]
PHOTO_KINDS: tuple[str, ...] = _photo_rules()["all"]   # every kind a party may upload
MIN_PHOTOS: int = _photo_rules()["min"]


@dataclass(frozen=True)
class AgreementParty:
    name: str | None
    licence_or_id_number: str | None
    phone: str | None
    vehicle_type: str | None
    plate: str | None
    insurer: str | None
    policy_number: str | None
    liability: str | None
    signed: bool = False


@dataclass(frozen=True)
class Agreement:
    kind: str
    occurred_at: datetime | None
    place: str | None
    weather: str | None
    accident_form: str | None
    point_of_impact: str | None
    parties: tuple[AgreementParty, ...]
    description: str = ""


@dataclass(frozen=True)
class Photo:
    kind: str
    uri: str
    taken_at: datetime | None = None


@dataclass(frozen=True)
class PhotoCheck:
    ok: bool
    count: int
    missing_kinds: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default_factory=tuple)


def build_agreement(
    *,
    occurred_at: datetime | None,
    place: str | None,
    weather: str | None,
    accident_form: str | None,
    point_of_impact: str | None,
    parties: Iterable[AgreementParty],
    kind: str = SELF_NEGOTIATION,
    description: str = "",
) -> Agreement:
    """Assemble the record with the fields of 程序规定 21 [O]; ``missing_fields`` says what is still blank."""
    if kind not in KINDS:
        raise ValueError(f"agreement kind must be one of {', '.join(KINDS)}; got {kind!r}")
    return Agreement(kind=kind, occurred_at=occurred_at, place=_clean(place), weather=_clean(weather),
                     accident_form=_clean(accident_form), point_of_impact=_clean(point_of_impact),
                     parties=tuple(parties), description=description)


def _clean(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def missing_fields(agreement: Agreement) -> list[str]:
    """Blank or invalid fields of 程序规定 21 [O], as dotted paths (``parties[1].policy_number``)."""
    problems: list[str] = []
    if agreement.occurred_at is None or agreement.occurred_at.tzinfo is None:
        problems.append("occurred_at")
    for name in ("place", "weather", "point_of_impact"):
        if not _clean(getattr(agreement, name)):
            problems.append(name)
    if agreement.accident_form not in ACCIDENT_FORMS:
        problems.append("accident_form")
    if len(agreement.parties) < 2:
        problems.append("parties")
    for i, p in enumerate(agreement.parties):
        for name in ("name", "licence_or_id_number", "phone", "vehicle_type", "plate", "insurer", "policy_number"):
            if not _clean(getattr(p, name)):
                problems.append(f"parties[{i}].{name}")
        if p.liability not in DEGREES:
            problems.append(f"parties[{i}].liability")
        if agreement.kind == SELF_NEGOTIATION and not p.signed:
            problems.append(f"parties[{i}].signed")
    return problems


def is_complete(agreement: Agreement) -> bool:
    return not missing_fields(agreement)


def check_photos(photos: Iterable[Photo]) -> PhotoCheck:
    """At least three scene photos: front-side, rear-side, point of impact (domain.md §4 [S]; 程序规定 19 [O] fix the evidence)."""
    items = [p for p in photos if p.uri and p.uri.strip()]
    kinds = {p.kind for p in items}
    missing = tuple(k for k in REQUIRED_PHOTO_KINDS if k not in kinds)
    problems = []
    if len(items) < MIN_PHOTOS:
        problems.append(f"at least {MIN_PHOTOS} photos are needed; got {len(items)}")
    problems += [f"no {k} photo" for k in missing]
    return PhotoCheck(ok=not problems, count=len(items), missing_kinds=missing, problems=tuple(problems))


def agreement_party(party: Party, liability: str | None, *, licence_number: str | None = None, signed: bool = False) -> AgreementParty:
    """An agreement line from a reported party; the licence number when known, else the ID number (程序规定 21 [O])."""
    return AgreementParty(name=party.name, licence_or_id_number=licence_number or party.id_number, phone=party.phone,
                          vehicle_type=party.vehicle_type, plate=party.plate, insurer=party.insurer,
                          policy_number=party.ci_policy, liability=liability, signed=signed)
