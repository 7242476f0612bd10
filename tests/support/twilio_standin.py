"""A local stand-in for Twilio's REST API (Messages.json), recording every request it gets."""
from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class Captured:
    method: str
    path: str
    auth: tuple[str, str] | None
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class TwilioStandIn:
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "test-auth-token"
    requests: list[Captured] = field(default_factory=list)
    fail_to: set[str] = field(default_factory=set)

    def start(self) -> "TwilioStandIn":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(n).decode()).items()}
                auth = None
                h = self.headers.get("Authorization", "")
                if h.startswith("Basic "):
                    user, _, pw = base64.b64decode(h[6:]).decode().partition(":")
                    auth = (user, pw)
                standin.requests.append(Captured("POST", self.path, auth, form, dict(self.headers)))
                if auth != (standin.account_sid, standin.auth_token):
                    return self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
                if form.get("To") in standin.fail_to:
                    return self._json(400, {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400})
                sid = "SM" + uuid.uuid4().hex
                self._json(201, {"sid": sid, "account_sid": standin.account_sid, "to": form.get("To"),
                                 "from": form.get("From"), "body": form.get("Body"), "status": "queued",
                                 "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
                                 "uri": f"/2010-04-01/Accounts/{standin.account_sid}/Messages/{sid}.json"})

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def env(self, from_: str = "+15005550006") -> dict[str, str]:
        return {"TWILIO_ACCOUNT_SID": self.account_sid, "TWILIO_AUTH_TOKEN": self.auth_token,
                "TWILIO_FROM": from_, "TWILIO_API_BASE": self.base_url}

    def stop(self) -> None:
        self.server.shutdown()
