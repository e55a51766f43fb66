"""The deny-list (reference.common.revocation) for rotation, logout and deletion, kept in
PostgreSQL and mirrored in Redis: it survives a flush of the run's Redis prefix and a restart of
an ephemeral Redis (the shared one is never restarted)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from harness.providers.ephemeral.redis import EphemeralRedis
from harness.stack.sandbox import Sandbox
from reference.common import revocation, security
from reference.common.cache import Keys, get_redis
from reference.common.errors import ApiError
from reference.common.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(sandbox: Sandbox) -> Iterator[Settings]:
    prefix = f"{sandbox.redis_prefix}rev_{uuid.uuid4().hex[:8]}:"
    settings = sandbox.settings().model_copy(update={"redis_prefix": prefix})
    yield settings
    flush_prefix(settings)


def flush_prefix(settings: Settings) -> None:
    """What a Redis restart without persistence does, to this test's keys only."""
    client = get_redis(settings.redis_url)
    for key in client.scan_iter(match=f"{settings.redis_prefix}*"):
        client.delete(key)


def test_revoke_once_is_atomic_and_keeps_its_reason(settings: Settings) -> None:
    issued = security.issue(settings, uuid.uuid4(), "refresh")
    assert revocation.revocation_reason(settings, issued.claims.jti) is None
    assert revocation.revoke_once(settings, issued.claims, "rotated") is True
    assert revocation.revoke_once(settings, issued.claims, "logout") is False
    assert revocation.revocation_reason(settings, issued.claims.jti) == "rotated"
    with pytest.raises(ApiError) as raised:
        security.verify(settings, issued.token, "refresh")
    assert raised.value.code == "token_revoked"
    # decode still reads a revoked token: the refresh route needs its user to spot a reuse.
    assert security.decode(settings, issued.token, "refresh").user_id == issued.claims.user_id


def test_revoke_user_denies_every_earlier_token_of_that_user_only(settings: Settings) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    tokens = [security.issue(settings, user, kind) for kind in ("access", "refresh", "access")]
    bystander = security.issue(settings, other, "access")
    revocation.revoke_user(settings, user)
    for token in tokens:
        assert revocation.denied(
            settings, security.decode(settings, token.token, token.claims.token_type)
        )
        assert revocation.denied(settings, token.claims)  # the issuer's own copy agrees
    assert not revocation.denied(settings, bystander.claims)
    assert security.verify(settings, bystander.token, "access").user_id == other


def test_a_token_without_an_issue_time_is_denied_after_a_user_revocation(
    settings: Settings,
) -> None:
    user = uuid.uuid4()
    claims = security.TokenClaims(
        user, "access", uuid.uuid4().hex, datetime.now(UTC) + timedelta(hours=1)
    )
    assert not revocation.denied(settings, claims)
    revocation.revoke_user(settings, user)
    assert revocation.denied(settings, claims)


def code_of_verify(settings: Settings, token: str, kind: security.TokenType = "access") -> str:
    try:
        security.verify(settings, token, kind)
    except ApiError as exc:
        return exc.code
    return "ok"


def test_revocations_survive_a_flush_of_the_redis_prefix(settings: Settings) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    logged_out = security.issue(settings, user, "access")
    rotated = security.issue(settings, user, "refresh")
    deleted_before = security.issue(settings, other, "access")
    live = security.issue(settings, user, "access")
    revocation.revoke(settings, logged_out.claims)
    assert revocation.revoke_once(settings, rotated.claims, "rotated")
    revocation.revoke_user(settings, other)
    flush_prefix(settings)

    assert code_of_verify(settings, logged_out.token) == "token_revoked"
    assert code_of_verify(settings, deleted_before.token) == "token_revoked"
    assert code_of_verify(settings, rotated.token, "refresh") == "token_revoked"
    assert revocation.revocation_reason(settings, rotated.claims.jti) == "rotated"
    assert revocation.revoke_once(settings, rotated.claims, "rotated") is False  # still once
    assert code_of_verify(settings, live.token) == "ok"
    # The first check copied the list back: Redis answers alone again.
    keys = Keys(settings.redis_prefix)
    client = get_redis(settings.redis_url)
    assert client.exists(keys.revocations_complete())
    assert client.get(keys.revoked(rotated.claims.jti)) == b"rotated"
    assert client.get(keys.revoked_user(str(other))) is not None


def test_an_interrupted_restore_does_not_mark_redis_complete(settings: Settings) -> None:
    revoked = security.issue(settings, uuid.uuid4(), "access")
    revocation.revoke(settings, revoked.claims)
    flush_prefix(settings)
    keys = Keys(settings.redis_prefix)
    client = get_redis(settings.redis_url)
    client.set(keys.revocations_restoring(), b"someone-else", ex=60)  # a restore under way
    assert revocation.restore(settings) == 0
    assert not client.exists(keys.revocations_complete())
    assert code_of_verify(settings, revoked.token) == "token_revoked"  # PostgreSQL answers


def test_revocations_survive_a_redis_restart(sandbox: Sandbox) -> None:
    first = EphemeralRedis().start()
    port = first.ports[0]
    try:
        settings = sandbox.settings().model_copy(update={"redis_url": first.url()})
        user = uuid.uuid4()
        logged_out = security.issue(settings, user, "access")
        rotated = security.issue(settings, user, "refresh")
        live = security.issue(settings, user, "access")
        revocation.revoke(settings, logged_out.claims)
        assert revocation.revoke_once(settings, rotated.claims, "rotated")
        assert code_of_verify(settings, logged_out.token) == "token_revoked"
    finally:
        first.stop()
    # While Redis is down, PostgreSQL answers.
    assert code_of_verify(settings, logged_out.token) == "token_revoked"
    assert code_of_verify(settings, live.token) == "ok"
    second = EphemeralRedis(port=port).start()  # a fresh, empty server on the same address
    try:
        assert second.url() == settings.redis_url
        assert code_of_verify(settings, logged_out.token) == "token_revoked"
        assert revocation.revocation_reason(settings, rotated.claims.jti) == "rotated"
        assert code_of_verify(settings, live.token) == "ok"
        assert get_redis(settings.redis_url).exists(
            Keys(settings.redis_prefix).revocations_complete()
        )
    finally:
        second.stop()


def test_expired_revocations_are_purged(settings: Settings) -> None:
    past = datetime.now(UTC) - timedelta(seconds=5)
    spent = security.TokenClaims(uuid.uuid4(), "refresh", uuid.uuid4().hex, past, past)
    assert revocation.revoke_once(settings, spent, "rotated")
    live = security.issue(settings, uuid.uuid4(), "access")
    revocation.revoke(settings, live.claims)
    assert revocation.purge_expired(settings) >= 1
    flush_prefix(settings)
    assert revocation.revocation_reason(settings, spent.jti) is None
    assert revocation.revocation_reason(settings, live.claims.jti) == "revoked"


def test_a_repeated_logout_puts_a_token_redis_missed_back(settings: Settings) -> None:
    issued = security.issue(settings, uuid.uuid4(), "access")
    revocation.revoke(settings, issued.claims)
    assert code_of_verify(settings, issued.token) == "token_revoked"
    # Redis kept its marker but missed the entry (it could not be reached as it was written).
    get_redis(settings.redis_url).delete(Keys(settings.redis_prefix).revoked(issued.claims.jti))
    assert code_of_verify(settings, issued.token) == "ok"  # the hole the app's retry closes
    revocation.revoke(settings, issued.claims)
    assert code_of_verify(settings, issued.token) == "token_revoked"
    assert revocation.revocation_reason(settings, issued.claims.jti) == "revoked"
