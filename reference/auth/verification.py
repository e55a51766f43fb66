"""The callback's side of ``oauth.verify``: publish it to ``q.api`` and wait for its result.

The result is read from the Celery result backend (Redis) by plain reads through the process's
shared Redis pool. Celery's own ``AsyncResult.get`` waits on pub/sub through a backend per
thread, each with its own connections, which is how a result backend once reached ~900 Redis
clients in production; a login lasts about 0.3 s, so polling costs a handful of reads.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from celery import states

from reference.auth.providers import LoginCode, Provider, ProviderProfile, ProviderRejected
from reference.common.cache import get_redis
from reference.common.errors import ApiError
from reference.common.settings import Settings
from reference.workers.publisher import publisher_for

TASK = "oauth.verify"
# q.api's highest priority: a person is waiting on the login screen.
PRIORITY = 5
_FIRST_POLL, _MAX_POLL = 0.01, 0.1


class VerifyFn(Protocol):
    """Checks a login code with its provider and says who logged in."""

    def __call__(
        self, settings: Settings, provider: Provider, login: LoginCode
    ) -> ProviderProfile: ...


def _publish(settings: Settings, task_id: str, args: list[str], expires: datetime) -> None:
    celery = publisher_for(settings).celery
    # send_task() would also subscribe the calling thread's own result backend (a pub/sub
    # connection and a pool per thread) to the result's channel; the message is built and
    # routed as send_task builds it, without that.
    message = celery.amqp.create_task_message(
        task_id,
        TASK,
        args,
        {},
        expires=expires.isoformat(),
        argsrepr=repr([args[0], "<code>", "<state>", args[3], "<code_verifier>"]),
        ignore_result=False,
    )
    route = celery.amqp.router.route({"priority": PRIORITY}, TASK, args, {})
    with celery.producer_or_acquire() as producer:
        celery.amqp.send_task_message(
            producer,
            TASK,
            message,
            retry=True,
            retry_policy={"max_retries": 3, "interval_start": 0.1, "interval_step": 0.5},
            **route,
        )


def _wait(settings: Settings, task_id: str, deadline: float) -> dict[str, Any] | None:
    backend = publisher_for(settings).celery.backend
    key = backend.get_key_for_task(task_id)
    client = get_redis(settings.redis_url)
    interval = _FIRST_POLL
    while True:
        raw = client.get(key)
        if raw is not None:
            meta: dict[str, Any] = backend.decode_result(raw)
            if meta["status"] in states.READY_STATES:
                client.delete(key)  # the profile is personal data: no copy left behind
                return meta
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(interval, max(deadline - time.monotonic(), 0)))
        interval = min(interval * 1.5, _MAX_POLL)


def verify_through_queue(
    settings: Settings, provider: Provider, login: LoginCode
) -> ProviderProfile:
    """Run ``oauth.verify`` on the api worker and return its answer.

    ApiError: 504 ``provider_timeout`` (no answer in time), 502 ``provider_unavailable``
    (the provider failed every attempt), 503 ``broker_unavailable``; ProviderRejected when the
    provider refused the code.
    """
    timeout = settings.oauth_verify_timeout_seconds
    task_id = str(uuid.uuid4())
    deadline = time.monotonic() + timeout
    try:
        _publish(
            settings,
            task_id,
            # The task's arguments (reference.auth.tasks.verify), in its order.
            [provider.name, login.code, login.state, login.redirect_uri, login.code_verifier],
            datetime.now(UTC) + timedelta(seconds=timeout),
        )
    except Exception as exc:
        raise ApiError(
            503, "broker_unavailable", "could not queue the login check; retry later"
        ) from exc
    meta = _wait(settings, task_id, deadline)
    if meta is None or meta["status"] == states.REVOKED:
        raise ApiError(
            504,
            "provider_timeout",
            f"{provider.name} login was not confirmed within {timeout:g} s; try again",
        )
    if meta["status"] != states.SUCCESS:
        raise ApiError(
            502, "provider_unavailable", f"{provider.name} is not answering; try again later"
        )
    result: dict[str, Any] = meta["result"]
    if not result.get("ok"):
        raise ProviderRejected(str(result.get("code")), str(result.get("message")))
    return ProviderProfile(str(result["subject"]), result.get("nickname"), result.get("email"))
