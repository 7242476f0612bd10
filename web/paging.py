"""List pages: capped, and continued with an opaque cursor.

Every list route answers a JSON array, newest first (contract). ``?limit=N`` stays accepted from 1 to 5000
(contract), but one answer holds at most ``CAP`` items: a larger ``limit`` is clamped to ``CAP``. When more
items follow, the answer carries ``X-Next-Cursor: <cursor>`` (and ``Link: <...>; rel="next"``); the same
request with ``?cursor=<cursor>`` answers the next page. A cursor is opaque (base64url of JSON), bound to
the route it came from; one that is not from this server is 422.

Incidents page by keyset (their sort key after the last item shown): an incident arriving meanwhile is
never shown twice nor skipped. Other lists page by position: a new item arriving at the head meanwhile
makes the next page repeat one item, never skip one."""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Query, Request, Response

from web.errors import Unprocessable

CAP = 200  # items in one answer, whatever ``limit`` asks (a 5000-item answer was 6.7 MB)
MAX_LIMIT = 5000  # contract: ``limit`` up to 5000 is accepted (clamped to CAP)
MAX_OFFSET = 20_000  # positional paging reads offset + limit rows: bounded


@dataclass(frozen=True)
class Page:
    route: str
    limit: int  # items in this answer (≤ CAP)
    offset: int = 0  # positional cursor
    after: tuple[Any, ...] | None = None  # keyset cursor: the sort key of the last item already shown

    @property
    def fetch(self) -> int:
        """Rows a positional list reads: this page and one more (to know whether a next page exists)."""
        return self.offset + self.limit + 1


def encode_cursor(route: str, **fields: Any) -> str:
    raw = json.dumps({"r": route, **fields}, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(route: str, cursor: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        value = None
    if not isinstance(value, dict) or value.get("r") != route:
        raise Unprocessable("cursor is not one this list gave out (use X-Next-Cursor of the previous page)")
    return value


def page_of(request: Request, limit: int, cursor: str | None) -> Page:
    if limit < 1 or limit > MAX_LIMIT:
        raise Unprocessable(f"limit must be between 1 and {MAX_LIMIT} (an answer holds at most {CAP}; "
                            "follow X-Next-Cursor for more)")
    route = request.url.path
    n = min(limit, CAP)
    if not cursor:
        return Page(route, n)
    value = decode_cursor(route, cursor)
    if "k" in value:
        if not isinstance(value["k"], list) or not all(isinstance(x, (str, int)) for x in value["k"]):
            raise Unprocessable("cursor is not one this list gave out")
        return Page(route, n, after=tuple(value["k"]))
    offset = value.get("o")
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
        raise Unprocessable(f"cursor is not one this list gave out, or pages past item {MAX_OFFSET}")
    return Page(route, n, offset=offset)


def set_next(request: Request, response: Response, cursor: str | None) -> None:
    if cursor is None:
        return
    query = {k: v for k, v in request.query_params.items() if k != "cursor"}
    response.headers["X-Next-Cursor"] = cursor
    response.headers["Link"] = f'<{request.url.path}?{urlencode({**query, "cursor": cursor})}>; rel="next"'


def limit_param(request: Request, response: Response,
                limit: int = Query(100, description=f"items wanted, 1..{MAX_LIMIT}; one answer holds at most {CAP} "
                                                    "(the rest: follow the X-Next-Cursor header)"),
                cursor: str | None = Query(None, max_length=500,
                                           description="X-Next-Cursor of the previous page")) -> int:
    """The rows a positional list route reads (``Page.fetch``); the route returns ``paged(request, rows)``.
    A bad ``limit`` or ``cursor`` is answered 422 by ``paged``, in the route's body: after the caller's
    token and role were checked (a caller without the right gets 401/403 whatever its parameters)."""
    try:
        page, error = page_of(request, limit, cursor), None
    except Unprocessable as e:
        page, error = Page(request.url.path, 1), e
    request.state.page, request.state.page_error, request.state.page_response = page, error, response
    return page.fetch


def paged(request: Request, rows: list[Any]) -> list[Any]:
    """This page of ``rows`` (read with ``limit_param``'s count), and the next page's cursor when more follow."""
    if request.state.page_error is not None:
        raise request.state.page_error
    page: Page = request.state.page
    if len(rows) > page.offset + page.limit and page.offset + page.limit <= MAX_OFFSET:
        set_next(request, request.state.page_response, encode_cursor(page.route, o=page.offset + page.limit))
    return rows[page.offset:page.offset + page.limit]
