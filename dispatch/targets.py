"""Dispatch targets and thresholds, loaded from ``dispatch/rules/targets.json``.

Every figure that varies by place or is not confirmed lives in the JSON file with its tag and
source (style.md §1); this module only loads, validates and types them. Sources: domain.md §5
(2025 EMS targets [S], police turnout [S/U], 院前医疗急救管理办法 2014 [S]) and assumptions [U].
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from dispatch.errors import InvalidRules

DEFAULT_TARGETS_PATH = Path(__file__).with_name("rules") / "targets.json"
SCHEMA = "dispatch-targets/1"
SERVICES = ("122", "120")
_TAGS = ("O", "S", "U", "S/U")


@dataclass(frozen=True)
class Speed:
    urban_kmh: float
    rural_kmh: float


@dataclass(frozen=True)
class Targets:
    """The typed content of targets.json; ``sources[key]`` cites where each value comes from."""

    order_issue_s: int
    acknowledge_timeout_s: int
    ambulance_out_s: int
    ambulance_response_s: int
    police_on_scene_day_s: int
    police_on_scene_night_s: int
    night_start: time
    night_end: time
    urban_radius_m: int
    rural_radius_m: int
    unit_reach_m: Mapping[str, int]
    road_factor: float
    urban_leg_m: int
    speeds_kmh: Mapping[str, Speed]
    serious_injured_at_least: int
    serious_fatalities_at_least: int
    serious_hazards: tuple[str, ...]
    trauma_min_level: int
    quick_point_units_minor_only: bool
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def cite(self, key: str) -> str:
        """``"<source> [tag]"`` for one entry, for reasons and overdue flags."""
        return self.sources.get(key, key)


def _int(key: str, v: Any, *, minimum: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidRules(f"rule '{key}' must be an integer, got {v!r}")
    if v < minimum:
        raise InvalidRules(f"rule '{key}' must be at least {minimum}, got {v}")
    return v


def _positive_number(key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise InvalidRules(f"rule '{key}' must be a positive number, got {v!r}")
    return float(v)


def _clock(key: str, v: Any) -> time:
    try:
        return time.fromisoformat(v)
    except (TypeError, ValueError):
        raise InvalidRules(f"rule '{key}' must be a local time 'HH:MM', got {v!r}") from None


def targets_from_dict(doc: Any, *, where: str = "targets.json") -> Targets:
    """Validate a parsed targets document; raise ``InvalidRules`` naming the bad entry."""
    if not isinstance(doc, dict):
        raise InvalidRules(f"{where}: must be a JSON object")
    if doc.get("schema") != SCHEMA:
        raise InvalidRules(f"{where}: schema must be {SCHEMA!r}, got {doc.get('schema')!r}")
    rules = doc.get("rules")
    if not isinstance(rules, dict):
        raise InvalidRules(f"{where}: 'rules' must be an object")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, entry in rules.items():
        if not isinstance(entry, dict) or "value" not in entry:
            raise InvalidRules(f"{where}: rule '{key}' must be an object with a 'value'")
        tag, source = entry.get("tag"), entry.get("source")
        if tag not in _TAGS:
            raise InvalidRules(f"{where}: rule '{key}' needs a tag, one of {', '.join(_TAGS)}")
        if not isinstance(source, str) or not source.strip():
            raise InvalidRules(f"{where}: rule '{key}' must cite its source")
        values[key] = entry["value"]
        sources[key] = f"{source} [{tag}]"

    names = [f for f in Targets.__dataclass_fields__ if f != "sources"]
    missing = [n for n in names if n not in values]
    if missing:
        raise InvalidRules(f"{where}: missing rule(s) {', '.join(missing)}")
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise InvalidRules(f"{where}: unknown rule(s) {', '.join(unknown)}")

    speeds_raw = values["speeds_kmh"]
    if not isinstance(speeds_raw, dict) or set(speeds_raw) != set(SERVICES):
        raise InvalidRules(f"{where}: rule 'speeds_kmh' must give speeds for exactly {', '.join(SERVICES)}")
    speeds = {}
    for svc, sp in speeds_raw.items():
        if not isinstance(sp, dict) or set(sp) != {"urban", "rural"}:
            raise InvalidRules(f"{where}: rule 'speeds_kmh.{svc}' must be {{'urban': km/h, 'rural': km/h}}")
        speeds[svc] = Speed(_positive_number(f"speeds_kmh.{svc}.urban", sp["urban"]),
                            _positive_number(f"speeds_kmh.{svc}.rural", sp["rural"]))
    reach_raw = values["unit_reach_m"]
    if not isinstance(reach_raw, dict) or set(reach_raw) != set(SERVICES):
        raise InvalidRules(f"{where}: rule 'unit_reach_m' must give a reach in metres for exactly {', '.join(SERVICES)}")
    reach = {svc: _int(f"unit_reach_m.{svc}", v, minimum=1) for svc, v in reach_raw.items()}
    hazards = values["serious_hazards"]
    if not isinstance(hazards, list) or not all(isinstance(h, str) for h in hazards):
        raise InvalidRules(f"{where}: rule 'serious_hazards' must be a list of hazard names")
    road_factor = _positive_number("road_factor", values["road_factor"])
    if road_factor < 1:
        raise InvalidRules(f"{where}: rule 'road_factor' must be at least 1 (a road is never shorter than the line)")
    trauma_min = _int("trauma_min_level", values["trauma_min_level"])
    if trauma_min > 3:
        raise InvalidRules(f"{where}: rule 'trauma_min_level' must be 0..3, got {trauma_min}")
    minor_only = values["quick_point_units_minor_only"]
    if not isinstance(minor_only, bool):
        raise InvalidRules(f"{where}: rule 'quick_point_units_minor_only' must be true or false")

    return Targets(
        order_issue_s=_int("order_issue_s", values["order_issue_s"], minimum=1),
        acknowledge_timeout_s=_int("acknowledge_timeout_s", values["acknowledge_timeout_s"], minimum=1),
        ambulance_out_s=_int("ambulance_out_s", values["ambulance_out_s"], minimum=1),
        ambulance_response_s=_int("ambulance_response_s", values["ambulance_response_s"], minimum=1),
        police_on_scene_day_s=_int("police_on_scene_day_s", values["police_on_scene_day_s"], minimum=1),
        police_on_scene_night_s=_int("police_on_scene_night_s", values["police_on_scene_night_s"], minimum=1),
        night_start=_clock("night_start", values["night_start"]),
        night_end=_clock("night_end", values["night_end"]),
        urban_radius_m=_int("urban_radius_m", values["urban_radius_m"], minimum=1),
        rural_radius_m=_int("rural_radius_m", values["rural_radius_m"], minimum=1),
        unit_reach_m=MappingProxyType(reach),
        road_factor=road_factor,
        urban_leg_m=_int("urban_leg_m", values["urban_leg_m"]),
        speeds_kmh=MappingProxyType(speeds),
        serious_injured_at_least=_int("serious_injured_at_least", values["serious_injured_at_least"], minimum=1),
        serious_fatalities_at_least=_int("serious_fatalities_at_least", values["serious_fatalities_at_least"], minimum=1),
        serious_hazards=tuple(hazards),
        trauma_min_level=trauma_min,
        quick_point_units_minor_only=minor_only,
        sources=MappingProxyType(sources),
    )


def load_targets(path: str | os.PathLike[str] | None = None) -> Targets:
    """Load and validate targets.json (the packaged default when ``path`` is None)."""
    p = Path(path) if path is not None else DEFAULT_TARGETS_PATH
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InvalidRules(f"{p.name}: not JSON: {e.msg} (line {e.lineno})") from None
    return targets_from_dict(doc, where=p.name)


_DEFAULT: Targets | None = None


def default_targets() -> Targets:
    """The packaged targets, loaded once (they are immutable)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_targets()
    return _DEFAULT
