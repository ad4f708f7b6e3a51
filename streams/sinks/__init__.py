"""Sinks: where the worker's outputs go.

The enrich agent produces ``(topic, key, value)`` messages (:data:`Message`); a sink
sends a batch of them and returns only once every one is delivered (raising otherwise,
so the batch is never acknowledged). The Kafka sink (:mod:`streams.sinks.kafka`) is
always first; extra sinks (``WIRESTREAM_EXTRA_SINKS``) get the same batch after it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from streams.settings import Settings

#: One output: the topic it belongs to, its key (the article id) and its value (None: a
#: tombstone, the story withdrawn from that topic; docs/versions.md).
Message = tuple[str, bytes | None, bytes | None]


@runtime_checkable
class Sink(Protocol):
    """An output of the worker."""

    async def send(self, messages: Sequence[Message]) -> None:
        """Deliver every message (in order per topic) or raise."""
        ...


class SinkError(ValueError):
    """An extra sink that cannot be made (one line: its name and why)."""


def load_sink(name: str, settings: Settings) -> Sink:
    """The sink made by the factory ``module:attr`` (called with ``settings``);
    :class:`SinkError` with one line when the name is not one."""
    module_name, _, attr = name.strip().partition(":")
    if not module_name or not attr:
        raise SinkError(f"extra sink {name!r}: expected module:factory")
    try:
        factory: Callable[[Settings], object] = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SinkError(f"extra sink {name!r}: {exc}") from None
    sink = factory(settings)
    if not isinstance(sink, Sink):
        raise SinkError(f"extra sink {name!r}: {type(sink).__name__} has no async send()")
    return sink


def extra_sinks(settings: Settings) -> list[Sink]:
    """The sinks ``WIRESTREAM_EXTRA_SINKS`` names, in order."""
    return [load_sink(n, settings) for n in settings.extra_sinks.split(",") if n.strip()]


async def send_to_all(sinks: Sequence[Sink], messages: Sequence[Message]) -> None:
    """Send ``messages`` to each sink in turn; the first failure raises (later sinks are
    not tried: the batch is delivered again to all of them)."""
    for sink in sinks:
        await sink.send(messages)
