"""The mock OpenAI inside the test process, through respx: no server, no sleeping.

The route answers exactly as :mod:`harness.mocks.openai_server` would (the same
:class:`~harness.mocks.openai_mock.MockOpenAI` decides), honouring the error, 429, invalid-JSON
and timeout rates with the config's seeded generator; latency is recorded in the stats but not
slept, and a held request becomes an immediate ``httpx.ReadTimeout``.

respx patches ``httpx`` only. The ``openai`` SDK's default transport is not plain ``httpx``, so it
goes through respx only when built with an ``httpx`` client::

    with respx.mock() as router:
        mock = mock_openai(router, "http://127.0.0.1:9/v1")
        client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="x",
                               http_client=httpx.Client())
        client.chat.completions.create(...)

Without ``http_client=httpx.Client()`` the SDK would try the network for real. The AI worker's
own client factory must therefore accept an ``http_client`` for unit tests to use this.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import respx

from harness.mocks.openai_config import MockOpenAIConfig
from harness.mocks.openai_mock import MockOpenAI


def mock_openai(
    router: respx.MockRouter, base_url: str, config: MockOpenAIConfig | None = None
) -> MockOpenAI:
    """Route ``POST {base_url}/chat/completions`` to a new mock; return it for its stats."""
    mock = MockOpenAI(config)

    def respond(request: httpx.Request) -> httpx.Response:
        reply = mock.reply(request.content)
        if reply.outcome == "timeout":
            raise httpx.ReadTimeout(
                "mock OpenAI held the request past the timeout", request=request
            )
        return httpx.Response(reply.status, json=reply.body, headers=reply.headers)

    router.post(f"{base_url.rstrip('/')}/chat/completions").mock(side_effect=respond)
    return mock


@contextmanager
def mocked_openai(base_url: str, config: MockOpenAIConfig | None = None) -> Iterator[MockOpenAI]:
    """:func:`mock_openai` on a fresh respx router; any other ``httpx`` request fails the test."""
    with respx.mock(assert_all_called=False) as router:
        yield mock_openai(router, base_url, config)
