"""Agent unit tests run with ``agent.test_context()``; topic sends are captured instead
of produced (integration tests use the real broker)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest


class Sent(list[tuple[str, bytes | None, bytes]]):
    async def wait_for(self, n: int, timeout: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self) < n:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"only {len(self)} of {n} messages sent: {self}")
            await asyncio.sleep(0.02)


@pytest.fixture
def sent() -> Iterator[Sent]:
    """Every (topic, key, value) the agents send, in order."""
    captured = Sent()

    async def fake_send(
        self: Any, *, key: bytes | None = None, value: bytes = b"", **_: Any
    ) -> asyncio.Future[None]:
        captured.append((self.get_topic_name(), key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    with mock.patch("faust.topics.Topic.send", fake_send):
        yield captured
