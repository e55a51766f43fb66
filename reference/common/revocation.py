"""The revocation deny-list: PostgreSQL keeps it (``auth.revoked_tokens``, ``auth.revoked_users``),
Redis mirrors it for the hot path.

Two grains, both forgotten once no token they name can still be valid: one token by its
``jti`` (logout, refresh rotation) and every token of a user issued up to a moment (account
deletion, a rotated refresh token presented again).

A revocation is written to PostgreSQL first (where "only once" is decided, by the primary key),
then to Redis. Every check reads Redis alone while Redis says its copy is complete (the
``revocations-complete`` marker); a Redis that lost its data (restarted without persistence,
flushed) has lost the marker too, so checks ask PostgreSQL, and the first of them copies the
list back into Redis and sets the marker again. A Redis that cannot be reached is answered for
by PostgreSQL as well.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import redis
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from reference.auth.models import RevokedToken, RevokedUser
from reference.common.cache import Keys, get_redis
from reference.common.db import session_scope
from reference.common.settings import Settings

if TYPE_CHECKING:
    from reference.common.security import TokenClaims

log = logging.getLogger(__name__)

RESTORE_LOCK_SECONDS = 60
# Sets the marker only if this restore still holds its lock: a flush during the copy removes
# the lock too, and the copy is then known to be incomplete.
_MARK_IF_LOCKED = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('set', KEYS[2], '1')
  redis.call('del', KEYS[1])
  return 1
end
return 0
"""


def _keys(settings: Settings) -> Keys:
    return Keys(settings.redis_prefix)


def _remaining_seconds(expires_at: datetime) -> int:
    return int((expires_at - datetime.now(UTC)).total_seconds()) + 1


def _deny_token(settings: Settings, claims: TokenClaims, reason: str) -> bool:
    """Deny a token; True when this call did (False: it was denied already).

    Redis gets the stored reason either way: a call repeated because the first one could not
    reach Redis (after PostgreSQL had it) still puts the token in Redis's copy.
    """
    with session_scope(settings.database_url) as session:
        inserted = session.execute(
            insert(RevokedToken)
            .values(
                jti=claims.jti,
                user_id=claims.user_id,
                reason=reason,
                expires_at=claims.expires_at,
            )
            .on_conflict_do_nothing(index_elements=[RevokedToken.jti])
            .returning(RevokedToken.jti)
        ).first()
        stored = reason
        if inserted is None:
            stored = (
                session.scalar(select(RevokedToken.reason).where(RevokedToken.jti == claims.jti))
                or reason
            )
    ttl = max(_remaining_seconds(claims.expires_at), 1)
    key = _keys(settings).revoked(claims.jti)
    get_redis(settings.redis_url).set(key, stored, ex=ttl, nx=inserted is None)
    return inserted is not None


def revoke(settings: Settings, claims: TokenClaims) -> None:
    """Deny a token until it would have expired anyway (the deny-list forgets it then)."""
    if _remaining_seconds(claims.expires_at) > 0:
        _deny_token(settings, claims, "revoked")


def revoke_once(settings: Settings, claims: TokenClaims, reason: str) -> bool:
    """Deny a token, atomically: False when it was denied already (a concurrent refresh with
    the same token lost the race). ``reason`` is kept and read by :func:`revocation_reason`."""
    return _deny_token(settings, claims, reason)


def revoke_user(settings: Settings, user_id: uuid.UUID) -> None:
    """Deny every token of a user issued up to now, on every device.

    Tokens carry their issue time in whole seconds, so one issued later within the same second
    is denied too (the app logs in again); no earlier token slips through.
    """
    now = int(datetime.now(UTC).timestamp())
    lifetime = int(timedelta(days=settings.refresh_token_days).total_seconds()) + 1
    expires = datetime.now(UTC) + timedelta(seconds=lifetime)
    statement = insert(RevokedUser).values(user_id=user_id, cutoff=now, expires_at=expires)
    with session_scope(settings.database_url) as session:
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[RevokedUser.user_id],
                set_={
                    "cutoff": func.greatest(RevokedUser.cutoff, statement.excluded.cutoff),
                    "expires_at": statement.excluded.expires_at,
                },
            )
        )
    get_redis(settings.redis_url).set(_keys(settings).revoked_user(str(user_id)), now, ex=lifetime)


def _denied_by(claims: TokenClaims, *, revoked: bool, cutoff: int | None) -> bool:
    if revoked:
        return True
    if cutoff is None:
        return False
    # A token without an issue time cannot prove it is newer than the cutoff.
    issued = int(claims.issued_at.timestamp()) if claims.issued_at else 0
    return issued <= cutoff


# The deny-list check as Lua expressions on ``KEYS[1..3]`` (in :func:`check_keys`'s order),
# giving ``CHECK_REPLIES`` answers for :func:`judged`. A script may read more beside them in the
# same round trip: the status hot path's reads the job's owner and answer too.
CHECK_LUA = (
    "redis.call('exists', KEYS[1]), redis.call('get', KEYS[2]), redis.call('exists', KEYS[3])"
)
CHECK_REPLIES = 3
_CHECK_SCRIPT = f"return {{{CHECK_LUA}}}"


