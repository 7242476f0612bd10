"""SMS through the real ``twilio`` client; inbound webhook signatures checked with Twilio's validator.

Without credentials the platform keeps an SMS outbox (table ``sms_outbox``, status ``held``) that a
person can read (``accidentlink sms``, ``GET /api/sms``), with parties' link secrets masked; the text as
sent, secret included, goes only to the party's "handset": an owner-only file per phone under
``.var/handsets/`` (``HeldSms.hold``). ``TWILIO_API_BASE`` points the client at a stand-in of Twilio's
REST API (tests); production leaves it unset.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Mapping

from accidentlink.private_files import FILE_MODE, owner_only_dir
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
    """No credentials: nothing leaves the machine. Staff read the outbox (masked); each text as it would
    reach the phone is appended to that phone's handset file (``handsets/<digits>.txt``, folder 0700,
    file 0600), which stands in for the party's phone: the only place a party's link secret is shown."""

    live = False

    def __init__(self, handsets: Path | str | None = None):
        self.handsets = Path(handsets) if handsets is not None else None

    def send(self, to: str, body: str) -> str:  # pragma: no cover - never called when not live
        raise RuntimeError("SMS is not configured")

    def hold(self, texts: Iterable[tuple[str, str]]) -> None:
        """Deliver ``(to, body)`` texts to their handset files (nothing without a handsets folder)."""
        if self.handsets is None:
            return
        by_phone: dict[str, list[str]] = {}
        for to, body in texts:
            by_phone.setdefault(handset_name(to), []).append(body)
        if not by_phone:
            return
        owner_only_dir(self.handsets)
        for name, bodies in by_phone.items():
            fd = os.open(self.handsets / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write("".join(b.replace("\n", " ") + "\n" for b in bodies))


def handset_name(phone: str) -> str:
    """The handset file of a phone number: its digits (``+8613800000001`` -> ``8613800000001.txt``)."""
    return (re.sub(r"\D", "", phone or "") or "unknown") + ".txt"


def handset_texts(handsets: Path | str, phone: str) -> list[str]:
    """What a phone received, oldest first (tests and the demo: the party's view)."""
    path = Path(handsets) / handset_name(phone)
    return path.read_text("utf-8").splitlines() if path.exists() else []


def valid_twilio_signature(auth_token: str | None, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    """Twilio signs each webhook with HMAC-SHA1 over the URL and sorted form fields."""
    if not auth_token or not signature:
        return False
    return RequestValidator(auth_token).validate(url, dict(params), signature)
