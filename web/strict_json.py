"""JSON bodies read strictly (issue 14 item 5): a key twice in one object, or a lone surrogate, is 422 with the
reason, never "the last one wins". A router opts in with ``APIRouter(route_class=StrictJsonRoute)``; the body is
parsed once, here, and FastAPI validates what this parse made of it (its own 422 for what is not JSON at all)."""
from __future__ import annotations

import json
from typing import Any, Callable, Coroutine

from fastapi import Request, Response
from fastapi.routing import APIRoute

from accidentlink.reports import InvalidReport, no_duplicate_keys, no_lone_surrogates
from web.errors import Unprocessable


def strict_loads(raw: bytes) -> Any:
    """Raises ``InvalidReport`` (a readable reason) for duplicate keys or lone surrogates, ``ValueError`` for
    what is not JSON."""
    text = raw.decode("utf-8")
    doc = json.loads(text, object_pairs_hook=no_duplicate_keys)
    if "\\u" in text:
        no_lone_surrogates(doc, "body")
    return doc


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            if request.method in ("POST", "PUT", "PATCH") and "json" in request.headers.get("content-type", "json"):
                raw = await request.body()
                if raw:
                    try:
                        request._json = strict_loads(raw)  # what FastAPI's ``request.json()`` then returns
                    except InvalidReport as e:
                        raise Unprocessable(str(e).replace("field 'body.", "field '")) from None
                    except (ValueError, RecursionError):
                        pass  # not JSON: FastAPI answers its own 422
            return await handler(request)

        return strict