def check_keys(keys: Keys, claims: TokenClaims) -> list[str]:
    """The keys :data:`CHECK_LUA` reads: the token's entry, its user's cutoff, the marker."""
    return [
        keys.revoked(claims.jti),
        keys.revoked_user(str(claims.user_id)),
        keys.revocations_complete(),
    ]


def judged(claims: TokenClaims, replies: Sequence[Any]) -> bool | None:
    """The verdict of Redis's answers to :data:`CHECK_LUA`; None while Redis's copy of the
    list is not complete (then only :func:`denied` can tell)."""
    revoked, cutoff, complete = replies
    if not complete:
        return None
    return _denied_by(claims, revoked=bool(revoked), cutoff=int(cutoff) if cutoff else None)


def denied(settings: Settings, claims: TokenClaims) -> bool:
    """Whether the token is on the deny-list or its user's tokens were all revoked since."""
    try:
        check = get_redis(settings.redis_url).register_script(_CHECK_SCRIPT)
        verdict = judged(claims, check(check_keys(_keys(settings), claims)))
    except redis.RedisError as exc:
        log.warning("Redis unavailable for the deny-list (%s); asking PostgreSQL", exc)
        return _denied_in_database(settings, claims)
    if verdict is not None:
        return verdict
    restore(settings)
    return _denied_in_database(settings, claims)


def _denied_in_database(settings: Settings, claims: TokenClaims) -> bool:
    now = datetime.now(UTC)
    with session_scope(settings.database_url) as session:
        revoked = session.scalar(
            select(RevokedToken.jti).where(
                RevokedToken.jti == claims.jti, RevokedToken.expires_at > now
            )
        )
        cutoff = session.scalar(
            select(RevokedUser.cutoff).where(
                RevokedUser.user_id == claims.user_id, RevokedUser.expires_at > now
            )
        )
    return _denied_by(claims, revoked=revoked is not None, cutoff=cutoff)


def revocation_reason(settings: Settings, jti: str) -> str | None:
    keys = _keys(settings)
    with get_redis(settings.redis_url).pipeline(transaction=False) as pipe:
        pipe.get(keys.revoked(jti))
        pipe.exists(keys.revocations_complete())
        raw, complete = pipe.execute()
    if raw is not None:
        return raw.decode()
    if complete:
        return None
    with session_scope(settings.database_url) as session:
        return session.scalar(
            select(RevokedToken.reason).where(
                RevokedToken.jti == jti, RevokedToken.expires_at > datetime.now(UTC)
            )
        )


def is_revoked(settings: Settings, jti: str) -> bool:
    return revocation_reason(settings, jti) is not None


def restore(settings: Settings) -> int:
    """Copy the deny-list from PostgreSQL back into Redis and mark Redis's copy complete; one
    caller at a time does it (the others read PostgreSQL meanwhile). Returns the entries
    copied (0 when another caller holds the lock or the copy was interrupted)."""
    client = get_redis(settings.redis_url)
    keys = _keys(settings)
    token = uuid.uuid4().hex
    if not client.set(keys.revocations_restoring(), token, nx=True, ex=RESTORE_LOCK_SECONDS):
        return 0
    now = datetime.now(UTC)
    copied = 0
    with session_scope(settings.database_url) as session, client.pipeline(False) as pipe:
        tokens = session.execute(
            select(RevokedToken.jti, RevokedToken.reason, RevokedToken.expires_at).where(
                RevokedToken.expires_at > now
            )
        )
        for jti, reason, expires_at in tokens:
            pipe.set(keys.revoked(jti), reason, ex=max(_remaining_seconds(expires_at), 1))
            copied += 1
            if copied % 1000 == 0:
                pipe.execute()
        users = session.execute(
            select(RevokedUser.user_id, RevokedUser.cutoff, RevokedUser.expires_at).where(
                RevokedUser.expires_at > now
            )
        )
        for user_id, cutoff, expires_at in users:
            # Never lower a cutoff written since the query.
            pipe.set(
                keys.revoked_user(str(user_id)),
                cutoff,
                ex=max(_remaining_seconds(expires_at), 1),
                nx=True,
            )
            copied += 1
        pipe.execute()
    marked = client.eval(
        _MARK_IF_LOCKED, 2, keys.revocations_restoring(), keys.revocations_complete(), token
    )
    if not marked:
        return 0
    log.info("deny-list restored into Redis from PostgreSQL: %d entries", copied)
    return copied


def purge_expired(settings: Settings) -> int:
    """Delete the rows no token they name can still use (``cleanup.cache`` calls it hourly)."""
    now = datetime.now(UTC)
    with session_scope(settings.database_url) as session:
        tokens = session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= now))
        users = session.execute(delete(RevokedUser).where(RevokedUser.expires_at <= now))
        return int(tokens.rowcount or 0) + int(users.rowcount or 0)  # type: ignore[attr-defined]
