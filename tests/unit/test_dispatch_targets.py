"""dispatch.targets and the straight-line travel time: rules live in data, each citing a source."""
from __future__ import annotations

import copy
import json

import pytest

from dispatch.errors import InvalidRules
from dispatch.ports import StraightLineTravelTime, TravelTime
from dispatch.targets import DEFAULT_TARGETS_PATH, load_targets, targets_from_dict


@pytest.fixture(scope="module")
def doc():
    return json.loads(DEFAULT_TARGETS_PATH.read_text(encoding="utf-8"))


def test_packaged_targets_carry_the_domain_figures(doc):
    t = load_targets()
    assert (t.ambulance_out_s, t.ambulance_response_s) == (180, 900)
    assert (t.police_on_scene_day_s, t.police_on_scene_night_s) == (300, 600)
    assert t.urban_radius_m == 5000 and t.road_factor == 1.3
    assert all(entry["source"] and entry["tag"] for entry in doc["rules"].values())


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["rules"].pop("ambulance_out_s"), "missing rule(s) ambulance_out_s"),
    (lambda d: d["rules"]["ambulance_out_s"].pop("source"), "must cite its source"),
    (lambda d: d["rules"]["ambulance_out_s"].update(tag="X"), "needs a tag"),
    (lambda d: d["rules"]["ambulance_out_s"].update(value="3 min"), "must be an integer"),
    (lambda d: d["rules"]["night_start"].update(value="late"), "'HH:MM'"),
    (lambda d: d["rules"]["road_factor"].update(value=0.9), "at least 1"),
    (lambda d: d["rules"]["speeds_kmh"]["value"].pop("120"), "speeds for exactly"),
    (lambda d: d["rules"].update(extra={"value": 1, "tag": "U", "source": "x"}), "unknown rule(s) extra"),
])
def test_malformed_targets_are_refused_naming_the_rule(doc, mutate, message):
    bad = copy.deepcopy(doc)
    mutate(bad)
    with pytest.raises(InvalidRules, match=message.replace("(", r"\(").replace(")", r"\)")):
        targets_from_dict(bad)


def test_straight_line_travel_time_uses_road_factor_and_urban_then_rural_speed():
    travel = StraightLineTravelTime.from_targets()
    assert isinstance(travel, TravelTime)
    assert travel(0, "120") == 0
    # 1000 m straight = 1300 m road at 40 km/h = 117 s
    assert travel(1000, "120") == 117
    # 10 km straight = 13 km road: 5 km at 40 km/h (450 s) + 8 km at 60 km/h (480 s)
    assert travel(10_000, "122") == 930
    with pytest.raises(ValueError):
        travel(100, "119")
    with pytest.raises(ValueError):
        travel(-1, "120")
