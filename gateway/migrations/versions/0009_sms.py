"""sms: raw SMS inbox, and the devices' registered SIM numbers (docs/sms.md)

Revision ID: 0009_sms
Revises: 0006_dc09
Create Date: 2026-11-30 18:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009_sms'
down_revision = '0008_commands'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sms_inbox',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('pdu', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('sender', sa.String(length=40), nullable=True),
        sa.Column('outcome', sa.String(length=40), nullable=True),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('digest'),
    )
    with op.batch_alter_table('sms_inbox', schema=None) as batch_op:
        batch_op.create_index('ix_sms_inbox_state', ['state'], unique=False)
    op.create_table(
        'device_sims',
        sa.Column('device_id', sa.String(length=15), nullable=False),
        sa.Column('sim_number', sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(['device_id'], ['devices.id']),
        sa.PrimaryKeyConstraint('device_id'),
    )
    with op.batch_alter_table('device_sims', schema=None) as batch_op:
        batch_op.create_index('ix_device_sims_sim_number', ['sim_number'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('device_sims', schema=None) as batch_op:
        batch_op.drop_index('ix_device_sims_sim_number')
    op.drop_table('device_sims')
    with op.batch_alter_table('sms_inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_sms_inbox_state')
    op.drop_table('sms_inbox')
