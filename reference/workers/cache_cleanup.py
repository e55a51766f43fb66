"""cleanup.cache's work: remove what Redis would otherwise keep for nothing under the
deployment's prefix, and put a TTL back on keys that lost theirs.

- job states (``job:<id>``) of jobs missing from PostgreSQL, or last written longer ago than
  the state TTL (the API rebuilds a missing state from PostgreSQL);
- cached classifications (``cache:<mode>:<sha256>``) whose analysis is gone from PostgreSQL
  (a hit would otherwise answer with an analysis the database no longer has);
- expired members of the near-duplicate index's band sets (reference.waste.near_index);
- any of those, and Celery result-backend keys, without a TTL get one (they would live forever).

Redis itself expires keys with a TTL; this catches what escaped it. Revocation entries of the
auth service are never touched (removing one would make a revoked token valid again).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import select

from reference.common.cache import Keys, get_redis
from reference.common.db import session_scope
from reference.common.settings import Settings
from reference.waste import near_cache
from reference.waste.models import Analysis, Job

BATCH = 500
# A job's state is written a moment before its row is committed: never call a state orphaned
# while it is this young.
ORPHAN_GRACE = timedelta(minutes=10)


@dataclass
class Cleanup:
    scanned: int = 0
    job_states_orphaned: int = 0
    job_states_stale: int = 0
    cache_entries_orphaned: int = 0
    ttl_restored: int = 0
    near_entries_expired: int = 0

    @property
    def deleted(self) -> int:
        return self.job_states_orphaned + self.job_states_stale + self.cache_entries_orphaned

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "deleted": self.deleted}


def escape_glob(text: str) -> str:
    """``text`` as a literal inside a Redis MATCH pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _batches(client: redis.Redis, pattern: str) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=BATCH):
        batch.append(key)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _restore_ttls(client: redis.Redis, keys: list[bytes], ttl: int) -> int:
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.ttl(key)
        ttls = pipe.execute()
    forever = [k for k, t in zip(keys, ttls, strict=True) if t == -1]
    with client.pipeline(transaction=False) as pipe:
        for key in forever:
            pipe.expire(key, ttl, nx=True)
        pipe.execute()
    return len(forever)


def _updated_at(raw: bytes | None) -> datetime | None:
    try:
        value = json.loads(raw or b"")["updated_at"]
        return datetime.fromisoformat(value)
    except (ValueError, KeyError, TypeError):
        return None


def _job_states(settings: Settings, client: redis.Redis, now: datetime, out: Cleanup) -> None:
    prefix = Keys(settings.redis_prefix).job("")
    stale_before = now - timedelta(seconds=settings.job_state_ttl_seconds)
    for keys in _batches(client, f"{escape_glob(prefix)}*"):
        out.scanned += len(keys)
        ids: dict[bytes, uuid.UUID | None] = {}
        for key in keys:
            try:
                ids[key] = uuid.UUID(key.decode().removeprefix(prefix))
            except ValueError:
                ids[key] = None
        with session_scope(settings.database_url) as session:
            created = dict(
                session.execute(
                    select(Job.id, Job.created_at).where(
                        Job.id.in_([i for i in ids.values() if i is not None])
                    )
                )
                .tuples()
                .all()
            )
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hget(key, "state")
            states = dict(zip(keys, pipe.execute(), strict=True))
        doomed: list[bytes] = []
        for key, job_id in ids.items():
            updated = _updated_at(states[key])
            if job_id is not None and job_id in created:
                # Written longer ago than the TTL every write sets: it should have expired.
                if (updated or created[job_id]) < stale_before:
                    doomed.append(key)
                    out.job_states_stale += 1
                continue
            if updated is None or now - updated > ORPHAN_GRACE:
                doomed.append(key)
                out.job_states_orphaned += 1
        if doomed:
            client.delete(*doomed)
        kept = [k for k in keys if k not in set(doomed)]
        out.ttl_restored += _restore_ttls(client, kept, settings.job_state_ttl_seconds)


def _analysis_id(raw: bytes | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(json.loads(raw or b"")["analysis_id"])
    except (ValueError, KeyError, TypeError):
        return None


def _cache_entries(settings: Settings, client: redis.Redis, out: Cleanup) -> None:
    pattern = f"{escape_glob(Keys(settings.redis_prefix).classification('', ''))[:-1]}*"
    for keys in _batches(client, pattern):
        out.scanned += len(keys)
        ids = dict(zip(keys, (_analysis_id(raw) for raw in client.mget(keys)), strict=True))
        with session_scope(settings.database_url) as session:
            known = set(
                session.scalars(
                    select(Analysis.id).where(
                        Analysis.id.in_([i for i in ids.values() if i is not None])
                    )
                )
            )
        doomed = [key for key, analysis in ids.items() if analysis not in known]
        if doomed:
            client.delete(*doomed)
            out.cache_entries_orphaned += len(doomed)
        kept = [k for k in keys if k not in set(doomed)]
        out.ttl_restored += _restore_ttls(client, kept, settings.cache_ttl_seconds)


def _result_keys(settings: Settings, client: redis.Redis, ttl: int, out: Cleanup) -> None:
    pattern = f"{escape_glob(f'{settings.redis_prefix}celery:')}celery-task-meta-*"
    for keys in _batches(client, pattern):
        out.scanned += len(keys)
        out.ttl_restored += _restore_ttls(client, keys, ttl)


def cleanup(settings: Settings, result_ttl: int, now: datetime | None = None) -> dict[str, Any]:
    """One pass over the deployment's keys; returns what it counted and did."""
    client = get_redis(settings.redis_url)
    out = Cleanup()
    now = now or datetime.now(UTC)
    _job_states(settings, client, now, out)
    _cache_entries(settings, client, out)
    _result_keys(settings, client, result_ttl, out)
    for mode in ("analyze", "classify"):
        out.near_entries_expired += near_cache.index(settings, mode).purge()
    return out.as_dict()
