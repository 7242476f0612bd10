"""The platform as separate processes (the intake, the pipelines, hospitals and the web), as `accidentlink run`
starts them, on the test's broker, database and topic prefix; with kill/restart for crash tests."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[2]
CHILDREN = {"intake": ["worker", "intake"], "dispatch": ["worker", "dispatch"],
            "rescue-fund": ["worker", "rescue-fund"], "claims": ["worker", "claims"],
            "hospitals": ["worker", "hospitals"], "web": ["web"]}


def wait_for(cond: Callable[[], Any], timeout: float = 30, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except Exception as e:  # the thing may not be there yet
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Platform:
    bootstrap: str
    db_url: str
    prefix: str
    var_dir: Path
    http_port: int
    env_extra: dict[str, str] = field(default_factory=dict)
    # a child's own environment on top (its Kafka principal on a secure broker): by process name (``intake``,
    # ``rescue-fund``, ``web``, ...; ``cli`` for ``cli()``)
    child_env: dict[str, dict[str, str]] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "DATABASE_URL"))}
        env.update({"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "DATABASE_URL": self.db_url,
                    "ACCIDENTLINK_TOPIC_PREFIX": self.prefix, "ACCIDENTLINK_VAR": str(self.var_dir),
                    "HTTP_PORT": str(self.http_port), "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
                    "PIPELINE_BATCH_WITHIN_MS": "10",
                    # every test's requests come from 127.0.0.1: generous limits unless a test sets its own
                    "HTTP_RATE_LIMIT_PER_S": "500", "HTTP_RATE_LIMIT_PER_ADDRESS_PER_S": "1000"})
        env.update(self.env_extra)
        return env

    def env_of(self, name: str) -> dict[str, str]:
        return {**self.env, **self.child_env.get(name.split("#")[0], {})}

    def cli(self, *args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "accidentlink.cli", *args], env=self.env_of("cli"), cwd=REPO,
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise AssertionError(f"accidentlink {' '.join(args)} failed: {out.stderr[-2000:]}")
        return out.stdout

    def start(self, *names: str) -> None:
        """Start the named processes (all by default); ``dispatch#2`` is a second replica of ``dispatch``."""
        for name in names or CHILDREN:
            log = self.var_dir / f"{name}.log"
            self.logs[name] = log
            fh = open(log, "ab")
            self.procs[name] = subprocess.Popen([sys.executable, "-m", "accidentlink.cli", *CHILDREN[name.split("#")[0]]],
                                                env=self.env_of(name), cwd=REPO, stdout=fh, stderr=subprocess.STDOUT,
                                                start_new_session=True)

    def revive(self) -> list[str]:
        """What a supervisor does (``accidentlink run``, compose's restart policy): start dead children again."""
        dead = [n for n, p in self.procs.items() if p.poll() is not None]
        if dead:
            self.start(*dead)
        return dead

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        p = self.procs[name]
        if p.poll() is None:
            os.killpg(p.pid, sig)
            p.wait(timeout=30)

    def stop(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)

    def store_url(self, context: str) -> str:
        """One context's store, as the processes derive it from the platform's database URL."""
        from connectors.sql.stores import url_for

        return url_for(context, self.db_url, self.var_dir, env={})

    def log_tail(self, name: str, n: int = 3000) -> str:
        try:
            return self.logs[name].read_text(errors="replace")[-n:]
        except (KeyError, OSError):
            return ""

    # ---------------------------------------------------------------- http
    def request(self, method: str, path: str, token: str | None = None, body: Any = None,
                headers: dict[str, str] | None = None, raw: bytes | None = None) -> Response:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, payload, hdrs = r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            status, payload, hdrs = e.code, e.read(), dict(e.headers)
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = payload.decode(errors="replace")
        return Response(status, parsed, hdrs)

    def get(self, path: str, token: str | None = None) -> Response:
        """A GET; a list asked for with ``limit`` above one page (200) follows ``X-Next-Cursor`` until it has
        that many items or the list ends, as a client of the paged API does (``request`` gets one page)."""
        res = self.request("GET", path, token)
        url = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(url.query))
        wanted = int(query["limit"]) if query.get("limit", "").isdigit() else 0
        if res.status != 200 or not isinstance(res.body, list) or wanted <= 200:
            return res
        items = list(res.body)
        while len(items) < wanted:
            cursor = res.headers.get("X-Next-Cursor") or res.headers.get("x-next-cursor")
            if not cursor:
                break
            query.update(limit=str(wanted - len(items)), cursor=cursor)
            res = self.request("GET", urllib.parse.urlunsplit(url._replace(query=urllib.parse.urlencode(query))), token)
            if res.status != 200 or not isinstance(res.body, list):
                return res
            items += res.body
        return Response(200, items, res.headers)

    def post(self, path: str, token: str | None = None, body: Any = None, **kw: Any) -> Response:
        return self.request("POST", path, token, body if body is not None else {}, **kw)

    def healthy(self) -> bool:
        return self.get("/healthz").status == 200

    def wait_healthy(self, timeout: float = 90) -> None:
        try:
            wait_for(self.healthy, timeout, 0.3, "healthz 200")
        except AssertionError:
            raise AssertionError("platform not healthy: " + "; ".join(
                f"{n}: rc={p.poll()} {self.log_tail(n, 1500)}" for n, p in self.procs.items()))

    def token(self, role: str, name: str, **scope: str) -> str:
        args = ["token", "create", "--role", role, "--name", name]
        for k, v in scope.items():
            args += [f"--{k}", v]
        return self.cli(*args).strip()
