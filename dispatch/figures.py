"""Response-time figures of one order against the targets (domain.md §5), for the dispatcher's view."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from dispatch.records import Order
from dispatch.response_times import Timestamps, overdue_steps, response_figures


def order_figures(order: Order, first_reported_at: datetime, now: datetime | None = None) -> dict[str, Any] | None:
    """The order's figures (seconds from the first report and from the order to each step), which
    targets it missed, and with ``now`` what is late right now; None when the unit reported its steps
    out of order (no figures rather than wrong ones)."""
    st = order.status_times
    try:
        ts = Timestamps(service=order.service, intake_at=min(first_reported_at, order.issued_at),
                        ordered_at=order.issued_at, acknowledged_at=st.get("acknowledged"), out_at=st.get("en_route"),
                        on_scene_at=st.get("on_scene"), at_hospital_at=st.get("at_hospital"))
    except ValueError:
        return None
    f = response_figures(ts)
    out: dict[str, Any] = {k: getattr(f, k) for k in (
        "intake_to_order_s", "order_to_ack_s", "order_to_out_s", "order_to_on_scene_s", "intake_to_on_scene_s",
        "on_scene_to_hospital_s", "night")}
    out["overdue"] = [str(o) for o in f.overdue]
    if now is not None and order.state == "active":
        out["overdue_now"] = [str(o) for o in overdue_steps(ts, now)]
    return out
