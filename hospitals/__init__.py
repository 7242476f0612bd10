"""Hospitals: pre-arrival notices, green-channel admissions, rescue-cost bills.

Exported for dispatch: ``notify_admission`` (the pre-arrival notice when an ambulance is ordered).
"""
from hospitals.services import admission_id_for, notify_admission

__all__ = ["admission_id_for", "notify_admission"]
