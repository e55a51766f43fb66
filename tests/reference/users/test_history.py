"""users-service: the scan history (waste.jobs with their analyses) and personal statistics."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from reference.common.settings import Settings
from reference.waste.models import JobStatus
from tests.reference.users.conftest import Account, add_scan, make_account

pytestmark = pytest.mark.integration


def test_history_is_newest_first_and_pages_by_cursor(
    client: TestClient, settings: Settings, account: Account
) -> None:
    jobs = [add_scan(settings, account.user_id, minutes_ago=60 - m) for m in range(5)]
    other = make_account(settings)
    add_scan(settings, other.user_id, minutes_ago=0)  # someone else's, newest of all
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        answer = client.get("/api/v1/users/me/history", headers=account.headers, params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["items"]) <= 2
        seen += [item["job_id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(job) for job in reversed(jobs)]
    assert pages == 3


def test_history_items_carry_the_answer(
    client: TestClient, settings: Settings, account: Account
) -> None:
    done = add_scan(settings, account.user_id, minutes_ago=3, category="glass", cache_hit=True)
    failed = add_scan(settings, account.user_id, minutes_ago=2, status=JobStatus.FAILED)
    waiting = add_scan(settings, account.user_id, minutes_ago=1, status=JobStatus.QUEUED)
    items = client.get("/api/v1/users/me/history", headers=account.headers).json()["items"]
    by_id = {item["job_id"]: item for item in items}
    assert [item["job_id"] for item in items] == [str(waiting), str(failed), str(done)]
    assert by_id[str(done)] | {"created_at": None, "finished_at": None} == {
        "job_id": str(done),
        "status": "done",
        "mode": "analyze",
        "created_at": None,
        "finished_at": None,
        "cache_hit": True,
        "item": "glass item",
        "category": "glass",
        "category_label": "유리병",
        "error_code": None,
        "result_url": f"/api/v1/waste/result/{done}",
    }
    assert by_id[str(failed)]["error_code"] == "model_unavailable"
    assert by_id[str(failed)]["category"] is None
    assert by_id[str(waiting)]["status"] == "queued"


def test_history_of_a_new_user_is_empty(client: TestClient, account: Account) -> None:
    page = client.get("/api/v1/users/me/history", headers=account.headers).json()
    assert page == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        # The same code as every other route's limit (locations answered invalid_limit).
        ({"limit": 0}, "invalid_limit"),
        ({"limit": 101}, "invalid_limit"),
        ({"limit": "ten"}, "invalid_request"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"cursor": base64.urlsafe_b64encode(b"2025-01-01|nope").decode()}, "invalid_cursor"),
        ({"cursor": base64.urlsafe_b64encode(b"2025-01-01T00:00:00|x").decode()}, "invalid_cursor"),
        ({"cursor": "x" * 201}, "invalid_request"),
    ],
)
def test_history_bounds(
    client: TestClient, account: Account, params: dict[str, object], code: str
) -> None:
    answer = client.get("/api/v1/users/me/history", headers=account.headers, params=params)
    assert answer.status_code == 422 and answer.json()["code"] == code


def test_stats_count_the_callers_scans_only(
    client: TestClient, settings: Settings, account: Account
) -> None:
    for category, hit in [
        ("plastic", False),
        ("plastic", True),
        ("plastic", True),
        ("glass", False),
        ("paper", True),
    ]:
        add_scan(settings, account.user_id, minutes_ago=10, category=category, cache_hit=hit)
    add_scan(settings, account.user_id, minutes_ago=5, status=JobStatus.FAILED)
    add_scan(settings, account.user_id, minutes_ago=1, status=JobStatus.AWAITING_UPLOAD)
    add_scan(settings, make_account(settings).user_id, minutes_ago=1, category="battery")
    stats = client.get("/api/v1/users/me/stats", headers=account.headers).json()
    assert {k: stats[k] for k in ("total_scans", "done", "failed", "in_progress")} == {
        "total_scans": 7,
        "done": 5,
        "failed": 1,
        "in_progress": 1,
    }
    assert stats["cache_hits"] == 3 and stats["cache_hit_ratio"] == 0.6
    assert stats["by_category"] == [
        {"category": "plastic", "label": "플라스틱류", "count": 3},
        {"category": "glass", "label": "유리병", "count": 1},
        {"category": "paper", "label": "종이류", "count": 1},
    ]
    assert stats["first_scan_at"] < stats["last_scan_at"]


def test_stats_of_a_new_user(client: TestClient, account: Account) -> None:
    stats = client.get("/api/v1/users/me/stats", headers=account.headers).json()
    assert stats == {
        "total_scans": 0,
        "done": 0,
        "failed": 0,
        "in_progress": 0,
        "cache_hits": 0,
        "cache_hit_ratio": None,
        "by_category": [],
        "first_scan_at": None,
        "last_scan_at": None,
    }
