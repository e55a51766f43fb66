"""A user's history and statistics held to the scans it saw end (a scripted users API)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from loadtests import history_check
from loadtests.history_check import Ended, check_user, compare_history, stats_mismatch

BASE = "http://api.test"


def item(job: str, status: str = "done", category: str | None = "plastic", **extra: Any) -> dict:
    return {
        "job_id": job,
        "status": status,
        "category": category if status == "done" else None,
        "cache_hit": extra.pop("cache_hit", status == "done"),
        "error_code": extra.pop("error_code", None),
        **extra,
    }


def stats_for(items: list[dict[str, Any]]) -> dict[str, Any]:
    """What a correct users service answers for ``items``."""
    implied = history_check.totals(items)
    by_category = implied.pop("by_category")
    assert isinstance(by_category, dict)
    return {
        **implied,
        "by_category": [{"category": c, "label": c, "count": n} for c, n in by_category.items()],
    }


class UsersApi:
    """History pages of ``page_size`` and statistics; ``stats`` may change between calls."""

    def __init__(
        self,
        items: list[dict[str, Any]],
        *,
        stats: Callable[[int], dict[str, Any]] | None = None,
        page_size: int = 2,
        status: int = 200,
    ) -> None:
        self.items = items
        self.stats = stats or (lambda call: stats_for(items))
        self.page_size = page_size
        self.status = status
        self.stats_calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.status != 200:
            return httpx.Response(self.status, json={"code": "unauthorized"})
        if request.url.path.endswith("/stats"):
            self.stats_calls += 1
            return httpx.Response(200, json=self.stats(self.stats_calls))
        start = int(request.url.params.get("cursor") or 0)
        page = self.items[start : start + self.page_size]
        more = start + self.page_size < len(self.items)
        cursor = str(start + self.page_size) if more else None
        return httpx.Response(200, json={"items": page, "next_cursor": cursor})


def http(api: UsersApi) -> httpx.Client:
    return httpx.Client(base_url=BASE, transport=httpx.MockTransport(api))


ENDED = {
    "j1": Ended("j1", "done", "plastic", ""),
    "j2": Ended("j2", "done", "glass", ""),
    "j3": Ended("j3", "failed", "", "model_unavailable"),
}
HISTORY = [
    item("j1"),
    item("j2", category="glass"),
    item("j3", "failed", error_code="model_unavailable"),
    item("j4", "processing", cache_hit=None),  # cut by the end of the load: not held
    item("j5", "awaiting_upload", cache_hit=None),
]


def test_a_faithful_history_and_statistics_pass() -> None:
    check = check_user(http(UsersApi(HISTORY)), ENDED, process=1, user=4, now=12.5)
    assert (check.history_missing, check.history_wrong, check.stats_mismatch) == ("", "", "")
    assert (check.scans_held, check.history_items, check.error) == (3, 5, "")
    assert (check.process, check.user, check.checked_at) == (1, 4, 12.5)


def test_a_scan_left_out_or_shown_otherwise_is_named() -> None:
    shown = [item("j1", category="glass"), item("j3", "done")]
    missing, wrong = compare_history(ENDED, shown)
    assert missing == ["j2"]
    assert wrong == ["j1:category", "j3:status"]
    failed_other = [item("j3", "failed", error_code="image_missing")]
    assert compare_history({"j3": ENDED["j3"]}, failed_other) == ([], ["j3:error_code"])


def test_statistics_that_do_not_add_up_say_where() -> None:
    stats = stats_for(HISTORY)
    assert stats_mismatch(stats, HISTORY) == ""
    assert stats_mismatch({**stats, "done": 3}, HISTORY) == "done: stats 3, history 2"
    recount = {**stats, "by_category": [{"category": "plastic", "count": 2}]}
    assert stats_mismatch(recount, HISTORY) == (
        "by_category: stats {'plastic': 2}, history {'plastic': 1, 'glass': 1}"
    )
    dropped = HISTORY[1:]  # a history that lost a scan the statistics still count
    assert "total_scans: stats 5, history 4" in stats_mismatch(stats, dropped)


def test_statistics_are_read_again_until_they_stay_put() -> None:
    moving = stats_for([*HISTORY[:3], item("j4", "done")])  # j4 still moving at first
    api = UsersApi(HISTORY, stats=lambda call: moving if call == 1 else stats_for(HISTORY))
    check = check_user(http(api), ENDED, process=0, user=0, now=1.0)
    assert check.stats_mismatch == "" and check.error == ""
    assert api.stats_calls == 4  # before/after twice: the first pair disagreed


def test_a_history_that_cannot_be_read_is_an_error_not_a_pass() -> None:
    # a client error is given up at once: asking again would not change it
    check = check_user(http(UsersApi(HISTORY, status=401)), ENDED, process=0, user=0, now=1.0)
    assert "HTTP 401" in check.error and "gave up" in check.error
    assert check.history_items is None


def test_a_server_error_is_asked_again_until_the_check_gives_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(history_check, "STABLE_SECONDS", 0.6)
    api = UsersApi(HISTORY, status=503)
    check = check_user(http(api), ENDED, process=0, user=0, now=1.0)
    assert "timed out" in check.error and "HTTP 503" in check.error
