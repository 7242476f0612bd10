"""Quick handling (快处快赔) eligibility: 程序规定 13, 14 [O]; '人未伤、车能动' domain.md §4 [S]."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from accidentlink.reports import AccidentReport, Location, Party
from claims.quick import CALL_POLICE, OFFLINE, REPORT_AFTER_MOVING, check_quick_handling

CST = timezone(timedelta(hours=8))


def car(plate: str, **kw: object) -> Party:
    base = dict(name="张某", phone="+8613900000001", id_number="371502199001011234", plate=plate,
                vehicle_type="car", insurer="PICC", ci_policy=f"POL-{plate}", licensed=True)
    base.update(kw)
    return Party(**base)  # type: ignore[arg-type]


def minor(**kw: object) -> AccidentReport:
    base = dict(report_id="12123-1", source="12123", reported_at=datetime(2026, 11, 22, 8, 15, tzinfo=CST),
                location=Location(36.45, 115.98, "聊城市东昌府区柳园路"), injured=0, fatalities=0,
                vehicles_movable=True, hit_and_run=False, hazards=(), parties=(car("鲁P11111"), car("鲁P22222")))
    base.update(kw)
    return AccidentReport(**base)  # type: ignore[arg-type]


def test_two_insured_movable_vehicles_without_injury_are_eligible_online():
    result = check_quick_handling(minor())
    assert result.eligible and result.reasons == [] and not result.must_call_police


def test_unknown_licence_flag_does_not_block_quick_handling():
    """Party.licensed None means not asked yet; only False (no valid licence) excludes."""
    r = minor(parties=(car("鲁P11111", licensed=None), car("鲁P22222", licensed=None)))
    assert check_quick_handling(r).eligible


# Each exclusion: (report change, extra facts, expected code, expected action). 程序规定 13 / 14 [O].
EXCLUSIONS = [
    ("injury", dict(injured=1), {}, "casualties", CALL_POLICE),
    ("death", dict(fatalities=1), {}, "casualties", CALL_POLICE),
    ("person trapped", dict(hazards=("trapped",)), {}, "person_trapped", CALL_POLICE),
    ("fire", dict(hazards=("fire",)), {}, "hazard_fire", CALL_POLICE),
    ("dangerous goods", dict(hazards=("hazmat",)), {}, "hazard_hazmat", CALL_POLICE),
    ("vehicle cannot move", dict(vehicles_movable=False), {}, "vehicle_cannot_move", CALL_POLICE),
    ("party left", dict(hit_and_run=True), {}, "party_left", CALL_POLICE),
    ("no licence", dict(parties=(car("鲁P11111", licensed=False), car("鲁P22222"))), {}, "no_valid_licence", CALL_POLICE),
    ("alcohol", dict(parties=(car("鲁P11111", drunk=True), car("鲁P22222"))), {}, "suspected_alcohol", CALL_POLICE),
    ("stolen", dict(parties=(car("鲁P11111", vehicle_stolen=True), car("鲁P22222"))), {}, "vehicle_stolen", CALL_POLICE),
    ("no plate", dict(parties=(car(""), car("鲁P11111"), car("鲁P22222"))), {}, "no_plate", CALL_POLICE),
    ("drugs", {}, dict(suspected_drugs=True), "suspected_drugs", CALL_POLICE),
    ("overloading", {}, dict(overloading_or_speeding=True), "overloading_or_speeding", CALL_POLICE),
    ("forged plate", {}, dict(forged_plate=True), "forged_plate", CALL_POLICE),
    ("deliberate", {}, dict(deliberate=True), "deliberate", CALL_POLICE),
    ("no 交强险", dict(parties=(car("鲁P11111", insurer=None, ci_policy=None), car("鲁P22222"))), {},
     "no_compulsory_insurance", REPORT_AFTER_MOVING),
    ("no inspection sticker", {}, dict(no_inspection_sticker=True), "no_inspection_sticker", REPORT_AFTER_MOVING),
    ("hit a facility", {}, dict(hit_building_or_facility=True), "hit_building_or_facility", REPORT_AFTER_MOVING),
    ("single vehicle", dict(parties=(car("鲁P11111"),)), {}, "fewer_than_two_vehicles", OFFLINE),
    ("no parties", dict(parties=()), {}, "fewer_than_two_vehicles", OFFLINE),
    ("same plate twice", dict(parties=(car("鲁P11111"), car("鲁p11111"))), {}, "fewer_than_two_vehicles", OFFLINE),
    ("cyclist", dict(parties=(car("鲁P11111"), car("鲁P22222"),
                               Party(name="李某", vehicle_type="e_bike"))), {}, "non_motor_party", OFFLINE),
]


@pytest.mark.parametrize("change, facts, code, action", [e[1:] for e in EXCLUSIONS], ids=[e[0] for e in EXCLUSIONS])
def test_each_exclusion_makes_the_crash_ineligible_with_a_readable_reason(change, facts, code, action):
    result = check_quick_handling(minor(**change), **facts)
    assert not result.eligible
    found = [r for r in result.reasons if r.code == code]
    assert found, result.codes
    r = found[0]
    assert r.action == action and r.zh and r.en and r.source
    assert ("程序规定 13" in r.source) if action == CALL_POLICE else True
    assert result.must_call_police == any(x.action == CALL_POLICE for x in result.reasons)


def test_reasons_name_the_vehicle_so_the_dispatcher_knows_who():
    result = check_quick_handling(minor(parties=(car("鲁P11111", drunk=True), car("鲁P22222"))))
    assert "鲁P11111" in result.reasons[0].zh and "鲁P11111" in result.reasons[0].en


def test_police_reasons_come_before_the_others_and_all_are_listed():
    r = minor(injured=2, hit_and_run=True, parties=(car("鲁P11111", insurer=None, ci_policy=None),))
    result = check_quick_handling(r)
    assert result.codes[:2] == ["casualties", "party_left"]
    assert set(result.codes) == {"casualties", "party_left", "no_compulsory_insurance", "fewer_than_two_vehicles"}
    assert "伤2人" in result.reasons[0].zh


def test_multi_vehicle_hazard_alone_does_not_exclude_three_insured_cars():
    r = minor(hazards=("multi_vehicle",), parties=(car("鲁P11111"), car("鲁P22222"), car("鲁P33333")))
    assert check_quick_handling(r).eligible


def test_a_report_is_not_changed_by_checking_it():
    r = minor()
    check_quick_handling(r, deliberate=True)
    assert r == replace(r)


# ---------------------------------------------------------------- each party's answer about its own vehicle
from claims.quick import (  # noqa: E402
    CONTRADICTION, POLICE, SETTLED, WAITING, after_signing_notice, assess_answers, own_vehicle_answers,
)


def test_the_car_hit_while_standing_still_bears_no_liability_and_the_one_behind_full():
    """The bug of issue 15: both ticked 追尾的 and got equal liability. Answering for one's own vehicle, A says
    停车等待 and B 追尾前车: B is fully liable, A not at all."""
    got = assess_answers("zibo", {"鲁C11111": "stopped_waiting", "鲁C22222": "rear_ending"})
    assert got.state == SETTLED and got.shares == {"鲁C22222": "full", "鲁C11111": "none"}
    assert "追尾" in got.reason.zh and not got.needs_police


def test_an_answer_not_given_yet_shows_no_liability():
    got = assess_answers("liaocheng", {"鲁P1": "rear_ending", "鲁P2": None})
    assert got.state == WAITING and got.shares == {}


@pytest.mark.parametrize("a,b,why", [
    ("rear_ending", "rear_ending", "both_hit_front"),       # each says it ran into the other
    ("stopped_waiting", "parked", "both_stationary"),        # two standing cars cannot collide
    ("stopped_waiting", "illegal_parking", "both_stationary"),
    ("driving_normally", "stopped_waiting", "nobody_at_fault"),  # the car behind denies it ran into the one in front
    ("driving_normally", "driving_normally", "nobody_at_fault"),
])
def test_answers_that_cannot_both_be_true_are_a_dispute_for_the_police(a, b, why):
    got = assess_answers("liaocheng", {"鲁P1": a, "鲁P2": b})
    assert got.state == CONTRADICTION and got.needs_police and got.shares == {}
    assert got.reason.code == f"answers_contradict:{why}" and "矛盾" in got.reason.zh


def test_a_door_opened_into_a_standing_car_is_not_a_contradiction():
    got = assess_answers("default", {"鲁P1": "opening_door", "鲁P2": "parked"})
    assert got.state == SETTLED and got.shares == {"鲁P1": "full", "鲁P2": "none"}


def test_both_at_fault_by_their_own_answers_share_liability_equally():
    got = assess_answers("default", {"鲁P1": "reversing", "鲁P2": "lane_change"})
    assert got.state == SETTLED and got.shares == {"鲁P1": "equal", "鲁P2": "equal"}


def test_something_else_or_an_answer_the_region_does_not_offer_goes_to_the_police():
    assert assess_answers("default", {"鲁P1": "other", "鲁P2": "stopped_waiting"}).state == POLICE
    # 掉头未让行 is in the Liaocheng and Zibo tables, not in the default one
    assert "u_turn" in {a.code for a in own_vehicle_answers("liaocheng")}
    assert "u_turn" not in {a.code for a in own_vehicle_answers("default")}
    got = assess_answers("default", {"鲁P1": "u_turn", "鲁P2": "driving_normally"})
    assert got.state == POLICE and got.reason.code == "unknown_answer"


def test_three_vehicles_cannot_be_settled_by_the_two_party_table():
    got = assess_answers("zibo", {"A": "stopped_waiting", "B": "rear_ending", "C": "rear_ending"})
    assert got.state == POLICE and got.reason.code == "not_two_parties"


def test_every_offered_answer_maps_onto_the_regions_table():
    from claims.liability import liability_table

    for region in ("default", "liaocheng", "zibo"):
        table = liability_table(region)
        for a in own_vehicle_answers(region):
            assert a.zh and a.en and all(table.lookup(s) for s in (a.situations or ())), (region, a.code)


def test_the_notice_after_signing_says_how_to_object_in_both_languages():
    n = after_signing_notice()
    assert "异议" in n["zh"] and "object" in n["en"] and "74" in n["source"]
