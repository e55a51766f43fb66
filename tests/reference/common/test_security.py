from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from pydantic import SecretStr

from harness.stack.sandbox import Sandbox
from harness.stack.waits import wait_for
from reference.common import revocation, security
from reference.common.errors import ApiError
from reference.common.settings import Settings


@pytest.fixture
def settings(sandbox: Sandbox) -> Settings:
    """Verifying reads the deny-list: Redis, and PostgreSQL behind it (a migrated database)."""
    return sandbox.settings()


def code_of(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ApiError) as raised:
        call()
    assert raised.value.status == 401
    return raised.value.code


def test_access_token_round_trip(settings: Settings) -> None:
    user = uuid.uuid4()
    issued = security.issue(settings, user, "access")
    claims = security.verify(settings, issued.token, "access")
    assert claims.user_id == user and claims.token_type == "access"
    lifetime = claims.expires_at - datetime.now(UTC)
    assert timedelta(minutes=179) < lifetime <= timedelta(minutes=180)


def test_refresh_lives_thirty_days_and_is_not_an_access_token(settings: Settings) -> None:
    issued = security.issue(settings, uuid.uuid4(), "refresh")
    assert issued.claims.expires_at - datetime.now(UTC) > timedelta(days=29)
    assert code_of(lambda: security.verify(settings, issued.token, "access")) == "token_wrong_type"


def test_forged_and_garbage_tokens(settings: Settings) -> None:
    other = settings.model_copy(update={"jwt_secret": SecretStr("x" * 40)})
    forged = security.issue(other, uuid.uuid4(), "access").token
    assert code_of(lambda: security.verify(settings, forged, "access")) == "token_invalid"
    assert code_of(lambda: security.verify(settings, "not.a.jwt", "access")) == "token_invalid"
    unsigned = jwt.encode({"sub": str(uuid.uuid4())}, key=None, algorithm="none")
    assert code_of(lambda: security.verify(settings, unsigned, "access")) == "token_invalid"


def test_expired_token(settings: Settings) -> None:
    token = jwt.encode(
        {
            "sub": str(uuid.uuid4()),
            "typ": "access",
            "jti": "j",
            "iss": settings.jwt_issuer,
            "exp": datetime.now(UTC) - timedelta(seconds=5),
        },
        settings.jwt_secret.get_secret_value(),
        algorithm=security.ALGORITHM,
    )
    assert code_of(lambda: security.verify(settings, token, "access")) == "token_expired"


def test_a_token_accepted_before_is_refused_once_it_expires(settings: Settings) -> None:
    """Checked signatures are cached (every poll sends the same token): expiry still counts."""
    expires = datetime.now(UTC) + timedelta(seconds=2)
    token = jwt.encode(
        {
            "sub": str(uuid.uuid4()),
            "typ": "access",
            "jti": "k",
            "iss": settings.jwt_issuer,
            "exp": expires,
        },
        settings.jwt_secret.get_secret_value(),
        algorithm=security.ALGORITHM,
    )
    assert security.decode(settings, token, "access").jti == "k"  # now in the cache
    wait_for(lambda: datetime.now(UTC) >= expires, timeout=10, describe="the token expiring")
    assert code_of(lambda: security.decode(settings, token, "access")) == "token_expired"
    other = settings.model_copy(update={"jwt_secret": SecretStr("y" * 40)})
    assert code_of(lambda: security.decode(other, token, "access")) == "token_invalid"


@pytest.mark.integration
def test_revoked_token_is_refused(settings: Settings) -> None:
    issued = security.issue(settings, uuid.uuid4(), "access")
    revocation.revoke(settings, issued.claims)
    assert revocation.is_revoked(settings, issued.claims.jti)
    assert code_of(lambda: security.verify(settings, issued.token, "access")) == "token_revoked"
