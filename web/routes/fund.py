"""The fund administrators' desk: cases, review queue, approve, reject, pay (maker-checker), recovery."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from accidentlink.clock import iso
from fund import commands as C
from fund import services as F
from fund.ports import FundUnitOfWork
from hospitals.services import bill_json
from web.auth import Principal
from web.strict_json import StrictJsonRoute
from web.deps import container, limit_param, mutate, require
from web.errors import NotFound

router = APIRouter(tags=["rescue fund"], route_class=StrictJsonRoute)  # duplicate keys: 422
admin = require("fund_admin")


def _reading(request: Request) -> FundUnitOfWork:
    return container(request).fund_uow("web", read_only=True)


@router.get("/api/fund/cases", summary="Rescue-fund advance cases, newest first")
def cases(request: Request, limit: int = Depends(limit_param), status: str | None = None,
          p: Principal = Depends(admin)) -> list[dict[str, Any]]:
    return F.list_cases(C.CasesQuery(limit, status), _reading(request))


@router.get("/api/fund/queue", summary="Review queue: cases awaiting decision or payment, oldest deadline first")
def queue(request: Request, limit: int = Depends(limit_param), p: Principal = Depends(admin)) -> list[dict[str, Any]]:
    return F.review_queue(C.QueueQuery(limit), _reading(request))


@router.get("/api/fund/cases/{case_id}", summary="One case with its bills, ledger and recovery")
def case(case_id: str, request: Request, p: Principal = Depends(admin)) -> dict[str, Any]:
    try:
        d = F.case_detail(C.CaseQuery(case_id), _reading(request))
    except F.CaseNotFound as e:
        raise NotFound(str(e)) from None
    rec = d.recovery
    # the fund's copy of a bill (``BillCopy``) has the hospitals' bill fields, so it is shown as they show it
    return {**d.case, "bills": [bill_json(b) for b in d.bills],
            "ledger": [{"account": e.account, "debit_fen": e.debit_fen, "credit_fen": e.credit_fen, "at": iso(e.at),
                        "memo": e.memo} for e in d.ledger],
            "recovery": {"status": rec.status, "amount_fen": rec.amount_fen,
                         "responsible": {"party": rec.responsible_party}} if rec else None}


def _act(request: Request, p: Principal, action: str, target: str,
         use_case: Callable[[FundUnitOfWork, datetime], dict[str, Any]], status: int = 200, **audit_detail: Any) -> Any:
    """One use case in the request's transaction on the fund's store, beside its audit line (``mutate``);
    what it emits is the web process's to relay."""
    c = container(request)
    return mutate(request, p, action, target, lambda s, _c: use_case(c.fund_uow("web", joining=s), c.clock.now()),
                  status, audit_detail, store="fund")


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    amount_fen: StrictInt = Field(gt=0, le=10**12, description="integer fen, at most the eligible amount")
    note: str = Field("", max_length=500)


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    reason: str = Field(min_length=1, max_length=1000)


class PayBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    reference: str | None = Field(None, max_length=100, description="bank transfer reference")


class SolvedBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    driver_ref: str = Field(min_length=1, max_length=200, description="who the police identified (no ID numbers)")


class FuneralBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    incident_id: str = Field(min_length=1, max_length=40)
    amount_fen: StrictInt = Field(gt=0, le=10**12, description="funeral costs in integer fen")
    relative: str = Field(min_length=1, max_length=100, description="the applying relative (masked in views)")
    body_disposal_notice: str = Field(min_length=1, max_length=60, description="police 尸体处理通知书 number")


@router.post("/api/fund/funeral-applications", status_code=201,
             summary="A relative's funeral-cost application, taken by the fund office (paid within 3 working days)")
def funeral(body: FuneralBody, request: Request, p: Principal = Depends(admin)) -> Any:
    province = container(request).settings.province
    return _act(request, p, "fund.funeral_application", body.incident_id, lambda uow, now: F.apply_for_funeral_costs(
        C.ApplyForFuneralCosts(body.incident_id, body.amount_fen, body.relative, body.body_disposal_notice, now), uow,
        province=province), status=201, amount_fen=body.amount_fen)


@router.post("/api/fund/cases/{case_id}/approve", summary="Approve an advance (422 with allowed_fen when above entitlement)")
def approve(case_id: str, body: ApproveBody, request: Request, p: Principal = Depends(admin)) -> Any:
    province = container(request).settings.province
    return _act(request, p, "fund.approve", case_id, lambda uow, now: F.approve_case(
        C.ApproveCase(case_id, body.amount_fen, p.actor, now, note=body.note), uow, province=province),
        amount_fen=body.amount_fen)


@router.post("/api/fund/cases/{case_id}/reject", summary="Reject with written reasons")
def reject(case_id: str, body: RejectBody, request: Request, p: Principal = Depends(admin)) -> Any:
    return _act(request, p, "fund.reject", case_id, lambda uow, now: F.reject_case(
        C.RejectCase(case_id, body.reason, p.actor, now), uow), reason=body.reason)


@router.post("/api/fund/cases/{case_id}/pay", summary="Pay the approved advance: never by its approver, never twice (409)")
def pay(case_id: str, request: Request, body: PayBody | None = None, p: Principal = Depends(admin)) -> Any:
    return _act(request, p, "fund.pay", case_id, lambda uow, now: F.pay_case(C.PayCase(case_id, p.actor, now), uow),
                reference=body.reference if body else None)


@router.post("/api/fund/cases/{case_id}/police-notice", summary="Record the police's written notice (程序规定 42)")
def police_notice(case_id: str, request: Request, p: Principal = Depends(require("dispatcher", "fund_admin"))) -> Any:
    return _act(request, p, "fund.police_notice", case_id,
                lambda uow, now: F.record_police_notice(C.RecordPoliceNotice(case_id, now), uow))


@router.post("/api/fund/cases/{case_id}/hit-and-run-solved", summary="Police identified the fleeing driver (程序规定 48)")
def solved(case_id: str, body: SolvedBody, request: Request, p: Principal = Depends(require("dispatcher"))) -> Any:
    return _act(request, p, "fund.hit_and_run_solved", case_id, lambda uow, now: F.hit_and_run_solved(
        C.RecordHitAndRunSolved(case_id, body.driver_ref, now), uow))
