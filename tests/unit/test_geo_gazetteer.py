"""connectors.geo.GazetteerGeocoder: offline place names of Liaocheng and Zibo."""
from __future__ import annotations

import json

import pytest

from connectors.geo import GazetteerGeocoder, geodesic_m
from dispatch.ports import Geocoder
from dispatch.resources import load_resources


@pytest.fixture(scope="module")
def gazetteer() -> GazetteerGeocoder:
    return GazetteerGeocoder()


def test_gazetteer_satisfies_the_geocoder_port(gazetteer):
    assert isinstance(gazetteer, Geocoder)


@pytest.mark.parametrize("text, name", [
    ("聊临路梁水镇段发生两车相撞", "聊临路梁水镇段"),
    ("聊堂路道口铺附近", "聊堂路道口铺段"),
    ("聊莘路沙镇 货车侧翻", "聊莘路沙镇段"),
    ("淄博市张店区", "张店区"),
    ("在张店马尚街道", "马尚街道"),
    ("沂源县 悦庄", "悦庄镇"),
    ("临淄区齐盛路与雪宫路路口", "齐盛路与雪宫路路口"),
])
def test_the_most_specific_longest_place_named_in_the_text_wins(gazetteer, text, name):
    assert gazetteer.lookup(text).place.name == name


def test_a_road_segment_beats_the_district_and_town_named_before_it(gazetteer):
    hit = gazetteer.lookup("聊城市东昌府区梁水镇聊临路梁水镇段")
    assert hit.place.kind == "road_segment" and hit.place.city == "liaocheng"


def test_a_short_name_inside_a_longer_one_does_not_count(gazetteer):
    assert gazetteer.lookup("聊城高新区").place.name == "聊城高新区"


def test_a_named_city_rules_out_homonyms_elsewhere(gazetteer):
    assert gazetteer.lookup("淄博 高新区").place.city == "zibo"


def test_full_width_and_spaces_are_ignored(gazetteer):
    assert gazetteer.geocode("张 店 区") == gazetteer.geocode("张店区")


def test_unknown_place_gives_none(gazetteer):
    assert gazetteer.geocode("上海市浦东新区") is None
    assert gazetteer.geocode("") is None


def test_gazetteer_places_lie_near_the_matching_demo_posts(gazetteer):
    res = load_resources()
    for text, post_id in [("聊临路梁水镇段", "LC-SQ-LSZ"), ("聊堂路道口铺", "LC-SQ-DKP"), ("聊莘路沙镇", "LC-SQ-SZ")]:
        lat, lon = gazetteer.geocode(text)
        post = res.post(post_id)
        assert geodesic_m(lat, lon, post.lat, post.lon) < 2000


def test_a_name_used_twice_is_rejected(tmp_path):
    p = tmp_path / "g.json"
    p.write_text(json.dumps({"places": [
        {"name": "张店区", "lat": 36.8, "lon": 118.0, "kind": "district", "city": "zibo"},
        {"name": "张店", "lat": 36.8, "lon": 118.0, "kind": "town", "city": "zibo", "aliases": ["张店区"]},
    ]}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="already belongs"):
        GazetteerGeocoder(p)
