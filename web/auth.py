"""Bearer tokens: stored hashed (SHA-256), revocable, optionally expiring; every route scoped by role."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from connectors.sql.db import Database
from connectors.sql.models import TokenRow

ROLES = ("dispatcher", "hospital", "fund_admin", "insurer", "intake", "unit", "police")  # police: online determination (程序规定 20)


@dataclass(frozen=True)
class Principal:
    token_id: str
    role: str
    name: str
    hospital_id: str | None = None
    insurer_id: str | None = None
    unit_id: str | None = None

    @property
    def actor(self) -> str:
        """Who acted, for the audit trail and maker-checker: one person per token."""
        return f"{self.role}:{self.name}:{self.token_id}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(db: Database, role: str, name: str, now: datetime, *, hospital_id: str | None = None,
                 insurer_id: str | None = None, unit_id: str | None = None, ttl_days: int | None = None) -> tuple[str, str]:
    """Returns (token, token_id); only the hash is stored, the token is shown once."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if role == "hospital" and not hospital_id:
        raise ValueError("a hospital token is bound to one hospital: give --hospital ID")
    if role == "insurer" and not insurer_id:
        raise ValueError("an insurer token is bound to one insurer: give --insurer ID")
    if role == "unit" and not unit_id:
        raise ValueError("a unit token is bound to one unit: give --unit ID")
    if not name.strip():
        raise ValueError("a token needs the name of the person or system holding it")
    token = "al_" + secrets.token_urlsafe(32)
    token_id = "tok_" + secrets.token_hex(6)
    with db.uow() as uow:
        uow.session.add(TokenRow(token_id=token_id, token_hash=hash_token(token), role=role, name=name.strip(),
                                 hospital_id=hospital_id if role == "hospital" else None,
                                 insurer_id=insurer_id.upper() if role == "insurer" and insurer_id else None,
                                 unit_id=unit_id if role == "unit" else None, created_at=now,
                                 expires_at=now + timedelta(days=ttl_days) if ttl_days else None))
        uow.commit()
    return token, token_id


def revoke_token(db: Database, token_id: str, now: datetime) -> bool:
    with db.uow() as uow:
        row = uow.session.get(TokenRow, token_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = now
        uow.commit()
        return True


def authenticate(db: Database, token: str | None, now: datetime) -> Principal | None:
    if not token or len(token) > 200:
        return None
    with db.read() as s:
        row = s.scalar(select(TokenRow).where(TokenRow.token_hash == hash_token(token)))
        if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
            return None
        return Principal(row.token_id, row.role, row.name, row.hospital_id, row.insurer_id, row.unit_id)
