"""Posts, units and hospitals: what can be sent and where casualties can go.

The local practice modelled (domain.md §5; seeds 002 and 003): Liaocheng's Dongchangfu squads paired
with hospitals, an ambulance with two medics stationed with the 梁水镇 and 道口铺 squads; Zibo's
accident rescue points, designated trauma hospitals and quick-handling points. Trauma grading is
provincial [U], so ``Hospital.trauma_level`` is data (0 none, 1..3, 3 highest), never code.

``load_resources`` reads the JSON files under ``dispatch/data/`` and validates them with errors that
name the file, the entry and the problem.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from dispatch.errors import InvalidResources

DEFAULT_DATA_DIR = Path(__file__).with_name("data")
SCHEMA = "dispatch-resources/1"
POST_KINDS = ("squad", "quick_point", "ems_station", "hospital", "rescue_point")
SERVICES = ("122", "120")
UNIT_KIND_FOR_SERVICE = {"122": "patrol", "120": "ambulance"}
TRAUMA_LEVELS = (0, 1, 2, 3)


@dataclass(frozen=True)
class Post:
    """Where units are based: a police squad (中队), a quick-handling point (快处点), a 120 station,
    a hospital's own 120 station, or an accident rescue point (伤员救援点)."""

    post_id: str
    kind: str
    name: str
    lat: float
    lon: float
    city: str
    approx: bool
    paired_hospital_id: str | None = None


@dataclass(frozen=True)
class Unit:
    """One dispatchable unit: a 122 patrol (or quick-point staff) or a 120 ambulance."""

    unit_id: str
    service: str
    kind: str
    name: str
    lat: float
    lon: float
    home: str


@dataclass(frozen=True)
class Hospital:
    """A receiving hospital; ``trauma_level`` 0 none .. 3 highest (provincial grading [U])."""

    hospital_id: str
    name: str
    lat: float
    lon: float
    city: str
    trauma_level: int
    green_channel: bool
    approx: bool


@dataclass(frozen=True)
class Resources:
    """Everything loaded from the data files, with lookups by id."""

    posts: tuple[Post, ...] = ()
    units: tuple[Unit, ...] = ()
    hospitals: tuple[Hospital, ...] = ()
    cities: tuple[str, ...] = field(default=())

    @cached_property
    def _posts(self) -> Mapping[str, Post]:
        return {p.post_id: p for p in self.posts}

    @cached_property
    def _units(self) -> Mapping[str, Unit]:
        return {u.unit_id: u for u in self.units}

    @cached_property
    def _hospitals(self) -> Mapping[str, Hospital]:
        return {h.hospital_id: h for h in self.hospitals}

    def post(self, post_id: str) -> Post:
        return self._posts[post_id]

    def unit(self, unit_id: str) -> Unit:
        return self._units[unit_id]

    def hospital(self, hospital_id: str) -> Hospital:
        return self._hospitals[hospital_id]

    def home_of(self, unit_id: str) -> Post:
        """The post a unit is based at."""
        return self._posts[self._units[unit_id].home]

    def for_city(self, city: str) -> "Resources":
        """Only one city's posts, hospitals and the units based at those posts."""
        posts = tuple(p for p in self.posts if p.city == city)
        ids = {p.post_id for p in posts}
        return Resources(
            posts=posts, units=tuple(u for u in self.units if u.home in ids),
            hospitals=tuple(h for h in self.hospitals if h.city == city), cities=(city,),
        )


# --- validation -------------------------------------------------------------------------------

def _fail(where: str, msg: str) -> InvalidResources:
    return InvalidResources(f"{where}: {msg}")


def _field(entry: dict, key: str, types: tuple[type, ...], where: str, *, optional: bool = False) -> Any:
    if key not in entry or entry[key] is None:
        if optional:
            return None
        raise _fail(where, f"missing field '{key}'")
    v = entry[key]
    if (bool not in types and isinstance(v, bool)) or not isinstance(v, types):
        raise _fail(where, f"field '{key}' has the wrong type ({type(v).__name__})")
    if isinstance(v, str) and not v.strip():
        raise _fail(where, f"field '{key}' is empty")
    return v


def _coords(entry: dict, where: str) -> tuple[float, float]:
    lat = _field(entry, "lat", (int, float), where)
    lon = _field(entry, "lon", (int, float), where)
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise _fail(where, f"lat must be between -90 and 90, got {lat}")
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise _fail(where, f"lon must be between -180 and 180, got {lon}")
    return float(lat), float(lon)


_ALLOWED_KEYS = {
    "posts": {"post_id", "kind", "name", "lat", "lon", "approx", "paired_hospital_id", "note"},
    "units": {"unit_id", "service", "kind", "name", "lat", "lon", "home", "note"},
    "hospitals": {"hospital_id", "name", "lat", "lon", "trauma_level", "green_channel", "approx", "note"},
}


def _entries(doc: dict, key: str, fname: str) -> list[tuple[str, dict]]:
    raw = doc.get(key, [])
    if not isinstance(raw, list):
        raise _fail(fname, f"'{key}' must be a list")
    out = []
    for i, e in enumerate(raw):
        where = f"{fname}: {key}[{i}]"
        if not isinstance(e, dict):
            raise _fail(where, "must be an object")
        unknown = sorted(set(e) - _ALLOWED_KEYS[key])
        if unknown:
            raise _fail(where, f"unknown field(s) {', '.join(unknown)}")
        out.append((where, e))
    return out


