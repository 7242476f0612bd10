"""A pre-arrival notice follows its incident (issue 15 item 3): withdrawn when the incident closes or the
ambulance goes elsewhere, its patient count kept equal to the incident's casualties, the ambulance's live
status on it. The use cases on the in-memory fake, and the entry point's decoding of ``incidents`` changes."""
from __future__ import annotations

import json
from datetime import timedelta

from connectors.sql.hospitals import follow
from hospitals import services as H
from hospitals.commands import AdmissionsQuery, AmbulanceAssigned, CasualtiesCounted, IncidentClosed, UnitStatusReported
from tests.unit.test_hospitals_services import ADMISSION, HOSPITAL, INCIDENT, OTHER, T0, Desk


def at(minutes: int):  # type: ignore[no-untyped-def]
    return T0 + timedelta(minutes=minutes)


def test_closing_the_incident_withdraws_a_waiting_notice_but_not_a_confirmed_admission() -> None:
    desk = Desk()
    desk.copy_incident()
    desk.notice()
    assert H.incident_closed(IncidentClosed("event_id:C-1", INCIDENT, at(20)), desk.uow()) == 1
    a = desk.state.admissions[ADMISSION]
    assert (a.status, a.withdrawn_reason, a.withdrawn_at) == ("withdrawn", "incident_closed", at(20))
    view = H.list_admissions(AdmissionsQuery(HOSPITAL, 10), desk.uow())[0]
    assert view["status"] == "withdrawn" and view["withdrawn_reason"] == "incident_closed"

    other = Desk()
    other.copy_incident()
    other.notice()
    other.confirm()
    assert H.incident_closed(IncidentClosed("event_id:C-1", INCIDENT, at(40)), other.uow()) == 0
    assert other.state.admissions[ADMISSION].status == "confirmed", "treatment began: the admission stays"


def test_the_count_of_patients_follows_the_incident() -> None:
    desk = Desk()
    desk.copy_incident(injured=2)
    desk.notice(patients=2)
    # a second caller reports a third casualty: the notice said 2 while the incident said 3
    assert H.casualties_counted(CasualtiesCounted(INCIDENT, 3, 0, at(5)), desk.uow()) == 1
    assert desk.state.admissions[ADMISSION].patients == 3
    assert H.casualties_counted(CasualtiesCounted(INCIDENT, 3, 0, at(6)), desk.uow()) == 0  # nothing new


def test_the_ambulance_and_its_live_status_show_on_the_notice_and_other_units_change_nothing() -> None:
    desk = Desk()
    desk.copy_incident()
    assert not H.ambulance_assigned(AmbulanceAssigned("event_id:U-1", INCIDENT, "LC-120-1", at(0)), desk.uow()), \
        "no admission yet: the caller applies it after the notice"
    desk.notice()
    assert H.ambulance_assigned(AmbulanceAssigned("event_id:U-1", INCIDENT, "LC-120-1", at(0)), desk.uow())
    H.unit_status_reported(UnitStatusReported("event_id:S-1", INCIDENT, "LC-122-1", "on_scene", at(4)), desk.uow())
    assert desk.state.admissions[ADMISSION].ambulance["status"] == "dispatched"
    assert H.unit_status_reported(UnitStatusReported("event_id:S-2", INCIDENT, "LC-120-1", "transporting", at(9)),
                                  desk.uow()) == 1
    amb = desk.state.admissions[ADMISSION].ambulance
    assert amb["unit_id"] == "LC-120-1" and amb["status"] == "transporting"
    # escalation replaced the ambulance: the new one is shown
    H.ambulance_assigned(AmbulanceAssigned("event_id:U-2", INCIDENT, "LC-120-7", at(10)), desk.uow())
    assert desk.state.admissions[ADMISSION].ambulance["unit_id"] == "LC-120-7"


