"""The hospitals' use cases (``hospitals.services``) on the in-memory fake of their ports
(``tests/fakes/hospitals.py``)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from accidentlink.clock import CST, iso
from accidentlink.reports import Party
from hospitals import services as H
from hospitals.commands import AdmissionsQuery, ConfirmAdmission, PreArrivalNotice, RecordBill
from hospitals.ports import Hospital, IncidentFacts
from tests.fakes.hospitals import FakeHospitalsUnitOfWork, HospitalsState

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=CST)
PROVINCE = "shandong"
INCIDENT = "INC-20261122-0001"
HOSPITAL, OTHER = "LC-H-LC3", "LC-H-LCRM"
ADMISSION = H.admission_id_for(INCIDENT, HOSPITAL)
NURSE = "hospital:急诊科:t1"
INSURED = Party(name="张某", plate="鲁P12345", insurer="PICC", ci_policy="POL-1")
UNINSURED = Party(name="李某", plate="鲁P67890")


class Desk:
    """The hospitals' store in memory, and the use cases called the way the entry points call them."""

    def __init__(self) -> None:
        self.state = HospitalsState()
        for hospital_id in (HOSPITAL, OTHER):
            self.state.hospitals[hospital_id] = Hospital(hospital_id, hospital_id, 36.45, 115.98, "聊城")

    def uow(self) -> FakeHospitalsUnitOfWork:
        return FakeHospitalsUnitOfWork(self.state)

    def copy_incident(self, *parties: Party, hit_and_run: bool = False, injured: int = 1) -> None:
        """The pipeline copied the incident's facts and its reports' parties."""
        self.state.incidents[INCIDENT] = IncidentFacts(INCIDENT, T0, "injury", hit_and_run, "聊临路梁水镇段", injured, 0)
        self.state.parties[INCIDENT] = list(parties)

    def notice(self, event_id: str = "event_id:E-1", *, patients: int = 1, hospital_id: str = HOSPITAL,
               minutes: int = 0) -> Any:
        at = T0 + timedelta(minutes=minutes)
        return H.record_pre_arrival_notice(PreArrivalNotice(event_id, INCIDENT, hospital_id, patients,
                                                            {"injured": patients}, at + timedelta(minutes=12), at),
                                           self.uow())

    def confirm(self, hospital_id: str = HOSPITAL, admission_id: str = ADMISSION, minutes: int = 30) -> Any:
        return H.confirm_admission(ConfirmAdmission(hospital_id, admission_id, NURSE, T0 + timedelta(minutes=minutes)),
                                   self.uow())

    def bill(self, amount_fen: int = 2_500_000, *, hospital_id: str = HOSPITAL, minutes: int = 60,
             **body: Any) -> dict[str, Any]:
        at = T0 + timedelta(minutes=minutes)
        cmd = H.bill_command(hospital_id, ADMISSION, {"amount_fen": amount_fen, "rescue_started_at": iso(T0), **body},
                             NURSE, at)
        return H.record_bill(cmd, self.uow(), province=PROVINCE)

    def admitted(self, *parties: Party, **kw: Any) -> None:
        """Facts copied, notice received, admission confirmed: ready to bill."""
        self.copy_incident(*parties, **kw)
        self.notice()
        self.confirm()


@pytest.fixture
def desk() -> Desk:
    return Desk()


# ------------------------------------------------------------------------------- admissions
def test_a_notice_becomes_one_admission_which_a_second_notice_updates(desk: Desk) -> None:
    first = desk.notice(patients=2)
    assert first.admission_id == ADMISSION and first.status == "notified" and first.notified_at == T0
    desk.notice("event_id:E-1", patients=5)  # the same notice delivered again: nothing changes
    assert desk.state.admissions[ADMISSION] == first
    second = desk.notice("event_id:E-2", patients=1, minutes=3)
    assert list(desk.state.admissions) == [ADMISSION]
    assert second.patients == 2, "a later notice never lowers the count of patients"
    assert second.eta_at == T0 + timedelta(minutes=15) and second.notified_at == T0
    assert set(desk.state.processed) == {"event_id:E-1", "event_id:E-2"}


