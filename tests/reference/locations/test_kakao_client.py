"""The Kakao client of map.search: parsing, retries and the error codes (respx, no servers)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx
from pydantic import SecretStr

from reference.common.settings import Settings
from reference.locations import kakao

BASE = "http://kakao.test"
URL = f"{BASE}{kakao.KEYWORD_PATH}"

DOCUMENT = {
    "id": "26338954",
    "place_name": "역삼1동 주민센터",
    "category_name": "사회,공공기관 > 행정기관 > 행정복지센터",
    "category_group_code": "PO3",
    "category_group_name": "공공기관",
    "phone": "02-3423-7645",
    "address_name": "서울 강남구 역삼동 635-4",
    "road_address_name": "",
    "x": "127.03342590978",
    "y": "37.4953666908089",
    "place_url": "http://place.map.kakao.com/26338954",
    "distance": "418",
}
ANSWER = {
    "meta": {"total_count": 1, "pageable_count": 1, "is_end": True, "same_name": None},
    "documents": [DOCUMENT],
}


@pytest.fixture
def settings() -> Settings:
    return Settings(
        kakao_base_url=BASE,
        kakao_rest_key=SecretStr("test-key"),
        kakao_attempts=3,
        kakao_backoff_initial_seconds=0.0,
        kakao_backoff_max_seconds=0.0,
    )


@pytest.fixture
def kakao_api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def search(settings: Settings) -> kakao.MapAnswer:
    return kakao.keyword_search(settings, "주민센터", 37.4953, 127.0334, 1000)


def test_a_search_sends_the_key_and_position_and_reads_kakaos_strings(
    settings: Settings, kakao_api: respx.MockRouter
) -> None:
    route = kakao_api.get(URL).respond(200, json=ANSWER)
    answer = search(settings)
    request = route.calls.last.request
    assert request.headers["Authorization"] == "KakaoAK test-key"
    assert dict(request.url.params) == {
        "query": "주민센터",
        "x": "127.033400",
        "y": "37.495300",
        "radius": "1000",
        "size": "15",
        "sort": "distance",
    }
    (place,) = answer.places
    assert (place.name, place.lat, place.lon) == (
        "역삼1동 주민센터",
        37.4953666908089,
        127.03342590978,
    )
    assert place.road_address is None and place.phone == "02-3423-7645"
    assert (answer.total_count, answer.is_end) == (1, True)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_are_retried_then_succeed(
    settings: Settings, kakao_api: respx.MockRouter, status: int
) -> None:
    route = kakao_api.get(URL)
    route.side_effect = [
        httpx.Response(status, json={"errorType": "X", "message": "busy"}),
        httpx.Response(200, json=ANSWER),
    ]
    assert len(search(settings).places) == 1
    assert route.call_count == 2


def test_server_errors_after_the_last_attempt(
    settings: Settings, kakao_api: respx.MockRouter
) -> None:
    route = kakao_api.get(URL).respond(503, json={"errorType": "X", "message": "down"})
    with pytest.raises(kakao.MapSearchError) as raised:
        search(settings)
    assert route.call_count == settings.kakao_attempts
    error = raised.value
    assert (error.code, error.upstream_status) == ("map_unavailable", 503)
    assert "down" in error.message


def test_a_refusal_is_not_retried(settings: Settings, kakao_api: respx.MockRouter) -> None:
    body = {"errorType": "AccessDeniedError", "message": "appkey is not valid"}
    route = kakao_api.get(URL).respond(401, json=body)
    with pytest.raises(kakao.MapSearchError) as raised:
        search(settings)
    assert route.call_count == 1
    assert raised.value.code == "map_rejected" and "appkey is not valid" in raised.value.message


def test_time_outs_and_unreachable(settings: Settings, kakao_api: respx.MockRouter) -> None:
    route = kakao_api.get(URL)
    route.side_effect = httpx.ReadTimeout("slow")
    with pytest.raises(kakao.MapSearchError) as raised:
        search(settings)
    assert raised.value.code == "map_timeout" and route.call_count == 3
    route.side_effect = httpx.ConnectError("refused")
    with pytest.raises(kakao.MapSearchError) as raised:
        search(settings)
    assert raised.value.code == "map_unavailable"


def test_a_garbled_answer_is_retried_as_unavailable(
    settings: Settings, kakao_api: respx.MockRouter
) -> None:
    route = kakao_api.get(URL)
    route.side_effect = [
        httpx.Response(200, text="<html>oops</html>"),
        httpx.Response(200, json={"documents": [{"id": "1"}], "meta": {}}),
        httpx.Response(200, json=ANSWER),
    ]
    assert len(search(settings).places) == 1 and route.call_count == 3


def test_the_error_survives_the_result_backend_round_trip() -> None:
    # Celery stores an exception as its type, module and args, and rebuilds it with cls(*args).
    error = kakao.MapSearchError("map_unavailable", "Kakao answered 503", 503)
    rebuilt = type(error)(*error.args)
    assert (rebuilt.code, rebuilt.message, rebuilt.upstream_status) == (
        "map_unavailable",
        "Kakao answered 503",
        503,
    )
