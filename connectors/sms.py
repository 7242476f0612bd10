"""SMS through the real ``twilio`` client; inbound webhook signatures checked with Twilio's validator.

Without credentials the platform keeps an SMS outbox (table ``sms_outbox``, status ``held``) that a
person can read (``accidentlink sms list``, ``GET /api/sms``). ``TWILIO_API_BASE`` points the
client at a stand-in of Twilio's REST API (tests); production leaves it unset.
"""
from __future__ import annotations

from typing import Mapping

from twilio.request_validator import RequestValidator
from twilio.rest import Client


class TwilioSms:
    live = True

    def __init__(self, account_sid: str, auth_token: str, from_: str, api_base: str | None = None):
        self.client = Client(account_sid, auth_token)
        if api_base:
            self.client.api.base_url = api_base.rstrip("/")
        self.from_ = from_

    def send(self, to: str, body: str) -> str:
        msg = self.client.messages.create(to=to, from_=self.from_, body=body)
        return msg.sid


class HeldSms:
    """No credentials: nothing leaves the machine; the outbox is what a person reads."""

    live = False

    def send(self, to: str, body: str) -> str:  # pragma: no cover - never called when not live
        raise RuntimeError("SMS is not configured")


def valid_twilio_signature(auth_token: str | None, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    """Twilio signs each webhook with HMAC-SHA1 over the URL and sorted form fields."""
    if not auth_token or not signature:
        return False
    return RequestValidator(auth_token).validate(url, dict(params), signature)