def test_sent_back_to_the_first_hospital_the_notice_waits_there_again() -> None:
    desk = Desk()
    desk.notice()
    desk.notice("event_id:E-2", hospital_id=OTHER, minutes=2)
    desk.notice("event_id:E-3", hospital_id=HOSPITAL, minutes=4)
    assert desk.state.admissions[ADMISSION].status == "notified"
    assert desk.state.admissions[ADMISSION].withdrawn_reason is None
    assert desk.state.admissions[H.admission_id_for(INCIDENT, OTHER)].status == "withdrawn"


def _change(n: int, change: str, **kw: object) -> tuple[str, dict]:
    return f"event_id:X-{n}", {"event_id": f"X-{n}", "incident_id": INCIDENT, "change": change, **kw}


def test_the_entry_point_follows_dispatchs_changes_in_order() -> None:
    """An ambulance ordered in the same batch before its notice still reaches the notice."""
    desk = Desk()
    desk.copy_incident()
    uow = desk.uow()
    waiting: dict = {}
    changes = [_change(1, "unit_assigned", service="122", unit_id="LC-122-1"),
               _change(2, "unit_assigned", service="120", unit_id="LC-120-1"),
               _change(3, "hospital_assigned", hospital_id=HOSPITAL, admission_id=ADMISSION, patients=1,
                       injuries={}, eta_at=at(15).isoformat()),
               _change(4, "unit_status", unit_id="LC-120-1", unit_status="en_route"),
               _change(5, "closed")]
    for event_id, change in changes:
        follow(event_id, json.loads(json.dumps(change)), at(1), uow, waiting)  # type: ignore[arg-type]
    a = desk.state.admissions[ADMISSION]
    assert a.ambulance == {"unit_id": "LC-120-1", "status": "en_route", "at": a.ambulance["at"]}
    assert a.status == "withdrawn" and a.withdrawn_reason == "incident_closed"
    assert not waiting


def test_the_hospital_sees_how_the_insurer_and_the_fund_pay_its_bill() -> None:
    """A bill split between PICC and the fund: the claim's and the case's steps reach the admission."""
    from connectors.sql.hospitals import payer_step
    from tests.unit.test_hospitals_services import INSURED

    desk = Desk()
    desk.admitted(INSURED)
    desk.bill(2_500_000)  # 18,000 yuan PICC, 7,000 yuan the fund
    fund_paid = payer_step("event_id:F-1", {"schema": "fund-case/1", "event_id": "F-1", "incident_id": INCIDENT,
                                            "case_id": "FC-1", "change": "AdvancePaid",
                                            "event": {"type": "AdvancePaid", "amount_fen": 700_000}}, at(90))
    other_car = payer_step("event_id:C-0", {"schema": "claim/1", "event_id": "C-0", "incident_id": INCIDENT,
                                            "claim_id": "CL-0", "insurer": "CPIC", "change": "paid",
                                            "claim": {"plate": "鲁P00000", "paid_fen": 1}}, at(95))
    insurer_paid = payer_step("event_id:C-1", {"schema": "claim/1", "event_id": "C-1", "incident_id": INCIDENT,
                                               "claim_id": "CL-1", "insurer": "PICC", "change": "paid",
                                               "claim": {"plate": INSURED.plate, "paid_fen": 1_800_000}}, at(100))
    assert payer_step("event_id:X", {"schema": "claim/1", "incident_id": INCIDENT, "change": "assessed"}, at(1)) is None
    assert H.payer_progress(fund_paid, desk.uow()) == 1
    assert H.payer_progress(other_car, desk.uow()) == 0, "another vehicle's claim owes nothing on this bill"
    assert H.payer_progress(insurer_paid, desk.uow()) == 1
    view = H.list_admissions(AdmissionsQuery(HOSPITAL, 10), desk.uow())[0]
    assert view["payments"]["fund"] == {"status": "paid", "amount_fen": 700_000, "at": view["payments"]["fund"]["at"],
                                        "ref": "FC-1"}
    assert view["payments"]["insurer"]["status"] == "paid" and view["payments"]["insurer"]["amount_fen"] == 1_800_000
    assert H.payer_progress(insurer_paid, desk.uow()) == 0, "the same event twice changes nothing"
