"""Oversized bodies get 413 and floods 429, before any route runs (pure ASGI, no buffering)."""
from __future__ import annotations

import json
import threading
import time
from typing import Any


def _send_error(status: int, message: str, extra_headers: list[tuple[bytes, bytes]] = ()) -> tuple[dict, dict]:
    body = json.dumps({"error": message}).encode()
    start = {"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         *extra_headers]}
    return start, {"type": "http.response.body", "body": body}


class BodyLimit:
    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
            start, body = _send_error(422, "NUL characters are not allowed in paths or queries")
            await send(start)
            return await send(body)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            start, body = _send_error(413, f"request body larger than {self.max_bytes} bytes")
            await send(start)
            return await send(body)
        seen = 0
        too_big = False

        async def limited_receive() -> dict:
            nonlocal seen, too_big
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    too_big = True
                    return {"type": "http.disconnect"}
            return msg

        sent_start = False

        async def guarded_send(msg: dict) -> None:
            nonlocal sent_start
            if too_big and not sent_start:
                start, body = _send_error(413, f"request body larger than {self.max_bytes} bytes")
                sent_start = True
                await send(start)
                await send(body)
                return
            if sent_start and too_big:
                return
            if msg["type"] == "http.response.start":
                sent_start = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not too_big:
                raise
        if too_big and not sent_start:  # the app gave up on the cut body without answering
            start, body = _send_error(413, f"request body larger than {self.max_bytes} bytes")
            await send(start)
            await send(body)


class RateLimit:
    """Token bucket per client (bearer token, else address): ``rate`` requests a second, burst 2x."""

    def __init__(self, app: Any, rate_per_s: int, known_token: Any = None):
        self.app, self.rate, self.burst = app, float(rate_per_s), float(rate_per_s) * 2
        self.known_token = known_token or (lambda token: True)
        self.buckets: dict[bytes, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def _take(self, who: bytes, rate: float, burst: float, now: float) -> bool:
        tokens, last = self.buckets.get(who, (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        ok = tokens >= 1.0
        self.buckets[who] = (tokens - 1.0 if ok else tokens, now)
        return ok

    def _allow(self, token: bytes | None, address: bytes) -> bool:
        """One bucket per known bearer token; callers without one (no token, or made-up tokens rotated
        to dodge the limit) share their address's bucket."""
        now = time.monotonic()
        key = b"tok:" + token if token is not None and self.known_token(token) else b"addr:" + address
        with self.lock:
            ok = self._take(key, self.rate, self.burst, now)
            if len(self.buckets) > 100_000:  # forget the idlest half, never everyone at once
                for k, _ in sorted(self.buckets.items(), key=lambda kv: kv[1][1])[:50_000]:
                    del self.buckets[k]
            return ok

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in ("/healthz",):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        address = str((scope.get("client") or ("?",))[0]).encode()
        if not self._allow(headers.get(b"authorization"), address):
            start, body = _send_error(429, "too many requests; slow down", [(b"retry-after", b"1")])
            await send(start)
            return await send(body)
        await self.app(scope, receive, send)
