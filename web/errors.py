"""Every error is ``{"error": "<readable reason>"}`` with the contract's status; never a 500 for bad input."""
from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("accidentlink.web")


class ApiError(Exception):
    status = 400

    def __init__(self, message: str, **extra: Any):
        super().__init__(message)
        self.message = message
        self.extra = extra


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class Unprocessable(ApiError):
    status = 422


class Unavailable(ApiError):
    status = 503


def error_body(message: str, **extra: Any) -> dict[str, Any]:
    return {"error": message, **extra}


def _loc(err: dict[str, Any]) -> str:
    parts = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
    return ".".join(parts) or "body"


def _needs_bearer(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") and not path.startswith("/api/quick/") and path != "/api/sms/inbound"


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(error_body(exc.message, **exc.extra), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        if getattr(request.state, "principal", None) is None and _needs_bearer(request):
            # FastAPI parses the body before the auth dependency runs: still, 401 comes first
            from web.auth import authenticate

            c = request.app.state.container
            auth = request.headers.get("authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
            if authenticate(c.store("web"), token, c.clock.now()) is None:
                return JSONResponse(error_body("missing, unknown, expired or revoked bearer token"), status_code=401,
                                    headers={"WWW-Authenticate": "Bearer"})
        errs = exc.errors()
        msg = "; ".join(f"{_loc(e)}: {e.get('msg', 'invalid')}" for e in errs[:5]) or "invalid request"
        return JSONResponse(error_body(msg), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        text = {404: "not found", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
        return JSONResponse(error_body(text if isinstance(text, str) else "error"), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        try:
            mapped = from_domain(exc)  # a domain refusal that a route did not map itself
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            return JSONResponse(error_body("internal error; it has been logged"), status_code=500)
        return await _api(request, mapped)


def from_domain(exc: Exception) -> ApiError:
    """The one place where domain exceptions become HTTP statuses."""
    from fund.cases import (
        AlreadyPaid, AmountAboveEntitlement, ApplicantNotAllowed, InvalidState, NoFundCondition,
        SamePersonApprovedAndPays, SecondApprovalRequired,
    )
    from claims.lifecycle_rules import PaymentAboveBound
    from fund.services import CaseNotFound
    from hospitals.services import AdmissionError

    from sqlalchemy.exc import DataError

    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, DataError):  # e.g. a NUL character PostgreSQL will not store: bad input, not a bug
        return Unprocessable("a value in the request cannot be stored (NUL character or out of range)")
    if isinstance(exc, AmountAboveEntitlement):
        return Unprocessable(str(exc), allowed_fen=exc.allowed_fen)
    if isinstance(exc, PaymentAboveBound):  # an insurer's payment above the assessed amount or the 交强险 limit
        return Unprocessable(str(exc), allowed_fen=exc.allowed_fen)
    if isinstance(exc, SamePersonApprovedAndPays):
        return Forbidden(f"maker-checker: {exc}")
    if isinstance(exc, (AlreadyPaid, InvalidState, SecondApprovalRequired, NoFundCondition)):
        return Conflict(str(exc))
    if isinstance(exc, ApplicantNotAllowed):
        return Forbidden(str(exc))
    if isinstance(exc, (CaseNotFound, LookupError)):
        return NotFound(str(exc).strip("'\""))
    if isinstance(exc, AdmissionError):
        cls = {404: NotFound, 409: Conflict, 422: Unprocessable}.get(exc.status, Conflict)
        return cls(str(exc))
    for mod_exc in _extra_domain_errors():
        if isinstance(exc, mod_exc[0]):
            return mod_exc[1](str(exc))
    if isinstance(exc, ValueError):
        return Unprocessable(str(exc))
    raise exc


def _extra_domain_errors() -> list[tuple[type, type]]:
    out: list[tuple[type, type]] = []
    try:
        from dispatch.errors import InvalidTransition, NoUnitAvailable

        out += [(InvalidTransition, Conflict), (NoUnitAvailable, Conflict)]
    except ImportError:
        pass
    try:
        from claims.quick_service import QuickError
        from claims.services import ClaimConflict, ClaimNotFound

        out += [(ClaimNotFound, NotFound), (ClaimConflict, Conflict), (QuickError, Unprocessable)]
    except ImportError:
        pass
    return out
