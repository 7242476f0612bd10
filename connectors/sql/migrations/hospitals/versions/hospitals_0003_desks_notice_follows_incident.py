"""the pre-arrival notice follows its incident: the ambulance's live status, withdrawal

Revision ID: hospitals_0003
Revises: hospitals_0002
Create Date: 2026-11-30 18:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connectors.sql.models

revision = 'hospitals_0003'
down_revision = 'hospitals_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('admissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ambulance', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('withdrawn_at', connectors.sql.models.AwareDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('withdrawn_reason', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('payments', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('admissions', schema=None) as batch_op:
        batch_op.drop_column('payments')
        batch_op.drop_column('withdrawn_reason')
        batch_op.drop_column('withdrawn_at')
        batch_op.drop_column('ambulance')
