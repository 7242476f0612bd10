"""Parties' mobile quick-handling flow (快处快赔), reached by the link in their SMS, and the police
officer's online determination queue (police and dispatcher roles).

The party's secret travels in the link's fragment (``/quick/QK-…#t=…``), which browsers never send to a
server nor put in a Referer; the page reads it, clears it from the address bar and sends it in the
``X-Quick-Token`` header. The query form ``?t=`` of links already sent is still accepted."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response
from fastapi.security import APIKeyHeader, APIKeyQuery
from pydantic import BaseModel, ConfigDict, Field

from accidentlink.bootstrap import Container
from claims import commands as K
from claims import quick_service as Q
from web.auth import Principal
from web.strict_json import StrictJsonRoute
from web.deps import container, limit_param, paged, require
from web.errors import NotFound, from_domain
from web.routes.claims import acting, reading

router = APIRouter(tags=["quick handling"], route_class=StrictJsonRoute)  # duplicate keys: 422
# the party's secret link token, sent to the party's own phone by SMS: in a header (the page), or the query
# string of links sent before the token moved into the fragment
party_header = APIKeyHeader(name="X-Quick-Token", auto_error=False, scheme_name="PartyLinkTokenHeader",
                            description="the token from the fragment of the party's SMS link (`#t=…`)")
party_query = APIKeyQuery(name="t", auto_error=False, scheme_name="PartyLinkToken",
                          description="the token in the query of an older SMS link (`?t=…`; still accepted)")
PAGE = Path(__file__).resolve().parent.parent / "pages" / "quick.html"
PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
officer = require("police", "dispatcher")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def party_link(header: str | None = Depends(party_header), query: str | None = Depends(party_query)) -> str | None:
    return header or query


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
    return FileResponse(PAGE, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@router.get("/api/quick/{quick_id}", summary="A party's view of its quick-handling case (link token)")
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


def _file(request: Request, query: K.QuickFileQuery) -> Response:
    if not SHA256.match(query.sha256):
        raise NotFound("no such file")
    try:
        data, media = Q.quick_file(query, reading(request), container(request).claims_photos())
    except Exception as e:
        raise from_domain(e) from None
    return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=3600", **PAGE_HEADERS})


@router.get("/api/quick/{quick_id}/files/{sha256}", summary="A scene photo or drawn signature of the party's case",
            response_class=Response, responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}})
def party_file(quick_id: str, sha256: str, request: Request, t: str | None = Depends(party_link)) -> Response:
    return _file(request, K.QuickFileQuery(quick_id, sha256, t or ""))


class AnswerBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    own_vehicle: str = Field(min_length=1, max_length=40, description="what YOUR vehicle was doing: a code of "
                             "`own_vehicle_answers` in the case view (e.g. stopped_waiting, rear_ending)")
    weather: str = Field("", max_length=40)
    point_of_impact: str = Field("", max_length=100)


@router.post("/api/quick/{quick_id}/answer", summary="Say what your own vehicle was doing (before anyone signs)")
def answer(quick_id: str, body: AnswerBody, request: Request, t: str | None = Depends(party_link)) -> Any:
    return _run(request, lambda c: Q.answer_own_vehicle(K.AnswerOwnVehicle(
        quick_id, t, body.own_vehicle, c.clock.now(), body.weather, body.point_of_impact), c.claims_uow("web")))


class ObjectionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    reason: str = Field(min_length=1, max_length=500)


@router.post("/api/quick/{quick_id}/objection",
             summary="Object to the liability shown before it binds: the police decide online (程序规定 20)")
def objection(quick_id: str, body: ObjectionBody, request: Request, t: str | None = Depends(party_link)) -> Any:
    return _run(request, lambda c: Q.object_to_liability(K.ObjectToLiability(quick_id, t, body.reason, c.clock.now()),
                                                         c.claims_uow("web")))


class ConfirmBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    situations: list[str] = Field(default_factory=list, max_length=10, description="codes from the region's list")
    disputed: bool = False
    signature: str | None = Field(None, max_length=60, description="the typed name (older pages); or draw it: "
                                  "`signature_png`")
    signature_png: str | None = Field(None, max_length=140_000, description="the signature drawn on the screen: a "
                                      "base64 PNG (≤100 KiB), kept with its SHA-256 and shown on the agreement")
    weather: str = Field("", max_length=40)
    point_of_impact: str = Field("", max_length=100)
    accident_form: str | None = Field(None, max_length=40)
    licence_number: str | None = Field(None, max_length=40)


@router.post("/api/quick/{quick_id}/confirm", summary="Confirm the facts and the liability shown, and sign")
def confirm(quick_id: str, body: ConfirmBody, request: Request, t: str | None = Depends(party_link)) -> Any:
    return _run(request, lambda c: Q.confirm(K.ConfirmFacts(
        quick_id, t, body.signature or "", c.clock.now(), tuple(body.situations), body.disputed, body.weather,
        body.point_of_impact, body.accident_form, body.licence_number, body.signature_png), c.claims_uow("web"),
        c.claims_photos()))


@router.get("/api/quick", summary="Police online determination queue (disputes and cases the table cannot settle)")
def queue(request: Request, limit: int = Depends(limit_param), p: Principal = Depends(officer)) -> Any:
    return paged(request, Q.police_queue(K.PoliceQueueQuery(limit), reading(request)))


@router.get("/api/quick/{quick_id}/evidence/{sha256}", summary="A scene photo or signature, for the officer",
            response_class=Response, responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}})
def evidence(quick_id: str, sha256: str, request: Request, p: Principal = Depends(officer)) -> Response:
    return _file(request, K.QuickFileQuery(quick_id, sha256, None))


class DetermineBody(BaseModel):
    model_config = ConfigDict(extra="ignore")  # contract: more fields are welcome
    shares: dict[str, str] = Field(description="plate -> full | primary | equal | secondary | none")
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/api/quick/{quick_id}/determine", summary="The officer's electronic accident determination (程序规定 20)")
def determine(quick_id: str, body: DetermineBody, request: Request, p: Principal = Depends(officer)) -> Any:
    return acting(request, p, "quick.determine", quick_id, lambda uow, now: Q.police_determine(
        K.DetermineLiability(quick_id, body.shares, body.reason, p.actor, now), uow), {"shares": body.shares})
