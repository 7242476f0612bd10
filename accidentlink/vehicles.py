"""Who a party is and what they rode: ONE list of non-motor vehicle types for every context.

The list is cited data (``accidentlink/rules/vehicle_types.json``: 道路交通安全法 119(4) [O]; GB 17761-2018 [S]).
A non-motor vehicle (an e-bike, a bicycle, a tricycle...) carries no 交强险 (条例 2 [O]), so it is never an
"uninsured motor vehicle", whatever plate it carries; a pedestrian is not a vehicle at all. The fund's case
opening, payer routing and claims' quick handling all ask these functions, never a list of their own.

Roles (contract ``accident-report/1`` additions, version 2): ``driver`` (the default for a party with a
plate), ``occupant`` (rode in ``vehicle_plate``), ``pedestrian``, ``cyclist`` (rode a non-motor vehicle),
``fled`` (the vehicle or driver that left the scene).
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

DRIVER, OCCUPANT, PEDESTRIAN, CYCLIST, FLED = "driver", "occupant", "pedestrian", "cyclist", "fled"
ROLES = (DRIVER, OCCUPANT, PEDESTRIAN, CYCLIST, FLED)


class _PartyLike(Protocol):
    plate: str | None
    vehicle_type: str | None
    role: str | None
    vehicle_plate: str | None


@lru_cache(maxsize=1)
def _doc() -> dict[str, Any]:
    doc = json.loads(resources.files("accidentlink").joinpath("rules/vehicle_types.json").read_text("utf-8"))
    if tuple(doc["roles"]["values"]) != ROLES:
        raise ValueError("vehicle_types.json: roles differ from accidentlink.vehicles.ROLES")
    return doc


def non_motor_types() -> frozenset[str]:
    """Every ``vehicle_type`` value that names a non-motor vehicle (lower case)."""
    return frozenset(v.strip().lower() for v in _doc()["non_motor"]["values"])


def _norm(value: str | None) -> str:
    return (value or "").strip().lower()


def is_non_motor_type(vehicle_type: str | None) -> bool:
    """A non-motor vehicle type, or no vehicle (a pedestrian)."""
    t = _norm(vehicle_type)
    return t in non_motor_types() or t in {v.lower() for v in _doc()["not_a_vehicle"]["values"]}


def plate_of(value: str | None) -> str | None:
    return value.strip().upper() if value and value.strip() else None


def role_of(party: _PartyLike) -> str | None:
    """The party's role; a party with a plate and no role is its vehicle's driver (contract default)."""
    role = _norm(getattr(party, "role", None))
    if role:
        return role
    if _norm(party.vehicle_type) in {v.lower() for v in _doc()["not_a_vehicle"]["values"]}:
        return PEDESTRIAN
    return DRIVER if plate_of(party.plate) else None


def is_motor_vehicle(party: _PartyLike) -> bool:
    """Does this party stand for a motor vehicle (which must carry 交强险, 条例 2 [O])?

    Not a pedestrian or a cyclist, not an occupant (the vehicle they rode in is another party), and not a
    non-motor vehicle type, plate or not. An unknown type with a plate is a motor vehicle (plates are
    issued to motor vehicles; e-bikes' local plates come with their type).
    """
    role = role_of(party)
    if role in (PEDESTRIAN, CYCLIST, OCCUPANT):
        return False
    if is_non_motor_type(party.vehicle_type):
        return False
    return plate_of(party.plate) is not None or (role == FLED) or bool(_norm(party.vehicle_type))


def own_vehicle_plate(party: _PartyLike) -> str | None:
    """The plate of the vehicle that carried this person: an occupant's ``vehicle_plate``, a driver's own plate,
    a cyclist's own (non-motor) plate; None for a pedestrian."""
    role = role_of(party)
    if role == OCCUPANT:
        return plate_of(party.vehicle_plate)
    if role in (DRIVER, FLED, CYCLIST):
        return plate_of(party.plate)
    return None
