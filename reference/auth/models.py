"""The auth schema: accounts (one per person) and the social identities that log into them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint, Uuid, func
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
