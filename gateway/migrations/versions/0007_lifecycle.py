"""lifecycle: alert transitions, escalation timers, notifications (docs/operations.md)

Revision ID: 0007_lifecycle
Revises: 0006_dc09
Create Date: 2026-11-30 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007_lifecycle'
down_revision = '0006_dc09'
branch_labels = None
depends_on = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        # Alerts from before this revision never escalate: their escalate_at stays null.
        batch_op.add_column(sa.Column('escalation_level', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('escalation', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('escalate_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_alerts_escalate_at'), ['escalate_at'], unique=False)
    op.create_table(
        'alert_transitions',
        sa.Column('id', _ROW_ID, autoincrement=True, nullable=False),
        sa.Column('alert_id', sa.String(length=40), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('by', sa.String(length=100), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('rev', sa.Integer(), nullable=False),
        sa.Column('escalation', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('alert_transitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_transitions_alert_id'), ['alert_id'], unique=False)
    op.create_table(
        'notify_events',
        sa.Column('id', _ROW_ID, autoincrement=True, nullable=False),
        sa.Column('alert_id', sa.String(length=40), nullable=False),
        sa.Column('event', sa.String(length=30), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('alert_id', 'event'),
    )
    with op.batch_alter_table('notify_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notify_events_due_at'), ['due_at'], unique=False)
    op.create_table(
        'notifications',
        sa.Column('id', _ROW_ID, autoincrement=True, nullable=False),
        sa.Column('alert_id', sa.String(length=40), nullable=False),
        sa.Column('event', sa.String(length=30), nullable=False),
        sa.Column('channel', sa.String(length=10), nullable=False),
        sa.Column('recipient', sa.String(length=300), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('lang', sa.String(length=5), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('alert_id', 'event', 'channel', 'recipient'),
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_due_at'), ['due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_due_at'))
        batch_op.drop_index(batch_op.f('ix_notifications_alert_id'))
    op.drop_table('notifications')
    with op.batch_alter_table('notify_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notify_events_due_at'))
    op.drop_table('notify_events')
    with op.batch_alter_table('alert_transitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_transitions_alert_id'))
    op.drop_table('alert_transitions')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_escalate_at'))
        batch_op.drop_column('escalate_at')
        batch_op.drop_column('escalation')
        batch_op.drop_column('escalation_level')
