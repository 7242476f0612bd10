"""The merge rule for real callers, in-process on real SQLite stores (``tests/support/inprocess.py``): two
drivers of one crash, each naming only their own plate, make one incident with one set of units; two
crashes apart make two."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from accidentlink.clock import FixedClock
from connectors.sql.models import ClaimRow, OrderRow, ReportRow
from tests.support.inprocess import World
from tests.support.reports import party, report

M_PER_DEG_LAT = 111_000
HERE = (36.3923, 115.8571)


def _run(w: World, batches: list[list[dict]]) -> dict[str, str]:
    for reports in batches:
        facts = w.intake(reports)
        for group in ("dispatch", "claims"):
            w.run(group, facts)
    with w.store("intake").read() as s:
        return dict(s.execute(select(ReportRow.report_id, ReportRow.incident_id)).all())


def _orders(w: World) -> list[tuple[str, str]]:
    with w.store("dispatch").read() as s:
        return sorted(s.execute(select(OrderRow.incident_id, OrderRow.service)
                                .where(OrderRow.state == "active")).all())


@pytest.mark.parametrize("one_batch", [True, False], ids=["one-batch", "two-batches"])
def test_two_drivers_each_naming_only_their_own_plate_make_one_incident_and_one_set_of_units(
        tmp_path: Path, one_batch: bool) -> None:
    w = World(tmp_path, f"own-{one_batch}")
    at = FixedClock().now()
    a = report(lat=HERE[0], lon=HERE[1], injured=1, movable=False, at=at, report_id="122-OWN-1",
               parties=[party("鲁P31001", "PICC")])
    b = report(lat=HERE[0] + 50 / M_PER_DEG_LAT, lon=HERE[1], injured=1, movable=False,
               at=at + timedelta(minutes=1), report_id="122-OWN-2", parties=[party("鲁P31002", "CPIC")])
    by_report = _run(w, [[a, b]] if one_batch else [[a], [b]])
    assert by_report["122-OWN-1"] == by_report["122-OWN-2"]
    inc = by_report["122-OWN-1"]
    assert _orders(w) == [(inc, "120"), (inc, "122")], "one police unit and one ambulance, not two of each"
    with w.store("claims").read() as s:
        assert sorted(s.scalars(select(ClaimRow.plate).where(ClaimRow.incident_id == inc))) == ["鲁P31001", "鲁P31002"]


@pytest.mark.parametrize("apart", ["1.5 km", "40 min", "two other plates"])
def test_two_crashes_apart_stay_two_incidents_with_a_set_of_units_each(tmp_path: Path, apart: str) -> None:
    w = World(tmp_path, f"apart-{apart.replace(' ', '')}")
    at = FixedClock().now()
    a = report(lat=HERE[0], lon=HERE[1], injured=1, movable=False, at=at, report_id="122-AP-1",
               parties=[party("鲁P32001")])
    dlat = 1500 / M_PER_DEG_LAT if apart == "1.5 km" else 20 / M_PER_DEG_LAT
    later = timedelta(minutes=40 if apart == "40 min" else 1)
    plates = [party("鲁P32002"), party("鲁P32003")] if apart == "two other plates" else [party("鲁P32002")]
    b = report(lat=HERE[0] + dlat, lon=HERE[1], injured=1, movable=False, at=at + later, report_id="122-AP-2",
               parties=plates)
    by_report = _run(w, [[a], [b]])
    assert by_report["122-AP-1"] != by_report["122-AP-2"]
    orders = _orders(w)
    assert len(orders) == 4 and {i for i, _ in orders} == {by_report["122-AP-1"], by_report["122-AP-2"]}
