"""an Idempotency-Key is bound to the request's body too (issue 14: a different body answers 422)

Revision ID: web_0002
Revises: web_0001
Create Date: 2026-11-30 18:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'web_0002'
down_revision = 'web_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('idempotency_keys') as b:
        b.add_column(sa.Column('request_hash', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('idempotency_keys') as b:
        b.drop_column('request_hash')
