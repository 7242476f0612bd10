"""The fund administrators' desk: cases, review queue, approve, reject, pay (maker-checker), recovery."""
from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import select

from accidentlink.clock import iso
from connectors.sql.models import FundCaseRow, LedgerEntryRow, RecoveryRow
from fund import services as F
from web.auth import Principal
from web.deps import container, limit_param, mutate, require
from web.errors import NotFound

router = APIRouter(tags=["rescue fund"])
admin = require("fund_admin")


@router.get("/api/fund/cases", summary="Rescue-fund advance cases, newest first")
def cases(request: Request, limit: int = Depends(limit_param), status: str | None = None,
          p: Principal = Depends(admin)) -> list[dict[str, Any]]:
    with container(request).store("fund").read() as s:
        return F.list_cases(s, limit, status)


@router.get("/api/fund/queue", summary="Review queue: cases awaiting decision or payment, oldest deadline first")
def queue(request: Request, limit: int = Depends(limit_param), p: Principal = Depends(admin)) -> list[dict[str, Any]]:
    with container(request).store("fund").read() as s:
        return F.review_queue(s, limit)


@router.get("/api/fund/cases/{case_id}", summary="One case with its bills, ledger and recovery")
def case(case_id: str, request: Request, p: Principal = Depends(admin)) -> dict[str, Any]:
    from hospitals.services import bill_json
    from connectors.sql.models import BillRow

    with container(request).store("fund").read() as s:
        r = s.get(FundCaseRow, case_id)
        if r is None:
            raise NotFound(f"no fund case {case_id}")
        out = F.case_json(s, r)
        out["bills"] = [bill_json(b) for b in s.scalars(select(BillRow).where(BillRow.incident_id == r.incident_id))]
        out["ledger"] = [{"account": e.account, "debit_fen": e.debit_fen, "credit_fen": e.credit_fen, "at": iso(e.at),
                          "memo": e.memo} for e in s.scalars(select(LedgerEntryRow).where(LedgerEntryRow.case_id == case_id))]
        rec = s.get(RecoveryRow, "RC-" + case_id)
        out["recovery"] = {"status": rec.status, "amount_fen": rec.amount_fen, "responsible": rec.responsible} if rec else None
        return out


def _act(request: Request, p: Principal, action: str, case_id: str, fn: Callable[[Any, Any], dict[str, Any]],
         **audit_detail: Any) -> Any:
    return mutate(request, p, action, case_id, fn, audit_detail=audit_detail, store="fund")


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
    return mutate(request, p, "fund.funeral_application", body.incident_id,
                  lambda s, c: F.apply_for_funeral_costs(s, "web", c.topics, body.incident_id, body.amount_fen,
                                                         body.relative, body.body_disposal_notice,
                                                         c.settings.province, c.clock.now()),
                  status=201, audit_detail={"amount_fen": body.amount_fen}, store="fund")


@router.post("/api/fund/cases/{case_id}/approve", summary="Approve an advance (422 with allowed_fen when above entitlement)")
def approve(case_id: str, body: ApproveBody, request: Request, p: Principal = Depends(admin)) -> Any:
    return _act(request, p, "fund.approve", case_id, lambda s, c: F.approve_case(
        s, "web", c.topics, case_id, body.amount_fen, body.note, p.actor, c.settings.province, c.clock.now()),
        amount_fen=body.amount_fen)


@router.post("/api/fund/cases/{case_id}/reject", summary="Reject with written reasons")
def reject(case_id: str, body: RejectBody, request: Request, p: Principal = Depends(admin)) -> Any:
    return _act(request, p, "fund.reject", case_id, lambda s, c: F.reject_case(
        s, "web", c.topics, case_id, body.reason, p.actor, c.clock.now()), reason=body.reason)


@router.post("/api/fund/cases/{case_id}/pay", summary="Pay the approved advance: never by its approver, never twice (409)")
def pay(case_id: str, request: Request, body: PayBody | None = None, p: Principal = Depends(admin)) -> Any:
    return _act(request, p, "fund.pay", case_id, lambda s, c: F.pay_case(s, "web", c.topics, case_id, p.actor, c.clock.now()),
                reference=body.reference if body else None)


@router.post("/api/fund/cases/{case_id}/police-notice", summary="Record the police's written notice (程序规定 42)")
def police_notice(case_id: str, request: Request, p: Principal = Depends(require("dispatcher", "fund_admin"))) -> Any:
    return _act(request, p, "fund.police_notice", case_id,
                lambda s, c: F.notice_from_police(s, "web", c.topics, case_id, c.clock.now()))


@router.post("/api/fund/cases/{case_id}/hit-and-run-solved", summary="Police identified the fleeing driver (程序规定 48)")
def solved(case_id: str, body: SolvedBody, request: Request, p: Principal = Depends(require("dispatcher"))) -> Any:
    return _act(request, p, "fund.hit_and_run_solved", case_id,
                lambda s, c: F.hit_and_run_solved(s, "web", c.topics, case_id, body.driver_ref, c.clock.now()))
