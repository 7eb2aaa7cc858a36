"""stations: the police stations alerts are routed to (docs/stations.md)

Revision ID: 0005_stations
Revises: 0004_outbox
Create Date: 2026-11-30 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005_stations'
down_revision = '0004_outbox'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'stations',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('parent_id', sa.String(length=64), nullable=True),
        sa.Column('lat_e7', sa.BigInteger(), nullable=False),
        sa.Column('lon_e7', sa.BigInteger(), nullable=False),
        sa.Column('phones', sa.JSON(), nullable=False),
        sa.Column('coverage', sa.Text(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['parent_id'], ['stations.id'], name='fk_stations_parent_id'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_stations_parent_id', 'stations', ['parent_id'])
    op.create_index('ix_stations_updated_at', 'stations', ['updated_at'])


def downgrade() -> None:
    op.drop_index('ix_stations_updated_at', table_name='stations')
    op.drop_index('ix_stations_parent_id', table_name='stations')
    op.drop_table('stations')
