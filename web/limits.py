"""Oversized bodies get 413 and floods 429, before any route runs (pure ASGI, no buffering)."""
from __future__ import annotations

import json
import math
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
    """Token buckets, burst 2x the rate, checked before any route runs:
    - one per known bearer token (``rate_per_s``): one desk or system cannot take the server for itself;
    - one per client address (``address_rate_per_s``), which every request from that address also draws on,
      whatever its token: many tokens (or made-up ones, rotated to dodge the limit) from one address
      together get no more than that.
    Both defaults sit well below what one web process serves (README, "Rate limit"). The answer is 429 with
    ``Retry-After`` (whole seconds until the emptier bucket holds a request again) and a readable message."""

    def __init__(self, app: Any, rate_per_s: float, known_token: Any = None, address_rate_per_s: float | None = None):
        self.app, self.rate = app, float(rate_per_s)
        self.address_rate = float(address_rate_per_s if address_rate_per_s is not None else rate_per_s * 2)
        self.known_token = known_token or (lambda token: True)
        self.buckets: dict[bytes, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def _level(self, who: bytes, rate: float, now: float) -> float:
        tokens, last = self.buckets.get(who, (rate * 2, now))
        return min(rate * 2, tokens + (now - last) * rate)

    def _allow(self, token: bytes | None, address: bytes) -> float:
        """0 when the request may go on (and is counted in each of its buckets), else the seconds to wait."""
        now = time.monotonic()
        keys = [(b"addr:" + address, self.address_rate)]
        if token is not None and self.known_token(token):
            keys.append((b"tok:" + token, self.rate))
        with self.lock:
            levels = [(k, r, self._level(k, r, now)) for k, r in keys]
            short = [(1.0 - level) / r for _k, r, level in levels if level < 1.0]
            for k, _r, level in levels:  # a refused request costs nothing: the buckets only refill
                self.buckets[k] = (level if short else level - 1.0, now)
            if len(self.buckets) > 100_000:  # forget the idlest half, never everyone at once
                for k, _ in sorted(self.buckets.items(), key=lambda kv: kv[1][1])[:50_000]:
                    del self.buckets[k]
            return max(short) if short else 0.0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in ("/healthz",):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        address = str((scope.get("client") or ("?",))[0]).encode()
        wait = self._allow(headers.get(b"authorization"), address)
        if wait:
            seconds = max(1, math.ceil(wait))
            start, body = _send_error(
                429, f"too many requests: slow down and retry in {seconds} s "
                     f"(请求过于频繁，请 {seconds} 秒后重试)", [(b"retry-after", str(seconds).encode())])
            await send(start)
            return await send(body)
        await self.app(scope, receive, send)
