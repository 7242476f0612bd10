"""Intake: ``POST /api/reports`` publishes the body to ``accidents.reported`` once the broker acks."""
from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from accidentlink.reports import InvalidReport, parse_report
from web.auth import Principal
from web.deps import idempotency_key, request_hash, require, store_answer, stored_answer
from web.errors import Conflict, Unavailable, Unprocessable

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
                 409: {"description": "this report_id was recorded with other content (a conflict, never merged)"},
                 422: {"description": "not a valid report, or an Idempotency-Key reused for another body; the reason is in `error`"}})
async def submit_report(request: Request, p: Principal = Depends(require("intake", "dispatcher"))) -> JSONResponse:
    c = request.app.state.container
    loop = asyncio.get_running_loop()
    raw = await request.body()
    key = idempotency_key(request)
    body_hash = request_hash(raw)
    if key:  # the same caller, route and body: the first answer; another body or route under the key: 422
        prev = await loop.run_in_executor(None, stored_answer, c, p, key, request.method, request.url.path, body_hash)
        if prev is not None:
            return JSONResponse(prev[1], status_code=prev[0], headers={"Idempotent-Replay": "true"})
    body = geocode_body(request.app.state, raw)
    try:
        report = parse_report(body)
    except InvalidReport as e:
        raise Unprocessable(str(e)) from None
    check = getattr(request.app.state, "report_check", None)
    if check is None:
        check = request.app.state.report_check = c.report_check()
    problem = check(report)  # the intake's own rule: a report it would dead-letter is refused here first
    if problem:
        raise Unprocessable(problem)
    conflict = await loop.run_in_executor(None, _conflict, c, report)
    if conflict:  # another report under a recorded id would be dead-lettered by the intake: say so now
        raise Conflict(conflict)
    producer = request.app.state.producer
    if producer is None:
        raise Unavailable("the broker is not connected")
    topic = c.topics.name("accidents.reported")

    def send() -> Any:
        return producer.send(topic, key=report.report_id.encode("utf-8"), value=body).get(timeout=15)

    try:
        meta = await loop.run_in_executor(None, send)
    except Exception as e:
        raise Unavailable(f"the broker did not acknowledge the report: {type(e).__name__}") from None
    answer = {"report_id": report.report_id, "partition": meta.partition, "offset": meta.offset}
    if key:
        await loop.run_in_executor(None, store_answer, c, p, key, request.method, request.url.path, body_hash, 202,
                                   answer)
    return JSONResponse(answer, status_code=202)


def _conflict(c: Any, report: Any) -> str | None:
    """The intake's own rule (``report_conflict``) on its store, read only: a report id recorded with other
    content. (One still in flight is caught by the intake, which dead-letters it.)"""
    from accidentlink.intake_services import report_conflict
    from connectors.sql.intake import SqlIntakeUnitOfWork

    return report_conflict(report, SqlIntakeUnitOfWork(c.store("intake"), "web", c.topics, read_only=True))


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
