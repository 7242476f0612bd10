"""Every reason code payer routing emits, with the Chinese and English a person reads and the rule behind it.

``fund.payer`` and the hospitals' re-routing emit only codes listed here (a unit test checks it), so each desk
renders a bill's split in words from this one table (``reason_text``).
"""
from __future__ import annotations

from claims.reasons import Reason

_R = (
    Reason("ci_within_limit", "交强险在责任限额内赔付", "the 交强险 insurer pays within its limit", "条例 21, 23 [O]"),
    Reason("above_ci_limit", "超出交强险限额的部分由救助基金垫付", "the rescue fund advances the costs above the 交强险 limit",
           "条例 24(1) [O]"),
    Reason("ci_limit_used_up", "该车交强险限额已被本事故其他费用用尽", "this vehicle's 交强险 limit is used up by other costs of the accident",
           "条例 23 [O] (limit per accident, shared)"),
    Reason("no_ci", "肇事机动车未投保交强险，救助基金垫付", "the motor vehicle has no 交强险: the rescue fund advances", "条例 24(2) [O]"),
    Reason("vehicle_unknown", "不知道哪辆机动车应负责，救助基金垫付", "no known motor vehicle answers: the rescue fund advances",
           "条例 24 [O]"),
    Reason("hit_and_run_vehicle_unknown", "肇事逃逸且车辆不明，救助基金全额垫付", "hit-and-run, vehicle unknown: the rescue fund advances all",
           "条例 24(3) [O]"),
    Reason("hit_and_run_uninsured", "肇事逃逸车辆未投保交强险或投保情况不明，救助基金垫付",
           "hit-and-run vehicle without known 交强险: the rescue fund advances", "条例 24(2)-(3) [O]"),
    Reason("hit_and_run_insured", "逃逸车辆已查明且有交强险，由其保险公司在限额内赔付",
           "the fleeing vehicle is identified and insured: its insurer pays within the limit", "条例 21, 24 [O]"),
    Reason("insurer_advances_then_recovers", "保险公司在医疗费用限额内垫付后向致害人追偿",
           "the insurer advances within the medical limit, then recovers from the driver", "条例 22 [O]"),
    Reason("driver_unlicensed", "驾驶人无证驾驶", "the driver had no valid licence", "条例 22 [O]"),
    Reason("driver_drunk", "驾驶人醉酒", "the driver was drunk", "条例 22 [O]"),
    Reason("vehicle_stolen", "被盗抢车辆", "the vehicle was stolen", "条例 22 [O]"),
    Reason("deliberate", "被保险人故意制造事故", "the insured caused the crash on purpose", "条例 22(3) [O]"),
    Reason("insurer_pays_no_property_loss", "上述情形保险公司不赔财产损失", "in these situations the insurer pays no property loss",
           "条例 22 [O]"),
    Reason("property_never_by_fund", "救助基金不垫付财产损失", "the rescue fund never pays property loss", "条例 24 [O]"),
    Reason("non_motor_party", "致害方为非机动车或行人，先由基本医疗保险支付",
           "a non-motor party is liable: basic medical insurance pays first", "公交管〔2020〕161号 [S]"),
    Reason("outside_rescue_window", "超出救助期限的费用不由救助基金垫付", "costs outside the rescue window are not advanced by the fund",
           "办法 (MoF order 107, 2022) [S]"),
    Reason("above_fund_cash_cap", "超出本省救助基金垫付上限", "above the province's rescue-fund cap", "provinces.json [S/U]"),
    Reason("fault_undetermined_assumed_at_fault", "责任尚未认定，暂按有责限额分配（临时）",
           "liability not determined yet: split provisionally on the at-fault limit", "domain.md §2 [S]; 程序规定 60 [O]"),
    Reason("insured_at_fault", "已认定该车驾驶人有责，适用有责限额", "the vehicle's driver was found at fault: the at-fault limit applies",
           "程序规定 60 [O]; domain.md §2 [S]"),
    Reason("insured_not_at_fault", "已认定该车驾驶人无责，适用无责限额（医疗1,800元）",
           "the vehicle's driver was found not at fault: the not-at-fault limit applies (medical 1,800 yuan)",
           "程序规定 60 [O]; domain.md §2 [S]"),
    Reason("own_vehicle_not_third_party", "伤者系本车驾驶人或乘车人，本车交强险不赔，由救助基金垫付",
           "the victim drove or rode in this vehicle: its own 交强险 never pays (not a third party); the rescue fund covers",
           "条例 3, 21 [O]; 办法 2022 [S]"),
    Reason("other_vehicle_answers", "由另一方机动车的交强险赔付", "the other motor vehicle's 交强险 answers",
           "条例 3, 21 [O]"),
    Reason("ci_death_disability_first", "死亡伤残费用先由交强险死亡伤残限额赔付",
           "death costs: the 交强险 death and disability limit pays first", "条例 23 [O]; domain.md §2-3"),
    Reason("rerouted_on_liability", "责任认定后重新分配", "split again once liability was determined", "程序规定 60 [O]"),
)
PAYER_REASONS: dict[str, Reason] = {r.code: r for r in _R}


def reason_text(code: str) -> Reason:
    """The reason for a code; an unknown code (a newer routing) reads as itself."""
    return PAYER_REASONS.get(code) or Reason(code, code, code)


def reasons_json(codes: list[str] | tuple[str, ...]) -> list[dict[str, str]]:
    """Codes with their texts, as a desk shows them."""
    return [{"code": r.code, "zh": r.zh, "en": r.en, "source": r.source} for r in map(reason_text, codes)]
