"""An abusive user (``mix.abusive``): asks for analyses far faster than the app can and never
uploads, ignoring ``Retry-After``, so a run shows the rate limits refuse it, and it alone.

It signs in like the app (its own user id, so its refusals cost no honest user anything), then
sends ``POST /analyze`` every ``interval`` seconds (``mix.abuse_rate`` a second in scenario
time, four times the seed's 30 scans a minute by default). Every request is recorded with actor
``abuser`` (kept out of the app's error ratio); a refusal is recorded with its code, and as
``<code>:no_retry_after`` when the answer did not say when to retry. Whether it was refused as
it should be is judged from those rows (:func:`harness.run.observations.add_requests`).

No locust import (see :mod:`loadtests.flows`).
"""

from __future__ import annotations

import time

import httpx

from harness.app.client import FlowError
from loadtests.flows import ROUTES, AppSession

ACTOR = "abuser"
ANALYZE = ROUTES["analyze"]
# How an abusive user must be refused: the scan limit's stable code (reference.common.limits).
REFUSAL_CODE = "scan_rate_limited"
NO_RETRY_AFTER = ":no_retry_after"


def is_abusive(number: int, share: float) -> bool:
    """Whether the process's user ``number`` is one of the ``share`` of abusive users: spread
    evenly over the numbers (a share of 0.2 makes users 4, 9, 14, ... abusive)."""
    return share > 0 and int((number + 1) * share + 1e-9) > int(number * share + 1e-9)


class Abuser:
    """Drives one signed-in session as an abusive client: one analysis per :meth:`step`."""

    def __init__(self, session: AppSession, interval: float) -> None:
        if session.actor != ACTOR:
            raise ValueError("an abuser's session must record its requests as the abuser's")
        self.session = session
        self.interval = interval
        self.due = time.perf_counter()

    def step(self) -> None:
        """One analysis, never uploaded; a refusal is recorded and ignored."""
        session = self.session
        started = time.perf_counter()
        ts = session.clock.epoch(started)
        try:
            session.client.start()
        except FlowError as exc:
            code = exc.code or f"http_{exc.status_code}"
            if exc.status_code == 429 and not exc.retry_after:
                code += NO_RETRY_AFTER
            session._record(ts, started, "analyze", "POST", exc.status_code, code)
            if exc.status_code == 401:
                session.needs_login = True
        except httpx.HTTPError as exc:
            session._record(ts, started, "analyze", "POST", 0, type(exc).__name__)
        else:
            session._record(ts, started, "analyze", "POST", 201, None)

    def wait(self) -> float:
        """Seconds until the next analysis is due (no catching up after a slow answer)."""
        now = time.perf_counter()
        self.due = max(self.due + self.interval, now)
        return self.due - now
