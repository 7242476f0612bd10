"""The dispatch domain's own exceptions (style.md §1: the domain raises its own errors)."""
from __future__ import annotations


class DispatchError(Exception):
    """Base of every error the dispatch domain raises on purpose."""


class NoUnitAvailable(DispatchError):
    """No available unit of ``service`` ("122" police, "120" ambulance) could be found."""

    def __init__(self, service: str, detail: str = "") -> None:
        self.service = service
        self.detail = detail
        label = {"122": "police (122)", "120": "ambulance (120)"}.get(service, service)
        super().__init__(f"no {label} unit available" + (f": {detail}" if detail else ""))


class NoUnitNearby(NoUnitAvailable):
    """No available unit of ``service`` within its reach (``unit_reach_m`` in targets.json): the system
    orders none and the dispatcher decides. ``nearest`` is the nearest free unit beyond the reach as
    ``(unit_id, metres)``, or None when no unit of the service is free at all."""

    def __init__(self, service: str, reach_m: int, nearest: tuple[str, float] | None) -> None:
        self.reach_m = reach_m
        self.nearest = nearest
        far = f"nearest free {nearest[0]} at {nearest[1] / 1000:.1f} km" if nearest else "none free at all"
        super().__init__(service, f"none within {reach_m / 1000:.0f} km ({far})")


class IncidentClosed(DispatchError):
    """An action that needs an open incident was asked of a closed one."""


class UnitNotAvailable(DispatchError):
    """The dispatcher chose a unit that is not available (busy, out of service, unknown)."""


class ServiceBusy(DispatchError):
    """The incident already has an active unit of this service (one per service: reassign it instead)."""


class PatientAboard(DispatchError):
    """Closing would end an ambulance's order while it carries a patient: the dispatcher must confirm."""

    def __init__(self, unit_ids: tuple[str, ...]) -> None:
        self.unit_ids = unit_ids
        super().__init__(f"a patient is still aboard {', '.join(unit_ids)}: confirm to close")


class NoHospitalAvailable(DispatchError):
    """No hospital is known near the incident (a configuration problem: the list is empty)."""

    def __init__(self, detail: str = "") -> None:
        self.detail = detail
        super().__init__("no hospital available" + (f": {detail}" if detail else ""))


class InvalidTransition(DispatchError):
    """A unit status change the lifecycle does not allow (see ``dispatch.lifecycle``)."""

    def __init__(self, old: str, new: str, allowed: tuple[str, ...] = (), reason: str = "") -> None:
        self.old = old
        self.new = new
        self.allowed = allowed
        hint = f" (from {old!r} a unit may go to: {', '.join(allowed)})" if allowed else ""
        hint += f": {reason}" if reason else ""
        super().__init__(f"a unit cannot go from {old!r} to {new!r}{hint}")


class InvalidResources(ValueError):
    """A resources data file (posts, units, hospitals) is malformed; ``str(exc)`` says where."""


class InvalidRules(ValueError):
    """``dispatch/rules/targets.json`` is malformed; ``str(exc)`` says which entry."""
