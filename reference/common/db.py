"""SQLAlchemy 2.0 engine and sessions; one engine (and pool) per process and database URL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from reference.common.telemetry import DB_CONNECTIONS, DB_QUERY_SECONDS

# The seed keeps each service's tables in its own schema of one PostgreSQL database.
SCHEMAS = ("auth", "users", "waste", "locations")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


_ENGINES: dict[str, Engine] = {}
_FACTORIES: dict[str, sessionmaker[Session]] = {}
_LOCK = threading.Lock()
CONNECT_TIMEOUT_SECONDS = 5


def get_engine(url: str) -> Engine:
    """One engine (and connection pool) per database URL for the process."""
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _ENGINES[url] = create_engine(
                url,
                pool_pre_ping=True,
                pool_size=5,
                max_overflow=10,
                # A server that accepts and then hangs fails the connection, not the caller.
                connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
            )
            _measure(engine)
        return engine


def _measure(engine: Engine) -> None:
    """Statement times and the pool's connections as metrics (the PostgreSQL dashboard's)."""

    @event.listens_for(engine, "before_cursor_execute")
    def started(
        conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any
    ) -> None:
        conn.info["query_started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def ended(conn: Any, *_: Any) -> None:
        began = conn.info.pop("query_started", None)
        if began is not None:
            DB_QUERY_SECONDS.observe(time.perf_counter() - began)

    def pool_state(*_: object) -> None:
        pool = engine.pool
        DB_CONNECTIONS.labels("checked_out").set(pool.checkedout())  # type: ignore[attr-defined]
        DB_CONNECTIONS.labels("pooled").set(pool.checkedin())  # type: ignore[attr-defined]

    for name in ("checkout", "checkin", "connect", "close"):
        event.listen(engine.pool, name, pool_state)


def session_factory(url: str) -> sessionmaker[Session]:
    with _LOCK:
        factory = _FACTORIES.get(url)
    if factory is None:
        factory = sessionmaker(get_engine(url), expire_on_commit=False)
        with _LOCK:
            factory = _FACTORIES.setdefault(url, factory)
    return factory


def dispose_engine(url: str) -> None:
    """Close the pooled connections to ``url`` (before its database is dropped, say)."""
    with _LOCK:
        engine = _ENGINES.pop(url, None)
        _FACTORIES.pop(url, None)
    if engine is not None:
        engine.dispose()


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def ping(url: str) -> None:
    with get_engine(url).connect() as conn:
        conn.execute(text("SELECT 1"))
