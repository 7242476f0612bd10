"""The life of an insurance claim, one pure function per step, each returning the new claim and its event.

    opened ─┬─────────────────────────────→ documents_requested → documents_complete → assessed
            └─ (unknown insurer) routed ─┘          → cover_decided (accepted | refused) → agreed → paid

A claim opened with an insurer code the platform does not know waits for an administrator to route
it (contract: "an unknown code is accepted; its claim waits for an administrator to route it").
A refusal carries written reasons (条例 29 [O]); a refused claim is final here (the parties go to
mediation or court, outside this flow). A wrong step raises ``InvalidClaimTransition`` with a
reason a person can read; it never half-changes a claim.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Union

from accidentlink.clock import iso
from accidentlink.money import check_fen
from claims.deadlines import ClaimTimestamps

OPENED = "opened"
ROUTED = "routed"
DOCUMENTS_REQUESTED = "documents_requested"
DOCUMENTS_COMPLETE = "documents_complete"
ASSESSED = "assessed"
COVER_DECIDED = "cover_decided"
AGREED = "agreed"
PAID = "paid"
STATES = (OPENED, ROUTED, DOCUMENTS_REQUESTED, DOCUMENTS_COMPLETE, ASSESSED, COVER_DECIDED, AGREED, PAID)

ACCEPTED, REFUSED = "accepted", "refused"


class InvalidClaimTransition(ValueError):
    """This step is not allowed in the claim's current state; ``str(exc)`` says why."""


@dataclass(frozen=True)
class Claim:
    claim_id: str
    incident_id: str
    insurer: str
    plate: str | None
    state: str
    timestamps: ClaimTimestamps
    needs_routing: bool = False
    documents: tuple[str, ...] = ()
    assessed_fen: int | None = None
    assessed_by: str | None = None
    cover: str | None = None
    refusal_reasons: str | None = None
    agreed_fen: int | None = None
    paid_fen: int | None = None


# --- events (past tense) -------------------------------------------------------------------------

@dataclass(frozen=True)
class ClaimOpened:
    claim_id: str
    incident_id: str
    insurer: str
    needs_routing: bool
    at: datetime


@dataclass(frozen=True)
class ClaimRouted:
    claim_id: str
    insurer: str
    previous_insurer: str
    routed_by: str
    at: datetime


@dataclass(frozen=True)
class DocumentsRequested:
    claim_id: str
    documents: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class DocumentsCompleted:
    claim_id: str
    at: datetime


@dataclass(frozen=True)
class DamageAssessed:
    claim_id: str
    amount_fen: int
    assessed_by: str
    at: datetime


@dataclass(frozen=True)
class CoverDecided:
    claim_id: str
    decision: str
    reasons: str | None
    at: datetime


@dataclass(frozen=True)
class ClaimAgreed:
    claim_id: str
    amount_fen: int
    at: datetime


@dataclass(frozen=True)
class ClaimPaid:
    claim_id: str
    amount_fen: int
    at: datetime


ClaimEvent = Union[ClaimOpened, ClaimRouted, DocumentsRequested, DocumentsCompleted, DamageAssessed,
                   CoverDecided, ClaimAgreed, ClaimPaid]


def event_to_json(event: ClaimEvent) -> dict[str, Any]:
    """The event as a JSON object for ``claims.events`` (keyed by ``claim_id``)."""
    d = asdict(event)
    d["at"] = iso(event.at)
    if "documents" in d:
        d["documents"] = list(d["documents"])
    return {"type": type(event).__name__, **d}


# --- steps ---------------------------------------------------------------------------------------

def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("event time must carry an offset")
    return at


def _require(claim: Claim, allowed: Collection[str], action: str) -> None:
    if claim.state not in allowed:
        raise InvalidClaimTransition(
            f"claim {claim.claim_id} is {claim.state}; cannot {action} (only when {' or '.join(allowed)})")


def open_claim(claim_id: str, incident_id: str, insurer: str | None, known_insurers: Collection[str], at: datetime,
               plate: str | None = None) -> tuple[Claim, ClaimOpened]:
    """First notice of loss; the insurer answers at once (条例 27 [O]). An unknown insurer code waits for routing."""
    code = (insurer or "").strip().upper()
    needs_routing = code not in {k.strip().upper() for k in known_insurers}
    claim = Claim(claim_id=claim_id, incident_id=incident_id, insurer=code, plate=plate, state=OPENED,
                  timestamps=ClaimTimestamps(opened_at=_aware(at)), needs_routing=needs_routing)
    return claim, ClaimOpened(claim_id, incident_id, code, needs_routing, at)


