"""users-service logic: the profile, account deletion, scan history and personal statistics."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.orm import Session

from reference.auth.models import Identity, User
from reference.common import storage
from reference.common.cache import Keys, get_redis
from reference.common.errors import ApiError
from reference.common.settings import Settings
from reference.users.models import Profile
from reference.users.regions import LABELS_KO as REGION_LABELS
from reference.users.schemas import (
    CategoryCount,
    HistoryItem,
    HistoryPage,
    ProfileOut,
    ProfileUpdate,
    StatsOut,
)
from reference.waste.categories import LABELS_KO as CATEGORY_LABELS
from reference.waste.categories import Category
from reference.waste.models import Analysis, Job, JobStatus, Mode

NICKNAME_MAX = 40


def create_profile(session: Session, user_id: uuid.UUID, nickname: str | None) -> Profile:
    """The profile of a new account (at its first login), named after the provider's nickname."""
    name = (nickname or "").strip()[:NICKNAME_MAX] or f"user-{user_id.hex[:8]}"
    profile = Profile(user_id=user_id, nickname=name, notifications_opt_in=False)
    session.add(profile)
    return profile


def _profile(session: Session, user_id: uuid.UUID, *, lock: bool = False) -> Profile:
    profile = session.get(Profile, user_id, with_for_update=lock)
    if profile is None:
        raise ApiError(404, "profile_not_found", "this account has no profile (deleted?)")
    return profile


def profile_out(profile: Profile) -> ProfileOut:
    return ProfileOut(
        user_id=profile.user_id,
        nickname=profile.nickname,
        region=profile.region,
        region_label=REGION_LABELS.get(profile.region) if profile.region else None,
        notifications_opt_in=profile.notifications_opt_in,
        created_at=profile.created_at,
        updated_at=profile.updated_at,
    )


def get_profile(session: Session, user_id: uuid.UUID) -> ProfileOut:
    return profile_out(_profile(session, user_id))


def update_profile(session: Session, user_id: uuid.UUID, update: ProfileUpdate) -> ProfileOut:
    profile = _profile(session, user_id, lock=True)
    changes = update.model_dump(exclude_unset=True)
    for name, value in changes.items():
        setattr(profile, name, value)
    session.flush()
    if changes:
        session.refresh(profile)  # updated_at comes from the database
    return profile_out(profile)


def delete_account(session: Session, settings: Settings, user_id: uuid.UUID) -> int:
    """Remove the profile, the account with its identities, the user's jobs (their live
    progress in Redis too) and their photos in S3. Returns how many jobs went. The analyses
    stay: they are the shared cache of what photographed items are, and name no one.

    The photos go before the database commits: if S3 fails, nothing is deleted and the call
    can be repeated (503); a photo deleted twice is no error."""
    profile = session.get(Profile, user_id)
    user = session.get(User, user_id)
    if profile is None and user is None:
        raise ApiError(404, "profile_not_found", "this account does not exist (deleted?)")
    deleted = session.execute(
        delete(Job).where(Job.user_id == user_id).returning(Job.id, Job.object_key)
    ).all()
    jobs = [job_id for job_id, _ in deleted]
    try:
        storage.delete_objects(settings, [key for _, key in deleted])
    except Exception as exc:
        session.rollback()
        raise ApiError(
            503, "storage_unavailable", "the photos could not be deleted; retry later"
        ) from exc
    session.execute(delete(Profile).where(Profile.user_id == user_id))
    session.execute(delete(Identity).where(Identity.user_id == user_id))
    session.execute(delete(User).where(User.id == user_id))
    session.commit()
    keys = Keys(settings.redis_prefix)
    if jobs:
        get_redis(settings.redis_url).delete(*(keys.job(str(job_id)) for job_id in jobs))
    return len(jobs)


# --- history ------------------------------------------------------------------------------


def encode_cursor(created_at: datetime, job_id: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{job_id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, _, job_id = base64.urlsafe_b64decode(padded).decode().partition("|")
        parsed = datetime.fromisoformat(created)
        if parsed.tzinfo is None:
            raise ValueError("naive time")
        return parsed, uuid.UUID(job_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(
            422, "invalid_cursor", "the cursor is not one this API gave; start without it"
        ) from None


def history(session: Session, user_id: uuid.UUID, limit: int, cursor: str | None) -> HistoryPage:
    """The user's scans, newest first, by keyset pagination on (created_at, id)."""
    query = (
        select(Job, Analysis)
        .outerjoin(Analysis, Job.analysis_id == Analysis.id)
        .where(Job.user_id == user_id)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        created_at, job_id = decode_cursor(cursor)
        query = query.where(tuple_(Job.created_at, Job.id) < tuple_(created_at, job_id))
    rows = session.execute(query).all()
    items = [
        HistoryItem(
            job_id=job.id,
            status=JobStatus(job.status),
            mode=Mode(job.mode),
            created_at=job.created_at,
            finished_at=job.finished_at,
            cache_hit=job.cache_hit,
            item=analysis.item if analysis else None,
            category=Category(analysis.category) if analysis else None,
            category_label=CATEGORY_LABELS[Category(analysis.category)] if analysis else None,
            error_code=job.error_code,
            result_url=f"/api/v1/waste/result/{job.id}",
        )
        for job, analysis in rows[:limit]
    ]
    more = len(rows) > limit
    last = rows[limit - 1][0] if more else None
    return HistoryPage(
        items=items, next_cursor=encode_cursor(last.created_at, last.id) if last else None
    )


# --- statistics ---------------------------------------------------------------------------


def stats(session: Session, user_id: uuid.UUID) -> StatsOut:
    mine = Job.user_id == user_id
    total, done, failed, hits, looked, first, last = session.execute(
        select(
            func.count(),
            func.count().filter(Job.status == JobStatus.DONE.value),
            func.count().filter(Job.status == JobStatus.FAILED.value),
            func.count().filter(Job.cache_hit.is_(True)),
            func.count().filter(Job.cache_hit.is_not(None)),
            func.min(Job.created_at),
            func.max(Job.created_at),
        ).where(mine)
    ).one()
    by_category = session.execute(
        select(Analysis.category, func.count().label("n"))
        .join(Job, Job.analysis_id == Analysis.id)
        .where(mine, Job.status == JobStatus.DONE.value)
        .group_by(Analysis.category)
        .order_by(func.count().desc(), Analysis.category)
    ).all()
    return StatsOut(
        total_scans=total,
        done=done,
        failed=failed,
        in_progress=total - done - failed,
        cache_hits=hits,
        cache_hit_ratio=round(hits / looked, 4) if looked else None,
        by_category=[
            CategoryCount(category=Category(name), label=CATEGORY_LABELS[Category(name)], count=n)
            for name, n in by_category
        ],
        first_scan_at=first,
        last_scan_at=last,
    )
