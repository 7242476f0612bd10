"""The claims context's ports (style.md §1, §3): its unit of work and the repositories behind it, and the
small frozen records they take and return.

The claims use cases (``claims.services``, ``claims.quick_service``) see nothing but these: no session, no
row, no topic. The SQL adapter (``connectors.sql.claims.SqlClaimsUnitOfWork``) implements them over the
claims store, and ``tests/fakes/claims.py`` over dicts; ``tests/integration/test_claims_ports.py`` runs one
contract suite against both.

A claim as the claims desk keeps it is a ``ClaimFile`` (first notice of loss, the insurer's steps, what the
hospitals are owed, flags for a person to review, the version that numbers its ``claims.events`` messages);
the parties' online quick handling of a minor crash is a ``QuickCase``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Iterable, Mapping, Protocol, runtime_checkable

from accidentlink.clock import iso
from accidentlink.reports import Party


def party_json(p: Party) -> dict[str, Any]:
    """A party as the reports carry it (``AccidentReport.to_json``): what is known, and always the insurer and policy."""
    return {k: v for k, v in vars(p).items() if v is not None or k in ("insurer", "ci_policy")}


def party_from_json(d: Mapping[str, Any]) -> Party:
    return Party(**{f.name: d.get(f.name) for f in fields(Party)})


# ---------------------------------------------------------------- records
@dataclass(frozen=True)
class ClaimFlag:
    """Something for a person to review on a new claim (the same plate or person in other recent claims)."""

    code: str
    zh: str
    en: str
    claims: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "zh": self.zh, "en": self.en, "claims": list(self.claims)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "ClaimFlag":
        return cls(d["code"], d["zh"], d["en"], tuple(d.get("claims") or ()))


@dataclass(frozen=True)
class OverdueFlag:
    """An insurer's statutory step found past due (条例 28-29), flagged once."""

    step: str
    due: datetime
    source: str
    flagged_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "due": iso(self.due), "source": self.source, "flagged_at": iso(self.flagged_at)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "OverdueFlag":
        return cls(d["step"], datetime.fromisoformat(d["due"]), d["source"], datetime.fromisoformat(d["flagged_at"]))


@dataclass(frozen=True)
class CoverDecision:
    """The insurer's decision on cover; a refusal carries written reasons (条例 29)."""

    accepted: bool
    reasons: str
    by: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "reasons": self.reasons, "by": self.by, "at": iso(self.at)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "CoverDecision":
        return cls(d["accepted"], d.get("reasons", ""), d["by"], datetime.fromisoformat(d["at"]))


@dataclass(frozen=True)
class ClaimFile:
    """One vehicle's claim at its insurer. ``facts`` is what the claim says of the accident, as published on
    ``claims.events`` (the incident's facts when it opened, quick-handling eligibility, hospital bills, liability)."""

    claim_id: str
    incident_id: str
    insurer: str
    routed: bool                     # False while the insurer code is unknown (an administrator routes it)
    plate: str
    ci_policy: str | None
    party: Party
    id_hash: str | None              # keyed hashes of the party's ID number and phone (``claims.services.person_hash``)
    phone_hash: str | None
    status: str
    kind: str                        # quick, injury, property
    facts: Mapping[str, Any]
    opened_at: datetime
    updated_at: datetime
    version: int = 0                 # one more per change: numbers the claim's ``claims.events`` messages
    owed_to_hospital_fen: int = 0
    assessed_fen: int | None = None
    paid_fen: int | None = None
    flags: tuple[ClaimFlag, ...] = ()
    timestamps: Mapping[str, datetime] = field(default_factory=dict)  # change -> when it last happened
    decision: CoverDecision | None = None
    overdue_flags: tuple[OverdueFlag, ...] = ()


@dataclass(frozen=True)
class SharedClaims:
    """Recent claims that share something with a new one (fraud flags: for a person, never a decision)."""

    same_plate: tuple[str, ...]
    same_person: tuple[str, ...]     # the same ID number or phone, with another vehicle


