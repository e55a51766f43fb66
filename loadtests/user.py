"""The Locust user that behaves like the mobile app (imports locust: gevent-patches the process).

:func:`user_class` makes a :class:`MobileAppUser` subclass bound to one process's context, with
the scan, browse-map and profile tasks weighted by the scenario's mix. Each task first checks
its intended start with the worker's :class:`~loadtests.pacing.Pacer`; ``wait_time`` sleeps
until the next intended start (claimed from the arrival schedule, or after a think time) and
renders the next photo meanwhile, so neither counts in the user's own timings. When the user
stops, it checks its history and statistics against the scans it saw end (one row of
``checks.csv``).
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gevent.event
import httpx
from locust import User, constant, task

from harness.app.corpus import Photo, PhotoStream
from loadtests.abuse import ACTOR, Abuser, is_abusive
from loadtests.flows import AppSession, InFlight
from loadtests.pacing import Clock, Pacer
from loadtests.plan import ProcessPlan, integer_weights
from loadtests.records import ProcessRecorder

# A user with nothing left to do sleeps this long; the runner stops it long before.
IDLE_SECONDS = 3600.0


@dataclass
class ProcessContext:
    """What the users of one process share."""

    plan: ProcessPlan
    base_url: str
    run_id: str
    recorder: ProcessRecorder
    clock: Clock
    photos: PhotoStream
    flow_timeout: float
    upload_rewrites: Mapping[str, str] = field(default_factory=dict)
    # The users' HTTP transport (harness.app.client.WasteClient's); httpx's own when None.
    transport: Callable[[], httpx.BaseTransport] | None = None
    in_flight: InFlight = field(default_factory=InFlight)
    _numbers: itertools.count[int] = field(default_factory=itertools.count)
    # Set at the load's t=0 (the master's wc:start); users that signed in before wait for it.
    _pacer: Pacer | None = None
    _started: gevent.event.Event = field(default_factory=gevent.event.Event)

    def next_user_number(self) -> int:
        return next(self._numbers)

    def begin(self, pacer: Pacer) -> None:
        self._pacer = pacer
        self._started.set()

    def wait_for_start(self) -> None:
        self._started.wait()

    @property
    def pacer(self) -> Pacer:
        assert self._pacer is not None, "the load has not started"
        return self._pacer


class MobileAppUser(User):
    """One app install: signs in, then scans, browses the map, opens the profile."""

    abstract = True
    context: ClassVar[ProcessContext]

    def on_start(self) -> None:
        ctx = self.context
        self.number = ctx.next_user_number()
        subject = f"{ctx.run_id}-p{ctx.plan.process}-u{self.number}"
        self.rng = random.Random(subject)
        abusive = is_abusive(self.number, ctx.plan.abusive)
        self.session = AppSession(
            ctx.base_url,
            ctx.recorder,
            ctx.clock,
            user=self.number,
            subject=subject,
            follow=ctx.plan.follow,
            follow_both=ctx.plan.follow_both,
            poll_interval=ctx.plan.poll_interval,
            flow_timeout=ctx.flow_timeout,
            rng=self.rng,
            upload_rewrites=ctx.upload_rewrites,
            actor=ACTOR if abusive else "app",
            transport=ctx.transport,
        )
        self.session.login()
        self.photo: Photo | None = None
        ctx.wait_for_start()
        # An abusive user keeps its own pace: it claims no arrival and no think time.
        self.abuser = Abuser(self.session, ctx.plan.abuse_interval) if abusive else None
        if self.abuser is not None:
            self.due = self.abuser.due
            return
        self.due = ctx.pacer.first(time.perf_counter())
        self._prepare_photo()
        if self.due is not None:
            time.sleep(max(0.0, self.due - time.perf_counter()))

    def on_stop(self) -> None:
        # Stopped while signing in (at the end of the load): no session may exist yet.
        session: AppSession | None = getattr(self, "session", None)
        if session is None:
            return
        if getattr(self, "abuser", None) is not None:  # it kept no history worth checking
            session.close()
            return
        try:
            self.context.recorder.user_check(session.check_history())
        finally:
            session.close()

    def wait_time(self) -> float:
        if self.abuser is not None:
            wait = self.abuser.wait()
            self.due = self.abuser.due
            return wait if self.context.pacer.accepts(self.due) else IDLE_SECONDS
        now = time.perf_counter()
        self.due = self.context.pacer.next(now, self.rng)
        if self.due is None:
            return IDLE_SECONDS
        self._prepare_photo()
        return max(0.0, self.due - time.perf_counter())

    def _prepare_photo(self) -> None:
        if self.photo is None and self.context.plan.weights["scan"] > 0:
            self.photo = self.context.photos.next()

    def _begin(self) -> float | None:
        """The intended start of the action about to run, or None if none may start now."""
        due, self.due = self.due, None
        if not self.context.pacer.accepts(due):
            return None
        self.session.ensure_login()
        return due

    # -- tasks (weights set by user_class) -----------------------------------------------------
    def _abuse(self) -> None:
        """What an abusive user does whichever task Locust picked: one more analysis."""
        assert self.abuser is not None
        if self._begin() is not None:
            self.abuser.step()

    def scan(self) -> None:
        if self.abuser is not None:
            return self._abuse()
        scheduled = self._begin()
        if scheduled is None:
            return
        ctx = self.context
        photo = self.photo or ctx.photos.next()
        self.photo = None
        record = self.session.new_record(photo, scheduled, time.perf_counter())
        key = ctx.in_flight.add(record)
        ctx.recorder.flow_started()
        try:
            self.session.scan(photo, record, scheduled)
        except BaseException:
            # Stopped mid-flow (the runner killed this user): still one row for the flow.
            if not record.status:
                record.fail("timeout", "stopped", "user_stopped")
                record.end_to_end_ms = (time.perf_counter() - scheduled) * 1000
            raise
        finally:
            ctx.in_flight.remove(key)
            ctx.recorder.flow(record)

    def browse_map(self) -> None:
        self._other("browse_map", self.session.browse_map)

    def profile(self) -> None:
        self._other("profile", self.session.profile)

    def _other(self, kind: str, action: Any) -> None:
        if self.abuser is not None:
            return self._abuse()
        if self._begin() is None:
            return
        ctx = self.context
        ctx.in_flight.others += 1
        try:
            ok = action()
        finally:
            ctx.in_flight.others -= 1
        ctx.recorder.other_action(kind, ok)


def user_class(context: ProcessContext) -> type[MobileAppUser]:
    """A concrete user class for one process, its tasks weighted by the scenario's mix."""
    weights = integer_weights(context.plan.weights)
    tasks = {getattr(MobileAppUser, name): weight for name, weight in weights.items()}
    return type(
        "MobileAppUser",
        (MobileAppUser,),
        {"abstract": False, "context": context, "tasks": tasks, "host": context.base_url},
    )


def unbound_user_class() -> type[User]:
    """The app user as the master knows it (it dispatches users by class name) and as a
    worker starts before its plan arrives: a worker replaces it with :func:`user_class`."""

    class MobileAppUser(User):
        wait_time = constant(3600)

        @task
        def wait_for_the_plan(self) -> None:
            """Never runs: no user is dispatched before the plan."""

    return MobileAppUser
