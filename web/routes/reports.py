"""Intake: ``POST /api/reports`` publishes the body to ``accidents.reported`` once the broker acks."""
from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from accidentlink.reports import InvalidReport, parse_report
from web.auth import Principal
from web.deps import require
from web.errors import Unavailable, Unprocessable

router = APIRouter(tags=["intake"])

REPORT_EXAMPLE = {
    "schema": "accident-report/1", "report_id": "122-20261122-000123", "source": "122",
    "reported_at": "2026-11-22T08:15:03+08:00",
    "location": {"lat": 36.4567, "lon": 115.9853, "address": "聊临路梁水镇段"},
    "injured": 2, "fatalities": 0, "vehicles_movable": False, "hit_and_run": False, "hazards": ["trapped"],
    "reporter": {"name": "王某", "phone": "+8613800000000"},
    "parties": [{"name": "张某", "phone": "+8613900000001", "id_number": "371502199001011234", "plate": "鲁P12345",
                 "vehicle_type": "car", "insurer": "PICC", "ci_policy": "PDZA202637150000001234"}],
    "description": "两车相撞，一人被困",
}


@router.post("/api/reports", status_code=202, summary="Submit an accident report (same body as accidents.reported)",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"type": "object", "description": "accident-report/1 (see docs/asyncapi.yaml)"},
                 "example": REPORT_EXAMPLE}}}},
             responses={202: {"description": "accepted by the broker", "content": {"application/json": {
                 "example": {"report_id": "122-20261122-000123"}}}},
                 422: {"description": "not a valid report; the reason is in `error`"}})
async def submit_report(request: Request, p: Principal = Depends(require("intake", "dispatcher"))) -> JSONResponse:
    key = request.headers.get("idempotency-key")
    c = request.app.state.container
    if key:
        prev = await asyncio.get_running_loop().run_in_executor(None, _stored_answer, c, p, key)
        if prev is not None:
            return JSONResponse(prev[1], status_code=prev[0], headers={"Idempotent-Replay": "true"})
    body = geocode_body(request.app.state, await request.body())
    try:
        report = parse_report(body)
    except InvalidReport as e:
        raise Unprocessable(str(e)) from None
    producer = request.app.state.producer
    if producer is None:
        raise Unavailable("the broker is not connected")
    topic = c.topics.name("accidents.reported")

    def send() -> Any:
        return producer.send(topic, key=report.report_id.encode("utf-8"), value=body).get(timeout=15)

    try:
        meta = await asyncio.get_running_loop().run_in_executor(None, send)
    except Exception as e:
        raise Unavailable(f"the broker did not acknowledge the report: {type(e).__name__}") from None
    answer = {"report_id": report.report_id, "partition": meta.partition, "offset": meta.offset}
    if key:
        await asyncio.get_running_loop().run_in_executor(None, _store_answer, c, p, key, request.url.path, answer)
    return JSONResponse(answer, status_code=202)


def geocode_body(state: Any, body: bytes) -> bytes:
    """Extension for call-takers: a location with an address but no coordinates is placed by the
    pluggable geocoder (offline gazetteer by default) before the report is validated and published."""
    from accidentlink.intake import Unlocatable, place

    geocoder = getattr(state, "geocoder", None)
    if geocoder is None:
        from connectors.geo import GazetteerGeocoder

        geocoder = state.geocoder = GazetteerGeocoder()
    try:
        return place(body, geocoder.geocode) or body
    except Unlocatable as e:  # the same rule as the intake's for reports that come by Kafka
        raise Unprocessable(str(e)) from None


def _stored_answer(c: Any, p: Principal, key: str) -> Any:
    from connectors.sql.models import IdempotencyRow

    with c.store("web").read() as s:
        row = s.get(IdempotencyRow, (p.token_id, key[:200]))
        return (row.status_code, row.body) if row is not None else None


def _store_answer(c: Any, p: Principal, key: str, path: str, answer: dict[str, Any]) -> None:
    from sqlalchemy.exc import IntegrityError

    from connectors.sql.models import IdempotencyRow

    try:
        with c.store("web").uow() as uow:
            uow.session.add(IdempotencyRow(token_id=p.token_id, key=key[:200], method="POST", path=path,
                                           status_code=202, body=answer, created_at=c.clock.now()))
            uow.commit()
    except IntegrityError:
        pass  # a concurrent retry stored it first
