"""Readiness probes and clients that speak each server's own protocol.

A probe logs in and runs a trivial command, so "ready" means what the app needs (an open port
alone is not enough: PostgreSQL accepts connections while it still refuses logins during
recovery, and RabbitMQ opens its listener before every boot step has finished).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import kombu
    import psycopg
    import redis

    from harness.providers.readiness import Check


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://...``) in the form libpq accepts."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


def postgres_client(url: str, timeout: float = 5.0) -> psycopg.Connection:
    """An autocommit psycopg connection (DDL in tests needs no transaction dance)."""
    import psycopg

    # libpq treats connect_timeout below 2 s as 2 s.
    return psycopg.connect(libpq_url(url), connect_timeout=max(2, round(timeout)), autocommit=True)


def redis_client(url: str, timeout: float = 5.0) -> redis.Redis:
    """A Redis client with bounded connect and command timeouts."""
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


def amqp_client(url: str, timeout: float = 5.0) -> kombu.Connection:
    """A connected kombu connection (AMQP login done)."""
    import kombu

    connection = kombu.Connection(url, connect_timeout=timeout)
    try:
        # One attempt: connect() would retry once after 2 s, which only delays the caller's
        # own polling (and so every start-up) by up to 2 s.
        connection.ensure_connection(max_retries=0)
    except BaseException:
        connection.release()
        raise
    return connection


def postgres_probe(url: str, timeout: float = 2.0) -> Check:
    """Ready when a login succeeds and ``SELECT 1`` answers."""

    def check() -> None:
        with postgres_client(url, timeout) as connection:
            connection.execute("SELECT 1")

    return check


def redis_probe(url: str, timeout: float = 2.0) -> Check:
    """Ready when ``PING`` answers (a server still loading its dataset raises)."""

    def check() -> None:
        client = redis_client(url, timeout)
        try:
            client.ping()
        finally:
            client.close()

    return check


def amqp_probe(url: str, timeout: float = 2.0) -> Check:
    """Ready when an AMQP connection opens and the login is accepted."""

    def check() -> None:
        amqp_client(url, timeout).release()

    return check
