"""The hospitals context's ports (``hospitals.ports``) in memory, for the unit tests of ``hospitals.services``.

``tests/integration/test_hospitals_ports.py`` runs one contract suite against this fake and the SQL adapter
(``connectors.sql.hospitals``), so the two cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from accidentlink.reports import Party
from hospitals.ports import Admission, Hospital, HospitalBill, IncidentFacts
from tests.fakes.fund import FakeInbox, _ById
from tests.fakes.uow import FakeUnitOfWork


@dataclass
class HospitalsState:
    """What the hospitals' store holds."""

    hospitals: dict[str, Hospital] = field(default_factory=dict)
    admissions: dict[str, Admission] = field(default_factory=dict)
    bills: dict[str, HospitalBill] = field(default_factory=dict)
    incidents: dict[str, IncidentFacts] = field(default_factory=dict)
    parties: dict[str, list[Party]] = field(default_factory=dict)  # by incident, as the pipeline copied them
    fled_plates: dict[str, str] = field(default_factory=dict)  # by incident: a report's fled_vehicle.plate
    liability: dict[str, dict[str, Any]] = field(default_factory=dict)  # by incident: the current determination
    messages: list[tuple[str, dict[str, Any], datetime]] = field(default_factory=list)  # hospitals.bills: key, value, at
    timeline: list[tuple[str, str, datetime, dict[str, Any]]] = field(default_factory=list)  # incident, kind, at, detail
    processed: dict[str, datetime] = field(default_factory=dict)  # the inbox: event id -> when


class FakeHospitals(_ById[Hospital]):
    def add(self, hospital: Hospital) -> None:
        self._records[hospital.hospital_id] = hospital


class FakeAdmissions(_ById[Admission]):
    def __init__(self, records: dict[str, Admission], hospitals: dict[str, Hospital]):
        super().__init__(records)
        self._hospitals = hospitals

    def at_hospital(self, hospital_id: str, limit: int, status: str | None = None) -> list[Admission]:
        found = [a for a in self._records.values() if a.hospital_id == hospital_id and (not status or a.status == status)]
        return sorted(found, key=lambda a: (a.notified_at, a.admission_id), reverse=True)[:limit]

    def of_incident(self, incident_id: str) -> list[Admission]:
        return sorted((a for a in self._records.values() if a.incident_id == incident_id),
                      key=lambda a: (a.notified_at, a.admission_id))

    def add(self, a: Admission) -> None:
        if a.admission_id in self._records or any((o.incident_id, o.hospital_id) == (a.incident_id, a.hospital_id)
                                                  for o in self._records.values()):
            raise ValueError(f"admission {a.admission_id} exists (one per incident and hospital)")
        if a.hospital_id not in self._hospitals:  # the store's foreign key
            raise ValueError(f"no hospital {a.hospital_id} for admission {a.admission_id}")
        self._records[a.admission_id] = a

    def save(self, a: Admission) -> None:
        if a.admission_id not in self._records:
            raise LookupError(f"no admission {a.admission_id} to save")
        self._records[a.admission_id] = a


class FakeBills(_ById[HospitalBill]):
    def add(self, bill: HospitalBill) -> None:
        if bill.bill_id in self._records:
            raise ValueError(f"bill {bill.bill_id} exists")
        if bill.natural_key and self.by_natural_key(bill.hospital_id, bill.natural_key):
            raise ValueError(f"bill {bill.natural_key} of {bill.hospital_id} exists")
        self._records[bill.bill_id] = bill

    def _where(self, keep: Any) -> list[HospitalBill]:
        return sorted(filter(keep, self._records.values()), key=lambda b: (b.created_at, b.bill_id))

    def save(self, bill: HospitalBill) -> None:
        if bill.bill_id not in self._records:
            raise LookupError(f"no bill {bill.bill_id} to save")
        self._records[bill.bill_id] = bill

    def of_admission(self, admission_id: str) -> list[HospitalBill]:
        return self._where(lambda b: b.admission_id == admission_id)

    def of_incident(self, incident_id: str) -> list[HospitalBill]:
        return self._where(lambda b: b.incident_id == incident_id)

    def by_natural_key(self, hospital_id: str, natural_key: str) -> HospitalBill | None:
        return next(iter(self._where(lambda b: b.hospital_id == hospital_id and b.natural_key == natural_key)), None)


class FakeIncidentCopy(_ById[IncidentFacts]):
    def __init__(self, records: dict[str, IncidentFacts], parties: dict[str, list[Party]], state: HospitalsState):
        super().__init__(records)
        self._parties, self._state = parties, state

    def parties(self, incident_id: str) -> list[Party]:
        return list(self._parties.get(incident_id, ()))

    def fled_plate(self, incident_id: str) -> str | None:
        return self._state.fled_plates.get(incident_id)

    def liability(self, incident_id: str) -> Mapping[str, Any] | None:
        found = self._state.liability.get(incident_id)
        return dict(found) if found else None

    def set_liability(self, incident_id: str, determination: Mapping[str, Any]) -> None:
        if incident_id not in self._records:
            raise LookupError(f"no incident {incident_id}")
        self._state.liability[incident_id] = {"kind": "liability", **dict(determination)}


class FakeEvents:
    def __init__(self, state: HospitalsState):
        self._state = state

    def bill_recorded(self, incident_id: str, value: Mapping[str, Any], at: datetime) -> None:
        self._state.messages.append((incident_id, dict(value), at))


class FakeTimeline:
    def __init__(self, state: HospitalsState):
        self._state = state

    def add(self, incident_id: str, kind: str, at: datetime, **detail: Any) -> None:
        self._state.timeline.append((incident_id, kind, at, detail))


class FakeHospitalsUnitOfWork(FakeUnitOfWork[HospitalsState]):
    """A unit of work over ``state``: inside ``with`` it works on a copy, which ``commit()`` makes the state;
    leaving without a commit drops the copy (a rollback)."""

    def __init__(self, state: HospitalsState | None = None):
        super().__init__(state if state is not None else HospitalsState())

    def _bind(self, s: HospitalsState) -> None:
        self.hospitals, self.admissions = FakeHospitals(s.hospitals), FakeAdmissions(s.admissions, s.hospitals)
        self.bills, self.incidents = FakeBills(s.bills), FakeIncidentCopy(s.incidents, s.parties, s)
        self.events, self.timeline, self.inbox = FakeEvents(s), FakeTimeline(s), FakeInbox(s.processed)
