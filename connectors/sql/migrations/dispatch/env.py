"""Alembic environment of the dispatch store (its own history)."""
from connectors.sql.migrations.common import run

run("dispatch")
