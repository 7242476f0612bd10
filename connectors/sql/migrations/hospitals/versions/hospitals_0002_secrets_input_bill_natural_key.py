"""a bill's natural key: the hospital's invoice number (or, without one, the admission and the bill's content),
unique per hospital (issue 14: a bill sent twice is recorded and paid once)

Revision ID: hospitals_0002
Revises: hospitals_0001
Create Date: 2026-11-30 18:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'hospitals_0002'
down_revision = 'hospitals_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('bills') as b:
        b.add_column(sa.Column('invoice_number', sa.String(length=60), nullable=True))
        b.add_column(sa.Column('natural_key', sa.String(length=140), nullable=True))
        b.add_column(sa.Column('content_hash', sa.String(length=64), nullable=True))
        b.create_unique_constraint('uq_bills_hospital_natural_key', ['hospital_id', 'natural_key'])


def downgrade() -> None:
    with op.batch_alter_table('bills') as b:
        b.drop_constraint('uq_bills_hospital_natural_key', type_='unique')
        b.drop_column('content_hash')
        b.drop_column('natural_key')
        b.drop_column('invoice_number')
