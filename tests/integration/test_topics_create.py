"""`ensure_topics` / `wirestream topics --create` with many routed topics: created in
batches, each request awaited, on the real embedded broker."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from streams.settings import Settings, kafka_options
from streams.topics import CREATE_BATCH, PIPELINE_TOPICS, ensure_topics
from tests.helpers import cli

pytestmark = pytest.mark.integration


async def existing(settings: Settings) -> set[str]:
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def test_ensure_topics_creates_in_batches(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests: list[int] = []
    create = AIOKafkaAdminClient.create_topics

    async def counting(self: AIOKafkaAdminClient, new: list[Any], *args: Any, **kw: Any) -> Any:
        requests.append(len(new))
        return await create(self, new, *args, **kw)

    monkeypatch.setattr(AIOKafkaAdminClient, "create_topics", counting)
    prefix = f"batch.{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}.{i}" for i in range(250)]
    assert CREATE_BATCH == 100
    created = asyncio.run(ensure_topics(settings, [*names, names[0]]))
    assert created == names
    assert requests == [100, 100, 50]
    assert set(names) <= asyncio.run(existing(settings))
    # a second run finds them all and sends no create request
    assert asyncio.run(ensure_topics(settings, names, batch=7)) == []
    assert requests == [100, 100, 50]


def test_topics_create_with_many_routes(
    env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    prefix = f"many.{uuid.uuid4().hex[:8]}"
    routes = tmp_path / "many.toml"
    routes.write_text(
        "".join(
            f'[[route]]\ntopic = "{prefix}.{i}"\nwhen.entity_names = ["Person {i}"]\n'
            for i in range(1000)
        )
    )
    asyncio.run(ensure_topics(settings, list(PIPELINE_TOPICS)))  # so only routed ones are new
    # 4 partitions, not the default 12: 1,000 topics of 12 would be 12,000 partitions,
    # more than this test is about (many topics in few requests).
    env = {**env, "WIRESTREAM_PARTITIONS": "4"}
    result = cli(env, "topics", "--create", "--routes", str(routes), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("created 1000 topic(s) with 4 partitions\n")
    made = {t for t in asyncio.run(existing(settings)) if t.startswith(f"{prefix}.")}
    assert made == {f"{prefix}.{i}" for i in range(1000)}
