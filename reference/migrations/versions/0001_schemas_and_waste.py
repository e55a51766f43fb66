"""Schemas auth, users, waste, locations; the waste jobs and analyses.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMAS = ("auth", "users", "waste", "locations")


def upgrade() -> None:
    for schema in SCHEMAS:
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    op.create_table(
        "analyses",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("content_key", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("item", sa.String(200), nullable=False),
        sa.Column("item_en", sa.String(200)),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("confidence", sa.Float()),
        sa.Column("disposal_steps", postgresql.JSONB(), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("raw_answer", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_analyses"),
        schema="waste",
    )
    op.create_index("ix_analyses_content", "analyses", ["content_key", "mode"], schema="waste")
    op.create_index("ix_waste_analyses_category", "analyses", ["category"], schema="waste")
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid()),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("object_key", sa.String(300), nullable=False),
        sa.Column("size_bytes", sa.Integer()),
        sa.Column("content_key", sa.String(64)),
        sa.Column("cache_hit", sa.Boolean()),
        sa.Column("deliveries", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("model_ms", sa.Float()),
        sa.Column("analysis_id", sa.Uuid()),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_message", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("queued_at", sa.DateTime(timezone=True)),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.ForeignKeyConstraint(
            ["analysis_id"], ["waste.analyses.id"], name="fk_jobs_analysis_id_analyses"
        ),
        schema="waste",
    )
    op.create_index("ix_jobs_user_created", "jobs", ["user_id", "created_at"], schema="waste")
    op.create_index("ix_jobs_status", "jobs", ["status"], schema="waste")


def downgrade() -> None:
    op.drop_table("jobs", schema="waste")
    op.drop_table("analyses", schema="waste")
    for schema in reversed(SCHEMAS):
        op.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
