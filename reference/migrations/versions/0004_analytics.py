"""Analytics tables: waste.daily_stats and waste.stats_totals.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None

_COUNTS = (
    "jobs_total",
    "jobs_done",
    "jobs_failed",
    "cache_hits",
    "cache_misses",
)


def upgrade() -> None:
    op.create_table(
        "daily_stats",
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS),
        sa.Column("jobs_open", sa.Integer(), nullable=False),
        sa.Column("cache_hit_ratio", sa.Float()),
        sa.Column("processing_p50_ms", sa.Float()),
        sa.Column("processing_p95_ms", sa.Float()),
        sa.Column("by_category", postgresql.JSONB(), nullable=False),
        sa.Column("failures_by_code", postgresql.JSONB(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("day", name="pk_daily_stats"),
        schema="waste",
    )
    op.create_table(
        "stats_totals",
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS),
        sa.Column("cache_hit_ratio", sa.Float()),
        sa.Column("worst_daily_p95_ms", sa.Float()),
        sa.Column("by_category", postgresql.JSONB(), nullable=False),
        sa.Column("failures_by_code", postgresql.JSONB(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("scope", name="pk_stats_totals"),
        schema="waste",
    )
    # analytics.daily selects one Korean day of jobs by creation time.
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"], schema="waste")


def downgrade() -> None:
    op.drop_index("ix_jobs_created_at", "jobs", schema="waste")
    op.drop_table("stats_totals", schema="waste")
    op.drop_table("daily_stats", schema="waste")
