"""waste.jobs.upload_etag: the ETag of the object upload-complete checked, so the worker
downloads that object only (``If-Match``) and refuses one replaced since.

Revision ID: 0006
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("upload_etag", sa.String(80)), schema="waste")


def downgrade() -> None:
    op.drop_column("jobs", "upload_etag", schema="waste")