def route_claim(claim: Claim, insurer: str, known_insurers: Collection[str], routed_by: str, at: datetime) -> tuple[Claim, ClaimRouted]:
    """An administrator gives a claim with an unknown insurer code to a known insurer (contract [O])."""
    _require(claim, (OPENED,), "route it")
    if not claim.needs_routing:
        raise InvalidClaimTransition(f"claim {claim.claim_id} already belongs to insurer {claim.insurer}; nothing to route")
    code = insurer.strip().upper()
    if code not in {k.strip().upper() for k in known_insurers}:
        raise InvalidClaimTransition(f"insurer {code!r} is not known; route the claim to a known insurer")
    if not routed_by.strip():
        raise InvalidClaimTransition("routing needs the administrator's name")
    new = replace(claim, insurer=code, state=ROUTED, needs_routing=False)
    return new, ClaimRouted(claim.claim_id, code, claim.insurer, routed_by, _aware(at))


def request_documents(claim: Claim, documents: Iterable[str], at: datetime) -> tuple[Claim, DocumentsRequested]:
    """The insurer lists in writing the documents it needs, within 1 day (条例 28 [O])."""
    if claim.state == OPENED and claim.needs_routing:
        raise InvalidClaimTransition(
            f"claim {claim.claim_id} waits for an administrator to route it: insurer code {claim.insurer or '(none)'!r} is unknown")
    _require(claim, (OPENED, ROUTED), "request documents")
    docs = tuple(d.strip() for d in documents if d and d.strip())
    if not docs:
        raise InvalidClaimTransition("a request for documents must list at least one document")
    new = replace(claim, state=DOCUMENTS_REQUESTED, documents=docs,
                  timestamps=replace(claim.timestamps, documents_requested_at=_aware(at)))
    return new, DocumentsRequested(claim.claim_id, docs, at)


def complete_documents(claim: Claim, at: datetime) -> tuple[Claim, DocumentsCompleted]:
    """The documents are complete: the 5-day clock for the cover decision starts (条例 29 [O])."""
    _require(claim, (DOCUMENTS_REQUESTED,), "mark the documents complete")
    new = replace(claim, state=DOCUMENTS_COMPLETE, timestamps=replace(claim.timestamps, documents_complete_at=_aware(at)))
    return new, DocumentsCompleted(claim.claim_id, at)


def assess_damage(claim: Claim, amount_fen: int, assessed_by: str, at: datetime) -> tuple[Claim, DamageAssessed]:
    """The insurer enters its damage assessment (定损), in fen."""
    _require(claim, (DOCUMENTS_COMPLETE,), "enter a damage assessment")
    try:
        check_fen(amount_fen, "amount_fen")
    except ValueError as e:
        raise InvalidClaimTransition(str(e)) from None
    if not assessed_by.strip():
        raise InvalidClaimTransition("a damage assessment needs the assessor's name")
    new = replace(claim, state=ASSESSED, assessed_fen=amount_fen, assessed_by=assessed_by)
    return new, DamageAssessed(claim.claim_id, amount_fen, assessed_by, _aware(at))


def decide_cover(claim: Claim, accepted: bool, at: datetime, reasons: str | None = None) -> tuple[Claim, CoverDecided]:
    """Cover accepted or refused within 5 days of complete documents; a refusal states written reasons (条例 29 [O])."""
    _require(claim, (ASSESSED,), "decide cover")
    text = (reasons or "").strip() or None
    if not accepted and text is None:
        raise InvalidClaimTransition("a refusal of cover must give written reasons (条例 29)")
    decision = ACCEPTED if accepted else REFUSED
    new = replace(claim, state=COVER_DECIDED, cover=decision, refusal_reasons=None if accepted else text,
                  timestamps=replace(claim.timestamps, cover_decided_at=_aware(at)))
    return new, CoverDecided(claim.claim_id, decision, text, at)


def agree_amount(claim: Claim, amount_fen: int, at: datetime) -> tuple[Claim, ClaimAgreed]:
    """Insurer and insured agree the amount: the 10-day payment clock starts (条例 29 [O])."""
    _require(claim, (COVER_DECIDED,), "agree an amount")
    if claim.cover != ACCEPTED:
        raise InvalidClaimTransition(f"claim {claim.claim_id}: cover was refused ({claim.refusal_reasons}); nothing to agree")
    try:
        check_fen(amount_fen, "amount_fen")
    except ValueError as e:
        raise InvalidClaimTransition(str(e)) from None
    new = replace(claim, state=AGREED, agreed_fen=amount_fen, timestamps=replace(claim.timestamps, agreed_at=_aware(at)))
    return new, ClaimAgreed(claim.claim_id, amount_fen, at)


def pay_claim(claim: Claim, at: datetime) -> tuple[Claim, ClaimPaid]:
    """Pay the agreed amount, once, within 10 days of the agreement (条例 29 [O])."""
    if claim.state == PAID:
        raise InvalidClaimTransition(f"claim {claim.claim_id} is already paid ({claim.paid_fen} fen); nothing is paid twice")
    _require(claim, (AGREED,), "pay")
    assert claim.agreed_fen is not None
    new = replace(claim, state=PAID, paid_fen=claim.agreed_fen, timestamps=replace(claim.timestamps, paid_at=_aware(at)))
    return new, ClaimPaid(claim.claim_id, claim.agreed_fen, at)
