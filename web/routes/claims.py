"""Insurers' desk: their own claims only; the steps of 条例 27-29; routing of unknown insurer codes."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from claims import commands as K
from claims import services as C
from claims.ports import ClaimsUnitOfWork
from web.auth import Principal
from web.deps import audit_read, container, limit_param, mutate, paged, require
from web.errors import NotFound, from_domain
from web.routes.claim_views import desk_view, quick_view
from web.strict_json import StrictJsonRoute

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


@router.get("/api/claims", summary="The insurer's own claims, newest first; q: part of a claim number or plate "
                                  "(searched on the server)")
def claims(request: Request, limit: int = Depends(limit_param), status: str | None = None,
           q: str = Query("", max_length=40, description="part of a claim number or of a plate"),
           p: Principal = Depends(insurer)) -> list[dict[str, Any]]:
    now = container(request).clock.now()
    return paged(request, [desk_view(c, now) for c in C.list_claims(K.ClaimsQuery(limit, p.insurer_id, status, q or None),
                                                                    reading(request))])


@router.get("/api/claims-awaiting-routing", summary="Claims whose insurer code is unknown, for an administrator to route")
def awaiting_routing(request: Request, limit: int = Depends(limit_param),
                     p: Principal = Depends(require("dispatcher"))) -> list[dict[str, Any]]:
    return paged(request, C.list_claims(K.ClaimsQuery(limit, None, "awaiting_routing"), reading(request)))


@router.get("/api/claims/{claim_id}",
            summary="One of the insurer's claims, its insured party in full (the read is audited)")
def claim(claim_id: str, request: Request, p: Principal = Depends(insurer)) -> dict[str, Any]:
    """The insurer needs its insured's full identity to handle the claim (README, "Personal data"): shown
    for its own claims only, one at a time, and each such read is a line in the claims store's audit trail."""
    c = container(request)
    try:
        with c.store("claims").uow() as tx:
            out = C.claim_detail(K.ClaimQuery(claim_id, p.insurer_id), c.claims_uow("web", joining=tx.session),
                                 full_identity=True)
            audit_read(c, tx.session, p, claim_id, subject=out["plate"], fields=["party"])
            tx.commit()
    except Exception as e:
        raise from_domain(e) from None
    uow = reading(request)
    with uow:
        quick = uow.quick_cases.get("QK-" + out["incident_id"][4:])
    return {**desk_view(out, c.clock.now()),
            "quick": quick_view(quick, claim_id) if quick is not None else None}


@router.get("/api/claims/{claim_id}/photos/{name}", summary="A scene photo of the claim's quick handling",
            response_class=Response, responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}})
def claim_photo(claim_id: str, name: str, request: Request, p: Principal = Depends(insurer)) -> Response:
    try:
        c = C.claim_detail(K.ClaimQuery(claim_id, p.insurer_id), reading(request))
    except Exception as e:
        raise from_domain(e) from None
    uow = reading(request)
    with uow:
        quick = uow.quick_cases.get("QK-" + c["incident_id"][4:])
    if quick is None or name.split(".")[0] not in {ph.sha256 for ph in quick.photos}:
        raise NotFound("no such photo on this claim")
    data = container(request).claims_photos().read(quick.quick_id, name)
    if data is None:
        raise NotFound("no such photo on this claim")
    ext = name.rsplit(".", 1)[-1]
    return Response(data, media_type={"jpg": "image/jpeg", "jpeg": "image/jpeg"}.get(ext, f"image/{ext}"),
                    headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


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
