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
