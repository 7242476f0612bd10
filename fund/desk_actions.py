"""What the signed-in clerk may do on a case, and why not, before any dialog opens (issue 15 item 4).

The same rules ``fund.cases`` enforces when the action is sent (approve, reject, pay; maker-checker: whoever
approved never pays), asked in advance so the desk can show an action as unavailable with its reason in the
clerk's language. The server still decides: this only reads the case.
"""
from __future__ import annotations

from typing import Any, Mapping

_WHY = {
    "no_application": ("尚未收到垫付申请，不能审批", "No application has been received yet, so there is nothing to approve"),
    "no_police_notice": ("尚未收到公安机关的书面通知（试行办法第15条），不能审批",
                         "The police's written notice has not arrived (试行办法 15), so it cannot be approved yet"),
    "you_approved_first": ("您已作出第一次审批，需由另一位审批人复核",
                           "You gave the first approval; a different approver must give the second"),
    "not_open": ("案件已审批、驳回或支付，不能再审批或驳回", "The case is already approved, rejected or paid"),
    "not_approved": ("案件尚未审批通过，不能支付", "The case is not approved yet, so it cannot be paid"),
    "you_approved": ("您审批了此案件，支付须由另一人办理（审批与支付分离）",
                     "You approved this case; someone else must pay it (maker-checker)"),
    "paid": ("已支付，不能重复支付", "Already paid; it cannot be paid twice"),
}


def _no(code: str) -> dict[str, Any]:
    zh, en = _WHY[code]
    return {"allowed": False, "code": code, "zh": zh, "en": en}


_YES = {"allowed": True}


def actions_for(case: Mapping[str, Any], actor: str) -> dict[str, dict[str, Any]]:
    """approve / reject / pay: allowed, or the reason why not (zh and en), for ``actor`` on this case view."""
    status = case.get("status")
    first = case.get("first_approval") or {}
    if status == "applied":
        if case.get("kind") == "rescue" and not case.get("police_notified_at"):
            approve = _no("no_police_notice")
        elif first.get("by") == actor:
            approve = _no("you_approved_first")
        else:
            approve = _YES
    elif status in ("opened", "police_notified"):
        approve = _no("no_application")
    else:
        approve = _no("not_open")
    reject = _YES if status in ("opened", "police_notified", "applied") else _no("not_open")
    if status == "paid":
        pay = _no("paid")
    elif status != "approved":
        pay = _no("not_approved")
    elif actor in (case.get("approved_by"), case.get("second_approved_by")):
        pay = _no("you_approved")
    else:
        pay = _YES
    return {"approve": approve, "reject": reject, "pay": pay}
