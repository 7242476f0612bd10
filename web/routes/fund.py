"""The fund administrators' desk: cases, review queue, approve, reject, pay (maker-checker), recovery."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from accidentlink.clock import iso
from fund import commands as C
from fund import services as F
from fund.desk_actions import actions_for
from fund.ports import FundUnitOfWork
from hospitals.services import bill_json
from web.auth import Principal
from web.deps import container, limit_param, mutate, paged, require
from web.errors import NotFound, Unprocessable
from web.paging import MAX_OFFSET, encode_cursor, set_next
from web.strict_json import StrictJsonRoute

router = APIRouter(tags=["rescue fund"], route_class=StrictJsonRoute)  # duplicate keys: 422
admin = require("fund_admin")


def _reading(request: Request) -> FundUnitOfWork:
    return container(request).fund_uow("web", read_only=True)


@router.get("/api/fund/cases", summary="Rescue-fund advance cases, newest first")
def cases(request: Request, limit: int = Depends(limit_param), status: str | None = None,
          p: Principal = Depends(admin)) -> list[dict[str, Any]]:
    now = container(request).clock.now()
    return [F.with_countdown(v, now) for v in paged(request, F.list_cases(C.CasesQuery(limit, status), _reading(request)))]


@router.get("/api/fund/queue", summary="Review queue: cases awaiting decision or payment, searched, filtered and "
                                       "sorted on the server (soonest deadline first); X-Total-Count: how many match")
def queue(request: Request, response: Response, limit: int = Depends(limit_param),
          q: str = Query("", max_length=60, description="part of a case number, incident number or hospital id"),
          status: str | None = Query(None, max_length=30), kind: str | None = Query(None, max_length=30),
          overdue: bool = False, sort: str = Query("deadline", description="deadline, newest, oldest or amount"),
          offset: int = Query(0, ge=0, le=1_000_000), p: Principal = Depends(admin)) -> list[dict[str, Any]]:
    if sort not in F.QUEUE_SORTS:
        raise Unprocessable(f"sort must be one of {', '.join(F.QUEUE_SORTS)}")
    if request.state.page_error is not None:  # a bad limit or cursor (judged after the caller's role)
        raise request.state.page_error
    page = request.state.page  # limit_param: at most 200 an answer, the next page by X-Next-Cursor
    start = offset + page.offset
    items, total = F.review_queue_page(C.QueueQuery(page.limit, q, status, kind, overdue, sort, start),
                                       _reading(request))
    response.headers["X-Total-Count"] = str(total)
    if start + page.limit < total and page.offset + page.limit <= MAX_OFFSET:
        set_next(request, response, encode_cursor(page.route, o=page.offset + page.limit))
    now = container(request).clock.now()
    return [F.with_countdown(v, now) for v in items]


@router.get("/api/fund/cases/{case_id}", summary="One case with its bills, ledger and recovery")
def case(case_id: str, request: Request, p: Principal = Depends(admin)) -> dict[str, Any]:
    try:
        d = F.case_detail(C.CaseQuery(case_id), _reading(request))
    except F.CaseNotFound as e:
        raise NotFound(str(e)) from None
    rec = d.recovery
    view = F.with_countdown(d.case, container(request).clock.now())
    # the fund's copy of a bill (``BillCopy``) has the hospitals' bill fields, so it is shown as they show it
    return {**view, "bills": [bill_json(b) for b in d.bills],
            "actions": actions_for(view, p.actor), "payee": _payee(view),
            "ledger": [{"account": e.account, "account_label": ACCOUNT_LABELS.get(e.account, UNKNOWN_ACCOUNT),
                        "debit_fen": e.debit_fen, "credit_fen": e.credit_fen, "at": iso(e.at),
                        "memo": e.memo} for e in d.ledger],
            "recovery": {"status": rec.status, "amount_fen": rec.amount_fen,
                         "responsible": {"party": rec.responsible_party}} if rec else None}


ACCOUNT_LABELS = {  # fund.ledger's accounts, as a clerk names them
    "fund.bank": {"zh": "基金银行存款", "en": "Fund bank account"},
    "fund.advances": {"zh": "已垫付款（待追偿）", "en": "Advances paid out"},
    "fund.recovery_receivable": {"zh": "应收追偿款", "en": "Recoveries receivable"},
    "fund.written_off": {"zh": "核销的追偿款", "en": "Recoveries written off"},
}
UNKNOWN_ACCOUNT = {"zh": "其他科目", "en": "Other account"}


def _payee(case: dict[str, Any]) -> dict[str, Any]:
    """Who the advance is paid to: the treating hospital's settlement account for rescue costs (办法 2022 [S]), the
    applying relative for funeral costs (masked), from the fund's bank account."""
    if case.get("kind") == "funeral":
        return {"kind": "relative", "name": case.get("victim_ref"), "account": None,
                "from": ACCOUNT_LABELS["fund.bank"]}
    return {"kind": "hospital", "hospital_id": case.get("hospital_id"), "account": None,
            "from": ACCOUNT_LABELS["fund.bank"]}


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
    deceased_id_number: str | None = Field(None, max_length=40, description="the deceased among the parties "
                                           "(routing: whose 交强险 death and disability limit pays first)")


@router.post("/api/fund/funeral-applications", status_code=201,
             summary="A relative's funeral-cost application, taken by the fund office (paid within 3 working days)")
def funeral(body: FuneralBody, request: Request, p: Principal = Depends(admin)) -> Any:
    province = container(request).settings.province
    return _act(request, p, "fund.funeral_application", body.incident_id, lambda uow, now: F.apply_for_funeral_costs(
        C.ApplyForFuneralCosts(body.incident_id, body.amount_fen, body.relative, body.body_disposal_notice, now,
                               deceased_id_number=body.deceased_id_number), uow,
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