@dataclass(frozen=True)
class IncidentNote:
    at: datetime
    kind: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"at": iso(self.at), "kind": self.kind, "text": self.text}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "IncidentNote":
        return cls(datetime.fromisoformat(d["at"]), d.get("kind", ""), d.get("text", ""))


@dataclass(frozen=True)
class IncidentCopy:
    """What claims needs of its copy of an incident's facts (the intake's merge of every report)."""

    incident_id: str
    lat: float
    lon: float
    address: str | None
    first_reported_at: datetime
    injured: int
    fatalities: int
    vehicles_movable: bool
    hit_and_run: bool
    hazards: tuple[str, ...] = ()
    notes: tuple[IncidentNote, ...] = ()   # claims' own notes on the incident (why quick handling was refused)


@dataclass(frozen=True)
class QuickParty:
    """A party of a quick-handling case; its SMS link carries a secret only the hash of which is kept."""

    plate: str
    token_hash: str
    phone: str | None = None
    insurer: str | None = None
    name: str | None = None
    id_number: str | None = None
    vehicle_type: str | None = None
    ci_policy: str | None = None

    @property
    def party(self) -> Party:
        return Party(name=self.name, phone=self.phone, id_number=self.id_number, plate=self.plate,
                     vehicle_type=self.vehicle_type, insurer=self.insurer, ci_policy=self.ci_policy)

    def to_json(self) -> dict[str, Any]:
        return {"plate": self.plate, "token_hash": self.token_hash, "phone": self.phone, "insurer": self.insurer,
                "name": self.name, "id_number": self.id_number, "vehicle_type": self.vehicle_type,
                "ci_policy": self.ci_policy}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "QuickParty":
        return cls(d["plate"], d["token_hash"], d.get("phone"), d.get("insurer"), d.get("name"), d.get("id_number"),
                   d.get("vehicle_type"), d.get("ci_policy"))


@dataclass(frozen=True)
class QuickPhoto:
    kind: str
    sha256: str
    by: str                          # the plate of the party who added it
    at: datetime
    ext: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "sha256": self.sha256, "by": self.by, "at": iso(self.at), "ext": self.ext}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "QuickPhoto":
        return cls(d["kind"], d["sha256"], d["by"], datetime.fromisoformat(d["at"]), d.get("ext", ""))


@dataclass(frozen=True)
class QuickCase:
    """The parties' shared online quick handling of a minor crash (快处快赔). ``confirmations``: what each
    party confirmed and signed, by plate (``sms:<plate>``: the facts confirmed by an SMS reply); ``outcome``:
    the agreement, the police's determination, or why it waits for the police, as ``claims.quick`` carries it."""

    quick_id: str
    incident_id: str
    region: str
    status: str                      # open, agreed, police_queue, determined
    parties: tuple[QuickParty, ...]
    created_at: datetime
    updated_at: datetime
    eligibility: Mapping[str, Any] = field(default_factory=lambda: {"eligible": True})
    photos: tuple[QuickPhoto, ...] = ()
    situations: Mapping[str, Any] = field(default_factory=dict)
    confirmations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    outcome: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class OwedText:
    """A text message owed to a person, at most once per ``dedupe_key``."""

    dedupe_key: str
    to: str
    body: str
    purpose: str
    incident_id: str | None = None


# ---------------------------------------------------------------- repositories
@runtime_checkable
class ClaimRepository(Protocol):
    def get(self, claim_id: str) -> ClaimFile | None: ...

    def of_incident(self, incident_id: str) -> list[ClaimFile]:
        """Every claim of the incident (one per vehicle)."""

    def for_vehicle(self, incident_id: str, plate: str) -> ClaimFile | None: ...

    def recent(self, limit: int, *, insurer: str | None = None, status: str | None = None,
               search: str | None = None) -> list[ClaimFile]:
        """Newest first (by ``opened_at``, then claim id); only the insurer's, or of that status, when given."""

    def not_in(self, statuses: Iterable[str]) -> list[ClaimFile]:
        """Every claim whose status is none of these."""

    def add(self, claim: ClaimFile) -> None:
        """A new claim. One per vehicle of an incident: a second is refused with ``claims.services.ClaimConflict``
        (inside a pipeline batch, by the batch's write)."""

    def save(self, claim: ClaimFile) -> None:
        """An existing claim, as it now stands."""


