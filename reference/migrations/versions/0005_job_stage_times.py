"""Stage times of a job: waste.jobs.download_ms, cache_lookup_ms and store_ms.

Revision ID: 0005
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None

_COLUMNS = ("download_ms", "cache_lookup_ms", "store_ms")


def upgrade() -> None:
    for name in _COLUMNS:
        op.add_column("jobs", sa.Column(name, sa.Float(), nullable=True), schema="waste")


def downgrade() -> None:
    for name in _COLUMNS:
        op.drop_column("jobs", name, schema="waste")
