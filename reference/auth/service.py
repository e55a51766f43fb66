"""auth-service logic: find or create the account of a social login, issue and rotate the
token pair, log out, describe the account."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reference.auth.models import Identity, User
from reference.auth.providers import ProviderProfile
from reference.auth.schemas import AccountOut, IdentityOut, TokenPair
from reference.common import revocation, security
from reference.common.errors import ApiError
from reference.common.security import IssuedToken, TokenClaims
from reference.common.settings import Settings
from reference.users.service import create_profile

ROTATED = "rotated"  # deny-list reason of a refresh token traded for a new pair


@dataclass(frozen=True)
class Login:
    user_id: uuid.UUID
    created: bool


def _identity(session: Session, provider: str, subject: str) -> Identity | None:
    return session.scalar(
        select(Identity).where(Identity.provider == provider, Identity.subject == subject)
    )


def login(session: Session, provider: str, profile: ProviderProfile) -> Login:
    """The account of this provider identity, created (with its profile) at the first login.

    Commits, so tokens are only ever issued for an account that is stored.
    """
    created = False
    identity = _identity(session, provider, profile.subject)
    if identity is None:
        try:
            with session.begin_nested():
                user = User(id=uuid.uuid4())
                session.add(user)
                session.flush()
                identity = Identity(
                    user_id=user.id,
                    provider=provider,
                    subject=profile.subject,
                    email=profile.email,
                    nickname=profile.nickname,
                )
                session.add(identity)
                create_profile(session, user.id, profile.nickname)
                session.flush()
            created = True
        except IntegrityError:  # a concurrent first login of the same identity won
            identity = _identity(session, provider, profile.subject)
            if identity is None:
                raise
    identity.last_login_at = func.now()
    if profile.email is not None:
        identity.email = profile.email
    if profile.nickname is not None:
        identity.nickname = profile.nickname
    user = session.get(User, identity.user_id)
    assert user is not None  # identities cascade with their user
    user.last_login_at = func.now()
    session.commit()
    return Login(user.id, created)


def token_pair(
    settings: Settings, user_id: uuid.UUID, created: bool
) -> tuple[TokenPair, IssuedToken]:
    """A new access and refresh token; the access token is also returned for the cookie."""
    access = security.issue(settings, user_id, "access")
    refresh = security.issue(settings, user_id, "refresh")
    pair = TokenPair(
        access_token=access.token,
        refresh_token=refresh.token,
        expires_in=settings.access_token_minutes * 60,
        refresh_expires_in=settings.refresh_token_days * 86400,
        user_id=user_id,
        new_user=created,
    )
    return pair, access


def refresh(session: Session, settings: Settings, token: str) -> tuple[TokenPair, IssuedToken]:
    """Trade a refresh token for a new pair; the old one is revoked (rotation).

    Presenting a rotated refresh token again means two parties hold it: every token of the
    account is revoked then, and both have to log in again.
    """
    claims = security.decode(settings, token, "refresh")
    if revocation.denied(settings, claims):
        if revocation.revocation_reason(settings, claims.jti) == ROTATED:
            revocation.revoke_user(settings, claims.user_id)
            raise ApiError(
                401,
                "token_revoked",
                "this refresh token was already used; every session of the account is logged "
                "out, log in again",
            )
        raise ApiError(401, "token_revoked", "the token was revoked (logged out); log in again")
    if session.get(User, claims.user_id) is None:
        raise ApiError(401, "user_not_found", "the account of this token no longer exists")
    if not revocation.revoke_once(settings, claims, ROTATED):
        raise ApiError(401, "token_revoked", "this refresh token was just used; log in again")
    return token_pair(settings, claims.user_id, created=False)


def logout(settings: Settings, access: TokenClaims, refresh_token: str | None) -> None:
    """Revoke the access token and, when given, the caller's refresh token.

    Everything is checked before anything is revoked: a refresh token of someone else, or a
    forged one, changes nothing. An expired refresh token has nothing left to revoke.
    """
    refresh_claims = None
    if refresh_token:
        try:
            refresh_claims = security.decode(settings, refresh_token, "refresh")
        except ApiError as exc:
            if exc.code != "token_expired":
                raise
        if refresh_claims is not None and refresh_claims.user_id != access.user_id:
            raise ApiError(
                400, "refresh_token_mismatch", "the refresh token belongs to another account"
            )
    revocation.revoke(settings, access)
    if refresh_claims is not None:
        revocation.revoke_once(settings, refresh_claims, "logout")


def account(session: Session, user_id: uuid.UUID) -> AccountOut:
    user = session.get(User, user_id)
    if user is None:
        raise ApiError(404, "user_not_found", "the account of this token no longer exists")
    identities = session.scalars(
        select(Identity).where(Identity.user_id == user_id).order_by(Identity.created_at)
    ).all()
    return AccountOut(
        user_id=user.id,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        identities=[
            IdentityOut(
                provider=i.provider,
                subject=i.subject,
                email=i.email,
                nickname=i.nickname,
                created_at=i.created_at,
                last_login_at=i.last_login_at,
            )
            for i in identities
        ],
    )
