"""Alembic environment of the hospitals store (its own history)."""
from connectors.sql.migrations.common import run

run("hospitals")
