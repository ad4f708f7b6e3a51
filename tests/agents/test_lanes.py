"""The slow lane's parts (``agents.lanes``): the token estimate that picks slow
articles, and the lane's order, back-pressure and failure."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from agents.lanes import SlowLane, cost_groups, estimated_tokens, is_slow
from tests.soak.test_hostile import HOSTILE, seed_articles


def raw(body: str) -> bytes:
    return orjson.dumps({"id": "a1", "headline": "Wire test", "body": body, "language": "en"})


def test_the_soak_hostile_bodies_are_slow_and_no_seed_article_is() -> None:
    slow = {name for name, make, _ in HOSTILE if is_slow(raw(make()), 2_000)}
    # A 100,000-letter run is 1,000 tokens (100-letter pieces; 0.3 s of CPU in
    # bench/adversarial.py's no_spaces and digits): cheap enough for a batch.
    assert {name for name, _, _ in HOSTILE} - slow == {"no spaces", "one long number"}
    for headline, body in seed_articles():
        value = orjson.dumps({"headline": headline, "body": body})
        assert estimated_tokens(value, 0) < 1_000, headline
        assert not is_slow(value, 2_000), headline


def test_the_estimate_counts_what_spacy_would_make_tokens_of() -> None:
    assert estimated_tokens(b"(" * 10_000, 0) == 10_000  # one per punctuation byte
    assert estimated_tokens(b"a" * 100_000, 0) == 1_000  # runs cut every 100 characters
    assert estimated_tokens(b"one two  three", 0) == 4  # words and a double space
    assert estimated_tokens("Москва".encode(), 0) == 12  # a UTF-8 letter: once per byte
    # Below the threshold (in bytes) nothing is counted: at most one token per byte.
    assert estimated_tokens(b"(" * 100, 1_000) == 20
    assert not is_slow(b"(" * 100_000, 0)  # threshold 0: no slow lane


def test_the_lane_keeps_key_order_and_hands_back_the_rest() -> None:
    async def scenario() -> tuple[list[tuple[bytes | None, int]], list[tuple[bytes | None, int]]]:
        done: list[tuple[bytes | None, int]] = []

        async def handle(event: tuple[bytes | None, int]) -> None:
            await asyncio.sleep(0.01)
            done.append(event)

        lane: SlowLane[tuple[bytes | None, int]] = SlowLane(handle, lambda e: e[0])
        events = [(b"a", 1), (b"b", 2), (b"a", 3), (None, 4), (b"c", 5), (None, 6)]
        rest = lane.split(events, [True, False, False, True, False, False])
        await asyncio.sleep(0.2)
        await lane.close()
        return rest, done

    rest, done = asyncio.run(scenario())
    # (b"a", 3) follows (b"a", 1) into the lane; keyless events keep no order.
    assert rest == [(b"b", 2), (b"c", 5), (None, 6)]
    assert done == [(b"a", 1), (b"a", 3), (None, 4)]


def test_a_full_lane_makes_the_agent_wait_and_a_failed_one_stops_it() -> None:
    async def scenario() -> tuple[bool, bool, list[int]]:
        gate = asyncio.Event()
        done: list[int] = []

        async def handle(event: tuple[bytes, int]) -> None:
            await gate.wait()
            await asyncio.sleep(0.05)
            if event[1] == 3:
                raise RuntimeError("send failed")
            done.append(event[1])

        lane: SlowLane[tuple[bytes, int]] = SlowLane(handle, lambda e: e[0], max_waiting=2)
        lane.split([(b"x", 1), (b"y", 2), (b"z", 3)], [True, True, True])
        await asyncio.sleep(0.05)  # (b"x", 1) taken; two wait: full
        waiter = asyncio.ensure_future(lane.wait_for_room())
        await asyncio.sleep(0.05)
        blocked = not waiter.done()
        gate.set()
        await asyncio.wait_for(waiter, 5)  # room again once (b"x", 1) is done
        await asyncio.sleep(0.3)  # (b"y", 2) done, (b"z", 3) fails
        with pytest.raises(RuntimeError, match="send failed"):
            await lane.wait_for_room()
        with pytest.raises(RuntimeError, match="send failed"):
            lane.split([(b"w", 4)], [True])
        await lane.close()
        return blocked, lane.failed is not None, done

    blocked, failed, done = asyncio.run(scenario())
    assert blocked and failed
    assert done == [1, 2]


def test_a_batch_is_cut_into_calls_of_bounded_cost() -> None:
    # 16 articles just under the slow-lane threshold: 2 per call, not 16 in one (in one
    # call they took 16.5 s of CPU and 468 MB above idle; docs/adversarial.md).
    groups = cost_groups([1_990] * 16, 4_000)
    assert groups == [range(i, i + 2) for i in range(0, 16, 2)]
    # Normal articles share calls; one over the cap goes alone; order is kept.
    assert cost_groups([500] * 9 + [6_000, 300], 4_000) == [
        range(0, 8),
        range(8, 9),
        range(9, 10),
        range(10, 11),
    ]
    assert cost_groups([500] * 3, 0) == [range(0, 3)]
    assert cost_groups([], 4_000) == []
