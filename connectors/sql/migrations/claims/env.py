"""Alembic environment of the claims store (its own history)."""
from connectors.sql.migrations.common import run

run("claims")
