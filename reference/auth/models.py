"""The auth schema: accounts (one per person), the social identities that log into them, and
the revoked tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, UniqueConstraint, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column

from reference.common.db import Base

NICKNAME_LENGTH = 100  # the identity's nickname column; longer ones are cut to fit


class User(Base):
    __tablename__ = "users"
    __table_args__ = ({"schema": "auth"},)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Identity(Base):
    """A provider's account (Kakao, Naver, Google) linked to one of ours."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("provider", "subject"), {"schema": "auth"})

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth.users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(16))
    # What the provider calls the user (Kakao's numeric id, Naver's id, Google's sub).
    subject: Mapped[str] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(320))
    nickname: Mapped[str | None] = mapped_column(String(NICKNAME_LENGTH))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RevokedToken(Base):
    """A token denied before its expiry (logout, refresh rotation): the durable deny-list that
    Redis mirrors, so revocation survives a Redis restart. Rows past ``expires_at`` are inert and
    removed by ``cleanup.cache``."""

    __tablename__ = "revoked_tokens"
    __table_args__ = ({"schema": "auth"},)

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    reason: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RevokedUser(Base):
    """Every token of a user issued up to ``cutoff`` (epoch seconds) is denied (account
    deletion, a rotated refresh token presented again)."""

    __tablename__ = "revoked_users"
    __table_args__ = ({"schema": "auth"},)

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    cutoff: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
