"""waste.jobs.cache_match and cache_distance: how a job was answered (exact digest, near
duplicate and its Hamming distance, or the model).

Revision ID: 0007
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("cache_match", sa.String(8)), schema="waste")
    op.add_column("jobs", sa.Column("cache_distance", sa.Integer()), schema="waste")


def downgrade() -> None:
    op.drop_column("jobs", "cache_distance", schema="waste")
    op.drop_column("jobs", "cache_match", schema="waste")
