"""A store per context: which tables each context owns, where its database is, and its migrations.

Every bounded context owns its tables in its own store and no statement reaches into another's:
- ``intake``: unified incidents (the merge), their reports, rejected input;
- ``dispatch``: its copy of the incident facts, units, posts, hospitals (to choose from), orders, timeline;
- ``hospitals``: its copy of the incident facts, hospitals, green-channel admissions, rescue-cost bills;
- ``fund``: its copy of the incident facts and of the bills, cases, payments, ledger, recoveries;
- ``claims``: its copy of the incident facts, claims, quick-handling cases;
- ``web``: bearer tokens and idempotency keys.

Every store also has the delivery bookkeeping (``processed_events`` inbox, ``outbox``, the record of what
it dead-lettered, ``rejected_messages``), and those with
effects outside (``sms_outbox``) or with people acting on them (``audit_log``) have those too. What one
context needs of another arrives as events on Kafka and is kept as its own copy (same row shapes,
``IncidentRow``/``ReportRow``/``BillRow``, filled only by that context's consumers).

Where each store lives:
- ``<CONTEXT>_DATABASE_URL`` (``INTAKE_DATABASE_URL``, ``DISPATCH_DATABASE_URL``, ``HOSPITALS_…``,
  ``FUND_…``, ``CLAIMS_…``, ``WEB_…``) names it alone;
- else ``DATABASE_URL``: for PostgreSQL, one schema per context in that database (``search_path``);
  for a SQLite file ``dir/name.db``, a file per context beside it (``dir/name.<context>.db``);
- else the embedded default, ``.var/<context>.db``.
Each store has its own Alembic history (``connectors/sql/migrations/<context>/``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

CONTEXTS = ("intake", "dispatch", "hospitals", "fund", "claims", "web")

_INBOX_OUTBOX = ("processed_events", "outbox", "rejected_messages")  # what every consumer needs to deliver once
_INCIDENT_COPY = ("incidents", "reports", "incident_timeline")

TABLES: Mapping[str, tuple[str, ...]] = {
    "intake": _INBOX_OUTBOX + ("incidents", "reports"),
    "dispatch": _INBOX_OUTBOX + _INCIDENT_COPY + ("sms_outbox", "audit_log", "posts", "hospitals", "units", "orders"),
    "hospitals": _INBOX_OUTBOX + _INCIDENT_COPY + ("audit_log", "hospitals", "admissions", "bills"),
    "fund": _INBOX_OUTBOX + _INCIDENT_COPY + ("sms_outbox", "audit_log", "bills", "fund_cases", "fund_payments",
                                              "fund_ledger", "recoveries"),
    "claims": _INBOX_OUTBOX + _INCIDENT_COPY + ("sms_outbox", "audit_log", "claims", "quick_cases"),
    "web": ("tokens", "idempotency_keys", "audit_log"),
}

MIGRATIONS = Path(__file__).parent / "migrations"


def url_for(context: str, database_url: str | None, var_dir: Path, env: Mapping[str, str] | None = None) -> str:
    """The URL of one context's store (see the module's docstring for the order of choice)."""
    if context not in TABLES:
        raise ValueError(f"no store named {context!r}; one of {', '.join(CONTEXTS)}")
    env = os.environ if env is None else env
    own = env.get(f"{context.upper()}_DATABASE_URL")
    if own:
        return own
    if not database_url:
        return "sqlite:///" + str(var_dir / f"{context}.db")
    if database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        path, _, query = database_url[len("sqlite:///"):].partition("?")
        p = Path(path)
        own = p.with_name(f"{p.stem}.{context}{p.suffix or '.db'}")
        return f"sqlite:///{own}" + (f"?{query}" if query else "")
    if database_url.startswith(("postgresql", "postgres")):
        sep = "&" if "?" in database_url else "?"
        return f"{database_url}{sep}options=-csearch_path%3D{context}"
    return database_url


def schema_of(url: str) -> str | None:
    """The PostgreSQL schema a store URL selects (``options=-csearch_path=...``), if any."""
    marker = "search_path%3D"
    if marker not in url:
        return None
    return url.split(marker, 1)[1].split("&", 1)[0]


def all_urls(database_url: str | None, var_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    return {c: url_for(c, database_url, var_dir, env) for c in CONTEXTS}


def upgrade_all(database_url: str | None, var_dir: Path, revision: str = "head") -> None:
    """Migrate every context's store to ``revision`` (each with its own history)."""
    from connectors.sql.db import upgrade

    for context, url in all_urls(database_url, var_dir).items():
        upgrade(url, revision, context=context)

