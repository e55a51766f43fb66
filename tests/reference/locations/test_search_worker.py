"""The search path end to end: the service queues map.search on q.api, a real api worker
(``python -m reference.workers run api``) calls the fake Kakao server, the answer comes back
through the Redis result backend. Kakao's failures and slowness become 502 and 504."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from kombu import Connection

from harness.stack.processes import ManagedProcess
from harness.stack.sandbox import Sandbox
from harness.stack.waits import wait_for
from reference.common import topology
from reference.common.cache import get_redis
from reference.common.settings import Settings
from tests.factories import LOG_DIR, FakeKakao, start_fake_kakao
from tests.reference.locations.conftest import overridden

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEARCH = "/api/v1/locations/search"
GANGNAM = {"lat": 37.49794, "lon": 127.02762}


@pytest.fixture(scope="module")
def fake_kakao() -> Iterator[FakeKakao]:
    with start_fake_kakao("--latency", "fixed:0.05") as fake:
        yield fake


@pytest.fixture(scope="module")
def worker_settings(sandbox: Sandbox, fake_kakao: FakeKakao) -> Settings:
    return sandbox.settings(
        kakao_base_url=fake_kakao.base,
        kakao_timeout_seconds=1.0,
        kakao_attempts=2,
        kakao_backoff_initial_seconds=0.05,
        kakao_backoff_max_seconds=0.1,
    )


def depths(settings: Settings) -> dict[str, tuple[int, int]]:
    with Connection(settings.broker_url, connect_timeout=3) as conn:
        return {name: (ready, consumers) for name, ready, consumers in topology.iter_depths(conn)}


@pytest.fixture(scope="module")
def api_worker(worker_settings: Settings) -> Iterator[ManagedProcess]:
    """The api worker of the topology, consuming q.api (as harness.stack.local waits for it)."""
    process = ManagedProcess.python_module(
        f"worker-api-{uuid.uuid4().hex[:6]}",
        "reference.workers",
        ["run", "api"],
        worker_settings.to_env(),
        LOG_DIR,
    ).start()
    try:
        wait_for(
            lambda: all(depths(worker_settings)[q][1] > 0 for q in topology.worker("api").queues),
            timeout=60,
            interval=0.2,
            describe="the api worker consuming q.api",
            abort=process.death,
        )
        yield process
    finally:
        process.stop()


@pytest.fixture(autouse=True)
def fresh_fake(fake_kakao: FakeKakao, api_worker: ManagedProcess) -> Iterator[FakeKakao]:
    fake_kakao.reset()
    yield fake_kakao
    fake_kakao.reset()


def query(word: str) -> str:
    """A search no other test has made (the answers are cached)."""
    return f"{word} {uuid.uuid4().hex[:6]}"


def test_a_search_goes_through_the_worker_then_comes_from_the_cache(
    client: TestClient, fresh_fake: FakeKakao
) -> None:
    q = query("폐건전지 수거함")
    first = client.get(SEARCH, params={"q": q, "radius": 1000, **GANGNAM})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["cached"] is False and body["query"] == q
    assert 0 < len(body["places"]) <= 15 and body["total_count"] >= len(body["places"])
    distances = [place["distance_m"] for place in body["places"]]
    assert distances == sorted(distances)
    # Kakao searched around the position rounded to ~100 m: allow for that rounding.
    assert max(distances) <= 1000 + 120
    place = body["places"][0]
    assert place["name"].startswith(q) and place["url"].startswith("http://place.map.kakao.com/")
    assert place["category"] == "사회,공공기관 > 환경시설"
    assert place["address"].startswith("서울 ")
    stats = fresh_fake.stats()
    assert stats["calls"] == 1 and stats["outcomes"]["ok"] == 1 and stats["queries"] == {q: 1}

    # A few metres away, a moment later: the same answer from Redis, Kakao not asked again.
    nearby = {"lat": GANGNAM["lat"] + 0.0001, "lon": GANGNAM["lon"]}
    again = client.get(SEARCH, params={"q": q, "radius": 1000, **nearby})
    assert again.status_code == 200 and again.json()["cached"] is True
    assert {p["id"] for p in again.json()["places"]} == {p["id"] for p in body["places"]}
    assert fresh_fake.stats()["calls"] == 1


def test_kakao_failing_is_a_502_and_the_search_is_dead_lettered(
    client: TestClient, worker_settings: Settings, fresh_fake: FakeKakao
) -> None:
    fresh_fake.configure(error_rate=1.0)
    dead_before = depths(worker_settings)["q.dlq"][0]
    q = query("의류수거함")
    answer = client.get(SEARCH, params={"q": q, **GANGNAM})
    assert answer.status_code == 502
    body = answer.json()
    assert body["code"] == "map_unavailable" and body["details"]["upstream_status"] in (500, 503)
    stats = fresh_fake.stats()
    assert stats["calls"] == 2  # retried once (kakao_attempts=2), then given up
    assert stats["outcomes"]["server_error"] + stats["outcomes"]["unavailable"] == 2
    wait_for(
        lambda: depths(worker_settings)["q.dlq"][0] == dead_before + 1,
        timeout=10,
        describe="the failed search in q.dlq",
    )
    # A failure is not cached: once Kakao is back, the same search succeeds.
    fresh_fake.reset()
    retry = client.get(SEARCH, params={"q": q, **GANGNAM})
    assert retry.status_code == 200 and retry.json()["cached"] is False


def test_kakao_refusing_the_key_is_a_502_without_retries(
    client: TestClient, fresh_fake: FakeKakao
) -> None:
    fresh_fake.configure(rest_key="a-key-the-worker-does-not-have")
    answer = client.get(SEARCH, params={"q": query("약국"), **GANGNAM})
    assert answer.status_code == 502
    assert answer.json()["code"] == "map_rejected"
    assert "appkey" not in answer.text  # Kakao's own text stays in the worker's log
    assert fresh_fake.stats()["outcomes"]["unauthorized"] == 1
    assert fresh_fake.stats()["calls"] == 1


def test_kakao_too_slow_for_the_worker_is_a_504(client: TestClient, fresh_fake: FakeKakao) -> None:
    # Every call outlasts the worker's 1 s timeout: both attempts time out.
    fresh_fake.configure(latency={"kind": "fixed", "seconds": 3.0})
    answer = client.get(SEARCH, params={"q": query("주민센터"), **GANGNAM})
    assert answer.status_code == 504
    assert answer.json()["code"] == "map_timeout"
    assert "Timeout" not in answer.text  # no exception text reaches the client
    assert fresh_fake.stats()["calls"] == 2


def test_no_answer_within_the_services_wait_is_a_504(
    client: TestClient, api_settings: Settings, fresh_fake: FakeKakao
) -> None:
    fresh_fake.configure(latency={"kind": "fixed", "seconds": 3.0})
    started = time.monotonic()
    with overridden(api_settings, map_search_wait_seconds=0.5):
        answer = client.get(SEARCH, params={"q": query("소형가전"), **GANGNAM})
    assert time.monotonic() - started < 2.5  # answered at the wait, not at Kakao's pace
    assert answer.status_code == 504 and answer.json()["code"] == "map_timeout"
    assert "0.5 s" in answer.json()["message"]
    # The worker did take it and is waiting on Kakao.
    wait_for(lambda: fresh_fake.stats()["calls"] >= 1, timeout=10, describe="the call at Kakao")


def test_searches_reuse_redis_connections(client: TestClient, api_settings: Settings) -> None:
    # Production once leaked result-backend connections (~900 Redis clients): waiting on many
    # results must reuse the pools, not open a connection per search.
    redis = get_redis(api_settings.redis_url)

    def searches(n: int) -> None:
        for _ in range(n):
            answer = client.get(SEARCH, params={"q": query("재활용"), **GANGNAM})
            assert answer.status_code == 200 and answer.json()["cached"] is False

    searches(5)
    before = redis.info("clients")["connected_clients"]
    searches(20)
    assert redis.info("clients")["connected_clients"] <= before + 2
