"""sms_acks: alert states told to buttons by SMS, and where an SMS alert is answered (docs/sms.md)

Revision ID: 0010_sms_acks
Revises: 0009_sms
Create Date: 2026-12-01 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010_sms_acks'
down_revision = '0009_sms'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sms_routes',
        sa.Column('alert_id', sa.String(length=40), nullable=False),
        sa.Column('sender', sa.String(length=40), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id']),
        sa.PrimaryKeyConstraint('alert_id'),
    )
    op.create_table(
        'sms_acks',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('alert_id', sa.String(length=40), nullable=False),
        sa.Column('device_id', sa.String(length=15), nullable=False),
        sa.Column('ref', sa.BigInteger(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('recipient', sa.String(length=40), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('alert_id', 'state'),
    )
    with op.batch_alter_table('sms_acks', schema=None) as batch_op:
        batch_op.create_index('ix_sms_acks_due_at', ['due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sms_acks', schema=None) as batch_op:
        batch_op.drop_index('ix_sms_acks_due_at')
    op.drop_table('sms_acks')
    op.drop_table('sms_routes')
