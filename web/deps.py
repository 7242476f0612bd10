"""Request-scoped helpers: the container, the caller, idempotency keys and the audit trail."""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import IntegrityError

from accidentlink.bootstrap import Container
from connectors.sql.models import AuditRow, IdempotencyRow
from web.auth import Principal, authenticate
from web.errors import Forbidden, Unauthorized, Unprocessable
from web.paging import limit_param, paged  # noqa: F401  (every list route's page: capped, with a cursor)

bearer = HTTPBearer(auto_error=False, description="Bearer token from `accidentlink token create`")


def container(request: Request) -> Container:
    return request.app.state.container


def caller(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    c: Container = request.app.state.container
    token = creds.credentials if creds else None
    p = authenticate(c.store("web"), token, c.clock.now())
    if p is None:
        raise Unauthorized("missing, unknown, expired or revoked bearer token")
    request.state.principal = p
    return p


def require(*roles: str) -> Callable[..., Principal]:
    def dep(p: Principal = Depends(caller)) -> Principal:
        if p.role not in roles:
            raise Forbidden(f"role '{p.role}' may not do this (allowed: {', '.join(roles)})")
        return p

    return dep


def audit(c: Container, session: Any, p: Principal, action: str, target: str, **detail: Any) -> None:
    """Append one line to the audit trail (in the caller's transaction)."""
    session.add(AuditRow(at=c.clock.now(), token_id=p.token_id, actor=p.name, role=p.role, action=action,
                         target=target, detail=detail))


def audit_read(c: Container, session: Any, p: Principal, target: str, **detail: Any) -> None:
    """A read of a person's full (unmasked) identity, by a role that needs it: one line in the audit trail of
    the store it was read from (``personal_data.read``), in the read's own transaction, with who (token,
    name, role and its insurer or hospital) and what (``target``, ``detail``)."""
    scope = {"insurer": p.insurer_id} if p.insurer_id else {"hospital": p.hospital_id} if p.hospital_id else {}
    audit(c, session, p, "personal_data.read", target, **scope, **detail)


def request_hash(raw: bytes | None) -> str:
    """What an ``Idempotency-Key`` is bound to besides its caller and route: the body, as JSON (key order and
    spacing aside) or as bytes."""
    raw = raw or b""
    try:
        canon = json.dumps(json.loads(raw), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):
        canon = raw
    return hashlib.sha256(canon).hexdigest()


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and (len(key) > 200 or not key.strip()):
        raise Unprocessable("Idempotency-Key must be 1..200 characters")
    return key or None


def stored_answer(c: Container, p: Principal, key: str, method: str, path: str, body_hash: str) -> tuple[int, Any] | None:
    """The first answer to this caller's key, if it was for this route and this body; a key already used for
    another route or another body is refused (422), never replayed for it."""
    with c.store("web").read() as s:
        prev = s.get(IdempotencyRow, (p.token_id, key))
        if prev is None:
            return None
        if prev.method != method or prev.path != path:
            raise Unprocessable("this Idempotency-Key was used for another request (another route); use a new key")
        if prev.request_hash is not None and prev.request_hash != body_hash:
            raise Unprocessable("this Idempotency-Key was used with a different body; a new request needs a new key")
        return prev.status_code, prev.body


def store_answer(c: Container, p: Principal, key: str, method: str, path: str, body_hash: str, status: int,
                 body: Any) -> None:
    try:
        with c.store("web").uow() as uow:
            uow.session.add(IdempotencyRow(token_id=p.token_id, key=key, method=method, path=path,
                                           request_hash=body_hash, status_code=status,
                                           body=json.loads(json.dumps(body, default=str)), created_at=c.clock.now()))
            uow.commit()
    except IntegrityError:
        pass  # a concurrent retry stored it first; its effect was guarded by the domain


def idempotent(request: Request, p: Principal, run: Callable[[], tuple[int, Any]]) -> JSONResponse:
    """A repeated ``Idempotency-Key`` returns the first answer without acting again, for the same caller (token),
    route and body only: the same key with another body or route is 422; another caller's key is its own."""
    c: Container = request.app.state.container
    key = idempotency_key(request)
    body_hash = request_hash(getattr(request, "_body", b""))  # the body the route read (FastAPI keeps it)
    if key:
        prev = stored_answer(c, p, key, request.method, request.url.path, body_hash)
        if prev is not None:
            return JSONResponse(prev[1], status_code=prev[0], headers={"Idempotent-Replay": "true"})
    try:
        status, body = run()
    except Exception as e:
        from web.errors import from_domain

        err = from_domain(e)  # re-raises what is not a domain refusal (a bug: 500, never stored)
        status, body = err.status, {"error": err.message, **err.extra}
    if key and status < 500:
        store_answer(c, p, key, request.method, request.url.path, body_hash, status, body)
    return JSONResponse(body, status_code=status)


def mutate(request: Request, p: Principal, action: str, target: str, fn: Callable[[Any, Any], Any],
           status: int = 200, audit_detail: dict[str, Any] | None = None, *, store: str) -> JSONResponse:
    """The shape of every mutating route: one unit of work on the context's own ``store`` that runs the
    service, appends the audit line (to that store's trail)
    and commits; domain refusals become their HTTP status; the outbox relay is woken; and the whole is
    safe under retry (``Idempotency-Key``)."""
    from web.errors import from_domain

    c: Container = request.app.state.container

    def run() -> tuple[int, Any]:
        try:
            with c.store(store).uow() as uow:
                out = fn(uow.session, c)
                audit(c, uow.session, p, action, target, **(audit_detail or {}))
                uow.commit()
        except Exception as e:
            raise from_domain(e) from None
        request.app.state.relay_notify()
        return status, out

    return idempotent(request, p, run)
