"""Why a bill is split as it is, in words a hospital, a fund clerk and an insurer read (issue 15 item 3).

The rescue fund's routing (``fund.payer``) gives each split stable reason codes; this is the one table of their
texts, in Chinese and English (``claims.reasons.Reason``), with the rule behind each. A new code needs only a
line here: ``tests/unit/test_bill_reasons.py`` fails while any code routing can give has no text. The desks show
``explain(codes)``, never the codes.
"""
from __future__ import annotations

from typing import Any, Iterable

from claims.reasons import Reason

_TEXTS = (
    Reason("fault_undetermined_assumed_at_fault",
           "责任尚未认定，先按有责计算交强险限额（责任认定后再结算）",
           "Liability is not determined yet, so the 交强险 limit for a driver at fault applies until it is",
           "条例 23 [O]"),
    Reason("ci_within_limit", "在交强险医疗费用限额内，由承保保险公司支付",
           "Within the 交强险 medical limit: the vehicle's insurer pays", "条例 21, 23 [O]"),
    Reason("above_ci_limit", "超出交强险限额的部分，由救助基金垫付抢救费用",
           "The part above the 交强险 limit is advanced by the rescue fund", "条例 24(1) [O]"),
    Reason("ci_limit_used_up", "本起事故的交强险限额已被此前账单用完，保险公司本单不再支付",
           "Earlier bills of this accident used up the 交强险 limit, so the insurer pays nothing on this one",
           "条例 23 [O]"),
    Reason("no_ci", "肇事车辆未投保交强险，保险公司不支付，由救助基金垫付",
           "The vehicle has no 交强险, so no insurer pays; the rescue fund advances the costs", "条例 24(2) [O]"),
    Reason("vehicle_unknown", "肇事车辆尚未查明，没有可支付的保险公司，由救助基金垫付",
           "The vehicle is not identified, so no insurer can pay; the rescue fund advances the costs",
           "条例 24 [O]"),
    Reason("hit_and_run_vehicle_unknown", "肇事逃逸且车辆未查明，没有可支付的保险公司，由救助基金垫付",
           "Hit-and-run with the vehicle not found, so no insurer can pay; the rescue fund advances the costs",
           "条例 24(3) [O]"),
    Reason("hit_and_run_uninsured", "肇事逃逸车辆未投保交强险，保险公司不支付，由救助基金垫付",
           "The hit-and-run vehicle has no 交强险, so no insurer pays; the rescue fund advances the costs",
           "条例 24(2)-(3) [O]"),
    Reason("hit_and_run_insured", "肇事逃逸，但车辆已查明且有交强险，由其保险公司在限额内支付",
           "Hit-and-run, but the vehicle is known and insured: its insurer pays within the limit", "条例 21 [O]"),
    Reason("insurer_advances_then_recovers", "保险公司在限额内先行垫付抢救费用，再向致害人追偿",
           "The insurer advances rescue costs within the limit, then recovers them from the driver",
           "条例 22 [O]"),
    Reason("insurer_pays_no_property_loss", "此情形下保险公司不赔偿财产损失",
           "In this situation the insurer pays no property loss", "条例 22 [O]"),
    Reason("driver_unlicensed", "驾驶人未取得驾驶资格", "The driver had no valid licence", "条例 22(1) [O]"),
    Reason("driver_drunk", "驾驶人醉酒驾驶", "The driver was drunk", "条例 22(1) [O]"),
    Reason("vehicle_stolen", "车辆被盗抢期间肇事", "The vehicle was stolen at the time", "条例 22(2) [O]"),
    Reason("deliberate", "被保险人故意制造事故", "The insured caused the accident on purpose", "条例 22(3) [O]"),
    Reason("property_never_by_fund", "财产损失不属于救助基金垫付范围",
           "The rescue fund never pays property loss", "条例 24 [O]"),
    Reason("non_motor_party", "非机动车一方事故：交强险和救助基金都不支付，由基本医疗保险先行支付",
           "A non-motor party's accident: neither 交强险 nor the fund pays; basic medical insurance pays first",
           "公交管〔2020〕161号 [S]"),
    Reason("outside_rescue_window", "部分费用超出抢救期限（通常72小时），救助基金不垫付该部分",
           "Part of the costs fall outside the rescue window (usually 72 hours); the fund does not advance them",
           "办法 (MoF order 107, 2022) [S]"),
    Reason("above_fund_cash_cap", "救助基金本起事故的垫付上限已用完，超出部分暂无支付方",
           "The fund's cap for this accident is reached; the rest has no payer yet", "办法 (2022) [S]"),
)

TEXTS: dict[str, Reason] = {r.code: r for r in _TEXTS}

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
