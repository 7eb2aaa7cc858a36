"""outbox: publications committed with their cause

Revision ID: 0004_outbox
Revises: 0003_device_keys
Create Date: 2026-11-30 16:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_outbox'
down_revision = '0003_device_keys'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('qos', sa.Integer(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=True),
    sa.Column('alert_id', sa.String(length=40), nullable=True),
    sa.Column('rev', sa.Integer(), nullable=True),
    sa.Column('device_id', sa.String(length=15), nullable=True),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('unreceipted_reported', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_due_at'), ['due_at'], unique=False)
    # Alerts committed before the outbox existed whose newest revision was
    # never confirmed: stage them, so nothing unpublished is forgotten.
    op.execute(
        "INSERT INTO outbox (kind, topic, qos, body, alert_id, rev, device_id, state, attempts, due_at, "
        "claimed_by, created_at, unreceipted_reported) "
        "SELECT 'dispatch_alert', 'panic/v1/dispatch/alerts', 1, NULL, id, rev, device_id, 'pending', 1, "
        "updated_at, NULL, updated_at, false FROM alerts WHERE published_rev < rev"
    )


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_due_at'))
        batch_op.drop_index(batch_op.f('ix_outbox_alert_id'))
    op.drop_table('outbox')
