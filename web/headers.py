"""Browser hardening on every response (pure ASGI): a strict Content-Security-Policy, no sniffing, no framing,
no referrer; and ``Cache-Control: no-store`` on what may carry personal data (the API, the pages that hold a
token), so neither a shared cache nor the browser's back-forward cache keeps it.

The policy: scripts, styles, images, fonts and connections from this origin only; no inline script, no
``eval``, no ``<style>`` element, no plugin, no ``<base>``, no framing. Only ``style="..."`` attributes
are allowed (``style-src-attr``): the dashboard's templates colour a dot or size a bar with them; an
attribute cannot run script nor load anything (``img-src``/``font-src`` still apply)."""
from __future__ import annotations

from typing import Any

CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data: blob:",  # blob: a photo previewed before upload (the quick page)
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

ALWAYS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(self), geolocation=(self), microphone=()"),
]
# static assets (scripts, styles, the map's shapes) carry no personal data and may be cached
CACHEABLE_PREFIXES = ("/static/", "/docs/assets/")


class SecurityHeaders:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        no_store = not scope.get("path", "").startswith(CACHEABLE_PREFIXES)

        async def send_with_headers(msg: dict) -> None:
            if msg["type"] == "http.response.start":
                own = {k.lower() for k, _ in msg.get("headers") or []}
                headers = [h for h in msg.get("headers") or []
                           if not (no_store and h[0].lower() in (b"cache-control", b"pragma"))]
                headers += [h for h in ALWAYS if h[0] not in own]
                if no_store:
                    headers += [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
                msg = {**msg, "headers": headers}
            await send(msg)

        await self.app(scope, receive, send_with_headers)
