"""Liability from the regional standard-situation lists: 程序规定 60-61 [O]; lists local rules [S];
police decide online otherwise (程序规定 20 [O])."""
from __future__ import annotations

import json
from importlib import resources

import pytest

from claims.liability import (
    EQUAL, FAKED_EVIDENCE, FLED, FULL, NONE, InvalidRuleTable, _table_from, determine_liability,
    liability_table, load_liability_tables,
)

SHIPPED = sorted(e.name for e in resources.files("claims").joinpath("rules").iterdir()
                 if e.name.startswith("liability_") and e.name.endswith(".json"))
REQUIRED_EVERYWHERE = {  # domain.md §4 [S]: the situations every table must carry
    "rear_ending", "wrong_way", "reversing", "rolling_back", "door_opening", "red_light", "prohibited_u_turn",
    "dedicated_lane", "wrong_direction_at_signal", "prohibited_road", "ignoring_officer", "lane_change", "merging",
    "turning_across", "entering_roundabout",
}


def _entries():
    for name in SHIPPED:
        doc = json.loads(resources.files("claims").joinpath("rules", name).read_text("utf-8"))
        for s in doc["situations"]:
            for code in [s["code"], *s.get("aliases", [])]:
                yield pytest.param(doc["region"], code, s["source"], id=f"{doc['region']}:{code}")


def test_the_shipped_tables_are_liaocheng_zibo_and_a_default():
    assert set(load_liability_tables()) == {"default", "liaocheng", "zibo"}
    assert len(SHIPPED) == 3


@pytest.mark.parametrize("name", SHIPPED)
def test_every_table_cites_its_source_and_carries_the_domain_list(name):
    doc = json.loads(resources.files("claims").joinpath("rules", name).read_text("utf-8"))
    assert doc["source"] and all(s["source"] for s in doc["situations"])
    assert REQUIRED_EVERYWHERE <= {s["code"] for s in doc["situations"]}


@pytest.mark.parametrize("region, code, source", list(_entries()))
def test_one_party_with_a_listed_situation_is_fully_liable(region, code, source):
    """The rule cited by each entry's own ``source``; the shape by the local list [S]."""
    out = determine_liability(region, {"A": {code}, "B": set()})
    assert out.settled and not out.needs_police
    assert out.shares == {"A": FULL, "B": NONE}
    assert out.reason.source == source


@pytest.mark.parametrize("region, code, source", list(_entries()))
def test_both_parties_with_a_listed_situation_share_equally(region, code, source):
    out = determine_liability(region, {"A": {code}, "B": {"reversing"}})
    assert out.shares == {"A": EQUAL, "B": EQUAL} and out.settled and not out.needs_police


def test_the_liable_party_can_be_either_side():
    out = determine_liability("liaocheng", {"鲁P11111": set(), "鲁P22222": {"rear_ending"}})
    assert out.shares == {"鲁P11111": NONE, "鲁P22222": FULL}


def test_not_keeping_a_safe_distance_counts_as_rear_ending():
    out = determine_liability("zibo", {"A": {"unsafe_distance"}, "B": set()})
    assert out.shares["A"] == FULL and out.situations["A"] == ("rear_ending",)


def test_a_city_is_found_by_its_chinese_name():
    assert liability_table("聊城市").region == "liaocheng"
    assert liability_table("淄博").region == "zibo"


def test_a_city_without_a_table_uses_the_default_and_says_so():
    out = determine_liability("济南", {"A": {"rear_ending"}, "B": set()})
    assert out.region == "default" and out.shares["A"] == FULL


def test_a_situation_only_in_a_local_list_is_for_the_police_elsewhere():
    """illegal_parking is in the Liaocheng table, not in the default: 程序规定 20 [O]."""
    assert determine_liability("liaocheng", {"A": {"illegal_parking"}, "B": set()}).settled
    out = determine_liability("default", {"A": {"illegal_parking"}, "B": set()})
    assert out.needs_police and not out.settled and out.shares == {} and out.reason.code == "unknown_situation"


@pytest.mark.parametrize("situations, disputed, code", [
    ({"A": set(), "B": set()}, False, "no_listed_situation"),
    ({"A": {"speeding_maybe"}, "B": set()}, False, "unknown_situation"),
    ({"A": {"rear_ending"}, "B": set()}, True, "disputed"),
    ({"A": {"rear_ending"}, "B": set(), "C": set()}, False, "not_two_parties"),
    ({"A": {"rear_ending"}}, False, "not_two_parties"),
])
def test_what_the_table_cannot_settle_goes_to_the_police_online(situations, disputed, code):
    """程序规定 20 [O]: the police decide online."""
    out = determine_liability("liaocheng", situations, disputed=disputed)
    assert out.needs_police and not out.settled and out.shares == {}
    assert out.reason.code == code and out.reason.zh and out.reason.en


@pytest.mark.parametrize("code", [FLED, FAKED_EVIDENCE])
def test_fleeing_or_faking_evidence_is_full_liability_in_every_region(code):
    """程序规定 61 [O]; the case itself stays with the police."""
    for region in ("liaocheng", "zibo", "default", "somewhere"):
        out = determine_liability(region, {"A": set(), "B": {code}})
        assert out.shares == {"A": NONE, "B": FULL} and out.needs_police
        assert "程序规定 61" in out.reason.source


def test_a_fleeing_party_whose_victim_was_also_at_fault_is_for_the_police():
    """程序规定 61 [O] lets the police reduce the fleeing party's share when the other was at fault."""
    out = determine_liability("liaocheng", {"A": {"red_light"}, "B": {FLED}})
    assert out.needs_police and out.shares == {}


def test_a_malformed_table_fails_at_load():
    with pytest.raises(InvalidRuleTable, match="source"):
        _table_from({"region": "x", "source": "s", "situations": [
            {"code": "a", "zh": "a", "en": "a", "category": "c"}]}, "liability_x.json")
    with pytest.raises(InvalidRuleTable, match="duplicated"):
        _table_from({"region": "x", "source": "s", "situations": [
            {"code": "a", "zh": "a", "en": "a", "category": "c", "source": "s"},
            {"code": "b", "zh": "b", "en": "b", "category": "c", "source": "s", "aliases": ["a"]}]}, "liability_x.json")
