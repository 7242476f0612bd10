"""Insurers' desk: their own claims only; the steps of 条例 27-29; routing of unknown insurer codes."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from claims import services as C
from web.auth import Principal
from web.deps import container, limit_param, mutate, require
from web.errors import from_domain

router = APIRouter(tags=["claims"])
insurer = require("insurer")


@router.get("/api/claims", summary="The insurer's own claims, newest first")
def claims(request: Request, limit: int = Depends(limit_param), status: str | None = None,
           p: Principal = Depends(insurer)) -> list[dict[str, Any]]:
    with container(request).store("claims").read() as s:
        return C.list_claims(s, p.insurer_id, limit, status)


@router.get("/api/claims-awaiting-routing", summary="Claims whose insurer code is unknown, for an administrator to route")
def awaiting_routing(request: Request, limit: int = Depends(limit_param),
                     p: Principal = Depends(require("dispatcher"))) -> list[dict[str, Any]]:
    with container(request).store("claims").read() as s:
        return C.list_claims(s, None, limit, "awaiting_routing")


@router.get("/api/claims/{claim_id}", summary="One of the insurer's claims")
def claim(claim_id: str, request: Request, p: Principal = Depends(insurer)) -> dict[str, Any]:
    try:
        with container(request).store("claims").read() as s:
            return C.claim_json(C.own_claim(s, claim_id, p.insurer_id))
    except Exception as e:
        raise from_domain(e) from None


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    amount_fen: StrictInt | None = Field(None, ge=0, le=10**12, description="assess / pay: integer fen")
    accepted: bool | None = Field(None, description="decide: cover accepted or refused")
    reasons: str = Field("", max_length=2000, description="decide: written reasons (required to refuse)")
    note: str = Field("", max_length=500)


class RouteBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    insurer: str = Field(min_length=2, max_length=40)


@router.post("/api/claims/{claim_id}/route", summary="Route a claim with an unknown insurer code (administrator)")
def route(claim_id: str, body: RouteBody, request: Request, p: Principal = Depends(require("dispatcher"))) -> Any:
    return mutate(request, p, "claim.route", claim_id,
                  lambda s, c: C.route_claim(s, c.topics, claim_id, body.insurer, p.actor, c.clock.now()),
                  audit_detail={"insurer": body.insurer}, store="claims")


@router.post("/api/claims/{claim_id}/{action}",
             summary="Insurer step: request-documents, documents-complete, assess, decide, agree, pay")
def claim_action(claim_id: str, action: str, body: ActionBody, request: Request, p: Principal = Depends(insurer)) -> Any:
    fields = body.model_dump(exclude_none=True)
    return mutate(request, p, f"claim.{action}", claim_id,
                  lambda s, c: C.act(s, c.topics, claim_id, p.insurer_id, action, fields, p.actor, c.clock.now()),
                  audit_detail=fields, store="claims")
