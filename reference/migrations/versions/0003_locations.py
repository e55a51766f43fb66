"""The locations collection points, indexed for the nearby query and the category filter.

No PostGIS and no extension: a GiST index on the built-in ``point(lon, lat)`` answers the
bounding-box prefilter, the haversine distance is computed on what it yields. (cube and
earthdistance are available here, but an index on ``ll_to_earth`` is known to break restoring
pg_dump output on older PostgreSQL releases, whose earthdistance functions find cube through
the search_path that the restore empties; backup.database's dumps must restore. Built-in types
also work on any PostgreSQL the harness brings up.)

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collection_points",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("source_key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("categories", postgresql.ARRAY(sa.String(32)), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("opening_hours", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(32)),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_collection_points"),
        sa.UniqueConstraint("source_key", name="uq_collection_points_source_key"),
        sa.CheckConstraint(
            "lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180",
            name="ck_collection_points_position",
        ),
        schema="locations",
    )
    op.create_index(
        "ix_collection_points_position",
        "collection_points",
        [sa.text("point(lon, lat)")],
        postgresql_using="gist",
        schema="locations",
    )
    op.create_index(
        "ix_collection_points_categories",
        "collection_points",
        ["categories"],
        postgresql_using="gin",
        schema="locations",
    )
    op.create_index("ix_collection_points_kind", "collection_points", ["kind"], schema="locations")


def downgrade() -> None:
    op.drop_table("collection_points", schema="locations")
