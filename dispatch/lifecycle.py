"""Unit statuses and the transitions allowed between them.

The status strings are the contract's (``GET /api/units``): available, dispatched, acknowledged,
en_route, on_scene, transporting, at_hospital, out_of_service. The path follows one joint deployment
(公交管〔2020〕161号 [S], domain.md §5): ordered, acknowledged, out, on scene, and for an ambulance
transport to the hospital; any active unit may be stood down (cancel) back to available.
"""
from __future__ import annotations

from enum import Enum
from typing import Mapping

from dispatch.errors import InvalidTransition


class UnitStatus(str, Enum):
    AVAILABLE = "available"
    DISPATCHED = "dispatched"
    ACKNOWLEDGED = "acknowledged"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    TRANSPORTING = "transporting"
    AT_HOSPITAL = "at_hospital"
    OUT_OF_SERVICE = "out_of_service"

    def __str__(self) -> str:
        return self.value


STATUSES: tuple[str, ...] = tuple(s.value for s in UnitStatus)
ACTIVE: frozenset[UnitStatus] = frozenset({
    UnitStatus.DISPATCHED, UnitStatus.ACKNOWLEDGED, UnitStatus.EN_ROUTE,
    UnitStatus.ON_SCENE, UnitStatus.TRANSPORTING, UnitStatus.AT_HOSPITAL,
})

# Forward steps; "available" from any active status (cancel / stood down / job done) is added below.
_FORWARD: Mapping[UnitStatus, frozenset[UnitStatus]] = {
    UnitStatus.AVAILABLE: frozenset({UnitStatus.DISPATCHED, UnitStatus.OUT_OF_SERVICE}),
    UnitStatus.DISPATCHED: frozenset({UnitStatus.ACKNOWLEDGED}),
    UnitStatus.ACKNOWLEDGED: frozenset({UnitStatus.EN_ROUTE}),
    UnitStatus.EN_ROUTE: frozenset({UnitStatus.ON_SCENE}),
    UnitStatus.ON_SCENE: frozenset({UnitStatus.TRANSPORTING}),
    UnitStatus.TRANSPORTING: frozenset({UnitStatus.AT_HOSPITAL}),
    UnitStatus.AT_HOSPITAL: frozenset(),
    UnitStatus.OUT_OF_SERVICE: frozenset({UnitStatus.AVAILABLE}),
}
ALLOWED: Mapping[UnitStatus, frozenset[UnitStatus]] = {
    s: nxt | ({UnitStatus.AVAILABLE} if s in ACTIVE else frozenset()) for s, nxt in _FORWARD.items()
}


def _status(value: str | UnitStatus, old: str, new: str) -> UnitStatus:
    try:
        return UnitStatus(value)
    except ValueError:
        raise InvalidTransition(str(old), str(new), (), reason=f"unknown status {str(value)!r}") from None


def allowed_next(status: str | UnitStatus) -> tuple[str, ...]:
    """The statuses a unit in ``status`` may move to, in lifecycle order."""
    s = UnitStatus(status)
    return tuple(x.value for x in UnitStatus if x in ALLOWED[s])


def check_transition(old: str | UnitStatus, new: str | UnitStatus) -> None:
    """Raise ``InvalidTransition`` unless a unit may go from ``old`` to ``new``; unknown statuses
    and staying put (``old == new``) are invalid too: the caller decides whether a repeat is a no-op."""
    o = _status(old, str(old), str(new))
    n = _status(new, str(old), str(new))
    if n not in ALLOWED[o]:
        raise InvalidTransition(o.value, n.value, allowed_next(o))


def is_available(status: str | UnitStatus) -> bool:
    return UnitStatus(status) is UnitStatus.AVAILABLE
