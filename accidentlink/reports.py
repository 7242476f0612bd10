"""The inbound accident report (contract: ``accidents.reported``, schema ``accident-report/1``).

``parse_report`` is the one gate every producer's bytes pass: it returns an ``AccidentReport`` or
raises ``InvalidReport`` with a reason a person can read. It knows nothing of Kafka or HTTP.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from accidentlink.clock import iso, parse_aware
from accidentlink.vehicles import ROLES

SCHEMA = "accident-report/1"
SOURCES = ("122", "120", "12123", "ecall", "video")
HAZARDS = ("trapped", "fire", "hazmat", "multi_vehicle")
MAX_PARTIES = 50
MAX_COUNT = 10_000  # more injured than this in one report is not a report, it is a typo


class InvalidReport(ValueError):
    """The bytes are not an accident report under the contract; ``str(exc)`` is the reason."""


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float
    address: str | None = None


@dataclass(frozen=True)
class Person:
    name: str | None
    phone: str | None


@dataclass(frozen=True)
class Party:
    name: str | None = None
    phone: str | None = None
    id_number: str | None = None
    plate: str | None = None
    vehicle_type: str | None = None
    insurer: str | None = None
    ci_policy: str | None = None
    # Extensions (optional, not in the minimal contract): facts quick handling and payer routing use.
    licensed: bool | None = None
    drunk: bool | None = None
    vehicle_stolen: bool | None = None
    # Who the party is (contract additions, version 2; ``accidentlink.vehicles``): driver (default with a plate),
    # occupant (rode in ``vehicle_plate``), pedestrian, cyclist, fled.
    role: str | None = None
    vehicle_plate: str | None = None

    @property
    def has_ci(self) -> bool:
        """The vehicle has compulsory third-party insurance (交强险)."""
        return bool(self.insurer) and bool(self.ci_policy)


@dataclass(frozen=True)
class FledVehicle:
    """A hit-and-run's fleeing vehicle as the caller describes it (程序规定 16 [O]); every field optional."""

    plate: str | None = None
    model: str | None = None
    colour: str | None = None
    direction: str | None = None
    driver: str | None = None


@dataclass(frozen=True)
class AccidentReport:
    report_id: str
    source: str
    reported_at: datetime
    location: Location
    injured: int
    fatalities: int
    vehicles_movable: bool
    hit_and_run: bool
    hazards: tuple[str, ...] = ()
    reporter: Person | None = None
    parties: tuple[Party, ...] = ()
    description: str = ""
    schema: str = SCHEMA
    fled_vehicle: FledVehicle | None = None

    @property
    def casualties(self) -> int:
        return self.injured + self.fatalities

    @property
    def needs_ambulance(self) -> bool:
        """Anyone injured, dead or trapped: 120 goes with 122 (公交管〔2020〕161号, domain.md §5)."""
        return self.casualties > 0 or "trapped" in self.hazards

    def to_json(self) -> dict[str, Any]:
        d = dict(vars(self))  # the fields in order; nested dataclasses by hand (``asdict`` deep-copies: slow)
        d["reported_at"] = iso(self.reported_at)
        d["location"] = dict(vars(self.location))
        d["hazards"] = list(self.hazards)
        d["parties"] = [{k: v for k, v in vars(p).items() if v is not None or k in ("insurer", "ci_policy")}
                        for p in self.parties]
        if self.fled_vehicle is None:
            del d["fled_vehicle"]
        else:
            d["fled_vehicle"] = {k: v for k, v in vars(self.fled_vehicle).items() if v is not None}
        if self.reporter is None:
            del d["reporter"]
        else:
            d["reporter"] = dict(vars(self.reporter))
        return {"schema": d.pop("schema"), **d}


