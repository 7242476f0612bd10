"""Every reason code payer routing emits, with the Chinese and English a person reads and the rule behind it.

``fund.payer`` and the hospitals' re-routing emit only codes listed here (a unit test checks it), so each desk
renders a bill's split in words from this one table (``reason_text``).
"""
from __future__ import annotations

from claims.reasons import Reason

_R = (
    Reason("ci_within_limit", "在交强险医疗费用限额内，由承保保险公司支付",
           "Within the 交强险 medical limit: the vehicle's insurer pays",
           "条例 21, 23 [O]"),
    Reason("above_ci_limit", "超出交强险限额的部分，由救助基金垫付抢救费用",
           "The part above the 交强险 limit is advanced by the rescue fund",
           "条例 24(1) [O]"),
    Reason("ci_limit_used_up", "本起事故的交强险限额已被此前账单用完，保险公司本单不再支付",
           "Earlier bills of this accident used up the 交强险 limit, so the insurer pays nothing on this one",
           "条例 23 [O]"),
    Reason("no_ci", "肇事车辆未投保交强险，保险公司不支付，由救助基金垫付",
           "The vehicle has no 交强险, so no insurer pays; the rescue fund advances the costs",
           "条例 24(2) [O]"),
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
           "Hit-and-run, but the vehicle is known and insured: its insurer pays within the limit",
           "条例 21 [O]"),
    Reason("insurer_advances_then_recovers", "保险公司在限额内先行垫付抢救费用，再向致害人追偿",
           "The insurer advances rescue costs within the limit, then recovers them from the driver",
           "条例 22 [O]"),
    Reason("driver_unlicensed", "驾驶人未取得驾驶资格",
           "The driver had no valid licence",
           "条例 22(1) [O]"),
    Reason("driver_drunk", "驾驶人醉酒驾驶",
           "The driver was drunk",
           "条例 22(1) [O]"),
    Reason("vehicle_stolen", "车辆被盗抢期间肇事",
           "The vehicle was stolen at the time",
           "条例 22(2) [O]"),
    Reason("deliberate", "被保险人故意制造事故",
           "The insured caused the accident on purpose",
           "条例 22(3) [O]"),
    Reason("insurer_pays_no_property_loss", "此情形下保险公司不赔偿财产损失",
           "In this situation the insurer pays no property loss",
           "条例 22 [O]"),
    Reason("property_never_by_fund", "财产损失不属于救助基金垫付范围",
           "The rescue fund never pays property loss",
           "条例 24 [O]"),
    Reason("non_motor_party", "非机动车一方事故：交强险和救助基金都不支付，由基本医疗保险先行支付",
           "A non-motor party's accident: neither 交强险 nor the fund pays; basic medical insurance pays first",
           "公交管〔2020〕161号 [S]"),
    Reason("outside_rescue_window", "部分费用超出抢救期限（通常72小时），救助基金不垫付该部分",
           "Part of the costs fall outside the rescue window (usually 72 hours); the fund does not advance them",
           "办法 (MoF order 107, 2022) [S]"),
    Reason("above_fund_cash_cap", "救助基金本起事故的垫付上限已用完，超出部分暂无支付方",
           "The fund's cap for this accident is reached; the rest has no payer yet",
           "办法 (2022) [S]"),
    Reason("fault_undetermined_assumed_at_fault", "责任尚未认定，先按有责计算交强险限额（责任认定后再结算）",
           "Liability is not determined yet, so the 交强险 limit for a driver at fault applies until it is",
           "条例 23 [O]"),
    Reason("insured_at_fault", "已认定该车驾驶人有责，适用有责限额",
           "the vehicle's driver was found at fault: the at-fault limit applies",
           "程序规定 60 [O]; domain.md §2 [S]"),
    Reason("insured_not_at_fault", "已认定该车驾驶人无责，适用无责限额（医疗1,800元）",
           "the vehicle's driver was found not at fault: the not-at-fault limit applies (medical 1,800 yuan)",
           "程序规定 60 [O]; domain.md §2 [S]"),
    Reason("own_vehicle_not_third_party", "伤者系本车驾驶人或乘车人，本车交强险不赔，由救助基金垫付",
           "the victim drove or rode in this vehicle: its own 交强险 never pays (not a third party); the rescue fund covers",
           "条例 3, 21 [O]; 办法 2022 [S]"),
    Reason("other_vehicle_answers", "由另一方机动车的交强险赔付",
           "the other motor vehicle's 交强险 answers",
           "条例 3, 21 [O]"),
    Reason("ci_death_disability_first", "死亡伤残费用先由交强险死亡伤残限额赔付",
           "death costs: the 交强险 death and disability limit pays first",
           "条例 23 [O]; domain.md §2-3"),
    Reason("rerouted_on_liability", "责任认定后重新分配",
           "split again once liability was determined",
           "程序规定 60 [O]"),
)
PAYER_REASONS: dict[str, Reason] = {r.code: r for r in _R}


def reason_text(code: str) -> Reason:
    """The reason for a code; an unknown code (a newer routing) reads as itself."""
    return PAYER_REASONS.get(code) or Reason(code, code, code)


def reasons_json(codes: list[str] | tuple[str, ...]) -> list[dict[str, str]]:
    """Codes with their texts, as a desk shows them."""
    return [{"code": r.code, "zh": r.zh, "en": r.en, "source": r.source} for r in map(reason_text, codes)]
