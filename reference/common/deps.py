"""FastAPI dependency aliases shared by the services (keep route signatures short).

There is no session dependency: a route that needs the database opens
``reference.common.db.session_scope`` in its body, so the session has ended (committed or rolled
back, its connection back in the pool) when the route returns, on the thread it ran on. A
dependency's session ended later, on another thread of the request pool, and under 500 users every
pool thread waited for a connection held by sessions waiting for a thread to end on (the gateway
wedged; tests/reference/test_session_wedge.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from reference.common.settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]
