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
