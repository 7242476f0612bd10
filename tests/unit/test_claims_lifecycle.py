"""Claim states: opened → documents_requested → documents_complete → assessed → cover_decided → agreed →
paid, with routing for an unknown insurer (contract) and written refusal reasons (条例 29 [O])."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from claims.deadlines import claim_deadlines
from claims.lifecycle import (
    AGREED, COVER_DECIDED, PAID, ROUTED, ClaimAgreed, ClaimOpened, ClaimPaid, ClaimRouted, CoverDecided,
    DamageAssessed, DocumentsCompleted, DocumentsRequested, InvalidClaimTransition, agree_amount, assess_damage,
    complete_documents, decide_cover, event_to_json, open_claim, pay_claim, request_documents, route_claim,
)

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 22, 9, 0, tzinfo=CST)
KNOWN = {"PICC", "PINGAN", "CPIC"}


def t(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def through_assessment(insurer: str = "picc"):
    claim, _ = open_claim("CLM-1", "INC-1", insurer, KNOWN, T0, plate="鲁P11111")
    claim, _ = request_documents(claim, ["驾驶证", "行驶证", "事故认定书"], t(1))
    claim, _ = complete_documents(claim, t(24))
    claim, _ = assess_damage(claim, 450_000, "查勘员王某", t(30))
    return claim


def test_a_claim_goes_from_first_notice_to_payment_with_one_event_per_step():
    claim, e1 = open_claim("CLM-1", "INC-1", "picc", KNOWN, T0)
    assert claim.insurer == "PICC" and not claim.needs_routing and isinstance(e1, ClaimOpened)
    claim, e2 = request_documents(claim, ["驾驶证"], t(1))
    claim, e3 = complete_documents(claim, t(24))
    claim, e4 = assess_damage(claim, 450_000, "查勘员王某", t(30))
    claim, e5 = decide_cover(claim, True, t(40))
    claim, e6 = agree_amount(claim, 450_000, t(50))
    claim, e7 = pay_claim(claim, t(60))
    assert [type(e) for e in (e2, e3, e4, e5, e6, e7)] == [
        DocumentsRequested, DocumentsCompleted, DamageAssessed, CoverDecided, ClaimAgreed, ClaimPaid]
    assert claim.state == PAID and claim.paid_fen == 450_000
    assert claim.timestamps.paid_at == t(60)


def test_step_timestamps_drive_the_statutory_deadlines():
    claim = through_assessment()
    due = claim_deadlines(claim.timestamps)
    assert set(due) == {"list_documents", "decide_cover"} and due["list_documents"].done_at == t(1)


def test_an_unknown_insurer_waits_for_an_administrator_to_route_it():
    claim, opened = open_claim("CLM-2", "INC-1", "XYZ", KNOWN, T0)
    assert opened.needs_routing
    with pytest.raises(InvalidClaimTransition, match="route"):
        request_documents(claim, ["驾驶证"], t(1))
    claim, routed = route_claim(claim, "cpic", KNOWN, "admin 李某", t(2))
    assert claim.state == ROUTED and claim.insurer == "CPIC" and isinstance(routed, ClaimRouted)
    assert routed.previous_insurer == "XYZ"
    claim, _ = request_documents(claim, ["驾驶证"], t(3))


def test_a_claim_cannot_be_routed_to_another_unknown_insurer_or_routed_twice():
    claim, _ = open_claim("CLM-2", "INC-1", None, KNOWN, T0)
    with pytest.raises(InvalidClaimTransition, match="not known"):
        route_claim(claim, "ABC", KNOWN, "admin", t(1))
    known, _ = open_claim("CLM-3", "INC-1", "PICC", KNOWN, T0)
    with pytest.raises(InvalidClaimTransition, match="nothing to route"):
        route_claim(known, "CPIC", KNOWN, "admin", t(1))


def test_a_refusal_needs_written_reasons():
    """条例 29 [O]."""
    claim = through_assessment()
    with pytest.raises(InvalidClaimTransition, match="written reasons"):
        decide_cover(claim, False, t(40), reasons="  ")
    refused, event = decide_cover(claim, False, t(40), reasons="非保险责任：车辆改装未告知")
    assert refused.state == COVER_DECIDED and event.decision == "refused" and refused.refusal_reasons


def test_a_refused_claim_cannot_be_agreed_or_paid():
    refused, _ = decide_cover(through_assessment(), False, t(40), reasons="非保险责任")
    with pytest.raises(InvalidClaimTransition, match="refused"):
        agree_amount(refused, 100, t(41))
    with pytest.raises(InvalidClaimTransition):
        pay_claim(refused, t(42))


def test_a_paid_claim_is_never_paid_twice():
    claim, _ = decide_cover(through_assessment(), True, t(40))
    claim, _ = agree_amount(claim, 400_000, t(41))
    assert claim.state == AGREED
    claim, _ = pay_claim(claim, t(42))
    with pytest.raises(InvalidClaimTransition, match="already paid"):
        pay_claim(claim, t(43))


@pytest.mark.parametrize("step", [
    lambda c: complete_documents(c, t(1)),
    lambda c: assess_damage(c, 1, "x", t(1)),
    lambda c: decide_cover(c, True, t(1)),
    lambda c: agree_amount(c, 1, t(1)),
    lambda c: pay_claim(c, t(1)),
], ids=["complete", "assess", "decide", "agree", "pay"])
def test_skipping_steps_raises_a_readable_error(step):
    claim, _ = open_claim("CLM-1", "INC-1", "PICC", KNOWN, T0)
    with pytest.raises(InvalidClaimTransition, match="CLM-1 is opened; cannot"):
        step(claim)


@pytest.mark.parametrize("amount", [-1, 1.5, True])
def test_amounts_are_whole_non_negative_fen(amount):
    claim, _ = request_documents(open_claim("CLM-1", "INC-1", "PICC", KNOWN, T0)[0], ["驾驶证"], t(1))
    claim, _ = complete_documents(claim, t(2))
    with pytest.raises(InvalidClaimTransition, match="fen"):
        assess_damage(claim, amount, "x", t(3))


def test_a_document_request_lists_something():
    claim, _ = open_claim("CLM-1", "INC-1", "PICC", KNOWN, T0)
    with pytest.raises(InvalidClaimTransition, match="at least one"):
        request_documents(claim, [" "], t(1))


def test_events_serialise_for_the_claims_topic():
    _, e = open_claim("CLM-1", "INC-1", "PICC", KNOWN, T0)
    assert event_to_json(e) == {"type": "ClaimOpened", "claim_id": "CLM-1", "incident_id": "INC-1", "insurer": "PICC",
                                "needs_routing": False, "at": "2026-11-22T09:00:00+08:00"}
