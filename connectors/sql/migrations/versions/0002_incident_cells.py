"""incidents.cell: the 0.01° grid cell, so a pipeline batch reads its merge candidates in one query

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 16:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from connectors.sql.batch import cell_key

    with op.batch_alter_table("incidents") as b:
        b.add_column(sa.Column("cell", sa.BigInteger(), nullable=True))
    conn = op.get_bind()
    t = sa.table("incidents", sa.column("incident_id", sa.String), sa.column("lat", sa.Float),
                 sa.column("lon", sa.Float), sa.column("cell", sa.BigInteger))
    rows = conn.execute(sa.select(t.c.incident_id, t.c.lat, t.c.lon)).all()
    for i in range(0, len(rows), 1000):
        conn.execute(t.update().where(t.c.incident_id == sa.bindparam("b_id")).values(cell=sa.bindparam("b_cell")),
                     [{"b_id": r.incident_id, "b_cell": cell_key(r.lat, r.lon)} for r in rows[i:i + 1000]])
    op.create_index("ix_incidents_cell", "incidents", ["status", "cell", "last_reported_at"])


def downgrade() -> None:
    op.drop_index("ix_incidents_cell", table_name="incidents")
    with op.batch_alter_table("incidents") as b:
        b.drop_column("cell")
