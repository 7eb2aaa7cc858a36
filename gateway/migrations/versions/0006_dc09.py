"""dc09: receivers and their messages, staged with their cause (docs/dc09.md)

Revision ID: 0006_dc09
Revises: 0005_stations
Create Date: 2026-11-30 17:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_dc09'
down_revision = '0005_stations'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dc09_receivers',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('next_sequence', sa.Integer(), nullable=False),
        sa.Column('holder', sa.String(length=100), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_table(
        'dc09_messages',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('receiver', sa.String(length=32), nullable=False),
        sa.Column('source_key', sa.String(length=80), nullable=False),
        sa.Column('device_id', sa.String(length=15), nullable=False),
        sa.Column('contact_id', sa.String(length=16), nullable=False),
        sa.Column('extended', sa.JSON(), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('sequence', sa.Integer(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['receiver'], ['dc09_receivers.name']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('receiver', 'source_key'),
    )
    with op.batch_alter_table('dc09_messages', schema=None) as batch_op:
        batch_op.create_index('ix_dc09_messages_head', ['receiver', 'state', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dc09_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_dc09_messages_head')
    op.drop_table('dc09_messages')
    op.drop_table('dc09_receivers')
