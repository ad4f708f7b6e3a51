"""The Kafka sink: the worker's outputs sent through the Faust app's producer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import faust
from faust.types import TopicT

from streams.sinks import Message


class KafkaSink:
    """Sends each ``(topic, key, value)`` with the app's producer (acks=all) and waits
    until the broker has acknowledged every one."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self._topics: dict[str, TopicT] = {}

    def topic(self, name: str) -> TopicT:
        """The Faust topic object for an output topic name (made once)."""
        if name not in self._topics:
            self._topics[name] = self.app.topic(name, key_type=bytes, value_type=bytes)
        return self._topics[name]

    async def send(self, messages: Sequence[Message]) -> None:
        pending = [await self.topic(t).send(key=key, value=value) for t, key, value in messages]
        await asyncio.gather(*pending)