@runtime_checkable
class RecentClaimsRepository(Protocol):
    def sharing(self, claim_id: str, plate: str, id_hash: str | None, phone_hash: str | None,
                since: datetime) -> SharedClaims:
        """Claims opened since ``since``, other than ``claim_id``: with this plate, and of this person (ID
        number or phone hash) with another plate; at most 10 of each."""


@runtime_checkable
class QuickCaseRepository(Protocol):
    def get(self, quick_id: str) -> QuickCase | None: ...

    def opened_for(self, incident_id: str) -> bool:
        """Whether the incident has its quick-handling case (at most one)."""

    def waiting_for_police(self, limit: int) -> list[QuickCase]:
        """Cases in the police's online determination queue, longest unchanged first."""

    def open_cases(self, limit: int) -> list[QuickCase]:
        """Cases still open, newest first."""

    def add(self, case: QuickCase) -> None:
        """A new case; a second case of one incident is refused with ``claims.services.ClaimConflict`` (inside a
        pipeline batch, by the batch's write)."""

    def save(self, case: QuickCase) -> None: ...


@runtime_checkable
class IncidentCopyRepository(Protocol):
    """The pipeline keeps claims' copy of the facts (``accidentlink.pipeline.record_copy``); claims adds notes."""

    def get(self, incident_id: str) -> IncidentCopy | None: ...

    def parties(self, incident_id: str) -> tuple[Party, ...]:
        """Every party any report of the incident names, one per plate (or per person without one)."""

    def add_note(self, incident_id: str, note: IncidentNote) -> None: ...


@runtime_checkable
class OutgoingEvents(Protocol):
    """What claims tells others, sent only if the unit of work commits."""

    def claim_changed(self, claim_id: str, value: Mapping[str, Any], at: datetime) -> None:
        """One ``claims.events`` message (claim/1), keyed by the claim id."""

    def to_insurer(self, insurer: str, claim_id: str, value: Mapping[str, Any], at: datetime) -> None:
        """The same message on the insurer's own topic."""

    def quick_changed(self, quick_id: str, value: Mapping[str, Any], at: datetime) -> None:
        """One ``claims.quick`` message (quick-case/1), keyed by the quick-handling case id."""

    def incident_changed(self, incident_id: str, change: str, at: datetime, **extra: Any) -> None:
        """A change of claims' copy of the incident, on ``incidents`` (e.g. ``quick_refused``, for dispatch)."""


@runtime_checkable
class TextsOwed(Protocol):
    def owe(self, text: OwedText, at: datetime) -> bool:
        """Owe the text once per dedupe key; False when it was already owed (inside a pipeline batch the check
        happens when the batch is written, and this answers True)."""


@runtime_checkable
class Timeline(Protocol):
    def add(self, incident_id: str, kind: str, at: datetime, **detail: Any) -> None:
        """An entry on the incident's timeline (claims' part of it)."""


@runtime_checkable
class Inbox(Protocol):
    """The events this consumer has handled (at least once delivery: a seen event is a no-op)."""

    def seen(self, event_id: str) -> bool: ...

    def mark(self, event_id: str, at: datetime) -> None: ...


@runtime_checkable
class PhotoStore(Protocol):
    """Where the parties' scene photos are kept (outside the database)."""

    def keep(self, quick_id: str, name: str, data: bytes) -> None: ...

    def read(self, quick_id: str, name: str) -> bytes | None:
        """A kept file, or None."""


@runtime_checkable
class ClaimsUnitOfWork(Protocol):
    """One transaction on the claims store. A use case enters it, and it keeps what was done only when the use
    case calls ``commit()``; leaving it otherwise rolls back."""

    claims: ClaimRepository
    recent: RecentClaimsRepository
    quick_cases: QuickCaseRepository
    incidents: IncidentCopyRepository
    events: OutgoingEvents
    texts: TextsOwed
    timeline: Timeline
    inbox: Inbox

    def __enter__(self) -> "ClaimsUnitOfWork": ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...
