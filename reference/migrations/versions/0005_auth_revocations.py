"""auth.revoked_tokens and auth.revoked_users: the durable deny-list Redis mirrors.

Revision ID: 0005_auth_revocations
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_auth_revocations"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "revoked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("jti", name="pk_revoked_tokens"),
        schema="auth",
    )
    op.create_index("ix_auth_revoked_tokens_user_id", "revoked_tokens", ["user_id"], schema="auth")
    op.create_index(
        "ix_auth_revoked_tokens_expires_at", "revoked_tokens", ["expires_at"], schema="auth"
    )
    op.create_table(
        "revoked_users",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("cutoff", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_revoked_users"),
        schema="auth",
    )
    op.create_index(
        "ix_auth_revoked_users_expires_at", "revoked_users", ["expires_at"], schema="auth"
    )


def downgrade() -> None:
    op.drop_index("ix_auth_revoked_users_expires_at", "revoked_users", schema="auth")
    op.drop_table("revoked_users", schema="auth")
    op.drop_index("ix_auth_revoked_tokens_expires_at", "revoked_tokens", schema="auth")
    op.drop_index("ix_auth_revoked_tokens_user_id", "revoked_tokens", schema="auth")
    op.drop_table("revoked_tokens", schema="auth")
