"""Alembic environment of the intake store (its own history)."""
from connectors.sql.migrations.common import run

run("intake")
