"""The claims context's ports (``claims.ports``) in memory, for the unit tests of ``claims.services`` and
``claims.quick_service``.

``tests/integration/test_claims_ports.py`` runs one contract suite against this fake and the SQL adapter
(``connectors.sql.claims``), so the two cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Iterable, Mapping, TypeVar

from accidentlink.reports import Party
from claims.ports import ClaimFile, IncidentCopy, IncidentNote, OwedText, QuickCase, SharedClaims
from claims.services import ClaimConflict
from streams.topics import insurer_topic
from tests.fakes.fund import FakeInbox, _ById
from tests.fakes.uow import FakeUnitOfWork

R = TypeVar("R")


@dataclass
class ClaimsState:
    """What the claims store holds."""

    claims: dict[str, ClaimFile] = field(default_factory=dict)
    quick_cases: dict[str, QuickCase] = field(default_factory=dict)
    incidents: dict[str, IncidentCopy] = field(default_factory=dict)
    parties: dict[str, tuple[Party, ...]] = field(default_factory=dict)  # by incident: what its reports name
    messages: list[tuple[str, str, dict[str, Any], datetime]] = field(default_factory=list)  # topic, key, value, at
    texts: dict[str, tuple[OwedText, datetime]] = field(default_factory=dict)  # by dedupe key
    timeline: list[tuple[str, str, datetime, dict[str, Any]]] = field(default_factory=list)  # incident, kind, at, detail
    processed: dict[str, datetime] = field(default_factory=dict)  # the inbox: event id -> when


class _Kept(_ById[R]):
    """Records by id, added once and saved back."""

    def _add(self, key: str, record: R, taken: bool, refused: str) -> None:
        if taken or key in self._records:  # the store's constraint
            raise ClaimConflict(refused)
        self._records[key] = record

    def _save(self, key: str, record: R) -> None:
        if key not in self._records:
            raise LookupError(f"nothing to save as {key}")
        self._records[key] = record


class FakeClaims(_Kept[ClaimFile]):
    def of_incident(self, incident_id: str) -> list[ClaimFile]:
        return [c for c in self._records.values() if c.incident_id == incident_id]

    def for_vehicle(self, incident_id: str, plate: str) -> ClaimFile | None:
        return next((c for c in self.of_incident(incident_id) if c.plate == plate), None)

    def recent(self, limit: int, *, insurer: str | None = None, status: str | None = None,
               search: str | None = None) -> list[ClaimFile]:
        needle = (search or "").strip().upper()
        found = [c for c in self._records.values() if (insurer is None or c.insurer == insurer)
                 and (not status or c.status == status)
                 and (not needle or needle in c.claim_id.upper() or needle in (c.plate or "").upper())]
        return sorted(found, key=lambda c: (c.opened_at, c.claim_id), reverse=True)[:limit]

    def not_in(self, statuses: Iterable[str]) -> list[ClaimFile]:
        settled = set(statuses)
        return [c for c in self._records.values() if c.status not in settled]

    def add(self, claim: ClaimFile) -> None:
        self._add(claim.claim_id, claim, self.for_vehicle(claim.incident_id, claim.plate) is not None,
                  f"incident {claim.incident_id} has a claim for {claim.plate}")

    def save(self, claim: ClaimFile) -> None:
        self._save(claim.claim_id, claim)


class FakeRecentClaims:
    def __init__(self, claims: dict[str, ClaimFile]):
        self._claims = claims

    def sharing(self, claim_id: str, plate: str, id_hash: str | None, phone_hash: str | None,
                since: datetime) -> SharedClaims:
        recent = [c for c in self._claims.values() if c.opened_at >= since and c.claim_id != claim_id]
        return SharedClaims(tuple(c.claim_id for c in recent if c.plate == plate)[:10],
                            tuple(c.claim_id for c in recent if c.plate != plate and (
                                (id_hash and c.id_hash == id_hash) or (phone_hash and c.phone_hash == phone_hash)))[:10])


class FakeQuickCases(_Kept[QuickCase]):
    def opened_for(self, incident_id: str) -> bool:
        return any(q.incident_id == incident_id for q in self._records.values())

    def waiting_for_police(self, limit: int) -> list[QuickCase]:
        return sorted((q for q in self._records.values() if q.status == "police_queue"), key=lambda q: q.updated_at)[:limit]

    def open_cases(self, limit: int) -> list[QuickCase]:
        return sorted((q for q in self._records.values() if q.status == "open"), key=lambda q: q.created_at,
                      reverse=True)[:limit]

    def add(self, case: QuickCase) -> None:
        self._add(case.quick_id, case, self.opened_for(case.incident_id),
                  f"incident {case.incident_id} has its quick-handling case")

    def save(self, case: QuickCase) -> None:
        self._save(case.quick_id, case)


class FakeIncidentCopies(_ById[IncidentCopy]):
    def __init__(self, state: ClaimsState):
        super().__init__(state.incidents)
        self._parties = state.parties

    def parties(self, incident_id: str) -> tuple[Party, ...]:
        return self._parties.get(incident_id, ())

    def add_note(self, incident_id: str, note: IncidentNote) -> None:
        copy_ = self._records[incident_id]
        self._records[incident_id] = replace(copy_, notes=copy_.notes + (note,))


class FakeEvents:
    """Outgoing messages by the topic they would go to (unprefixed)."""

    def __init__(self, messages: list[tuple[str, str, dict[str, Any], datetime]]):
        self._messages = messages

    def claim_changed(self, claim_id: str, value: Mapping[str, Any], at: datetime) -> None:
        self._messages.append(("claims.events", claim_id, dict(value), at))

    def to_insurer(self, insurer: str, claim_id: str, value: Mapping[str, Any], at: datetime) -> None:
        self._messages.append((insurer_topic(insurer), claim_id, dict(value), at))

    def quick_changed(self, quick_id: str, value: Mapping[str, Any], at: datetime) -> None:
        self._messages.append(("claims.quick", quick_id, dict(value), at))

    def incident_changed(self, incident_id: str, change: str, at: datetime, **extra: Any) -> None:
        self._messages.append(("incidents", incident_id, {"incident_id": incident_id, "change": change, **extra}, at))


class FakeTexts:
    def __init__(self, texts: dict[str, tuple[OwedText, datetime]]):
        self._texts = texts

    def owe(self, text: OwedText, at: datetime) -> bool:
        if text.dedupe_key in self._texts:
            return False
        self._texts[text.dedupe_key] = (text, at)
        return True


class FakeTimeline:
    def __init__(self, entries: list[tuple[str, str, datetime, dict[str, Any]]]):
        self._entries = entries

    def add(self, incident_id: str, kind: str, at: datetime, **detail: Any) -> None:
        self._entries.append((incident_id, kind, at, detail))


class FakePhotos:
    """``claims.ports.PhotoStore`` in memory: (quick id, file name) -> bytes."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], bytes] = {}

    def keep(self, quick_id: str, name: str, data: bytes) -> None:
        self.kept[(quick_id, name)] = data

    def read(self, quick_id: str, name: str) -> bytes | None:
        return self.kept.get((quick_id, name))


class FakeClaimsUnitOfWork(FakeUnitOfWork[ClaimsState]):
    """A unit of work over ``state``: inside ``with`` it works on a copy, which ``commit()`` makes the state;
    leaving without a commit drops the copy (a rollback)."""

    def __init__(self, state: ClaimsState | None = None):
        super().__init__(state if state is not None else ClaimsState())

    def _bind(self, s: ClaimsState) -> None:
        self.claims, self.recent = FakeClaims(s.claims), FakeRecentClaims(s.claims)
        self.quick_cases, self.incidents = FakeQuickCases(s.quick_cases), FakeIncidentCopies(s)
        self.events, self.texts = FakeEvents(s.messages), FakeTexts(s.texts)
        self.timeline, self.inbox = FakeTimeline(s.timeline), FakeInbox(s.processed)