def test_a_notice_for_another_hospital_is_another_admission_and_withdraws_the_first(desk: Desk) -> None:
    desk.notice()
    desk.notice("event_id:E-2", hospital_id=OTHER)
    assert sorted(a.hospital_id for a in desk.state.admissions.values()) == [HOSPITAL, OTHER]
    first = desk.state.admissions[ADMISSION]
    assert (first.status, first.withdrawn_reason) == ("withdrawn", "redirected"), "the ambulance goes elsewhere"
    assert desk.state.admissions[H.admission_id_for(INCIDENT, OTHER)].status == "notified"


def test_confirming_is_idempotent(desk: Desk) -> None:
    desk.copy_incident(INSURED)
    desk.notice()
    view, changed = desk.confirm()
    again, changed_again = desk.confirm(minutes=45)
    assert changed and not changed_again
    assert view == again and view["status"] == "confirmed" and view["confirmed_at"] == iso(T0 + timedelta(minutes=30))
    assert desk.state.admissions[ADMISSION].confirmed_by == NURSE
    assert [(i, k) for i, k, _, _ in desk.state.timeline] == [(INCIDENT, "admission_confirmed")]


def test_another_hospitals_admission_is_not_found(desk: Desk) -> None:
    desk.admitted(INSURED)
    with pytest.raises(H.AdmissionNotFound) as refused:
        desk.confirm(hospital_id=OTHER)
    assert refused.value.status == 404
    with pytest.raises(H.AdmissionNotFound):
        desk.bill(hospital_id=OTHER)
    with pytest.raises(H.AdmissionNotFound):
        desk.confirm(admission_id="ADM-NOPE")
    assert desk.state.bills == {} and H.list_admissions(AdmissionsQuery(OTHER, 10), desk.uow()) == []


def test_the_queue_shows_the_newest_first_with_the_incidents_facts_and_bills(desk: Desk) -> None:
    desk.notice()  # the facts have not arrived yet
    desk.state.incidents.clear()
    assert H.list_admissions(AdmissionsQuery(HOSPITAL, 10), desk.uow())[0]["incident"] is None
    desk.notice("event_id:E-2", hospital_id=OTHER, minutes=5)
    desk.admitted(INSURED)
    desk.bill()
    [queued] = H.list_admissions(AdmissionsQuery(HOSPITAL, 10), desk.uow())
    assert queued["incident"] == {"severity": "injury", "hit_and_run": False, "address": "聊临路梁水镇段", "injured": 1,
                                  "fatalities": 0}
    assert [b["bill_id"] for b in queued["bills"]] == [f"BILL-{ADMISSION[4:]}-001"]
    assert H.list_admissions(AdmissionsQuery(HOSPITAL, 10, "notified"), desk.uow()) == []


# ------------------------------------------------------------------------------- bills
def test_a_bill_before_confirmation_is_refused(desk: Desk) -> None:
    desk.copy_incident(INSURED)
    desk.notice()
    with pytest.raises(H.AdmissionNotConfirmed) as refused:
        desk.bill()
    assert refused.value.status == 409
    assert desk.state.bills == {} and desk.state.messages == []


def test_a_bill_whose_incident_facts_have_not_arrived_is_refused_until_they_do(desk: Desk) -> None:
    desk.notice()
    desk.confirm()
    with pytest.raises(H.AdmissionError) as refused:
        desk.bill()
    assert refused.value.status == 409 and "have not reached the hospital desk yet" in str(refused.value)
    assert desk.state.bills == {} and desk.state.messages == []
    desk.copy_incident(INSURED)
    assert desk.bill()["payers"]["insurer_fen"] == 1_800_000


