"""Request and response bodies of the auth API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from reference.auth.models import NICKNAME_LENGTH
from reference.auth.providers import ProviderName


class LoginStart(BaseModel):
    provider: str
    authorization_url: str = Field(description="Open this in the browser / web view.")
    state: str = Field(description="Single use; the provider sends it back to the callback.")
    redirect_uri: str
    expires_in: int = Field(description="Seconds the state stays valid.")


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires.")
    user_id: uuid.UUID
    new_user: bool = Field(description="true when this login created the account")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=1, max_length=4096)


class LogoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str | None = Field(
        None, max_length=4096, description="Revoked too when given (it must be the caller's)."
    )


class DevLoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: ProviderName = "kakao"
    subject: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._@:-]+$",
        description="The provider's user id to log in as.",
    )
    nickname: str | None = Field(None, max_length=NICKNAME_LENGTH)
    email: str | None = Field(None, max_length=320)


class IdentityOut(BaseModel):
    provider: str
    subject: str
    email: str | None
    nickname: str | None
    created_at: datetime
    last_login_at: datetime | None


class AccountOut(BaseModel):
    user_id: uuid.UUID
    created_at: datetime
    last_login_at: datetime | None
    identities: list[IdentityOut]
