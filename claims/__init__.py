"""Insurer claims: first notice of loss, quick handling (快处快赔), liability, 交强险 settlement.

Exported for other packages: the 交强险 limit table (the rescue fund routes payers with it).
"""
from claims.limits import CiLimits, ci_limits_on, medical_limit_fen

__all__ = ["CiLimits", "ci_limits_on", "medical_limit_fen"]
