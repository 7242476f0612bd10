"""What dispatch texts people: the order a unit's crew reads on its phone.

Unit orders carry no personal data: the place is masked, the casualties are counts.
"""
from __future__ import annotations

from accidentlink.masking import mask_text
from dispatch.records import Incident, Order


def order_text(incident: Incident, order: Order, hospital_name: str | None) -> str:
    """The SMS of one order: what to do, where, who is hurt, how far, where to take them; reply 1."""
    what = "出警" if order.service == "122" else "出车"
    place = mask_text(incident.address) if incident.address else f"{incident.lat:.5f},{incident.lon:.5f}"
    parts = [f"【AccidentLink】{what}指令 {order.order_id}: {place}",
             f"伤{incident.injured} 亡{incident.fatalities}" + (" 有人被困" if "trapped" in incident.hazards else ""),
             f"距离{order.distance_m / 1000:.1f}km 预计{max(1, order.eta_s // 60)}分钟"]
    if hospital_name and order.service == "120":
        parts.append(f"送往{hospital_name}")
    parts.append("回复1确认接单")
    return "，".join(parts)


# ---------------------------------------------------------------- what the dispatcher reads (zh, en)
# Notes and timeline entries carry both: ``text`` (Simplified Chinese, the desk's default) and ``text_en``.
SERVICE_ZH = {"122": "交警", "120": "救护车"}
SERVICE_EN = {"122": "police", "120": "ambulance"}


def _km(m: float) -> str:
    return f"{m / 1000:.1f}"


def no_unit_nearby(service: str, reach_m: int, nearest_name: str | None, nearest_m: int | None) -> tuple[str, str]:
    """No free unit of the service within its reach: nothing ordered, the dispatcher decides."""
    zh = f"附近无可用{SERVICE_ZH[service]}（{_km(reach_m)} 公里内无空闲单位），系统未派单，请调度员决定"
    en = (f"No {SERVICE_EN[service]} unit nearby (none free within {_km(reach_m)} km): nothing ordered, "
          "the dispatcher decides")
    if nearest_name is not None and nearest_m is not None:
        zh += f"；最近的空闲单位 {nearest_name} 距离 {_km(nearest_m)} 公里"
        en += f"; the nearest free unit, {nearest_name}, is {_km(nearest_m)} km away"
    else:
        zh += "；目前没有任何空闲单位"
        en += "; no unit of this service is free at all"
    return zh, en


def escalated(service: str, unit_name: str, timeout_s: int) -> tuple[str, str]:
    return (f"{SERVICE_ZH[service]} {unit_name} 未在 {timeout_s} 秒内确认，改派下一最近单位（升级派单）",
            f"{SERVICE_EN[service].capitalize()} {unit_name} did not acknowledge within {timeout_s} s; "
            "ordering the next nearest unit")


def ack_timeout(timeout_s: int) -> tuple[str, str]:
    return f"{timeout_s} 秒内未确认", f"no acknowledgement within {timeout_s} s"


def reassigned(service: str, by: str, reason: str, unit_name: str | None = None) -> tuple[str, str]:
    why = f"：{reason}" if reason else ""
    why_en = f": {reason}" if reason else ""
    if unit_name:
        return (f"调度员 {by} 将{SERVICE_ZH[service]}改派给 {unit_name}{why}",
                f"Dispatcher {by} reassigned the {SERVICE_EN[service]} to {unit_name}{why_en}")
    return (f"调度员 {by} 改派{SERVICE_ZH[service]}{why}", f"Dispatcher {by} reassigned the {SERVICE_EN[service]}{why_en}")


def released_by_dispatcher(reason: str) -> tuple[str, str]:
    return ("调度员改派" + (f"：{reason}" if reason else ""), "reassigned by the dispatcher" + (f": {reason}" if reason else ""))


def unit_added(service: str, by: str, unit_name: str, distance_m: int, within_reach: bool, reason: str) -> tuple[str, str]:
    far_zh = "" if within_reach else "（超出服务范围，调度员决定）"
    far_en = "" if within_reach else " (beyond its reach: the dispatcher's decision)"
    why, why_en = (f"：{reason}", f": {reason}") if reason else ("", "")
    return (f"调度员 {by} 增派{SERVICE_ZH[service]} {unit_name}，距离 {_km(distance_m)} 公里{far_zh}{why}",
            f"Dispatcher {by} added {SERVICE_EN[service]} {unit_name}, {_km(distance_m)} km away{far_en}{why_en}")


def incident_closed() -> tuple[str, str]:
    return "事故已结案", "incident closed"


def reopened(by: str, reason: str) -> tuple[str, str]:
    return (f"调度员 {by} 重新开启事故" + (f"：{reason}" if reason else ""),
            f"Dispatcher {by} reopened the incident" + (f": {reason}" if reason else ""))


def quick_handling() -> tuple[str, str]:
    return ("轻微事故：无人受伤、车辆可移动、两方以上、无险情、无人逃逸，转线上快处快赔，不派交警和救护车",
            "Minor accident: nobody hurt, vehicles movable, two or more parties, no hazard, nobody fled: "
            "settled online (quick handling), no police or ambulance sent")


def no_hospital() -> tuple[str, str]:
    return "附近没有已知的医院，请调度员指定", "No hospital is known nearby: the dispatcher must choose one"


def patient_aboard(unit_names: list[str]) -> tuple[str, str]:
    names = "、".join(unit_names)
    return (f"救护车 {names} 仍载有患者，确认后才能结案",
            f"A patient is still aboard {', '.join(unit_names)}: confirm before closing")
