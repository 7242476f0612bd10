"""The self-negotiation agreement / electronic determination record: fields of 程序规定 21 [O];
scene photos domain.md §4 [S]."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from accidentlink.reports import Party
from claims.agreement import (
    POLICE_DETERMINATION, AgreementParty, Photo, agreement_party, build_agreement, check_photos, is_complete,
    missing_fields,
)

CST = timezone(timedelta(hours=8))


def line(plate: str, liability: str, signed: bool = True) -> AgreementParty:
    return AgreementParty(name="张某", licence_or_id_number="371502199001011234", phone="+8613900000001",
                          vehicle_type="car", plate=plate, insurer="PICC", policy_number=f"POL-{plate}",
                          liability=liability, signed=signed)


def full(**kw):
    base = dict(occurred_at=datetime(2026, 11, 22, 8, 15, tzinfo=CST), place="聊城市东昌府区柳园路", weather="晴",
                accident_form="rear_end_collision", point_of_impact="甲车前部与乙车尾部",
                parties=[line("鲁P11111", "full"), line("鲁P22222", "none")])
    base.update(kw)
    return build_agreement(**base)


def test_a_filled_and_signed_agreement_has_no_missing_fields():
    assert missing_fields(full()) == [] and is_complete(full())


@pytest.mark.parametrize("field", ["place", "weather", "point_of_impact", "accident_form", "occurred_at"])
def test_each_blank_scene_field_is_listed(field):
    assert field in missing_fields(full(**{field: None}))


def test_a_naive_time_is_not_a_valid_accident_time():
    assert "occurred_at" in missing_fields(full(occurred_at=datetime(2026, 11, 22, 8, 15)))


@pytest.mark.parametrize("field", ["name", "licence_or_id_number", "phone", "vehicle_type", "plate", "insurer",
                                   "policy_number"])
def test_each_blank_party_field_is_listed_with_the_party_index(field):
    parties = [line("鲁P11111", "full"), replace(line("鲁P22222", "none"), **{field: " "})]
    assert missing_fields(full(parties=parties)) == [f"parties[1].{field}"]


def test_liability_must_be_one_of_the_five_degrees():
    """程序规定 60 [O]: full, primary, equal, secondary, none."""
    parties = [line("鲁P11111", "mostly"), line("鲁P22222", "none")]
    assert missing_fields(full(parties=parties)) == ["parties[0].liability"]


def test_both_parties_sign_a_self_negotiation_but_not_a_police_determination():
    parties = [line("鲁P11111", "full"), line("鲁P22222", "none", signed=False)]
    assert missing_fields(full(parties=parties)) == ["parties[1].signed"]
    assert missing_fields(full(parties=parties, kind=POLICE_DETERMINATION)) == []


def test_an_agreement_needs_two_parties():
    assert "parties" in missing_fields(full(parties=[line("鲁P11111", "full")]))


def test_an_agreement_line_is_filled_from_the_report_party():
    p = Party(name="李某", phone="+8613900000002", id_number="371502199202021234", plate="鲁P22222",
              vehicle_type="car", insurer="PINGAN", ci_policy="PDZA2026")
    a = agreement_party(p, "none", signed=True)
    assert (a.licence_or_id_number, a.policy_number, a.insurer) == ("371502199202021234", "PDZA2026", "PINGAN")


def test_an_unknown_agreement_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        full(kind="handshake")


def test_three_photos_of_the_required_kinds_pass():
    photos = [Photo("front_side", "s3://a"), Photo("rear_side", "s3://b"), Photo("impact_point", "s3://c")]
    assert check_photos(photos).ok


def test_missing_photo_kinds_are_named():
    result = check_photos([Photo("front_side", "s3://a"), Photo("front_side", "s3://b"), Photo("other", "s3://c")])
    assert not result.ok and result.missing_kinds == ("rear_side", "impact_point")


def test_fewer_than_three_photos_fail_even_if_kinds_are_missing_none():
    result = check_photos([Photo("front_side", "u1"), Photo("rear_side", "u2"), Photo("impact_point", "")])
    assert not result.ok and result.count == 2 and result.missing_kinds == ("impact_point",)


def test_the_photo_kinds_and_minimum_are_rules_data_with_sources() -> None:
    import json
    from importlib import resources

    from claims.agreement import MIN_PHOTOS, PHOTO_KINDS, REQUIRED_PHOTO_KINDS

    doc = json.loads(resources.files("claims").joinpath("rules/photos.json").read_text("utf-8"))
    assert REQUIRED_PHOTO_KINDS == ("front_side", "rear_side", "impact_point") == tuple(doc["required_kinds"])
    assert PHOTO_KINDS == REQUIRED_PHOTO_KINDS + ("other",) and MIN_PHOTOS == 3
    assert all(doc[k] for k in ("source", "required_kinds_source", "optional_kinds_source", "min_photos_source"))
