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
