"""device keys: the previous key and until when it still verifies (rotation)

Revision ID: 0003_device_keys
Revises: 0002
Create Date: 2026-11-28 16:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_device_keys'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_key_hex', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('previous_key_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_column('previous_key_until')
        batch_op.drop_column('previous_key_hex')
