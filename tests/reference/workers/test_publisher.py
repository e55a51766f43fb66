"""The API's publisher against a broker that hangs (a TCP proxy holding every byte): the
publish gives up within its timeout instead of blocking the request for ever."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from kombu import Connection

from reference.common import topology
from reference.common.settings import Settings
from reference.workers.publisher import Publisher
from tests.proxy import TcpProxy

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy(settings: Settings) -> Iterator[TcpProxy]:
    proxy = TcpProxy.for_url(settings.broker_url, 5672)
    yield proxy
    proxy.close()


def test_a_hung_broker_fails_the_publish_within_its_timeout(
    settings: Settings, broker: Connection, proxy: TcpProxy
) -> None:
    through = settings.model_copy(
        update={"broker_url": proxy.url(settings.broker_url), "publish_timeout_seconds": 1.0}
    )
    publisher = Publisher(through)
    try:
        publisher("image.analyze", str(uuid.uuid4()), 10)  # connected, topology declared
        proxy.pause()
        started = time.monotonic()
        with pytest.raises(Exception) as raised:
            publisher("image.analyze", str(uuid.uuid4()), 10)
        elapsed = time.monotonic() - started
    finally:
        proxy.up()
        publisher.celery.close()
    # One confirm wait, then two reconnects that time out too, each bounded by the setting
    # (measured: about 4.7 s).
    assert elapsed < 15, f"publishing blocked {elapsed:.1f} s"
    assert "timed out" in str(raised.value)  # kombu's OperationalError over socket.timeout
    depth = {name: n for name, n, _ in topology.iter_depths(broker)}
    assert depth[topology.AI.name] >= 1  # the first publish was confirmed
