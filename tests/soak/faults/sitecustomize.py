"""Fault injection for the outage soak test: a worker started with this directory first
on PYTHONPATH always meets the race in which Faust drops the first records fetched for
a new assignment.

Faust pauses its flow during a rebalance; records its consumer fetches while paused are
dropped ("getmany called while flow not active") and it seeks back to the committed
offsets. Here fetching goes on while the flow is paused, and the seek that Faust runs
before resuming the flow waits 1 s, so the new assignment's first fetch always lands in
the pause and is dropped. A worker whose seek leaves partitions without a commit where
the fetcher got to then never reads those records again (streams/app.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust.transport.consumer as _consumer
import mode.utils.logging as _mode_logging

_perform_seek = _consumer.Consumer.perform_seek


def _stop_flow(self: Any) -> None:
    self.flow_active = False
    self.suspend_flow.set()  # can_resume_flow stays set, so fetching goes on while paused


async def _slow_perform_seek(self: Any) -> None:
    await asyncio.sleep(1.0)
    await _perform_seek(self)


def _dev(self: Any, message: str, *args: Any, **kwargs: Any) -> None:
    """Faust logs its drop at the "dev" level, hidden unless DEVLOG is set: show it."""
    if message.startswith("getmany called"):
        self.log(logging.WARNING, message, *args)


_consumer.Consumer.stop_flow = _stop_flow  # type: ignore[method-assign]
_consumer.Consumer.perform_seek = _slow_perform_seek  # type: ignore[method-assign]
_mode_logging.CompositeLogger.dev = _dev  # type: ignore[method-assign]
