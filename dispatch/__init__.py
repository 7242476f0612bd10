"""dispatch: joint 120/122 dispatch - units, choosing units and the hospital, statuses, response times.

Pure domain: imports nothing from faust, kafka, sqlalchemy, fastapi, twilio or geopy. The spatial
index and geocoder that satisfy its ports live in ``connectors.geo``.
"""
from dispatch.choose import (
    DispatchPlan,
    IncidentFacts,
    UnitOrder,
    is_minor,
    next_candidate,
    plan_dispatch,
    police_reasons,
    serious_reasons,
)
from dispatch.errors import (
    DispatchError,
    InvalidResources,
    InvalidRules,
    InvalidTransition,
    NoHospitalAvailable,
    NoUnitAvailable,
)
from dispatch.lifecycle import STATUSES, UnitStatus, allowed_next, check_transition, is_available
from dispatch.ports import Geocoder, HospitalLocator, StraightLineTravelTime, TravelTime, UnitLocator
from dispatch.resources import Hospital, Post, Resources, Unit, load_resources
from dispatch.response_times import (
    Overdue,
    ResponseFigures,
    Timestamps,
    is_night,
    overdue_steps,
    response_figures,
)
from dispatch.targets import Targets, default_targets, load_targets

__all__ = [
    "DispatchError", "DispatchPlan", "Geocoder", "Hospital", "HospitalLocator", "IncidentFacts",
    "InvalidResources", "InvalidRules", "InvalidTransition", "NoHospitalAvailable", "NoUnitAvailable",
    "Overdue", "Post", "Resources", "ResponseFigures", "STATUSES", "StraightLineTravelTime", "Targets",
    "Timestamps", "TravelTime", "Unit", "UnitLocator", "UnitOrder", "UnitStatus", "allowed_next",
    "check_transition", "default_targets", "is_available", "is_minor", "is_night", "load_resources",
    "load_targets", "next_candidate", "overdue_steps", "plan_dispatch", "police_reasons",
    "response_figures", "serious_reasons",
]
