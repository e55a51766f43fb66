"""Fixtures of the users tests: users-service in process and accounts made as a login makes
them (auth.service.login), with scans written straight into waste.jobs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from reference.auth import service as auth_service
from reference.auth.providers import ProviderProfile
from reference.common import security
from reference.common.db import session_scope
from reference.common.settings import Settings, get_settings
from reference.users.main import app
from reference.waste.models import Analysis, Job, JobStatus


@dataclass
class Account:
    user_id: uuid.UUID
    access: security.IssuedToken
    refresh: security.IssuedToken

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access.token}"}


def make_account(settings: Settings, nickname: str = "초록이") -> Account:
    subject = uuid.uuid4().hex[:12]
    with session_scope(settings.database_url) as session:
        login = auth_service.login(
            session, "kakao", ProviderProfile(subject, nickname, f"{subject}@example.com")
        )
    return Account(
        login.user_id,
        security.issue(settings, login.user_id, "access"),
        security.issue(settings, login.user_id, "refresh"),
    )


def add_scan(
    settings: Settings,
    user_id: uuid.UUID,
    *,
    minutes_ago: float,
    category: str | None = "plastic",
    status: JobStatus = JobStatus.DONE,
    cache_hit: bool | None = False,
) -> uuid.UUID:
    """A job of ``user_id`` created ``minutes_ago``, with its analysis when it is done."""
    created = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    with session_scope(settings.database_url) as session:
        analysis = None
        if status == JobStatus.DONE and category is not None:
            analysis = Analysis(
                content_key=uuid.uuid4().hex,
                mode="analyze",
                item=f"{category} item",
                category=category,
                disposal_steps=["rinse"],
                model="gpt-4o",
                raw_answer={},
            )
            session.add(analysis)
            session.flush()
        job = Job(
            user_id=user_id,
            mode="analyze",
            status=status.value,
            content_type="image/jpeg",
            object_key=f"uploads/{uuid.uuid4()}.jpeg",
            cache_hit=cache_hit if status == JobStatus.DONE else None,
            analysis_id=analysis.id if analysis else None,
            error_code="model_unavailable" if status == JobStatus.FAILED else None,
            created_at=created,
            finished_at=created + timedelta(seconds=3) if status.terminal else None,
        )
        session.add(job)
        session.flush()
        return job.id


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app.dependency_overrides[get_settings] = lambda: settings
    try:
        with TestClient(app) as test_client:
            yield test_client
    finally:
        app.dependency_overrides.clear()


@pytest.fixture
def account(settings: Settings) -> Account:
    return make_account(settings)