def _get(obj: dict, key: str, types: tuple[type, ...], *, required: bool = True, where: str = "") -> Any:
    label = f"{where}{key}"
    if key not in obj or obj[key] is None:
        if required:
            raise InvalidReport(f"missing field '{label}'")
        return None
    v = obj[key]
    if bool not in types and isinstance(v, bool):
        raise InvalidReport(f"field '{label}' must be {_typename(types)}, got a boolean")
    if not isinstance(v, types):
        raise InvalidReport(f"field '{label}' must be {_typename(types)}, got {type(v).__name__}")
    return v


def _typename(types: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "a boolean", list: "a list", dict: "an object"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _text(obj: dict, key: str, where: str = "", required: bool = False, max_len: int = 500) -> str | None:
    v = _get(obj, key, (str,), required=required, where=where)
    if v is not None and len(v) > max_len:
        raise InvalidReport(f"field '{where}{key}' is longer than {max_len} characters")
    if v is not None and "\x00" in v:
        raise InvalidReport(f"field '{where}{key}' contains a NUL character")
    return v


def parse_report(raw: bytes | str) -> AccidentReport:
    """Validate one ``accidents.reported`` value (bytes as they came off the wire)."""
    if raw is None or len(raw) == 0:
        raise InvalidReport("empty message")
    if isinstance(raw, (bytes, bytearray)):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidReport(f"value is not UTF-8 (byte {e.start})") from None
    else:
        text = raw
    try:
        doc = json.loads(text, object_pairs_hook=no_duplicate_keys)
    except InvalidReport:
        raise
    except (json.JSONDecodeError, RecursionError) as e:
        raise InvalidReport(f"value is not JSON: {getattr(e, 'msg', 'too deeply nested')}") from None
    except ValueError as e:  # e.g. an integer literal longer than Python will convert
        raise InvalidReport(f"value is not acceptable JSON: {str(e)[:80]}") from None
    if "\\u" in text:  # only an escape can make a lone surrogate (the UTF-8 decoder refuses one as bytes)
        no_lone_surrogates(doc)
    return report_from_dict(doc)


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A key twice in one object is ambiguous (readers disagree which one counts): refused, never guessed."""
    doc: dict[str, Any] = {}
    for k, v in pairs:
        if k in doc:
            raise InvalidReport(f"duplicate key {k[:40]!r} in a JSON object")
        doc[k] = v
    return doc


def no_lone_surrogates(value: Any, where: str = "") -> None:
    """A ``\\ud800``-style escape without its pair is no character: it cannot be stored or shown."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidReport(f"field '{where or 'value'}' contains a lone surrogate (\\ud800-\\udfff escape)") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            no_lone_surrogates(k, where)
            no_lone_surrogates(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            no_lone_surrogates(v, f"{where}[{i}]")


def report_from_dict(doc: Any) -> AccidentReport:
    if not isinstance(doc, dict):
        raise InvalidReport(f"value must be a JSON object, got {type(doc).__name__ if doc is not None else 'null'}")
    schema = _get(doc, "schema", (str,))
    if schema != SCHEMA:
        raise InvalidReport(f"unknown schema version {schema[:40]!r} (expected {SCHEMA!r})")
    report_id = _text(doc, "report_id", required=True, max_len=100)
    if not report_id.strip():
        raise InvalidReport("field 'report_id' is empty")
    source = _get(doc, "source", (str,))
    if source not in SOURCES:
        raise InvalidReport(f"field 'source' must be one of {', '.join(SOURCES)}; got {source[:20]!r}")
    try:
        reported_at = parse_aware(_get(doc, "reported_at", (str,)))
        year = reported_at.astimezone(timezone.utc).year
    except (ValueError, OverflowError) as e:
        raise InvalidReport(f"field 'reported_at': {e}") from None
    if not 1900 <= year <= 2200:  # also keeps every later conversion of the time in range
        raise InvalidReport(f"field 'reported_at' is out of range (year {year})")

    loc = _get(doc, "location", (dict,))
    lat = _get(loc, "lat", (int, float), where="location.")
    lon = _get(loc, "lon", (int, float), where="location.")
    if not (-90 <= lat <= 90 and math.isfinite(float(lat))):
        raise InvalidReport(f"field 'location.lat' must be between -90 and 90; got {str(lat)[:30]}")
    if not (-180 <= lon <= 180 and math.isfinite(float(lon))):
        raise InvalidReport(f"field 'location.lon' must be between -180 and 180; got {str(lon)[:30]}")
    address = _text(loc, "address", where="location.")

    counts = {}
    for key in ("injured", "fatalities"):
        v = _get(doc, key, (int,))
        if v < 0:
            raise InvalidReport(f"field '{key}' must not be negative; got {v}")
        if v > MAX_COUNT:
            raise InvalidReport(f"field '{key}' is implausibly large ({v})")
        counts[key] = v
    movable = _get(doc, "vehicles_movable", (bool,))
    hit_and_run = _get(doc, "hit_and_run", (bool,))

    hazards_raw = _get(doc, "hazards", (list,), required=False) or []
    for h in hazards_raw:
        if h not in HAZARDS:
            raise InvalidReport(f"unknown hazard {str(h)[:30]!r} (allowed: {', '.join(HAZARDS)})")
    hazards = tuple(dict.fromkeys(hazards_raw))

    reporter = None
    rep = _get(doc, "reporter", (dict,), required=False)
    if rep is not None:
        reporter = Person(name=_text(rep, "name", "reporter."), phone=_text(rep, "phone", "reporter.", max_len=40))

    parties_raw = _get(doc, "parties", (list,), required=False) or []
    if len(parties_raw) > MAX_PARTIES:
        raise InvalidReport(f"too many parties ({len(parties_raw)} > {MAX_PARTIES})")
    parties = []
    for i, p in enumerate(parties_raw):
        where = f"parties[{i}]."
        if not isinstance(p, dict):
            raise InvalidReport(f"'parties[{i}]' must be an object")
        flags = {}
        for flag in ("licensed", "drunk", "vehicle_stolen"):
            flags[flag] = _get(p, flag, (bool,), required=False, where=where)
        role = _text(p, "role", where, max_len=20)
        if role is not None and role not in ROLES:
            raise InvalidReport(f"field '{where}role' must be one of {', '.join(ROLES)}; got {role[:20]!r}")
        flags["role"] = role
        flags["vehicle_plate"] = _text(p, "vehicle_plate", where, max_len=20)
        parties.append(Party(
            name=_text(p, "name", where), phone=_text(p, "phone", where, max_len=40),
            id_number=_text(p, "id_number", where, max_len=40), plate=_text(p, "plate", where, max_len=20),
            vehicle_type=_text(p, "vehicle_type", where, max_len=40), insurer=_text(p, "insurer", where, max_len=40),
            ci_policy=_text(p, "ci_policy", where, max_len=60), **flags,
        ))
    description = _text(doc, "description", max_len=4000) or ""
    fled = _get(doc, "fled_vehicle", (dict,), required=False)
    fled_vehicle = None if fled is None else FledVehicle(
        plate=_text(fled, "plate", "fled_vehicle.", max_len=20), model=_text(fled, "model", "fled_vehicle.", max_len=100),
        colour=_text(fled, "colour", "fled_vehicle.", max_len=40),
        direction=_text(fled, "direction", "fled_vehicle.", max_len=100),
        driver=_text(fled, "driver", "fled_vehicle.", max_len=200))
    return AccidentReport(
        report_id=report_id, source=source, reported_at=reported_at,
        location=Location(float(lat), float(lon), address),
        injured=counts["injured"], fatalities=counts["fatalities"], vehicles_movable=movable,
        hit_and_run=hit_and_run, hazards=hazards, reporter=reporter, parties=tuple(parties),
        description=description, fled_vehicle=fled_vehicle,
    )
