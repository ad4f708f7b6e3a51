"""The worker's slow lane (issue 24): an article that may cost the NLP up to its caps
runs in an NLP process of its own, beside the batches of normal articles, so that it
cannot hold them up.

Without it, one article at the 4,000-token cap (about 1 to 2 s of CPU) held up the
whole batch it was in and every article that arrived meanwhile (head-of-line blocking):
20 such articles among 500 normal ones put the p99 latency of the normal ones at
73.6 s on a busy machine. An article is *slow* when the estimate of its token count
(:func:`estimated_tokens`, on the raw message, without decoding it) is over
``WIRESTREAM_NLP_SLOW_TOKENS``; a later article with the same key as a slow one still
waiting follows it into the lane, so that the outputs of one key keep their order.

The lane works one article at a time, in order, in a task beside the agent's loop; each
article's outputs are sent, then its event acknowledged. Faust commits a partition's
offsets only up to the first event not yet acknowledged, so a crash redelivers what the
lane had not finished (at-least-once, as for a batch). At most ``MAX_WAITING`` articles
wait in the lane; past that the agent waits for it (back-pressure) before it takes the
next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

#: What spaCy makes a token of, over-counted on purpose: a run of ASCII letters or
#: digits (cut every 100 characters, as agents/data/limits.toml's ``max_word_chars``
#: cuts long runs), any other non-space byte (a UTF-8 letter counts once per byte), a
#: whitespace run of two or more. spaCy's token count is at most the text's length.
_TOKEN = re.compile(rb"[A-Za-z0-9]{1,100}|[^A-Za-z0-9\s]|\s{2,}")

#: Articles that may wait in the lane before the agent waits for it.
MAX_WAITING = 8

E = TypeVar("E")


def estimated_tokens(value: bytes | None, threshold: int) -> int:
    """An upper-biased estimate of the tokens in a raw article (JSON bytes, headline and
    body); the exact count is only worked out above ``threshold`` bytes (a text of n
    bytes has at most n tokens), so a normal article costs one ``len``."""
    if not value:
        return 0
    if len(value) <= threshold:
        return len(value) // 5  # below the threshold anyway; no need to count
    return len(_TOKEN.findall(value))


def cost_groups(tokens: Sequence[int], max_tokens: int) -> list[range]:
    """Contiguous groups of a batch (as index ranges, in order) of at most ``max_tokens``
    estimated tokens each (an article over it alone in its group): each group is one NLP
    call, so that a batch costs its NLP process no more time and memory per call than
    one article at the token cap (``max_tokens`` 0: the whole batch in one group)."""
    groups: list[range] = []
    start = total = 0
    for i, n in enumerate(tokens):
        if max_tokens and i > start and total + n > max_tokens:
            groups.append(range(start, i))
            start, total = i, 0
        total += n
    if start < len(tokens):
        groups.append(range(start, len(tokens)))
    return groups


def is_slow(value: bytes | None, threshold: int) -> bool:
    """Whether an article goes to the slow lane (``threshold`` 0: never)."""
    return threshold > 0 and estimated_tokens(value, threshold) > threshold


class SlowLane(Generic[E]):
    """Events (Faust's, or anything with a key) handled one at a time by ``handle`` in a
    task of their own; ``key`` gives an event's key (None: no order to keep)."""

    def __init__(
        self,
        handle: Callable[[E], Awaitable[None]],
        key: Callable[[E], bytes | None],
        *,
        max_waiting: int = MAX_WAITING,
    ) -> None:
        self.handle, self.key, self.max_waiting = handle, key, max_waiting
        self.queue: asyncio.Queue[E] = asyncio.Queue()
        self.keys: Counter[bytes] = Counter()  # keys of the events in the lane
        self.task: asyncio.Task[None] | None = None
        self.failed: BaseException | None = None
        self.room = asyncio.Event()
        self.room.set()

    def split(self, events: Sequence[E], slow: Sequence[bool]) -> list[E]:
        """Put the slow events, and those whose key is in the lane, into the lane; return
        the others (to be handled now, in the agent's batch)."""
        rest: list[E] = []
        for event, is_slow_event in zip(events, slow, strict=True):
            key = self.key(event)
            if is_slow_event or (key is not None and self.keys[key]):
                self._put(event, key)
            else:
                rest.append(event)
        return rest

    def _put(self, event: E, key: bytes | None) -> None:
        if self.failed is not None:
            raise self.failed
        if key is not None:
            self.keys[key] += 1
        self.queue.put_nowait(event)
        if self.queue.qsize() >= self.max_waiting:
            self.room.clear()
        if self.task is None:
            self.task = asyncio.ensure_future(self._run())

    async def wait_for_room(self) -> None:
        """Wait while ``max_waiting`` events or more are in the lane; raise what failed
        the lane, if anything did."""
        await self.room.wait()
        if self.failed is not None:
            raise self.failed

    async def _run(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                await self.handle(event)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # handle() has already failed the worker
                self.failed = exc
                self.room.set()
                return
            key = self.key(event)
            if key is not None:
                self.keys[key] -= 1
                if not self.keys[key]:
                    del self.keys[key]
            if self.queue.qsize() < self.max_waiting:
                self.room.set()

    async def close(self) -> None:
        """Stop the lane's task; what it had not finished is never acknowledged."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            self.task = None
