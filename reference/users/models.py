"""The users schema: one profile per account (auth.users), created at the first login."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, String, Uuid, false, func
from sqlalchemy.orm import Mapped, mapped_column

from reference.common.db import Base


class Profile(Base):
    __tablename__ = "profiles"
    __table_args__ = ({"schema": "users"},)

    # The account's id in auth.users; no foreign key across the services' schemas, so each
    # service owns its tables (account deletion removes both, see users.service).
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    nickname: Mapped[str] = mapped_column(String(40))
    # A code of regions.REGIONS (the 17 provinces and metropolitan cities): separate-collection
    # rules differ between them.
    region: Mapped[str | None] = mapped_column(String(16))
    notifications_opt_in: Mapped[bool] = mapped_column(Boolean, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
