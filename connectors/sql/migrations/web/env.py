"""Alembic environment of the web store (its own history)."""
from connectors.sql.migrations.common import run

run("web")
