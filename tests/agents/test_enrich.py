from __future__ import annotations

import asyncio

import jsonschema
import orjson
import pytest

from agents import enrich as enrich_module
from agents.enrich import Received, decode, enrich_articles, process_batch
from agents.routing import ENRICHED
from schemas.records import json_schema
from streams.topics import ARTICLES, DEADLETTER
from tests.agents.conftest import Sent
from tests.helpers import SEEDS

SEED = (SEEDS / "000_22ed915bf0ed7153.txt").read_text().splitlines()
SEED_ARTICLE = orjson.dumps(
    {
        "id": "seed-0",
        "headline": SEED[0],
        "standfirst": SEED[1],
        "body": "\n".join(SEED[2:]),
        "source": "Anadolu",
        "language": "en",
    }
)


def message(value: bytes | None, key: bytes = b"k", offset: int = 0) -> Received:
    return Received(key=key, value=value, topic=ARTICLES, partition=0, offset=offset, timestamp=1.0)


def test_decode_splits_valid_and_refused() -> None:
    good, dead = decode(
        [message(SEED_ARTICLE), message(b"{", b"b", 1), message(None, b"n", 2)], max_bytes=100_000
    )
    assert [a.id for _, a in good] == ["seed-0"]
    assert [(m.key, r["reason"]["code"], r["origin"]["offset"]) for m, r in dead] == [
        (b"b", "invalid_json", 1),
        (b"n", "empty", 2),
    ]


def test_process_batch_enriches_the_seed_and_keeps_order() -> None:
    out = process_batch([message(b"[]", b"bad"), message(SEED_ARTICLE, b"seed-0")])
    assert [(topic, key) for topic, key, _ in out] == [(DEADLETTER, b"bad"), (ENRICHED, b"seed-0")]
    record = orjson.loads(out[1][2])
    jsonschema.validate(record, json_schema("enriched-article.v2"))
    people = {e["canonical"] for e in record["entities"] if e["label"] == "PERSON"}
    assert {
        "Recep Tayyip Erdogan",
        "Vladimir Putin",
        "Mevlut Cavusoglu",
        "Javad Zarif",
        "Khalifa Haftar",
    } <= people
    assert record["routes"][0] == ENRICHED
    assert "wirestream.topic.politics" in record["routes"]
    assert record["pipeline"]["schema"] == "enriched-article/2"


def test_agent_sends_outputs_for_every_input(sent: Sent) -> None:
    async def go() -> None:
        async with enrich_articles.test_context() as agent:
            await agent.put(SEED_ARTICLE, key=b"seed-0", wait=False)
            await agent.put(b"\xff\xfe", key=b"binary", wait=False)
            await agent.put(orjson.dumps({"headline": 3, "body": ""}), key=b"typed", wait=False)
            await sent.wait_for(3)

    asyncio.run(go())
    by_key = {key: (topic, orjson.loads(value)) for topic, key, value in sent}
    assert by_key[b"seed-0"][0] == ENRICHED
    assert by_key[b"seed-0"][1]["id"] == "seed-0"
    assert by_key[b"binary"][0] == DEADLETTER
    assert by_key[b"binary"][1]["reason"]["code"] == "invalid_utf8"
    assert by_key[b"binary"][1]["payload_encoding"] == "base64"
    assert by_key[b"typed"][1]["reason"]["code"] == "wrong_type"


def test_process_pool_gives_the_same_outputs_in_the_same_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """WIRESTREAM_NLP_PROCESSES=2 splits a batch across two processes; the outputs must be
    those of the in-thread path, in the same order."""
    batch = [message(SEED_ARTICLE, b"seed-0", 0), message(b"{", b"bad", 1)] + [
        message(
            orjson.dumps(
                {
                    "id": f"n{i}",
                    "headline": f"Storm hits coast {i}",
                    "body": "Heavy rain flooded roads in Lisbon.",
                }
            ),
            f"n{i}".encode(),
            i,
        )
        for i in range(2, 7)
    ]

    def comparable(outputs: list) -> list:
        return [
            (t, k, {**orjson.loads(v), "enriched_at": None, "dead_lettered_at": None})
            for t, k, v in outputs
        ]

    in_thread = asyncio.run(enrich_module.run_nlp(batch))
    monkeypatch.setattr(
        enrich_module, "settings", enrich_module.settings.model_copy(update={"nlp_processes": 2})
    )
    enrich_module.nlp_pool.cache_clear()
    try:
        pooled = asyncio.run(enrich_module.run_nlp(batch))
    finally:
        pool = enrich_module.nlp_pool()
        assert pool is not None
        pool.shutdown()
        enrich_module.nlp_pool.cache_clear()
    assert comparable(pooled) == comparable(in_thread)
    assert len(pooled) == 7