def _parse_file(doc: Any, fname: str) -> tuple[str, list[tuple[str, Post]], list[tuple[str, Unit]], list[tuple[str, Hospital]]]:
    if not isinstance(doc, dict):
        raise _fail(fname, "must be a JSON object")
    if doc.get("schema") != SCHEMA:
        raise _fail(fname, f"schema must be {SCHEMA!r}, got {doc.get('schema')!r}")
    city = _field(doc, "city", (str,), fname)
    posts, units, hospitals = [], [], []
    for where, e in _entries(doc, "hospitals", fname):
        hid = _field(e, "hospital_id", (str,), where)
        where = f"{where} ({hid})"
        lat, lon = _coords(e, where)
        level = _field(e, "trauma_level", (int,), where)
        if level not in TRAUMA_LEVELS:
            raise _fail(where, f"trauma_level must be one of {TRAUMA_LEVELS}, got {level}")
        hospitals.append((where, Hospital(
            hospital_id=hid, name=_field(e, "name", (str,), where), lat=lat, lon=lon, city=city,
            trauma_level=level, green_channel=_field(e, "green_channel", (bool,), where),
            approx=_field(e, "approx", (bool,), where),
        )))
    for where, e in _entries(doc, "posts", fname):
        pid = _field(e, "post_id", (str,), where)
        where = f"{where} ({pid})"
        kind = _field(e, "kind", (str,), where)
        if kind not in POST_KINDS:
            raise _fail(where, f"kind must be one of {', '.join(POST_KINDS)}, got {kind!r}")
        lat, lon = _coords(e, where)
        posts.append((where, Post(
            post_id=pid, kind=kind, name=_field(e, "name", (str,), where), lat=lat, lon=lon, city=city,
            approx=_field(e, "approx", (bool,), where),
            paired_hospital_id=_field(e, "paired_hospital_id", (str,), where, optional=True),
        )))
    for where, e in _entries(doc, "units", fname):
        uid = _field(e, "unit_id", (str,), where)
        where = f"{where} ({uid})"
        service = _field(e, "service", (str,), where)
        if service not in SERVICES:
            raise _fail(where, f"service must be '122' or '120', got {service!r}")
        kind = _field(e, "kind", (str,), where)
        if kind != UNIT_KIND_FOR_SERVICE[service]:
            raise _fail(where, f"a {service} unit must be of kind {UNIT_KIND_FOR_SERVICE[service]!r}, got {kind!r}")
        lat, lon = _coords(e, where)
        units.append((where, Unit(
            unit_id=uid, service=service, kind=kind, name=_field(e, "name", (str,), where),
            lat=lat, lon=lon, home=_field(e, "home", (str,), where),
        )))
    return city, posts, units, hospitals


def resources_from_docs(docs: Iterable[tuple[str, Any]]) -> Resources:
    """Validate parsed documents ``(file name, JSON)`` and merge them into one ``Resources``."""
    all_posts: list[tuple[str, Post]] = []
    all_units: list[tuple[str, Unit]] = []
    all_hospitals: list[tuple[str, Hospital]] = []
    cities: list[str] = []
    for fname, doc in docs:
        city, posts, units, hospitals = _parse_file(doc, fname)
        if city in cities:
            raise _fail(fname, f"city {city!r} is already loaded from another file")
        cities.append(city)
        all_posts += posts
        all_units += units
        all_hospitals += hospitals

    seen: dict[str, str] = {}
    for where, ident in ([(w, p.post_id) for w, p in all_posts] + [(w, u.unit_id) for w, u in all_units]
                         + [(w, h.hospital_id) for w, h in all_hospitals]):
        if ident in seen:
            raise _fail(where, f"duplicate id {ident!r} (first used at {seen[ident]})")
        seen[ident] = where
    hospital_ids = {h.hospital_id for _, h in all_hospitals}
    posts_by_id = {p.post_id: p for _, p in all_posts}
    for where, p in all_posts:
        if p.paired_hospital_id is not None and p.paired_hospital_id not in hospital_ids:
            raise _fail(where, f"paired_hospital_id {p.paired_hospital_id!r} is not a known hospital")
    for where, u in all_units:
        home = posts_by_id.get(u.home)
        if home is None:
            raise _fail(where, f"home {u.home!r} is not a known post")
        if u.service == "122" and home.kind not in ("squad", "quick_point"):
            raise _fail(where, f"a 122 unit must be based at a squad or quick point, not a {home.kind}")
        if u.service == "120" and home.kind == "quick_point":
            raise _fail(where, "a 120 ambulance cannot be based at a quick-handling point")
    return Resources(
        posts=tuple(p for _, p in all_posts), units=tuple(u for _, u in all_units),
        hospitals=tuple(h for _, h in all_hospitals), cities=tuple(cities),
    )


def _files(path_or_default: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None) -> list[Path]:
    if path_or_default is None:
        targets: list[Path] = [DEFAULT_DATA_DIR]
    elif isinstance(path_or_default, (str, os.PathLike)):
        targets = [Path(path_or_default)]
    else:
        targets = [Path(p) for p in path_or_default]
    files: list[Path] = []
    for t in targets:
        if t.is_dir():
            files += sorted(t.glob("*.json"))
        elif t.is_file():
            files.append(t)
        else:
            raise InvalidResources(f"{t}: no such file or directory")
    if not files:
        raise InvalidResources(f"no resource files found in {', '.join(map(str, targets))}")
    return files


def load_resources(
    path_or_default: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
) -> Resources:
    """Load posts, units and hospitals from a JSON file, a folder of them, a list of either, or
    (None) the packaged demo data ``dispatch/data/*.json``; raise ``InvalidResources`` if malformed."""
    docs = []
    for f in _files(path_or_default):
        try:
            docs.append((f.name, json.loads(f.read_text(encoding="utf-8"))))
        except json.JSONDecodeError as e:
            raise InvalidResources(f"{f.name}: not JSON: {e.msg} (line {e.lineno})") from None
    return resources_from_docs(docs)
