"""The revocation added to reference.common.security for rotation, logout and deletion."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from reference.common import security
from reference.common.cache import get_redis
from reference.common.errors import ApiError
from reference.common.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings() -> Iterator[Settings]:
    settings = Settings(redis_prefix=f"wc_rev_{uuid.uuid4().hex[:8]}:")
    yield settings
    client = get_redis(settings.redis_url)
    for key in client.scan_iter(match=f"{settings.redis_prefix}*"):
        client.delete(key)


def test_revoke_once_is_atomic_and_keeps_its_reason(settings: Settings) -> None:
    issued = security.issue(settings, uuid.uuid4(), "refresh")
    assert security.revocation_reason(settings, issued.claims.jti) is None
    assert security.revoke_once(settings, issued.claims, "rotated") is True
    assert security.revoke_once(settings, issued.claims, "logout") is False
    assert security.revocation_reason(settings, issued.claims.jti) == "rotated"
    with pytest.raises(ApiError) as raised:
        security.verify(settings, issued.token, "refresh")
    assert raised.value.code == "token_revoked"
    # decode still reads a revoked token: the refresh route needs its user to spot a reuse.
    assert security.decode(settings, issued.token, "refresh").user_id == issued.claims.user_id


def test_revoke_user_denies_every_earlier_token_of_that_user_only(settings: Settings) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    tokens = [security.issue(settings, user, kind) for kind in ("access", "refresh", "access")]
    bystander = security.issue(settings, other, "access")
    security.revoke_user(settings, user)
    for token in tokens:
        assert security.denied(
            settings, security.decode(settings, token.token, token.claims.token_type)
        )
        assert security.denied(settings, token.claims)  # the issuer's own copy agrees
    assert not security.denied(settings, bystander.claims)
    assert security.verify(settings, bystander.token, "access").user_id == other


def test_a_token_without_an_issue_time_is_denied_after_a_user_revocation(
    settings: Settings,
) -> None:
    user = uuid.uuid4()
    claims = security.TokenClaims(
        user, "access", uuid.uuid4().hex, datetime.now(UTC) + timedelta(hours=1)
    )
    assert not security.denied(settings, claims)
    security.revoke_user(settings, user)
    assert security.denied(settings, claims)
