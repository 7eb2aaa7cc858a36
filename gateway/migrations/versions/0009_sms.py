"""sms: raw SMS inbox, and the device's registered SIM number (docs/sms.md)

Revision ID: 0009_sms
Revises: 0006_dc09
Create Date: 2026-11-30 18:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009_sms'
down_revision = '0006_dc09'
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
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sim_number', sa.String(length=20), nullable=True))
        batch_op.create_index('ix_devices_sim_number', ['sim_number'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index('ix_devices_sim_number')
        batch_op.drop_column('sim_number')
    with op.batch_alter_table('sms_inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_sms_inbox_state')
    op.drop_table('sms_inbox')
