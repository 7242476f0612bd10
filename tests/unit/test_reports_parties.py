"""The contract's version-2 additions to ``accident-report/1`` (who each party is, the fleeing vehicle) at the
one gate every report passes (``accidentlink.reports``): accepted, kept, and refused with a readable reason."""
from __future__ import annotations

import json

import pytest

from accidentlink.reports import InvalidReport, parse_report
from tests.support.reports import party, report


def parsed(**kw):  # type: ignore[no-untyped-def]
    return parse_report(json.dumps(report(**kw), ensure_ascii=False))


def test_roles_vehicle_plates_and_the_fleeing_vehicle_are_accepted_and_kept() -> None:
    r = parsed(hit_and_run=True, parties=[party("鲁P12345"), {"name": "赵某", "role": "occupant", "vehicle_plate": "鲁P12345"},
                                          {"role": "cyclist", "vehicle_type": "e_bike", "plate": "鲁P电0001"}],
               fled_vehicle={"plate": "鲁P99999", "model": "面包车", "colour": "白", "direction": "向东", "driver": "男"})
    assert [p.role for p in r.parties] == [None, "occupant", "cyclist"] and r.parties[1].vehicle_plate == "鲁P12345"
    assert r.fled_vehicle is not None and r.fled_vehicle.plate == "鲁P99999" and r.fled_vehicle.colour == "白"
    again = parse_report(json.dumps(r.to_json(), ensure_ascii=False))
    assert again == r, "the report round-trips through its JSON"


def test_a_report_without_the_new_fields_keeps_its_old_meaning() -> None:
    r = parsed(parties=[party("鲁P12345")])
    assert r.fled_vehicle is None and r.parties[0].role is None and "fled_vehicle" not in r.to_json()


@pytest.mark.parametrize("change,reason", [
    ({"parties": [{"role": "passenger"}]}, "parties[0].role"),
    ({"parties": [{"role": 3}]}, "parties[0].role"),
    ({"parties": [{"role": "occupant", "vehicle_plate": "x" * 21}]}, "parties[0].vehicle_plate"),
    ({"fled_vehicle": "白色面包车"}, "fled_vehicle"),
    ({"fled_vehicle": {"plate": 12345}}, "fled_vehicle.plate")])
def test_bad_new_fields_are_refused_with_the_field_named(change, reason) -> None:
    with pytest.raises(InvalidReport) as refused:
        parse_report(json.dumps({**report(), **change}, ensure_ascii=False))
    assert reason in str(refused.value)
