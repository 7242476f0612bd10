"""dispatch.lifecycle: unit statuses and allowed transitions."""
from __future__ import annotations

import pytest

from dispatch.errors import InvalidTransition
from dispatch.lifecycle import ACTIVE, STATUSES, UnitStatus, allowed_next, check_transition, is_available


def test_status_strings_are_the_contracts():
    assert STATUSES == ("available", "dispatched", "acknowledged", "en_route", "on_scene", "transporting",
                        "at_hospital", "out_of_service")


@pytest.mark.parametrize("path", [
    ["available", "dispatched", "acknowledged", "en_route", "on_scene", "transporting", "at_hospital", "available"],
    ["available", "dispatched", "acknowledged", "en_route", "on_scene", "available"],
    ["available", "out_of_service", "available"],
])
def test_a_unit_may_follow_the_deployment_path(path):
    for old, new in zip(path, path[1:]):
        check_transition(old, new)


@pytest.mark.parametrize("status", sorted(s.value for s in ACTIVE))
def test_any_active_unit_may_be_stood_down_to_available(status):
    check_transition(status, "available")


@pytest.mark.parametrize("old, new", [
    ("available", "on_scene"), ("dispatched", "en_route"), ("en_route", "transporting"),
    ("on_scene", "at_hospital"), ("at_hospital", "transporting"), ("out_of_service", "dispatched"),
    ("en_route", "out_of_service"), ("available", "available"),
])
def test_skipping_or_reversing_a_step_is_refused_with_a_readable_message(old, new):
    with pytest.raises(InvalidTransition) as e:
        check_transition(old, new)
    assert e.value.old == old and e.value.new == new
    assert f"from {old!r} to {new!r}" in str(e.value) and "may go to" in str(e.value)


def test_unknown_status_is_an_invalid_transition():
    with pytest.raises(InvalidTransition, match="unknown status 'parked'"):
        check_transition("available", "parked")


def test_enum_and_strings_are_interchangeable():
    check_transition(UnitStatus.AVAILABLE, "dispatched")
    assert allowed_next("at_hospital") == ("available",)
    assert is_available("available") and not is_available(UnitStatus.EN_ROUTE)
    assert str(UnitStatus.ON_SCENE) == "on_scene"
