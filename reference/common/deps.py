"""FastAPI dependency aliases shared by the services (keep route signatures short)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import Depends
from sqlalchemy.orm import Session

from reference.common.db import session_factory
from reference.common.settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]


# Sessions end (commit or roll back, then give their connection back) on threads of their own.
# Were they ended on the shared request thread pool, a burst could fill every pool thread with
# requests waiting for a database connection while the sessions holding the connections wait
# for a thread to end on: the gateway wedged that way under 500 users.
_ENDING = anyio.CapacityLimiter(64)
# At most this many requests hold a session at once, fewer than the pool's 15 connections.
# Requests beyond it wait here without a thread. Without the bound, every thread of the
# request pool could be waiting for a connection while the requests holding the connections
# wait for a thread to validate their response on (sync endpoints do that in the pool), and
# the gateway wedged that way at 500 users.
_SESSIONS = anyio.CapacityLimiter(12)


def _end(session: Session, failed: bool) -> None:
    try:
        if failed:
            session.rollback()
        else:
            session.commit()
    finally:
        session.close()


async def get_session(settings: SettingsDep) -> AsyncIterator[Session]:
    """A session that commits when the request succeeds and rolls back when it fails. It is
    made here without I/O; its first query takes a connection on the endpoint's thread,
    and it always ends, even when the client has gone."""
    slot = object()
    await _SESSIONS.acquire_on_behalf_of(slot)
    try:
        session = session_factory(settings.database_url)()
        failed = False
        try:
            yield session
        except BaseException:
            failed = True
            raise
        finally:
            # Shielded: a client that hangs up cancels its request, and an unshielded await
            # here would be cancelled too, leaving the session's connection checked out.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_end, session, failed, limiter=_ENDING)
    finally:
        _SESSIONS.release_on_behalf_of(slot)


# scope="function": the session ends when the endpoint returns, before the response is sent. A
# request-scoped one would end only after sending, so every slow or stuck client would keep
# a connection of the pool checked out (seen as the gateway's pool exhausted under 500 users).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
