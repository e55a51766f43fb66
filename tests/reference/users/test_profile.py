"""users-service: the profile (get, update, delete) and its bad input, against real PostgreSQL
and Redis."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from reference.auth.models import Identity, User
from reference.common import revocation, security, storage
from reference.common.cache import Keys, get_redis
from reference.common.db import session_scope
from reference.common.settings import Settings
from reference.users.models import Profile
from reference.waste.models import Analysis, Job
from tests.reference.users.conftest import Account, add_scan, make_account

pytestmark = pytest.mark.integration

ROUTES = [
    ("GET", "/api/v1/users/me"),
    ("PATCH", "/api/v1/users/me"),
    ("DELETE", "/api/v1/users/me"),
    ("GET", "/api/v1/users/me/history"),
    ("GET", "/api/v1/users/me/stats"),
]


def stored(settings: Settings, user_id: uuid.UUID) -> dict | None:
    with session_scope(settings.database_url) as session:
        profile = session.get(Profile, user_id)
        if profile is None:
            return None
        return {
            "nickname": profile.nickname,
            "region": profile.region,
            "notifications_opt_in": profile.notifications_opt_in,
            "updated_at": profile.updated_at,
        }


def test_the_profile_made_at_the_first_login(client: TestClient, account: Account) -> None:
    answer = client.get("/api/v1/users/me", headers=account.headers)
    assert answer.status_code == 200
    body = answer.json()
    assert body["user_id"] == str(account.user_id)
    assert (body["nickname"], body["region"], body["notifications_opt_in"]) == (
        "초록이",
        None,
        False,
    )


def test_patch_changes_only_the_fields_given(
    client: TestClient, settings: Settings, account: Account
) -> None:
    answer = client.patch(
        "/api/v1/users/me",
        headers=account.headers,
        json={"nickname": "  분리수거 달인  ", "region": "busan"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["nickname"], body["region"], body["region_label"]) == (
        "분리수거 달인",
        "busan",
        "부산광역시",
    )
    assert body["notifications_opt_in"] is False
    answer = client.patch(
        "/api/v1/users/me", headers=account.headers, json={"notifications_opt_in": True}
    )
    assert answer.json()["notifications_opt_in"] is True
    assert answer.json()["nickname"] == "분리수거 달인"
    cleared = client.patch("/api/v1/users/me", headers=account.headers, json={"region": None})
    assert cleared.json()["region"] is None
    row = stored(settings, account.user_id)
    assert row is not None
    assert (row["nickname"], row["region"], row["notifications_opt_in"]) == (
        "분리수거 달인",
        None,
        True,
    )
    assert row["updated_at"] > datetime.fromisoformat(body["updated_at"])
    unchanged = client.patch("/api/v1/users/me", headers=account.headers, json={})
    assert unchanged.status_code == 200 and unchanged.json()["nickname"] == "분리수거 달인"


@pytest.mark.parametrize(
    "body",
    [
        {"nickname": ""},
        {"nickname": "   "},
        {"nickname": "가" * 41},
        {"nickname": "tab\there"},
        {"nickname": None},
        {"nickname": 7},
        {"region": "mars"},
        {"region": "Seoul"},
        {"notifications_opt_in": "yes"},
        {"notifications_opt_in": 1},
        {"notifications_opt_in": None},
        {"user_id": str(uuid.uuid4())},
        {"nickname": "ok", "email": "x@example.com"},
        ["nickname", "x"],
    ],
)
def test_invalid_patches_change_nothing(
    client: TestClient, settings: Settings, account: Account, body: object
) -> None:
    before = stored(settings, account.user_id)
    answer = client.patch("/api/v1/users/me", headers=account.headers, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_request"
    assert answer.json()["details"]["errors"]
    assert stored(settings, account.user_id) == before


def test_malformed_and_oversized_bodies(
    client: TestClient, settings: Settings, account: Account
) -> None:
    before = stored(settings, account.user_id)
    headers = account.headers | {"Content-Type": "application/json"}
    bad = client.patch("/api/v1/users/me", headers=headers, content=b'{"nickname": ')
    assert bad.status_code == 422 and bad.json()["code"] == "malformed_json"
    huge = client.patch(
        "/api/v1/users/me",
        headers=headers,
        content=b'{"nickname": "' + b"a" * (2 * 1024 * 1024) + b'"}',
    )
    assert huge.status_code == 413 and huge.json()["code"] == "body_too_large"
    assert stored(settings, account.user_id) == before


def test_a_caller_only_ever_touches_their_own_profile(
    client: TestClient, settings: Settings, account: Account
) -> None:
    other = make_account(settings, "다른사람")
    before = stored(settings, account.user_id)
    assert (
        client.patch("/api/v1/users/me", headers=other.headers, json={"nickname": "바뀜"}).json()[
            "nickname"
        ]
        == "바뀜"
    )
    assert stored(settings, account.user_id) == before
    mine = client.get("/api/v1/users/me", headers=account.headers).json()
    assert mine["nickname"] == "초록이"


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_valid_access_token(
    client: TestClient, settings: Settings, account: Account, method: str, path: str
) -> None:
    expired = jwt.encode(
        {
            "sub": str(account.user_id),
            "typ": "access",
            "jti": uuid.uuid4().hex,
            "iss": settings.jwt_issuer,
            "exp": datetime.now(UTC) - timedelta(seconds=1),
        },
        settings.jwt_secret.get_secret_value(),
        algorithm=security.ALGORITHM,
    )
    revoked = security.issue(settings, account.user_id, "access")
    revocation.revoke(settings, revoked.claims)
    cases = [
        ({}, "token_missing"),
        ({"Authorization": "Bearer forged.token.here"}, "token_invalid"),
        ({"Authorization": f"Bearer {expired}"}, "token_expired"),
        ({"Authorization": f"Bearer {revoked.token}"}, "token_revoked"),
        ({"Authorization": f"Bearer {account.refresh.token}"}, "token_wrong_type"),
    ]
    before = stored(settings, account.user_id)
    for headers, code in cases:
        body = {"nickname": "x"} if method == "PATCH" else None
        answer = client.request(method, path, headers=headers, json=body)
        assert answer.status_code == 401 and answer.json()["code"] == code, (code, answer.text)
    assert stored(settings, account.user_id) == before


def test_a_token_without_a_profile_is_404(client: TestClient, settings: Settings) -> None:
    ghost = {"Authorization": f"Bearer {security.issue(settings, uuid.uuid4(), 'access').token}"}
    for method in ("GET", "PATCH", "DELETE"):
        body = {"nickname": "x"} if method == "PATCH" else None
        answer = client.request(method, "/api/v1/users/me", headers=ghost, json=body)
        assert answer.status_code == 404 and answer.json()["code"] == "profile_not_found"
    # Deleting nothing revoked nothing.
    assert client.get("/api/v1/users/me/stats", headers=ghost).status_code == 200


def test_delete_removes_the_account_and_revokes_its_tokens(
    client: TestClient, settings: Settings, account: Account
) -> None:
    other = make_account(settings, "남는사람")
    jobs = [add_scan(settings, account.user_id, minutes_ago=m) for m in (3, 2)]
    kept_job = add_scan(settings, other.user_id, minutes_ago=1)
    redis = get_redis(settings.redis_url)
    keys = Keys(settings.redis_prefix)
    for job in (*jobs, kept_job):
        redis.hset(keys.job(str(job)), "state", "{}")
    with session_scope(settings.database_url) as session:
        analyses = session.scalar(select(func.count()).select_from(Analysis))
    other_device = security.issue(settings, account.user_id, "access")
    answer = client.delete("/api/v1/users/me", headers=account.headers)
    assert answer.status_code == 204
    with session_scope(settings.database_url) as session:
        assert session.get(Profile, account.user_id) is None
        assert session.get(User, account.user_id) is None
        assert (
            session.scalars(select(Identity).where(Identity.user_id == account.user_id)).all() == []
        )
        assert session.scalars(select(Job).where(Job.user_id == account.user_id)).all() == []
        # The shared cache of analyses stays; the other user's data too.
        assert session.scalar(select(func.count()).select_from(Analysis)) == analyses
        assert session.get(Job, kept_job) is not None
        assert session.get(Profile, other.user_id) is not None
    assert not any(redis.exists(keys.job(str(job))) for job in jobs)
    assert redis.exists(keys.job(str(kept_job)))
    for token in (account.access, other_device):
        refused = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token.token}"})
        assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"
    with pytest.raises(security.ApiError) as raised:
        security.verify(settings, account.refresh.token, "refresh")
    assert raised.value.code == "token_revoked"
    assert client.get("/api/v1/users/me", headers=other.headers).status_code == 200


def test_health_readiness_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "service": "users"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and set(ready.json()["checks"]) == {"postgres", "redis"}
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/users/me", "/api/v1/users/me/history", "/api/v1/users/me/stats"} <= set(paths)
    assert set(paths["/api/v1/users/me"]) == {"get", "patch", "delete"}


def test_delete_removes_the_accounts_photos_from_s3(
    client: TestClient, settings: Settings, account: Account
) -> None:
    other = make_account(settings, "사진남김")
    mine = [add_scan(settings, account.user_id, minutes_ago=m) for m in (2, 1)]
    theirs = add_scan(settings, other.user_id, minutes_ago=1)
    s3 = storage.s3_client(settings)
    with session_scope(settings.database_url) as session:
        keys = {job: session.get(Job, job).object_key for job in (*mine, theirs)}  # type: ignore[union-attr]
    for key in keys.values():
        s3.put_object(Bucket=settings.s3_bucket, Key=key, Body=b"\xff\xd8\xff photo")
    assert client.delete("/api/v1/users/me", headers=account.headers).status_code == 204
    for job in mine:
        assert storage.head(settings, keys[job]) is None
    assert storage.head(settings, keys[theirs]) is not None  # another user's photo stays
