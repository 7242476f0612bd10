"""Why a bill is split as it is, in words a hospital, a fund clerk and an insurer read (issue 15 item 3).

The rescue fund's routing (``fund.payer``) gives each split stable reason codes; their one table of
texts is ``fund.payer_reasons``, in Chinese and English (``claims.reasons.Reason``), with the rule behind each. A new code needs only a
line here: ``tests/unit/test_bill_reasons.py`` fails while any code routing can give has no text. The desks show
``explain(codes)``, never the codes.
"""
from __future__ import annotations

from typing import Any, Iterable

from claims.reasons import Reason
from fund.payer_reasons import PAYER_REASONS

# the one table of texts is routing's own (fund.payer_reasons): a code and its words live side by side
TEXTS: dict[str, Reason] = PAYER_REASONS

# routing's codes that say why the insurer pays nothing on a bill (the first found heads the explanation)
INSURER_PAYS_NOTHING = ("non_motor_party", "no_ci", "vehicle_unknown", "hit_and_run_vehicle_unknown",
                        "hit_and_run_uninsured", "ci_limit_used_up", "insurer_pays_no_property_loss")

UNKNOWN = Reason("", "另有一条分担规则适用（请联系平台管理员补充说明）",
                 "A further routing rule applies (ask the platform administrator to describe it)")


def explain(codes: Iterable[str]) -> list[dict[str, Any]]:
    """Each reason of a split in both languages, in routing's order; a code without a text reads as a rule not
    yet described (never the code itself)."""
    out = []
    for code in codes:
        r = TEXTS.get(str(code), UNKNOWN)
        out.append({"code": str(code), "zh": r.zh, "en": r.en, "source": r.source})
    return out


def why_insurer_pays_nothing(codes: Iterable[str]) -> dict[str, str] | None:
    """When no insurer pays, the reason that says why (None when an insurer pays or no reason says why)."""
    codes = [str(c) for c in codes]
    for code in INSURER_PAYS_NOTHING:
        if code in codes:
            return {"code": code, "zh": TEXTS[code].zh, "en": TEXTS[code].en}
    return None
