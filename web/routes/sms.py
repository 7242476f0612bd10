"""The SMS outbox (what was or would be texted: phones and parties' link secrets masked) and Twilio's inbound webhook (signature checked)."""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from accidentlink.clock import iso
from accidentlink.masking import mask_link_secrets, mask_phone
from connectors.sms import valid_twilio_signature
from web.auth import Principal
from web.deps import container, limit_param, paged, require
from web.errors import Forbidden

router = APIRouter(tags=["sms"])


@router.get("/api/sms", summary="The SMS outbox, newest first (phones and link secrets masked)")
def outbox(request: Request, limit: int = Depends(limit_param), incident_id: str | None = None,
           p: Principal = Depends(require("dispatcher"))) -> list[dict[str, Any]]:
    from connectors.sql.outbox import sms_outbox

    return paged(request, [{"id": m.id, "store": store, "to": mask_phone(m.to), "body": mask_link_secrets(m.body), "purpose": m.purpose,
             "status": m.status, "incident_id": m.incident_id, "created_at": iso(m.created_at),
             "sent_at": iso(m.sent_at) if m.sent_at else None, "provider_sid": m.provider_sid}
            for store, m in sms_outbox(container(request).store, limit, incident_id)])


@router.post("/api/sms/inbound", summary="Twilio inbound SMS webhook (X-Twilio-Signature required)",
             responses={200: {"content": {"text/xml": {}}}, 403: {"description": "missing or invalid signature"}})
async def inbound(request: Request) -> Response:
    c = container(request)
    # Twilio posts application/x-www-form-urlencoded; parsed here without a multipart dependency
    try:
        raw = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise Forbidden("invalid or missing Twilio signature") from None
    params = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
    url = c.settings.base_url.rstrip("/") + request.url.path
    if not valid_twilio_signature(c.settings.twilio_auth_token, url, params, request.headers.get("x-twilio-signature")):
        raise Forbidden("invalid or missing Twilio signature")
    from claims.commands import ConfirmBySms
    from claims.quick_service import confirm_by_sms

    reply = confirm_by_sms(ConfirmBySms(params.get("From", ""), params.get("Body", ""), c.clock.now()),
                           c.claims_uow("web"))
    request.app.state.relay_notify()
    xml = f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{reply}</Message></Response>' if reply else \
        '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    return Response(xml, media_type="text/xml")
