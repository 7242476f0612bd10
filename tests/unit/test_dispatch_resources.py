"""dispatch.resources: the demo data loads, the local practice is there, and bad files are refused."""
from __future__ import annotations

import copy
import json

import pytest

from dispatch.errors import InvalidResources
from dispatch.resources import DEFAULT_DATA_DIR, load_resources, resources_from_docs


@pytest.fixture(scope="module")
def demo():
    return load_resources()


def _doc(city: str = "testcity") -> dict:
    return {
        "schema": "dispatch-resources/1", "city": city,
        "hospitals": [{"hospital_id": "H1", "name": "医院", "lat": 36.0, "lon": 116.0, "trauma_level": 2,
                       "green_channel": True, "approx": True}],
        "posts": [{"post_id": "P1", "kind": "squad", "name": "中队", "lat": 36.0, "lon": 116.0, "approx": True,
                   "paired_hospital_id": "H1"}],
        "units": [{"unit_id": "U1", "service": "122", "kind": "patrol", "name": "巡逻车", "lat": 36.0,
                   "lon": 116.0, "home": "P1"}],
    }


def test_demo_data_loads_both_cities(demo):
    assert set(demo.cities) == {"liaocheng", "zibo"}
    assert all(p.approx for p in demo.posts) and all(h.approx for h in demo.hospitals)


def test_dongchangfu_squads_are_paired_with_their_hospitals(demo):
    pairs = {"LC-SQ-LSZ": "聊城市第三人民医院", "LC-SQ-DKP": "聊城市脑科医院", "LC-SQ-SZ": "沙镇卫生院"}
    for post_id, hospital_name in pairs.items():
        post = demo.post(post_id)
        assert post.kind == "squad"
        assert demo.hospital(post.paired_hospital_id).name == hospital_name


def test_liangshui_and_daokoupu_squads_have_an_ambulance_stationed_with_them(demo):
    for code in ("LSZ", "DKP"):
        ambulance = demo.unit(f"LC-120-{code}-1")
        assert ambulance.service == "120" and ambulance.home == f"LC-SQ-{code}"
        assert [u.unit_id for u in demo.units if u.home == f"LC-SQ-{code}" and u.service == "122"] == [
            f"LC-122-{code}-1", f"LC-122-{code}-2"]


def test_shazhen_ambulance_turns_out_with_the_squad_but_lives_at_the_health_centre(demo):
    ambulance = demo.unit("LC-120-SZ-1")
    assert demo.home_of(ambulance.unit_id).paired_hospital_id == demo.post("LC-SQ-SZ").paired_hospital_id


def test_every_squad_has_two_patrol_units(demo):
    for post in demo.posts:
        if post.kind == "squad":
            patrols = [u for u in demo.units if u.home == post.post_id and u.service == "122"]
            assert len(patrols) == 2, post.post_id


def test_zibo_has_rescue_points_trauma_hospitals_and_nine_quick_points(demo):
    zibo = demo.for_city("zibo")
    kinds = [p.kind for p in zibo.posts]
    assert kinds.count("rescue_point") >= 12
    assert kinds.count("quick_point") == 9
    names = " ".join(p.name for p in zibo.posts)
    for district in ("张店", "淄川", "博山", "周村", "临淄", "桓台", "高青", "沂源"):
        assert district in names
    hospital_names = {h.name for h in zibo.hospitals}
    assert {"淄博市中心医院", "淄博市第一医院", "淄博市中医院"} <= hospital_names
    assert len(zibo.hospitals) <= 14


def test_liaocheng_has_its_level_3_hospital_and_linqing(demo):
    assert demo.hospital("LC-H-LCRM").trauma_level == 3
    assert demo.hospital("LC-H-LC2").name == "聊城市第二人民医院"


def test_units_are_near_their_city_centres(demo):
    centres = {"liaocheng": (36.45, 115.98), "zibo": (36.81, 118.05)}
    for u in demo.units:
        lat, lon = centres[demo.home_of(u.unit_id).city]
        assert abs(u.lat - lat) < 0.7 and abs(u.lon - lon) < 0.7, u.unit_id


def test_units_ids_follow_the_stable_pattern(demo):
    for u in demo.units:
        prefix = {"liaocheng": "LC", "zibo": "ZB"}[demo.home_of(u.unit_id).city]
        assert u.unit_id.startswith(f"{prefix}-{u.service}-")


def test_a_minimal_valid_document_loads():
    res = resources_from_docs([("t.json", _doc())])
    assert res.unit("U1").home == "P1" and res.home_of("U1").paired_hospital_id == "H1"


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["units"].append(dict(d["units"][0])), "duplicate id 'U1'"),
    (lambda d: d["posts"][0].update(lat=95.0), "lat must be between -90 and 90"),
    (lambda d: d["hospitals"][0].update(lon=float("nan")), "lon must be between"),
    (lambda d: d["units"][0].update(service="119"), "service must be '122' or '120'"),
    (lambda d: d["units"][0].update(kind="ambulance"), "a 122 unit must be of kind 'patrol'"),
    (lambda d: d["units"][0].update(home="NOPE"), "home 'NOPE' is not a known post"),
    (lambda d: d["posts"][0].update(paired_hospital_id="NOPE"), "paired_hospital_id 'NOPE' is not a known hospital"),
    (lambda d: d["posts"][0].update(kind="barracks"), "kind must be one of"),
    (lambda d: d["hospitals"][0].update(trauma_level=4), "trauma_level must be one of"),
    (lambda d: d["hospitals"][0].update(green_channel="yes"), "field 'green_channel' has the wrong type"),
    (lambda d: d["units"][0].update(colour="red"), "unknown field(s) colour"),
    (lambda d: d["units"][0].pop("lat"), "missing field 'lat'"),
    (lambda d: d.update(schema="v2"), "schema must be"),
])
def test_malformed_resources_are_refused_with_a_readable_reason(mutate, message):
    doc = copy.deepcopy(_doc())
    mutate(doc)
    with pytest.raises(InvalidResources) as e:
        resources_from_docs([("t.json", doc)])
    assert message in str(e.value) and "t.json" in str(e.value)


def test_ids_must_be_unique_across_files():
    a, b = _doc("a"), _doc("b")
    with pytest.raises(InvalidResources, match=r"b.json: .*duplicate id 'P1' \(first used at a.json"):
        resources_from_docs([("a.json", a), ("b.json", b)])


def test_loader_reads_a_file_a_folder_or_a_list(tmp_path):
    (tmp_path / "one.json").write_text(json.dumps(_doc("one")), encoding="utf-8")
    assert load_resources(tmp_path / "one.json").cities == ("one",)
    assert load_resources(tmp_path).cities == ("one",)
    assert len(load_resources([DEFAULT_DATA_DIR / "zibo.json"]).cities) == 1
    with pytest.raises(InvalidResources, match="no such file"):
        load_resources(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(InvalidResources, match="not JSON"):
        load_resources(tmp_path / "bad.json")
