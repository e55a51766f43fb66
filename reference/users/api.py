"""users-service routes: ``/api/v1/users`` (the caller's profile, history and statistics).

Every route acts on the caller only (the access token's subject): there is no way to name
another user, so another user's data cannot be read or changed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from reference.common import revocation, security
from reference.common.db import session_scope
from reference.common.deps import SettingsDep
from reference.common.errors import error_responses
from reference.common.params import bounded, check_limit
from reference.common.security import CurrentClaims, CurrentUserId
from reference.users import service
from reference.users.schemas import HistoryPage, ProfileOut, ProfileUpdate, StatsOut

PREFIX = "/api/v1/users"
router = APIRouter(prefix=PREFIX, tags=["users"])
HISTORY_MAX = 100


@router.get(
    "/me",
    response_model=ProfileOut,
    responses=error_responses(401, 404),
    summary="The caller's profile",
)
def get_me(user_id: CurrentUserId, settings: SettingsDep) -> ProfileOut:
    with session_scope(settings.database_url) as session:
        return service.get_profile(session, user_id)


@router.patch(
    "/me",
    response_model=ProfileOut,
    responses=error_responses(401, 404, 422),
    summary="Change nickname, region or notification opt-in (fields left out stay)",
)
def patch_me(user_id: CurrentUserId, body: ProfileUpdate, settings: SettingsDep) -> ProfileOut:
    with session_scope(settings.database_url) as session:
        return service.update_profile(session, user_id, body)


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 404, 503),
    summary="Delete the account: profile, identities, scans and their photos; every token is "
    "revoked",
)
def delete_me(claims: CurrentClaims, settings: SettingsDep) -> Response:
    with session_scope(settings.database_url) as session:
        service.delete_account(session, settings, claims.user_id)
    revocation.revoke(settings, claims)
    revocation.revoke_user(settings, claims.user_id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    security.clear_access_cookie(response, settings)
    return response


@router.get(
    "/me/history",
    response_model=HistoryPage,
    responses=error_responses(401, 422),
    summary="The caller's scans, newest first (cursor pagination)",
)
def get_history(
    user_id: CurrentUserId,
    settings: SettingsDep,
    limit: Annotated[int, bounded("At most this many scans.", 1, HISTORY_MAX)] = 20,
    cursor: Annotated[
        str | None,
        Query(
            max_length=200,
            description="next_cursor of the previous page (opaque).",
            json_schema_extra={"pattern": "^[A-Za-z0-9_-]+$"},
        ),
    ] = None,
) -> HistoryPage:
    check_limit(limit, HISTORY_MAX)
    with session_scope(settings.database_url) as session:
        return service.history(session, user_id, limit, cursor)


@router.get(
    "/me/stats",
    response_model=StatsOut,
    responses=error_responses(401),
    summary="The caller's statistics: scans by category, totals, cache-hit share",
)
def get_stats(user_id: CurrentUserId, settings: SettingsDep) -> StatsOut:
    with session_scope(settings.database_url) as session:
        return service.stats(session, user_id)
