"""The statutory grades (国务院令 493 art. 3 [O]; accidentlink/rules/severity.json)."""
from __future__ import annotations

import json
from importlib import resources

import pytest

from accidentlink.severity import at_least, grade_of, grades, grades_from_dict


@pytest.mark.parametrize(("deaths", "code", "zh"), [
    (0, "general", "一般事故"), (2, "general", "一般事故"), (3, "larger", "较大事故"), (9, "larger", "较大事故"),
    (10, "major", "重大事故"), (29, "major", "重大事故"), (30, "especially_major", "特别重大事故")])
def test_deaths_grade_by_the_bands_lower_bound_included(deaths: int, code: str, zh: str) -> None:
    g = grade_of(deaths)
    assert (g.code, g.zh) == (code, zh) and g.source


def test_ten_deaths_do_not_grade_as_three() -> None:
    assert grade_of(10).code != grade_of(3).code and at_least(grade_of(10).code, "larger")
    assert not at_least(grade_of(3).code, "major")


@pytest.mark.parametrize(("injuries", "loss_yuan", "code"), [
    (9, 0, "general"), (10, 0, "larger"), (50, 0, "major"), (100, 0, "especially_major"),
    (0, 9_999_999, "general"), (0, 10_000_000, "larger"), (0, 50_000_000, "major"), (0, 100_000_000, "especially_major")])
def test_serious_injuries_and_direct_loss_grade_too_whichever_is_higher(injuries: int, loss_yuan: int, code: str) -> None:
    assert grade_of(1, injuries, loss_yuan * 100).code == code
    assert grade_of(10, injuries, loss_yuan * 100).rank == min(grade_of(10).rank, grade_of(0, injuries, loss_yuan * 100).rank)


def test_four_grades_each_cited_and_bands_that_do_not_overlap_are_refused() -> None:
    assert [g.code for g in grades()] == ["especially_major", "major", "larger", "general"]
    doc = json.loads(resources.files("accidentlink").joinpath("rules/severity.json").read_text("utf-8"))
    doc["grades"][1]["min_deaths"] = 2
    with pytest.raises(ValueError, match="above"):
        grades_from_dict(doc)
    with pytest.raises(ValueError):
        grade_of(-1)
