"""Parties' mobile quick-handling flow (快处快赔), reached by the link in their SMS, and the police
officer's online determination queue (dispatcher role)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from fastapi import APIRouter, Depends, Request
from fastapi.security import APIKeyQuery
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from accidentlink.bootstrap import Container
from claims import commands as K
from claims import quick_service as Q
from web.auth import Principal
from web.deps import container, limit_param, paged, require
from web.errors import from_domain
from web.routes.claims import acting, reading

router = APIRouter(tags=["quick handling"])
# the party's secret link token, sent to the party's own phone by SMS
party_link = APIKeyQuery(name="t", auto_error=False, scheme_name="PartyLinkToken",
                         description="the token in the party's SMS link")
PAGE = Path(__file__).resolve().parent.parent / "pages" / "quick.html"


def _run(request: Request, use_case: Callable[[Container], Any]) -> Any:
    """A party's action, reached by its link (no bearer token, no audit line): the use case takes its own unit of
    work on the claims store; what it emits is the web process's to relay."""
    try:
        out = use_case(container(request))
    except Exception as e:
        raise from_domain(e) from None
    request.app.state.relay_notify()
    return out


@router.get("/quick/{quick_id}", include_in_schema=False)
def page(quick_id: str) -> FileResponse:
    return FileResponse(PAGE, media_type="text/html; charset=utf-8")


@router.get("/api/quick/{quick_id}", summary="A party's view of its quick-handling case (link token `t`)")
def view(quick_id: str, request: Request, t: str | None = Depends(party_link)) -> dict[str, Any]:
    try:
        return Q.view_case(K.QuickCaseQuery(quick_id, t), reading(request))
    except Exception as e:
        raise from_domain(e) from None


class PhotoBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    kind: str = Field(min_length=1, max_length=40, description="a kind of claims/rules/photos.json (front_side, rear_side, impact_point, other)")
    data_base64: str = Field(min_length=4, max_length=210_000)


@router.post("/api/quick/{quick_id}/photos", status_code=201, summary="Add a scene photo (JPEG/PNG/WebP, base64, ≤150 KiB)")
def photo(quick_id: str, body: PhotoBody, request: Request, t: str | None = Depends(party_link)) -> Any:
    return _run(request, lambda c: Q.add_photo(K.AddPhoto(quick_id, t, body.kind, body.data_base64, c.clock.now()),
                                               c.claims_uow("web"), c.claims_photos()))


class ConfirmBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    situations: list[str] = Field(default_factory=list, max_length=10, description="codes from the region's list")
    disputed: bool = False
    signature: str = Field(min_length=1, max_length=60)
    weather: str = Field("", max_length=40)
    point_of_impact: str = Field("", max_length=100)
    accident_form: str | None = Field(None, max_length=40)
    licence_number: str | None = Field(None, max_length=40)


@router.post("/api/quick/{quick_id}/confirm", summary="Confirm the facts, name situations or dispute, and sign")
def confirm(quick_id: str, body: ConfirmBody, request: Request, t: str | None = Depends(party_link)) -> Any:
    return _run(request, lambda c: Q.confirm(K.ConfirmFacts(
        quick_id, t, body.signature, c.clock.now(), tuple(body.situations), body.disputed, body.weather,
        body.point_of_impact, body.accident_form, body.licence_number), c.claims_uow("web")))


@router.get("/api/quick", summary="Police online determination queue (disputes and cases the table cannot settle)")
def queue(request: Request, limit: int = Depends(limit_param), p: Principal = Depends(require("dispatcher"))) -> Any:
    return paged(request, Q.police_queue(K.PoliceQueueQuery(limit), reading(request)))


class DetermineBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    shares: dict[str, str] = Field(description="plate -> full | primary | equal | secondary | none")
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/api/quick/{quick_id}/determine", summary="The officer's electronic accident determination (程序规定 20)")
def determine(quick_id: str, body: DetermineBody, request: Request, p: Principal = Depends(require("dispatcher"))) -> Any:
    return acting(request, p, "quick.determine", quick_id, lambda uow, now: Q.police_determine(
        K.DetermineLiability(quick_id, body.shares, body.reason, p.actor, now), uow), {"shares": body.shares})
