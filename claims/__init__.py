"""Insurer claims: first notice of loss, quick handling (快处快赔), liability, 交强险 settlement.

Exported for other packages: the 交强险 limit table (the rescue fund routes payers with it), the
quick-handling check (dispatch shows its reasons), and the claim-facing rules below.
"""
from claims.limits import CiLimits, ci_limits_on, medical_limit_fen
from claims.quick import Eligibility, QuickReason, check_quick_handling
from claims.liability import LiabilityOutcome, determine_liability, load_liability_tables
from claims.settlement import CiSettlement, DirectPayment, ci_settlement, hospital_direct_payment, knock_for_knock_applies
from claims.deadlines import ClaimTimestamps, claim_deadlines, overdue
from claims.lifecycle import Claim, InvalidClaimTransition
from claims.fraud import FraudFlag, duplicate_flags

__all__ = [
    "CiLimits", "ci_limits_on", "medical_limit_fen",
    "Eligibility", "QuickReason", "check_quick_handling",
    "LiabilityOutcome", "determine_liability", "load_liability_tables",
    "CiSettlement", "DirectPayment", "ci_settlement", "hospital_direct_payment", "knock_for_knock_applies",
    "ClaimTimestamps", "claim_deadlines", "overdue",
    "Claim", "InvalidClaimTransition",
    "FraudFlag", "duplicate_flags",
]
