"""auth-service task on ``q.api``: the social-login check (the seed's ``oauth.verify``, 0.3 s).

The callback waits for the answer in the result backend (Redis), so unlike the other tasks this
one keeps its result. A refusal by the provider is an answer (``ok: false``); a provider that
does not answer after every retry fails the task: the failure is stored so the waiting callback
answers at once, and the message is rejected to ``q.dlq`` where an outage shows.
"""

from __future__ import annotations

import time

from celery import Task, shared_task
from celery.exceptions import Reject

from reference.auth import providers
from reference.auth.provider_client import ProviderUnavailable, verify_code
from reference.auth.providers import LoginCode, ProviderRejected
from reference.common.errors import ApiError
from reference.common.settings import get_settings
from reference.common.telemetry import TASK_SECONDS, TASKS


# The worker logs each result at INFO: cut after the outcome, before the e-mail and nickname.
@shared_task(name="oauth.verify", bind=True, ignore_result=False, resultrepr_maxsize=40)
def verify(
    self: Task, provider: str, code: str, state: str, redirect_uri: str, code_verifier: str
) -> dict[str, object]:
    """Exchange a social-login code with its provider (with the login's PKCE verifier) and
    read the user's profile. The arguments are the message's: plain strings."""
    started = time.perf_counter()
    login = LoginCode(code, state, redirect_uri, code_verifier)
    try:
        profile = verify_code(get_settings(), providers.get(provider), login)
    except (ProviderRejected, ApiError) as exc:
        TASKS.labels(self.name, "success").inc()
        return {"ok": False, "code": exc.code, "message": exc.message}
    except ProviderUnavailable as exc:
        TASKS.labels(self.name, "failure").inc()
        self.backend.mark_as_failure(self.request.id, exc, request=self.request)
        raise Reject(str(exc), requeue=False) from exc
    finally:
        TASK_SECONDS.labels(self.name).observe(time.perf_counter() - started)
    TASKS.labels(self.name, "success").inc()
    return {
        "ok": True,
        "subject": profile.subject,
        "nickname": profile.nickname,
        "email": profile.email,
    }
