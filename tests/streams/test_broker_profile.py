"""The worker fits itself to its broker (streams/app.py ``configure_for_broker``): the
fetch-wait patch on Tansu only unless WIRESTREAM_FETCH_MAX_WAIT is set, and a session
timeout each broker accepts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import faust
import pytest
from yarl import URL

import streams.app as app_module
import streams.patches as patches_module
from streams.app import configure_for_broker
from streams.settings import Settings


@pytest.fixture
def fresh_app() -> Iterator[faust.App]:
    before = patches_module.fetch_max_wait_ms
    try:
        yield faust.App("wirestream-profile-test", autodiscover=False)
    finally:
        patches_module.fetch_max_wait_ms = before


@pytest.mark.parametrize(
    ("kind", "overrides", "fetch_ms", "session_s"),
    [
        ("tansu", {}, 50, 5.0),
        ("kafka", {}, None, 6.0),
        ("kafka", {"fetch_max_wait": 0.2, "session_timeout": 10.0}, 200, 10.0),
        ("tansu", {"fetch_max_wait": 0.5}, 500, 5.0),
    ],
)
def test_profile_per_broker(
    fresh_app: faust.App,
    kind: str,
    overrides: dict[str, float],
    fetch_ms: int | None,
    session_s: float,
) -> None:
    settings = Settings(**overrides)  # type: ignore[arg-type]
    line = configure_for_broker(fresh_app, settings, kind)
    assert patches_module.fetch_max_wait_ms == fetch_ms
    assert fresh_app.conf.broker_session_timeout == session_s
    assert f"session timeout {session_s:g} s" in line


def test_the_default_app_is_for_apache_kafka() -> None:
    """Until a worker finds Tansu, the app keeps Faust's fetch wait and a 6 s session."""
    app = app_module.create_app(Settings())
    assert app.conf.broker_session_timeout == 6.0


@pytest.mark.parametrize(
    ("kind", "overrides", "expected"),
    [
        ("kafka", {"web_port": 7123}, f"{socket.gethostname()}-7123"),
        ("kafka", {"instance_id": "worker-a"}, "worker-a"),
        ("kafka", {"instance_id": "off"}, None),
        ("tansu", {"instance_id": "worker-a"}, None),
        ("tansu", {}, None),
    ],
)
def test_static_membership_on_apache_kafka(
    fresh_app: faust.App, kind: str, overrides: dict[str, object], expected: str | None
) -> None:
    """Apache Kafka: a static member id (WIRESTREAM_INSTANCE_ID, by default HOSTNAME-WEBPORT)
    handed to the consumer Faust creates (``consumer_group_instance_id``); never on Tansu."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    line = configure_for_broker(fresh_app, settings, kind)
    assert fresh_app.conf.consumer_group_instance_id == expected
    membership = f"static member {expected}" if expected else "dynamic membership"
    assert line.endswith(f"{membership}, {settings.guarantee}")  # the guarantee comes last


def test_the_worker_consumer_gets_the_instance_id(fresh_app: faust.App) -> None:
    """Faust's aiokafka driver passes the setting to the AIOKafkaConsumer it builds."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    configure_for_broker(fresh_app, Settings(instance_id="worker-b"), "kafka")
    thread = AIOKafkaConsumerThread.__new__(AIOKafkaConsumerThread)
    thread.app = fresh_app
    thread.consumer = type("C", (), {"in_transaction": False})()
    transport = type("T", (), {"url": [URL("kafka://127.0.0.1:9")], "default_port": 9092})()

    async def create() -> Any:  # aiokafka objects want a running loop
        return thread._create_worker_consumer(transport)

    consumer = asyncio.run(create())
    assert consumer._group_instance_id == "worker-b"
    assert consumer._group_id == "wirestream-profile-test"
