"""Quick handling of minor accidents (快处快赔): may this crash be settled online, or must the police come?

Eligible online ("人未伤、车能动", domain.md §4 [S]): two or more motor vehicles, property loss only,
vehicles movable, valid licences, every vehicle with 交强险. Everything else carries a reason the
dispatcher reads, with its action:

- ``call_police``: 道路交通事故处理程序规定 13 [O] (injury or death, licence, alcohol or drugs,
  overloading or speeding, plates, a vehicle cannot move, a party left, a deliberate crash) and the
  hazards a dispatcher must send someone to (fire, dangerous goods, a person trapped);
- ``report_after_moving``: 程序规定 14 [O] (no inspection or insurance sticker, hit a building or
  a public facility): move the vehicles, then report to the police; not an online case;
- ``offline``: outside the online flow (a single vehicle, a non-motor party).

Facts the report schema does not carry (drugs, overloading, forged plates, a deliberate crash, a
missing sticker, a hit facility) come in as keyword arguments, set by whoever learned them.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from accidentlink import vehicles
from accidentlink.reports import AccidentReport, Party
from claims.reasons import Reason

CALL_POLICE = "call_police"
REPORT_AFTER_MOVING = "report_after_moving"
OFFLINE = "offline"

_P13 = "程序规定 13 [O]"
_P14 = "程序规定 14 [O]"
_ELIG = "domain.md §4 [S] (人未伤、车能动)"

# code -> (action, zh, en, source); ``{who}`` is the vehicle's plate (plates are not personal data).
_CATALOGUE: dict[str, tuple[str, str, str, str]] = {
    "casualties": (CALL_POLICE, "有人员伤亡（伤{injured}人，亡{fatalities}人），须报警",
                   "someone is injured or dead ({injured} injured, {fatalities} dead): call the police", _P13),
    "person_trapped": (CALL_POLICE, "有人员被困，须报警并派救护车", "a person is trapped: call the police and send an ambulance", _P13),
    "hazard_fire": (CALL_POLICE, "车辆起火，须报警", "a vehicle is on fire: call the police", _P13),
    "hazard_hazmat": (CALL_POLICE, "涉及危险物品或泄漏，须报警", "dangerous goods or a leak are involved: call the police", _P13),
    "vehicle_cannot_move": (CALL_POLICE, "车辆不能移动，须报警", "a vehicle cannot be moved: call the police", _P13),
    "party_left": (CALL_POLICE, "一方当事人已离开现场（逃逸），须报警", "a party has left the scene (hit-and-run): call the police", _P13),
    "no_valid_licence": (CALL_POLICE, "{who} 驾驶人无有效驾驶证或准驾车型不符，须报警",
                         "{who}: the driver has no valid licence or one for another class of vehicle: call the police", _P13),
    "suspected_alcohol": (CALL_POLICE, "{who} 驾驶人有饮酒嫌疑，须报警", "{who}: the driver is suspected of drinking: call the police", _P13),
    "suspected_drugs": (CALL_POLICE, "驾驶人有服用管制药品嫌疑，须报警", "a driver is suspected of taking controlled drugs: call the police", _P13),
    "overloading_or_speeding": (CALL_POLICE, "车辆严重超载或超速，须报警", "a vehicle was seriously overloaded or speeding: call the police", _P13),
    "no_plate": (CALL_POLICE, "有机动车无号牌，须报警", "a motor vehicle has no number plate: call the police", _P13),
    "forged_plate": (CALL_POLICE, "有机动车使用伪造、变造号牌，须报警", "a motor vehicle has forged or altered plates: call the police", _P13),
    "deliberate": (CALL_POLICE, "有证据表明事故系故意造成，须报警", "there is evidence the crash was deliberate: call the police", _P13),
    "vehicle_stolen": (CALL_POLICE, "{who} 车辆系被盗抢车辆，须报警", "{who}: the vehicle is stolen: call the police",
                       _P13 + "; 条例 22 [O]"),
    "no_compulsory_insurance": (REPORT_AFTER_MOVING, "{who} 未投保交强险（无保险标志），撤离现场后报警",
                                "{who}: the vehicle has no compulsory insurance (交强险): move, then report to the police",
                                _P14 + "; " + _ELIG),
    "no_inspection_sticker": (REPORT_AFTER_MOVING, "有车辆无检验合格标志，撤离现场后报警",
                              "a vehicle has no inspection sticker: move, then report to the police", _P14),
    "hit_building_or_facility": (REPORT_AFTER_MOVING, "碰撞建筑物、公共设施，撤离现场后报警",
                                 "a building or public facility was hit: move, then report to the police", _P14),
    "non_motor_party": (OFFLINE, "有非机动车或行人当事人，不适用线上快处", "a cyclist or pedestrian is involved: not an online quick-handling case", _ELIG),
    "fewer_than_two_vehicles": (OFFLINE, "线上快处需两辆及以上机动车（本次{count}辆）",
                                "online quick handling needs two or more motor vehicles ({count} here)", _ELIG),
}
ACTION_ORDER = (CALL_POLICE, REPORT_AFTER_MOVING, OFFLINE)


@dataclass(frozen=True)
class QuickReason(Reason):
    action: str = CALL_POLICE


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reasons: list[QuickReason] = field(default_factory=list)

    @property
    def must_call_police(self) -> bool:
        return any(r.action == CALL_POLICE for r in self.reasons)

    @property
    def codes(self) -> list[str]:
        return [r.code for r in self.reasons]


def reason(code: str, **fmt: object) -> QuickReason:
    action, zh, en, source = _CATALOGUE[code]
    return QuickReason(code=code, zh=zh.format(**fmt), en=en.format(**fmt), source=source, action=action)


def non_motor_vehicle_types() -> frozenset[str]:
    """The one list every context reads (``accidentlink/rules/vehicle_types.json``)."""
    return vehicles.non_motor_types()


def is_non_motor(party: Party) -> bool:
    """A cyclist, a pedestrian or a non-motor vehicle, plate or not (``accidentlink.vehicles``)."""
    return vehicles.role_of(party) in (vehicles.PEDESTRIAN, vehicles.CYCLIST) or vehicles.is_non_motor_type(party.vehicle_type)


def _plate(party: Party) -> str | None:
    return party.plate.strip().upper() if party.plate and party.plate.strip() else None


def check_quick_handling(
    report: AccidentReport,
    *,
    suspected_drugs: bool = False,
    overloading_or_speeding: bool = False,
    forged_plate: bool = False,
    deliberate: bool = False,
    no_inspection_sticker: bool = False,
    hit_building_or_facility: bool = False,
) -> Eligibility:
    """May the parties settle online (快处快赔)? 程序规定 13, 14 [O]; eligibility domain.md §4 [S]."""
    found: list[QuickReason] = []
    if report.injured > 0 or report.fatalities > 0:
        found.append(reason("casualties", injured=report.injured, fatalities=report.fatalities))
    if "trapped" in report.hazards:
        found.append(reason("person_trapped"))
    if "fire" in report.hazards:
        found.append(reason("hazard_fire"))
    if "hazmat" in report.hazards:
        found.append(reason("hazard_hazmat"))
    if not report.vehicles_movable:
        found.append(reason("vehicle_cannot_move"))
    if report.hit_and_run:
        found.append(reason("party_left"))

    motor: list[Party] = []
    non_motor = unplated = False
    for party in report.parties:
        if vehicles.role_of(party) == vehicles.OCCUPANT:
            continue  # a person in a vehicle another party stands for
        if is_non_motor(party):
            non_motor = True
            continue
        if _plate(party) is None:
            unplated = True  # a motor vehicle, or an unidentified one: either way not settled online
            continue
        motor.append(party)
    if unplated:
        found.append(reason("no_plate"))
    for party in motor:
        who = _plate(party)
        if party.licensed is False:
            found.append(reason("no_valid_licence", who=who))
        if party.drunk:
            found.append(reason("suspected_alcohol", who=who))
        if party.vehicle_stolen:
            found.append(reason("vehicle_stolen", who=who))
        if not party.has_ci:
            found.append(reason("no_compulsory_insurance", who=who))
    for flag, code in ((suspected_drugs, "suspected_drugs"), (overloading_or_speeding, "overloading_or_speeding"),
                       (forged_plate, "forged_plate"), (deliberate, "deliberate"),
                       (no_inspection_sticker, "no_inspection_sticker"),
                       (hit_building_or_facility, "hit_building_or_facility")):
        if flag:
            found.append(reason(code))
    if non_motor:
        found.append(reason("non_motor_party"))
    if len({_plate(p) for p in motor}) < 2:
        found.append(reason("fewer_than_two_vehicles", count=len({_plate(p) for p in motor})))
    found.sort(key=lambda r: ACTION_ORDER.index(r.action))  # stable: police reasons first
    return Eligibility(eligible=not found, reasons=found)


# ---------------------------------------------------------------- each party's answer about its OWN vehicle
# "Both drivers ticked 追尾的" gave equal liability: a situation ticked from a shared list does not say whose
# behaviour it describes. So each party answers for its own vehicle only ("我的车辆：…", as the 12123 app asks),
# each answer maps to the region's standard situations, and the two answers are checked against each other.
WAITING, SETTLED, CONTRADICTION, POLICE = "waiting", "settled", "contradiction", "police"


@dataclass(frozen=True)
class OwnAnswer:
    """One answer a party may give about its own vehicle (rules/quick_handling.json ``own_vehicle``)."""

    code: str
    zh: str
    en: str
    motion: str                          # stationary, forward, backward, unknown
    situations: tuple[str, ...] | None   # the region table's codes; None: the table cannot tell (police)
    hits_front: bool = False
    regions: tuple[str, ...] = ()        # only offered in these regions (empty: everywhere)


@dataclass(frozen=True)
class AnswerAssessment:
    """What the two answers mean before anyone signs: still waiting for an answer, a settled share per plate,
    answers that contradict each other (a dispute), or a case the table cannot settle (the police decide)."""

    state: str
    shares: dict[str, str] = field(default_factory=dict)
    reason: Reason | None = None

    @property
    def needs_police(self) -> bool:
        return self.state in (CONTRADICTION, POLICE)


def _rules() -> dict:
    return json.loads(resources.files("claims").joinpath("rules/quick_handling.json").read_text("utf-8"))


@lru_cache(maxsize=1)
def _own_vehicle_rules() -> tuple[tuple[OwnAnswer, ...], dict[str, tuple[str, str]], str]:
    doc = _rules()["own_vehicle"]
    answers = tuple(OwnAnswer(a["code"], a["zh"], a["en"], a["motion"],
                              None if a["situations"] is None else tuple(a["situations"]),
                              bool(a.get("hits_front")), tuple(a.get("regions") or ())) for a in doc["answers"])
    contra = {k: (v["zh"], v["en"]) for k, v in doc["contradictions"].items() if isinstance(v, dict)}
    return answers, contra, doc["contradictions"]["source"]


def own_vehicle_answers(region: str) -> tuple[OwnAnswer, ...]:
    """The answers offered in the region: those whose situations its liability table lists."""
    from claims.liability import liability_table

    table = liability_table(region)
    return tuple(a for a in _own_vehicle_rules()[0]
                 if (not a.regions or table.region in a.regions)
                 and all(table.lookup(s) is not None for s in (a.situations or ())))


def own_answer(code: str) -> OwnAnswer | None:
    return next((a for a in _own_vehicle_rules()[0] if a.code == code), None)


@lru_cache(maxsize=1)
def after_signing_notice() -> dict[str, str]:
    """How to object before signing and what to do after (程序规定 20 [O]; 道路交通安全法 74 [O])."""
    doc = _rules()["after_signing"]
    return {"zh": doc["zh"], "en": doc["en"], "source": doc["source"]}


def _contradiction(code: str) -> Reason:
    _, contra, source = _own_vehicle_rules()
    zh, en = contra[code]
    return Reason(code=f"answers_contradict:{code}", zh=f"双方回答相互矛盾：{zh}，请交警在线认定",
                  en=f"the answers contradict each other: {en}; the police decide online", source=source)


def assess_answers(region: str, answers: Mapping[str, str | None]) -> AnswerAssessment:
    """The liability two parties' answers about their own vehicles lead to (程序规定 60 [O]; local lists [S]),
    or why they cannot settle it: a missing answer (waiting), answers that cannot both be true (a dispute),
    an answer the table cannot weigh or a case of other than two vehicles (the police, 程序规定 20 [O]).
    ``answers``: plate -> answer code (None: not answered yet)."""
    from claims.liability import determine_liability

    if any(not code for code in answers.values()):
        return AnswerAssessment(WAITING)
    offered = {a.code: a for a in own_vehicle_answers(region)}
    unknown = sorted(c for c in answers.values() if c not in offered)
    if unknown:
        return AnswerAssessment(POLICE, reason=Reason(
            "unknown_answer", f"回答 {', '.join(unknown)} 不在本地列表中，请交警在线认定",
            f"answer(s) {', '.join(unknown)} not in the local list: the police decide online", "程序规定 20 [O]"))
    picked = {plate: offered[code] for plate, code in answers.items()}
    if len(picked) == 2:
        a, b = picked.values()
        doors = "door_opening" in (a.situations or ()) + (b.situations or ())
        if a.motion == b.motion == "stationary" and not doors:  # a door opened into a standing car is possible
            return AnswerAssessment(CONTRADICTION, reason=_contradiction("both_stationary"))
        if a.hits_front and b.hits_front:
            return AnswerAssessment(CONTRADICTION, reason=_contradiction("both_hit_front"))
        if a.situations == b.situations == ():
            return AnswerAssessment(CONTRADICTION, reason=_contradiction("nobody_at_fault"))
    if any(a.situations is None for a in picked.values()):
        return AnswerAssessment(POLICE, reason=Reason(
            "answer_other", "有一方的回答是“其他”，责任表无法认定，请交警在线认定",
            "a party answered 'something else': the table cannot settle it; the police decide online",
            "程序规定 20 [O]"))
    outcome = determine_liability(region, {plate: a.situations or () for plate, a in picked.items()})
    if outcome.settled and not outcome.needs_police:
        return AnswerAssessment(SETTLED, dict(outcome.shares), outcome.reason)
    return AnswerAssessment(POLICE, reason=outcome.reason)
