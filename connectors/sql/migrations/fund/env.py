"""Alembic environment of the fund store (its own history)."""
from connectors.sql.migrations.common import run

run("fund")
