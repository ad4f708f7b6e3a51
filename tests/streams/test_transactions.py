"""The exactly-once pieces that need no broker: offsets to commit, records already
committed, the transactional id, the setting, and Faust's commit skipped."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from aiokafka import TopicPartition
from pydantic import ValidationError

from agents.deadletter import Received
from streams import patches
from streams.app import app, configure_for_broker
from streams.settings import Settings
from streams.transactions import TransactionalSender, next_offsets, transactional_id

A = "wirestream.articles"


def rec(partition: int, offset: int) -> Received:
    return Received(b"k", b"{}", A, partition, offset, None)


def test_next_offsets_are_one_past_the_last_record_of_each_partition() -> None:
    records = [rec(0, 7), rec(1, 3), rec(0, 9), rec(0, 8), rec(2, 0)]
    assert next_offsets(records) == {
        TopicPartition(A, 0): 10,
        TopicPartition(A, 1): 4,
        TopicPartition(A, 2): 1,
    }
    assert next_offsets([]) == {}


def test_records_below_what_the_sender_committed_are_dropped() -> None:
    sender = TransactionalSender(Settings(transactional_id="w1"))
    sender.committed = {TopicPartition(A, 0): 10, TopicPartition(A, 1): 4}
    batch = [rec(0, 8), rec(0, 9), rec(0, 10), rec(1, 4), rec(2, 0), rec(1, 3)]
    assert [(r.partition, r.offset) for r in sender.unseen(batch)] == [(0, 10), (1, 4), (2, 0)]


def test_transactional_id_is_the_setting_or_app_and_host() -> None:
    assert transactional_id(Settings(transactional_id="worker-7")) == "worker-7"
    host = socket.gethostname()
    assert transactional_id(Settings(app_id="news")) == f"news-eos-{host}"


def test_guarantee_setting() -> None:
    assert Settings().guarantee == "at_least_once"
    assert Settings(guarantee=" EXACTLY_ONCE ").guarantee == "exactly_once"
    with pytest.raises(ValidationError):
        Settings(guarantee="exactly-twice")


class FakeThread:
    """Enough of Faust's AIOKafkaConsumerThread for its ``_commit``."""

    def __init__(self) -> None:
        self.tp_last_committed_at: dict[Any, float] = {}
        self.asked_for_consumer = 0

    def _ensure_consumer(self) -> Any:
        self.asked_for_consumer += 1
        raise LookupError("the real commit path ran")

    def assignment(self) -> set[Any]:
        return set()


def test_faust_commits_nothing_itself_with_exactly_once() -> None:
    tp = TopicPartition(A, 0)
    try:
        configure_for_broker(app, Settings(guarantee="exactly_once"), "kafka")
        thread = FakeThread()
        done = asyncio.run(patches.ConsumerThread._commit(thread, {tp: 5}))  # type: ignore[arg-type]
        assert done is True
        assert thread.asked_for_consumer == 0
        assert list(thread.tp_last_committed_at) == [tp]

        configure_for_broker(app, Settings(), "kafka")
        thread = FakeThread()
        with pytest.raises(LookupError, match="the real commit path ran"):
            asyncio.run(patches.ConsumerThread._commit(thread, {tp: 5}))  # type: ignore[arg-type]
        assert thread.asked_for_consumer == 1
    finally:
        configure_for_broker(app, Settings(), "kafka")