def test_a_bills_split_adds_up_and_goes_onto_hospitals_bills_once(desk: Desk) -> None:
    desk.admitted(INSURED, UNINSURED)
    out = desk.bill(2_500_000)
    payers = out["payers"]
    assert (payers["insurer_fen"], payers["fund_fen"], payers["uncovered_fen"]) == (1_800_000, 700_000, 0)
    assert payers["insurer"] == "PICC" and payers["vehicle_plate"] == "鲁P12345" and payers["province"] == PROVINCE
    [(key, message, _)] = desk.state.messages
    bill_id = f"BILL-{ADMISSION[4:]}-001"
    assert key == INCIDENT and out["bill_id"] == message["event_id"] == message["bill_id"] == bill_id
    assert message["schema"] == "hospital-bill/1" and message["created_by"] == f"hospital:{HOSPITAL}"
    assert message["insurer_fen"] + message["fund_fen"] <= message["amount_fen"] == 2_500_000
    assert message["items"] == [{"amount_fen": 2_500_000, "incurred_at": None, "description": ""}]
    assert message["routing"]["vehicle_plate"] == payers["vehicle_plate"] and message["reasons"] == payers["reasons"]
    assert message["change"] == "recorded" and message["revision"] == 0 and message["provisional"] is True
    assert payers["provisional"] is True and "fault_undetermined_assumed_at_fault" in payers["reasons"]
    assert all(t["zh"] and t["en"] for t in payers["reason_texts"])
    assert desk.state.bills[bill_id].created_by == NURSE
    assert [(k, d) for _, k, _, d in desk.state.timeline][-1] == (
        "bill_recorded", {"bill_id": bill_id, "amount_fen": 2_500_000, "insurer_fen": 1_800_000, "fund_fen": 700_000,
                          "provisional": True})


def test_a_second_bill_shares_the_medical_limit_of_the_accident(desk: Desk) -> None:
    desk.admitted(INSURED)
    desk.bill(1_000_000, invoice_number="INV-1")
    second = desk.bill(1_000_000, minutes=90, invoice_number="INV-2")  # the same amount: another invoice
    assert second["bill_id"] == f"BILL-{ADMISSION[4:]}-002"
    assert (second["payers"]["insurer_fen"], second["payers"]["fund_fen"]) == (800_000, 200_000)
    assert len(desk.state.messages) == 2


def test_the_bill_may_name_the_vehicle_whose_insurance_answers(desk: Desk) -> None:
    desk.admitted(INSURED, UNINSURED)
    out = desk.bill(500_000, vehicle_plate=" 鲁p67890")
    assert out["payers"]["vehicle_plate"] == "鲁P67890" and out["payers"]["insurer_fen"] == 0
    with pytest.raises(H.BadBill) as refused:
        desk.bill(500_000, vehicle_plate="鲁X00000")
    assert refused.value.status == 422 and len(desk.state.bills) == 1


def test_a_hit_and_run_by_an_unknown_vehicle_is_routed_to_the_fund(desk: Desk) -> None:
    desk.admitted(hit_and_run=True)
    payers = desk.bill(2_500_000)["payers"]
    assert (payers["insurer_fen"], payers["fund_fen"], payers["insurer"], payers["vehicle_plate"]) == (0, 2_500_000,
                                                                                                       None, None)


def test_items_must_add_up_to_the_amount(desk: Desk) -> None:
    desk.admitted(INSURED)
    with pytest.raises(H.BadBill, match="items add up to 99 fen"):
        desk.bill(100, items=[{"amount_fen": 99}])
    out = desk.bill(100, items=[{"amount_fen": 60, "incurred_at": iso(T0), "description": "清创"}, {"amount_fen": 40}])
    assert out["items"] == [{"amount_fen": 60, "incurred_at": iso(T0), "description": "清创"},
                            {"amount_fen": 40, "incurred_at": None, "description": ""}]


