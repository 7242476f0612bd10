"""Settings from the environment, read once; every default is the embedded local set-up."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _int(name: str, default: int) -> int:
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


def _secret(name: str, env: "os._Environ[str] | dict[str, str]") -> str | None:
    """``NAME`` or the contents of the file ``NAME_FILE`` names (a docker/compose secret), trailing newline cut."""
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as e:
            raise ValueError(f"{name}_FILE={path}: cannot read it ({e.strerror})") from None
    return env.get(name) or None


@dataclass(frozen=True)
class KafkaSecurity:
    """How every Kafka client of this process authenticates and encrypts (kafka-python, faust, the feed, the CLI).

    ``KAFKA_SECURITY_PROTOCOL`` PLAINTEXT (default: the embedded broker of ``make run``) | SSL | SASL_PLAINTEXT
    | SASL_SSL; ``KAFKA_SASL_MECHANISM`` (SCRAM-SHA-512 by default), ``KAFKA_SASL_USERNAME``,
    ``KAFKA_SASL_PASSWORD`` or ``KAFKA_SASL_PASSWORD_FILE``; ``KAFKA_SSL_CAFILE`` (PEM of the CA that signed the
    brokers; unset = the system's CAs), ``KAFKA_SSL_CERTFILE`` / ``KAFKA_SSL_KEYFILE`` / ``KAFKA_SSL_KEY_PASSWORD``
    (a client certificate, for brokers that ask for one), ``KAFKA_SSL_CHECK_HOSTNAME`` (default true).
    The clients are built from this in one place: ``connectors.kafka``."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    key_password: str | None = field(default=None, repr=False)
    check_hostname: bool = True

    def __post_init__(self) -> None:
        if self.protocol not in _PROTOCOLS:
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL={self.protocol!r}: one of {', '.join(_PROTOCOLS)}")
        if self.uses_sasl:
            if self.sasl_mechanism not in _MECHANISMS:
                raise ValueError(f"KAFKA_SASL_MECHANISM={self.sasl_mechanism!r}: one of {', '.join(_MECHANISMS)}")
            if not self.username or not self.password:
                raise ValueError(f"KAFKA_SECURITY_PROTOCOL={self.protocol} needs KAFKA_SASL_USERNAME and "
                                 "KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE)")
        if self.keyfile and not self.certfile:
            raise ValueError("KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @classmethod
    def from_env(cls, env: "os._Environ[str] | dict[str, str] | None" = None) -> "KafkaSecurity":
        env = os.environ if env is None else env
        check = (env.get("KAFKA_SSL_CHECK_HOSTNAME") or "true").strip().lower()
        if check not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"KAFKA_SSL_CHECK_HOSTNAME={check!r}: true or false")
        return cls(protocol=(env.get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").strip().upper(),
                   sasl_mechanism=(env.get("KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512").strip().upper(),
                   username=env.get("KAFKA_SASL_USERNAME") or None, password=_secret("KAFKA_SASL_PASSWORD", env),
                   cafile=env.get("KAFKA_SSL_CAFILE") or None, certfile=env.get("KAFKA_SSL_CERTFILE") or None,
                   keyfile=env.get("KAFKA_SSL_KEYFILE") or None, key_password=_secret("KAFKA_SSL_KEY_PASSWORD", env),
                   check_hostname=check in ("true", "1", "yes"))

    def as_env(self) -> dict[str, str]:
        """The environment that makes a child process's clients use these settings (the harness, the bench)."""
        env = {"KAFKA_SECURITY_PROTOCOL": self.protocol}
        if self.uses_sasl:
            env.update(KAFKA_SASL_MECHANISM=self.sasl_mechanism, KAFKA_SASL_USERNAME=self.username or "",
                       KAFKA_SASL_PASSWORD=self.password or "")
        if self.uses_tls:
            env["KAFKA_SSL_CHECK_HOSTNAME"] = "true" if self.check_hostname else "false"
            for name, value in (("KAFKA_SSL_CAFILE", self.cafile), ("KAFKA_SSL_CERTFILE", self.certfile),
                                ("KAFKA_SSL_KEYFILE", self.keyfile), ("KAFKA_SSL_KEY_PASSWORD", self.key_password)):
                if value:
                    env[name] = value
        return env


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
    def kafka_security(self) -> KafkaSecurity:
        """Read when a Kafka client is built, so that a process that never touches Kafka (migrate) needs none."""
        return KafkaSecurity.from_env()

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
