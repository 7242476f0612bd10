"""Hospitals: the green-channel queue, confirmation, rescue-cost bills. A hospital sees only its own."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from hospitals import commands as C
from hospitals import services as H
from web.auth import Principal
from web.deps import audit, audit_read, container, idempotent, limit_param, paged, require
from web.strict_json import StrictJsonRoute
from web.errors import Forbidden, from_domain

router = APIRouter(tags=["hospitals"], route_class=StrictJsonRoute)  # duplicate keys: 422
hospital = require("hospital")


def _scope(p: Principal, hospital_id: str) -> None:
    if p.hospital_id != hospital_id:
        raise Forbidden("this token is bound to another hospital")


@router.get("/api/hospitals/{hospital_id}/admissions", summary="The hospital's green-channel queue, newest first")
def admissions(hospital_id: str, request: Request, limit: int = Depends(limit_param), status: str | None = None,
               p: Principal = Depends(hospital)) -> list[dict[str, Any]]:
    _scope(p, hospital_id)
    return paged(request, H.list_admissions(C.AdmissionsQuery(hospital_id, limit, status),
                                            container(request).hospitals_uow("web", read_only=True)))


@router.get("/api/hospitals/{hospital_id}/admissions/{admission_id}/people",
            summary="The people the admission's incident names, in full, for the hospital's own patient (audited)")
def people(hospital_id: str, admission_id: str, request: Request, p: Principal = Depends(hospital)) -> dict[str, Any]:
    """A hospital needs its patient's full identity (README, "Personal data"): its own admissions only, and
    each read is a ``personal_data.read`` line in the hospitals store's audit trail."""
    _scope(p, hospital_id)
    c = container(request)
    try:
        with c.store("hospitals").uow() as tx:
            out = H.admission_people(C.PeopleQuery(hospital_id, admission_id), c.hospitals_uow("web", joining=tx.session))
            audit_read(c, tx.session, p, admission_id, incident_id=out["incident_id"], people=len(out["people"]))
            tx.commit()
    except Exception as e:
        raise from_domain(e) from None
    return out


@router.post("/api/hospitals/{hospital_id}/admissions/{admission_id}/confirm",
             summary="Confirm green-channel admission (treatment started); a second confirm changes nothing")
def confirm(hospital_id: str, admission_id: str, request: Request, p: Principal = Depends(hospital)) -> Any:
    _scope(p, hospital_id)
    c = container(request)

    def run() -> tuple[int, Any]:
        try:
            with c.store("hospitals").uow() as tx:  # the audit line in the same transaction, when it changed
                body, changed = H.confirm_admission(C.ConfirmAdmission(hospital_id, admission_id, p.actor, c.clock.now()),
                                                    c.hospitals_uow("web", joining=tx.session))
                if changed:
                    audit(c, tx.session, p, "admission.confirm", admission_id)
                tx.commit()
        except Exception as e:
            raise from_domain(e) from None
        return 200, {**body, "changed": changed}

    return idempotent(request, p, run)


class BillItemBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    amount_fen: StrictInt = Field(ge=0, le=10**12)
    incurred_at: str | None = None
    description: str = Field("", max_length=200)


class BillBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    amount_fen: StrictInt = Field(gt=0, le=10**12, description="integer fen")
    rescue_started_at: str = Field(description="ISO 8601 with offset")
    items: list[BillItemBody] = Field(default_factory=list, max_length=500)
    vehicle_plate: str | None = Field(None, max_length=20, description="the vehicle whose 交强险 answers (default: the first listed)")
    window_extended: StrictBool = Field(False, description="the hospital gave written reasons for costs beyond the window")
    invoice_number: str | None = Field(None, min_length=1, max_length=60, description=(
        "the hospital's invoice number: the bill's natural key, unique per hospital (the same number and body "
        "again returns the existing bill, 200; another body, 409). Without one, the admission and the bill's "
        "content are its key: the same bill sent twice is recorded and paid once"))
    patient_id_number: str | None = Field(None, max_length=40, description="the patient among the incident's parties: "
                                          "routing uses who the victim is and which vehicle carried them")


@router.post("/api/hospitals/{hospital_id}/admissions/{admission_id}/bills", status_code=201,
             summary="Record a rescue-cost bill in fen; the answer shows who pays what",
             responses={200: {"description": "this bill was recorded already (same invoice number or content): "
                                             "the existing bill, nothing recorded twice"},
                        409: {"description": "the invoice number was billed with other content"}})
def bill(hospital_id: str, admission_id: str, body: BillBody, request: Request, p: Principal = Depends(hospital)) -> Any:
    _scope(p, hospital_id)
    c = container(request)

    def run() -> tuple[int, Any]:
        """The use case in one transaction on the hospitals' store, beside its audit line; the bill's message is
        the web process's to relay. A bill recorded before is answered as it stands (200), with no audit line."""
        try:
            with c.store("hospitals").uow() as tx:
                cmd = H.bill_command(hospital_id, admission_id, body.model_dump(), p.actor, c.clock.now())
                out = H.record_bill(cmd, c.hospitals_uow("web", joining=tx.session), province=c.settings.province)
                existing = bool(out.pop("existing", False))
                if not existing:
                    audit(c, tx.session, p, "bill.record", admission_id, amount_fen=body.amount_fen,
                          invoice_number=body.invoice_number)
                tx.commit()
        except Exception as e:
            raise from_domain(e) from None
        request.app.state.relay_notify()
        return (200 if existing else 201), out

    return idempotent(request, p, run)