@pytest.mark.parametrize("body, reason", [
    ({"amount_fen": 12.5}, "integer"), ({"amount_fen": 0}, "above 0"),
    ({"rescue_started_at": "2026-11-22T08:00:00"}, "no offset"), ({"items": ["x"]}, "items[0] must be an object"),
    ({"items": [{"amount_fen": -1}]}, "items[0].amount_fen"),
])
def test_a_bad_bill_body_is_refused_with_a_readable_reason(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(H.BadBill, match=re.escape(reason)) as refused:
        H.bill_command(HOSPITAL, ADMISSION, {"amount_fen": 100, "rescue_started_at": iso(T0), **body}, NURSE, T0)
    assert refused.value.status == 422 and str(refused.value)


def test_the_bill_command_carries_the_body(desk: Desk) -> None:
    cmd = H.bill_command(HOSPITAL, ADMISSION, {"amount_fen": 100, "rescue_started_at": iso(T0), "window_extended": 1,
                                               "vehicle_plate": "鲁P12345", "items": [{"amount_fen": 100}]}, NURSE, T0)
    assert isinstance(cmd, RecordBill) and cmd.window_extended is True and cmd.vehicle_plate == "鲁P12345"
    assert [i.amount_fen for i in cmd.items] == [100] and cmd.rescue_started_at == T0


@settings(max_examples=40, deadline=None)
@given(amounts=st.lists(st.integers(min_value=1, max_value=5_000_000), min_size=1, max_size=4),
       insured=st.booleans(), hit_and_run=st.booleans())
def test_every_bills_split_adds_up_and_the_insurer_never_pays_beyond_the_limit(
        amounts: list[int], insured: bool, hit_and_run: bool) -> None:
    desk = Desk()
    desk.admitted(*([INSURED] if insured else []), hit_and_run=hit_and_run)
    for n, amount in enumerate(amounts):
        p = desk.bill(amount, minutes=60 + n, invoice_number=f"INV-{n}")["payers"]
        assert p["insurer_fen"] + p["fund_fen"] + p["uncovered_fen"] == amount
        assert min(p["insurer_fen"], p["fund_fen"], p["uncovered_fen"]) >= 0
    assert sum(b.insurer_fen for b in desk.state.bills.values()) <= 1_800_000
    assert len(desk.state.messages) == len(amounts)


# ---------------------------------------------------------------- issue 14: a bill sent twice is one bill
def test_a_bill_sent_twice_without_an_invoice_number_is_recorded_and_routed_once(desk: Desk) -> None:
    desk.admitted(INSURED)
    first = desk.bill(1_000_000)
    again = desk.bill(1_000_000, minutes=61)  # a retry without an Idempotency-Key
    assert again["bill_id"] == first["bill_id"] and again.get("existing") is True
    assert len(desk.state.bills) == 1 and len(desk.state.messages) == 1, "routed (and so paid) once"


def test_an_invoice_number_is_a_bills_natural_key_per_hospital(desk: Desk) -> None:
    desk.admitted(INSURED)
    first = desk.bill(1_000_000, invoice_number="LC3-2026-0001")
    same = desk.bill(1_000_000, minutes=70, invoice_number="LC3-2026-0001")
    assert same["bill_id"] == first["bill_id"] and same["invoice_number"] == "LC3-2026-0001"
    with pytest.raises(H.BillConflict) as other:
        desk.bill(2_000_000, minutes=80, invoice_number="LC3-2026-0001")
    assert other.value.status == 409 and first["bill_id"] in str(other.value)
    assert len(desk.state.messages) == 1
    with pytest.raises(H.BadBill):
        desk.bill(1_000_000, invoice_number="   ")


# ------------------------------------------------------------------------------- liability and re-routing
WALKER = Party(name="李某", id_number="371502198504041234", role="pedestrian")
RIDER_IN_A = Party(name="赵某", id_number="371502200003031234", role="occupant", vehicle_plate="鲁P12345")


def liability(desk: Desk, shares: dict[str, str], minutes: int = 120, event_id: str | None = None) -> dict[str, Any]:
    from hospitals.commands import RecordLiability

    return H.record_liability(RecordLiability(INCIDENT, shares, "joint_desk", "dispatcher:王:t9",
                                              T0 + timedelta(minutes=minutes), event_id=event_id),
                              desk.uow(), province=PROVINCE)


def test_police_liability_none_reroutes_the_provisional_bill_once(desk: Desk) -> None:
    desk.admitted(INSURED, WALKER)
    first = desk.bill(2_500_000, patient_id_number=WALKER.id_number)["payers"]
    assert first["provisional"] and (first["insurer_fen"], first["fund_fen"]) == (1_800_000, 700_000)
    out = liability(desk, {"鲁p12345": "none"})
    [bill] = out["bills"]
    payers = bill["payers"]
    assert (payers["insurer_fen"], payers["fund_fen"], payers["uncovered_fen"]) == (180_000, 2_320_000, 0)
    assert not payers["provisional"] and payers["liability"] == "none" and payers["revision"] == 1
    assert payers["previous"]["insurer_fen"] == 1_800_000 and "insured_not_at_fault" in payers["reasons"]
    rerouted = [m for _, m, _ in desk.state.messages if m.get("change") == "rerouted"]
    assert len(rerouted) == 1 and rerouted[0]["event_id"] == bill["bill_id"] + ":r1"
    again = liability(desk, {"鲁P12345": "none"}, minutes=130)  # the same determination again
    assert not again["changed"] and again["rerouted"] == []
    assert len([m for _, m, _ in desk.state.messages if m.get("change") == "rerouted"]) == 1
    review = liability(desk, {"鲁P12345": "primary"}, minutes=140)  # a review that changes it
    assert review["rerouted"] == [bill["bill_id"]] and review["bills"][0]["payers"]["insurer_fen"] == 1_800_000
    assert review["bills"][0]["payers"]["revision"] == 2


def test_a_bill_after_liability_is_decided_is_routed_on_it_and_not_provisional(desk: Desk) -> None:
    desk.admitted(INSURED, WALKER)
    liability(desk, {"鲁P12345": "none"})
    payers = desk.bill(300_000, patient_id_number=WALKER.id_number)["payers"]
    assert not payers["provisional"] and (payers["insurer_fen"], payers["fund_fen"]) == (180_000, 120_000)


def test_liability_naming_a_plate_of_another_crash_or_an_unknown_degree_is_refused(desk: Desk) -> None:
    desk.admitted(INSURED, WALKER)
    for shares in ({"鲁X00000": "full"}, {"鲁P12345": "most"}, {}):
        with pytest.raises(H.BadLiability):
            liability(desk, shares)
    assert desk.state.liability == {}


def test_an_occupant_of_the_insured_car_is_billed_to_the_fund_not_to_that_car(desk: Desk) -> None:
    desk.admitted(INSURED, RIDER_IN_A)
    payers = desk.bill(2_500_000, patient_id_number=RIDER_IN_A.id_number)["payers"]
    assert payers["insurer"] is None and payers["insurer_fen"] == 0 and payers["fund_fen"] == 2_500_000
    assert "own_vehicle_not_third_party" in payers["reasons"] and payers["patient_role"] == "occupant"


def test_a_hit_and_run_with_the_fleeing_vehicle_unknown_bills_the_fund_for_all(desk: Desk) -> None:
    desk.admitted(INSURED, hit_and_run=True)  # the only vehicle listed is the victim's own
    payers = desk.bill(2_500_000)["payers"]
    assert (payers["insurer_fen"], payers["fund_fen"]) == (0, 2_500_000)
    assert payers["reasons"][0] == "hit_and_run_vehicle_unknown"


def test_a_patient_who_is_not_a_party_is_refused_and_no_bill_shows_the_id_number(desk: Desk) -> None:
    desk.admitted(INSURED, WALKER)
    with pytest.raises(H.BadBill):
        desk.bill(patient_id_number="110101199001011234")
    out = desk.bill(patient_id_number=WALKER.id_number)
    assert WALKER.id_number not in repr(out) and WALKER.id_number not in repr(desk.state.messages)
