"""Hospitals: pre-arrival notices, green-channel admissions, rescue-cost bills.

Other packages use only what is exported here: ``admission_id_for`` (dispatch names the admission its
pre-arrival notice opens), ``HospitalBill`` and ``bill_json`` (a bill as the desks show it; the fund's copy of
a bill has the same fields).
"""
from hospitals.ports import HospitalBill
from hospitals.services import admission_id_for, bill_json

__all__ = ["HospitalBill", "admission_id_for", "bill_json"]
