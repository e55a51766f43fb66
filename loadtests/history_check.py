"""What a user sees after its scans, checked when the user stops (no locust import).

The user holds the history to the scans it saw end (done or failed, as the result it was given
said): each must be listed, with that status and, when done, the category the user was served.
The statistics must add up to the whole history: totals by status, cache hits, the hit ratio
and the counts by category. Jobs the user did not see end (cut by the end of the load) may
still move, so statistics are read before and after the history and the pair is used only
when the two agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from harness.stack.waits import WaitAborted, WaitTimeout, wait_for
from loadtests.records import UserCheck

HISTORY = "/api/v1/users/me/history"
STATS = "/api/v1/users/me/stats"
PAGE = 100  # the API's largest page
# How long a user's jobs may keep moving before its statistics are given up on.
STABLE_SECONDS = 10.0


@dataclass(frozen=True)
class Ended:
    """A scan the user saw end: what its result said."""

    job_id: str
    status: str
    category: str
    error_code: str


class CheckFailed(RuntimeError):
    """The history or statistics could not be read (yet); the message says which and why."""


class CheckRefused(CheckFailed):
    """An answer that asking again will not change (a client error, not JSON)."""


def _get(http: httpx.Client, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        answer = http.get(path, params=params)
    except httpx.HTTPError as exc:
        raise CheckFailed(f"{path}: {type(exc).__name__}: {exc}") from None
    if answer.status_code != 200:
        problem = f"{path}: HTTP {answer.status_code} {answer.text[:120]}"
        if 400 <= answer.status_code < 500 and answer.status_code not in (408, 429):
            raise CheckRefused(problem)
        raise CheckFailed(problem)
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise CheckRefused(f"{path}: the answer is not a JSON object: {answer.text[:120]!r}")
    return body


def read_history(http: httpx.Client) -> list[dict[str, Any]]:
    """Every item of the caller's history, page by page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": PAGE}
        if cursor:
            params["cursor"] = cursor
        page = _get(http, HISTORY, params)
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def _snapshot(http: httpx.Client) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    before = _get(http, STATS)
    items = read_history(http)
    after = _get(http, STATS)
    return (after, items) if before == after else None


def compare_history(
    ended: Mapping[str, Ended], items: list[dict[str, Any]]
) -> tuple[list[str], list[str]]:
    """Scans the user saw end that the history lacks, and those it shows otherwise
    (``id:status`` or ``id:category``)."""
    listed = {str(item["job_id"]): item for item in items}
    missing, wrong = [], []
    for job_id, scan in ended.items():
        item = listed.get(job_id)
        if item is None:
            missing.append(job_id)
        elif item.get("status") != scan.status:
            wrong.append(f"{job_id}:status")
        elif scan.status == "done" and item.get("category") != scan.category:
            wrong.append(f"{job_id}:category")
        elif scan.status == "failed" and (item.get("error_code") or "") != scan.error_code:
            wrong.append(f"{job_id}:error_code")
    return missing, wrong


def totals(items: list[dict[str, Any]]) -> dict[str, object]:
    """The statistics the history implies, in the shape of the stats answer's fields."""
    done = [item for item in items if item.get("status") == "done"]
    failed = sum(item.get("status") == "failed" for item in items)
    hits = sum(item.get("cache_hit") is True for item in items)
    looked = sum(item.get("cache_hit") is not None for item in items)
    return {
        "total_scans": len(items),
        "done": len(done),
        "failed": failed,
        "in_progress": len(items) - len(done) - failed,
        "cache_hits": hits,
        "cache_hit_ratio": round(hits / looked, 4) if looked else None,
        "by_category": dict(Counter(str(item.get("category")) for item in done)),
    }


def stats_mismatch(stats: Mapping[str, Any], items: list[dict[str, Any]]) -> str:
    """Where the statistics do not add up to the history ("" when they do)."""
    implied = totals(items)
    shown = {key: stats.get(key) for key in implied}
    shown["by_category"] = {
        str(entry["category"]): entry["count"] for entry in stats.get("by_category") or []
    }
    return "; ".join(
        f"{key}: stats {shown[key]}, history {value}"
        for key, value in implied.items()
        if shown[key] != value
    )


def check_user(
    http: httpx.Client, ended: Mapping[str, Ended], *, process: int, user: int, now: float
) -> UserCheck:
    """Read the user's history and statistics through ``http`` and judge them."""
    check = UserCheck(process=process, user=user, checked_at=round(now, 6), scans_held=len(ended))
    refused: list[str] = []

    def snapshot() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        try:
            return _snapshot(http)
        except CheckRefused as exc:
            refused.append(str(exc))
            raise

    try:
        stats, items = wait_for(
            snapshot,
            timeout=STABLE_SECONDS,
            interval=0.5,
            describe="statistics that stay put while the history is read",
            abort=lambda: refused[0] if refused else None,
        )
    except (WaitTimeout, WaitAborted) as exc:
        check.error = str(exc)[:300]
        return check
    missing, wrong = compare_history(ended, items)
    check.history_items = len(items)
    check.history_missing = " ".join(missing)
    check.history_wrong = " ".join(wrong)
    check.stats_mismatch = stats_mismatch(stats, items)
    return check
