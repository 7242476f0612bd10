"""Settings from the environment, read once; every default is the embedded local set-up."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _int(name: str, default: int) -> int:
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    var_dir: Path = field(default_factory=lambda: Path(os.environ.get("ACCIDENTLINK_VAR", REPO_ROOT / ".var")))
    # None: the project starts its own broker on 127.0.0.1:9092 (contract, "Operating")
    kafka_bootstrap: str | None = field(default_factory=lambda: os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None)
    kafka_port: int = field(default_factory=lambda: _int("KAFKA_PORT", 9092))
    database_url: str | None = field(default_factory=lambda: os.environ.get("DATABASE_URL") or None)
    http_host: str = field(default_factory=lambda: os.environ.get("HTTP_HOST", "127.0.0.1"))
    http_port: int = field(default_factory=lambda: _int("HTTP_PORT", 8000))
    public_base_url: str | None = field(default_factory=lambda: os.environ.get("PUBLIC_BASE_URL") or None)
    twilio_account_sid: str | None = field(default_factory=lambda: os.environ.get("TWILIO_ACCOUNT_SID") or None)
    twilio_auth_token: str | None = field(default_factory=lambda: os.environ.get("TWILIO_AUTH_TOKEN") or None)
    twilio_from: str | None = field(default_factory=lambda: os.environ.get("TWILIO_FROM") or None)
    # a local stand-in of Twilio's REST API (tests); None = api.twilio.com
    twilio_api_base: str | None = field(default_factory=lambda: os.environ.get("TWILIO_API_BASE") or None)
    ack_timeout_s: int = field(default_factory=lambda: _int("DISPATCH_ACK_TIMEOUT_S", 60))
    batch_max: int = field(default_factory=lambda: _int("PIPELINE_BATCH_MAX", 500))
    batch_within_ms: int = field(default_factory=lambda: _int("PIPELINE_BATCH_WITHIN_MS", 20))
    max_body_bytes: int = field(default_factory=lambda: _int("HTTP_MAX_BODY_BYTES", 256 * 1024))
    # per known token, and per client address (all its tokens together): well below what one web process
    # serves (README, "Rate limit"); 429 with Retry-After beyond
    rate_limit_per_s: int = field(default_factory=lambda: _int("HTTP_RATE_LIMIT_PER_S", 20))
    rate_limit_per_address_per_s: int = field(default_factory=lambda: _int("HTTP_RATE_LIMIT_PER_ADDRESS_PER_S", 40))
    region: str = field(default_factory=lambda: os.environ.get("ACCIDENTLINK_REGION", "liaocheng"))
    province: str = field(default_factory=lambda: os.environ.get("ACCIDENTLINK_PROVINCE", "shandong"))
    resources: str | None = field(default_factory=lambda: os.environ.get("ACCIDENTLINK_RESOURCES") or None)

    def store_url(self, context: str) -> str:
        """One context's store (``connectors.sql.stores``): its own ``<CONTEXT>_DATABASE_URL``, else its
        schema of ``DATABASE_URL`` (PostgreSQL) or a file beside it (SQLite), else ``.var/<context>.db``."""
        from connectors.sql.stores import url_for

        return url_for(context, self.database_url, self.var_dir)

    def migrate(self) -> None:
        """Every store to its latest revision."""
        from connectors.sql.stores import upgrade_all

        upgrade_all(self.database_url, self.var_dir)

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def sms_live(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from)

    @property
    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.http_host}:{self.http_port}"


def load() -> Settings:
    return Settings()
