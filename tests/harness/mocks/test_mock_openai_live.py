"""The mock OpenAI served for real (uvicorn), called with the official SDK and over raw HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from harness.mocks import catalog
from harness.mocks.openai_config import FixedLatency, MockOpenAIConfig, UniformLatency
from harness.mocks.openai_server import MockOpenAIServer, build_parser, config_from_args
from harness.stack.processes import free_port
from harness.stack.waits import wait_for
from tests.harness.mocks.helpers import vision_body, vision_messages

# The seed's 2-5 s, a hundred times faster.
QUICK = MockOpenAIConfig(time_scale=0.01)


def quick(**fields: float) -> MockOpenAIConfig:
    """QUICK with ``fields`` changed, validated (``model_copy`` would skip validation)."""
    return MockOpenAIConfig.model_validate(QUICK.model_dump() | fields)


@pytest.fixture(scope="module")
def server() -> Iterator[MockOpenAIServer]:
    with MockOpenAIServer(QUICK) as running:
        yield running


@pytest.fixture
def live(server: MockOpenAIServer) -> MockOpenAIServer:
    """The shared server, back to the quick config with zeroed stats."""
    server.mock.configure(QUICK)
    server.mock.reset()
    return server


def sdk(server: MockOpenAIServer, **options: float) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url(), api_key="sk-test", **options)


def test_the_sdk_gets_a_full_analysis(live: MockOpenAIServer) -> None:
    item = catalog.get("butane_canister")
    with sdk(live) as client:
        completion = client.chat.completions.create(
            model="gpt-4o",
            messages=vision_messages(catalog.render(item, seed=11)),  # type: ignore[arg-type]
            response_format={"type": "json_object"},
        )
    answer = json.loads(completion.choices[0].message.content or "")
    assert answer["item"] == item.name_ko
    assert answer["category"] == item.category.value
    assert answer["disposal_steps"] == list(item.steps)
    assert completion.usage is not None
    assert completion.usage.total_tokens > completion.usage.prompt_tokens
    stats = live.mock.stats()
    assert stats["outcomes"]["ok"] == 1
    # Uniform 2-5 s times 0.01.
    assert 0.02 <= stats["latencies"][0] <= 0.05


def test_the_sdk_gets_a_classification(live: MockOpenAIServer) -> None:
    item = catalog.get("led_bulb")
    with sdk(live) as client:
        completion = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=vision_messages(catalog.render(item), classify_only=True),  # type: ignore[arg-type]
            response_format={"type": "json_object"},
        )
    answer = json.loads(completion.choices[0].message.content or "")
    assert answer["category"] == item.category.value
    assert "disposal_steps" not in answer


def test_the_sdk_raises_rate_limit_error_after_its_retries(live: MockOpenAIServer) -> None:
    live.mock.configure(quick(rate_limit_rate=1.0, retry_after_seconds=0.05))
    with sdk(live, max_retries=2) as client, pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(
            model="gpt-4o",
            messages=vision_messages(catalog.render(catalog.ITEMS[0])),  # type: ignore[arg-type]
        )
    assert raised.value.status_code == 429
    # The SDK honoured retry-after-ms and tried three times in all.
    assert live.mock.stats()["outcomes"]["rate_limited"] == 3


def test_the_sdk_raises_on_server_errors(live: MockOpenAIServer) -> None:
    live.mock.configure(quick(error_rate=1.0))
    with sdk(live, max_retries=0) as client, pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(
            model="gpt-4o",
            messages=vision_messages(catalog.render(catalog.ITEMS[0])),  # type: ignore[arg-type]
        )
    assert raised.value.status_code in {500, 503}


def test_the_sdk_times_out_on_a_held_request(live: MockOpenAIServer) -> None:
    live.mock.configure(quick(timeout_rate=1.0, hang_seconds=30.0))
    started = time.monotonic()
    with sdk(live, max_retries=0, timeout=0.5) as client, pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(
            model="gpt-4o",
            messages=vision_messages(catalog.render(catalog.ITEMS[0])),  # type: ignore[arg-type]
        )
    assert time.monotonic() - started < 10
    assert live.mock.stats()["outcomes"]["timeout"] == 1


def test_the_sdk_passes_on_content_that_is_not_json(live: MockOpenAIServer) -> None:
    live.mock.configure(quick(invalid_json_rate=1.0))
    with sdk(live) as client:
        completion = client.chat.completions.create(
            model="gpt-4o",
            messages=vision_messages(catalog.render(catalog.ITEMS[0])),  # type: ignore[arg-type]
        )
    with pytest.raises(json.JSONDecodeError):
        json.loads(completion.choices[0].message.content or "")


def test_latency_is_slept_without_blocking_other_calls(live: MockOpenAIServer) -> None:
    calls, hold = 8, 1.0
    live.mock.configure(MockOpenAIConfig(latency=FixedLatency(seconds=hold)))
    body = vision_body(catalog.render(catalog.ITEMS[0], size=(64, 48)))
    barrier = threading.Barrier(calls)

    def call() -> int:
        barrier.wait(timeout=10)
        return httpx.post(f"{live.base_url()}/chat/completions", json=body, timeout=30).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(calls) as pool:
        statuses = list(pool.map(lambda _: call(), range(calls)))
    elapsed = time.monotonic() - started
    assert statuses == [200] * calls
    assert live.mock.stats()["max_in_flight"] == calls
    # One after another they would take calls * hold seconds.
    assert elapsed < calls * hold / 2


def test_admin_endpoints_over_http(live: MockOpenAIServer) -> None:
    base = live.url()
    new = MockOpenAIConfig(latency=UniformLatency(low=0.1, high=0.2), time_scale=0.5)
    assert httpx.put(f"{base}/_mock/config", json=new.model_dump(mode="json")).status_code == 200
    assert live.mock.config == new
    refused = httpx.put(f"{base}/_mock/config", json={"time_scale": "fast"})
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_config"
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}


def test_the_command_line_builds_the_config(tmp_path: Path) -> None:
    config_file = tmp_path / "mock.json"
    config_file.write_text(json.dumps({"error_rate": 0.3, "seed": 4}))
    args = build_parser().parse_args(
        ["--config", str(config_file), "--latency", "lognormal:3:0.5", "--seed", "9"]
    )
    config = config_from_args(args)
    assert config.error_rate == 0.3
    assert config.seed == 9
    assert config.latency.model_dump() == {
        "kind": "lognormal",
        "median": 3.0,
        "sigma": 0.5,
        "cap": 30.0,
    }


@pytest.mark.parametrize("spec", ["uniform:2", "gamma:1:2", "fixed:soon"])
def test_the_command_line_refuses_a_bad_latency(
    spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--latency", spec])
    assert "--latency" in capsys.readouterr().err


def test_the_command_line_refuses_rates_past_one() -> None:
    args = build_parser().parse_args(["--error-rate", "0.8", "--rate-limit-rate", "0.8"])
    with pytest.raises(ValueError, match="at most 1"):
        config_from_args(args)


def test_python_dash_m_serves_the_mock(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "mock-openai.log").open("wb")
    command = [
        sys.executable, "-m", "harness.mocks.openai_server",
        "--port", str(port), "--latency", "fixed:0", "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: httpx.get(f"{base}/healthz", timeout=1).status_code == 200,
            timeout=30,
            describe="python -m harness.mocks.openai_server",
            abort=lambda: None if process.poll() is None else "it exited",
        )
        response = httpx.post(
            f"{base}/v1/chat/completions", json=vision_body(catalog.render(catalog.ITEMS[1]))
        )
        assert response.status_code == 200
        assert httpx.get(f"{base}/_mock/config").json()["latency"] == {
            "kind": "fixed",
            "seconds": 0.0,
        }
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
