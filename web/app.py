"""The FastAPI app: routes per context, one error shape, health, the dashboard's static pages."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from accidentlink.bootstrap import Container
from web import errors
from web.headers import SecurityHeaders
from web.limits import BodyLimit, RateLimit

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("accidentlink.web")


class Health:
    """Broker, every stage's workers (a live member in each consumer group: intake, the three pipelines,
    hospitals) and every context's store."""

    def __init__(self, c: Container, cache_s: float = 2.0):
        self.c, self.cache_s = c, cache_s
        self._at, self._last = 0.0, (False, {})

    def check(self) -> tuple[bool, dict[str, Any]]:
        if time.monotonic() - self._at < self.cache_s:
            return self._last
        from connectors.kafka import broker_is_up, consumer_group_members
        from streams.topics import GROUPS

        from connectors.sql.stores import CONTEXTS

        stores = {name: self.c.store(name).ping() for name in CONTEXTS}
        parts: dict[str, Any] = {"database": "up" if all(stores.values()) else "down",
                                 **{f"store:{n}": "up" if ok else "down" for n, ok in stores.items()}}
        up = broker_is_up(self.c.settings.bootstrap)
        parts["broker"] = "up" if up else "down"
        names = {g: self.c.topics.name(g) for g in GROUPS}
        try:
            members = consumer_group_members(self.c.settings.bootstrap, list(names.values())) if up else {}
        except Exception as e:  # coordinator not ready yet, broker going away: not up, never a 500
            parts["groups_error"] = type(e).__name__
            members = {}
        for g in GROUPS:
            parts[f"pipeline:{g}"] = "up" if members.get(names[g], 0) > 0 else "down"
        ok = all(v == "up" for k, v in parts.items() if k != "groups_error") and "groups_error" not in parts
        self._at, self._last = time.monotonic(), (ok, parts)
        return ok, parts


class KnownTokens:
    """Hashes of the tokens that exist, re-read every few seconds, and at once (at most twice a second) when
    a token is not among them: a token created a moment ago gets its own bucket from its first request
    (for the rate limiter's keying only; authentication itself always asks the database)."""

    def __init__(self, c: Container, every_s: float = 5.0, unknown_every_s: float = 0.5):
        self.c, self.every_s, self.unknown_every_s = c, every_s, unknown_every_s
        self._at, self._hashes = 0.0, frozenset()

    def _refresh(self) -> None:
        from sqlalchemy import select

        from connectors.sql.models import TokenRow

        try:
            with self.c.store("web").read() as s:
                self._hashes = frozenset(s.scalars(select(TokenRow.token_hash).where(TokenRow.revoked_at.is_(None))))
        except Exception:
            pass
        self._at = time.monotonic()

    def __call__(self, header: bytes) -> bool:
        from web.auth import hash_token

        text = header.decode("latin-1")
        if text[:7].lower() != "bearer ":
            return False
        h = hash_token(text[7:].strip())
        age = time.monotonic() - self._at
        if age > self.every_s or (h not in self._hashes and age > self.unknown_every_s):
            self._refresh()
        return h in self._hashes


def create_app(c: Container, *, feed: Any = None, producer: Any = None) -> FastAPI:
    app = FastAPI(
        title="AccidentLink", version="1.0.0",
        description="警保医联动: joint 122/120 dispatch, green channel and rescue-fund advances, insurer claims. "
                    "Bearer tokens from `accidentlink token create`; every error is {\"error\": \"...\"}.",
        docs_url=None, redoc_url=None,  # /docs below: swagger-ui from its package's files, same origin (CSP)
    )
    app.state.container = c
    app.state.feed = feed
    app.state.producer = producer
    app.state.health = Health(c)
    app.state.relay_notify = lambda: None  # the web process's outbox relay sets this
    errors.install(app)

    from web.routes import claims, fund, hospitals, incidents, quick, reports, sms, units

    for r in (reports, incidents, units, hospitals, fund, claims, quick, sms):
        app.include_router(r.router)

    @app.get("/healthz", tags=["operations"], summary="200 only when the broker, every stage's workers and every store are up")
    def healthz() -> JSONResponse:
        ok, parts = app.state.health.check()
        return JSONResponse({"status": "ok" if ok else "degraded", **parts}, status_code=200 if ok else 503)

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/dashboard/")

    @app.get("/dashboard/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")
    mount_api_docs(app)

    app.add_middleware(BodyLimit, max_bytes=c.settings.max_body_bytes)
    app.add_middleware(RateLimit, rate_per_s=c.settings.rate_limit_per_s, known_token=KnownTokens(c),
                       address_rate_per_s=c.settings.rate_limit_per_address_per_s)
    app.add_middleware(SecurityHeaders)  # outermost: 413/429 answers carry the headers too
    return app


API_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AccidentLink API</title>
<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/static/js/api-docs.js"></script></body></html>"""


def mount_api_docs(app: FastAPI) -> None:
    """``/docs``: swagger-ui 5 from the ``fastapi-offline`` package's own files (its ``static/`` folder) on this
    origin, started by ``/static/js/api-docs.js`` (no CDN, no inline script: the page obeys the CSP)."""
    import fastapi_offline
    from fastapi.responses import HTMLResponse

    swagger_ui_path = Path(fastapi_offline.__file__).parent / "static"

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(API_DOCS_PAGE)

    app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="api-docs-assets")
