"""Insurers' desk: their own claims only; the steps of 条例 27-29; routing of unknown insurer codes."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from claims import commands as K
from claims import services as C
from claims.ports import ClaimsUnitOfWork
from web.auth import Principal
from web.strict_json import StrictJsonRoute
from web.deps import container, limit_param, mutate, require
from web.errors import from_domain

router = APIRouter(tags=["claims"], route_class=StrictJsonRoute)  # duplicate keys: 422
insurer = require("insurer")


def reading(request: Request) -> ClaimsUnitOfWork:
    return container(request).claims_uow("web", read_only=True)


def acting(request: Request, p: Principal, action: str, target: str,
           use_case: Callable[[ClaimsUnitOfWork, datetime], Any], audit_detail: dict[str, Any]) -> Any:
    """One use case in the request's transaction on the claims store, beside its audit line (``mutate``); what it
    emits is the web process's to relay."""
    c = container(request)
    return mutate(request, p, action, target, lambda s, _c: use_case(c.claims_uow("web", joining=s), c.clock.now()),
                  audit_detail=audit_detail, store="claims")


@router.get("/api/claims", summary="The insurer's own claims, newest first")
def claims(request: Request, limit: int = Depends(limit_param), status: str | None = None,
           p: Principal = Depends(insurer)) -> list[dict[str, Any]]:
    return C.list_claims(K.ClaimsQuery(limit, p.insurer_id, status), reading(request))


@router.get("/api/claims-awaiting-routing", summary="Claims whose insurer code is unknown, for an administrator to route")
def awaiting_routing(request: Request, limit: int = Depends(limit_param),
                     p: Principal = Depends(require("dispatcher"))) -> list[dict[str, Any]]:
    return C.list_claims(K.ClaimsQuery(limit, None, "awaiting_routing"), reading(request))


@router.get("/api/claims/{claim_id}", summary="One of the insurer's claims")
def claim(claim_id: str, request: Request, p: Principal = Depends(insurer)) -> dict[str, Any]:
    try:
        return C.claim_detail(K.ClaimQuery(claim_id, p.insurer_id), reading(request))
    except Exception as e:
        raise from_domain(e) from None


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    amount_fen: StrictInt | None = Field(None, ge=0, le=10**12, description=(
        "assess / pay: integer fen; a payment is at most the assessed amount and, on a 交强险 claim, the limit for "
        "the crash's date and the driver's liability (422 with `allowed_fen` above it)"))
    accepted: StrictBool | None = Field(None, description="decide: cover accepted or refused (JSON true or false)")
    reasons: str = Field("", max_length=2000, description="decide: written reasons (required to refuse)")
    note: str = Field("", max_length=500)


class RouteBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    insurer: str = Field(min_length=2, max_length=40)


@router.post("/api/claims/{claim_id}/route", summary="Route a claim with an unknown insurer code (administrator)")
def route(claim_id: str, body: RouteBody, request: Request, p: Principal = Depends(require("dispatcher"))) -> Any:
    return acting(request, p, "claim.route", claim_id,
                  lambda uow, now: C.route_claim(K.RouteClaim(claim_id, body.insurer, p.actor, now), uow),
                  {"insurer": body.insurer})


@router.post("/api/claims/{claim_id}/{action}",
             summary="Insurer step: request-documents, documents-complete, assess, decide, agree, pay")
def claim_action(claim_id: str, action: str, body: ActionBody, request: Request, p: Principal = Depends(insurer)) -> Any:
    fields = body.model_dump(exclude_none=True)
    return acting(request, p, f"claim.{action}", claim_id,
                  lambda uow, now: C.act(K.TakeClaimStep(claim_id, p.insurer_id, action, fields, p.actor, now), uow),
                  fields)
