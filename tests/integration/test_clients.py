"""Another client than aiokafka: confluent-kafka (librdkafka) produces articles and
consumes the pipeline's outputs on the embedded broker, with the settings the README's
"Consume from your language" section gives. Checks the contract: keys equal to ids, the
enriched JSON Schema, every article on exactly the topics its ``routes`` field names."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jsonschema
import orjson
import pytest
from confluent_kafka import Consumer, KafkaError, Producer

from agents.routing import ENRICHED, load_routes
from streams.broker import EmbeddedBroker
from streams.settings import Settings
from streams.topics import ARTICLES, registry
from tests.helpers import ROOT, SEEDS
from tests.integration.conftest import Worker

pytestmark = pytest.mark.integration

SCHEMA = json.loads((ROOT / "schemas" / "enriched-article.v3.json").read_text())


def test_librdkafka_produces_and_consumes_the_contract(
    broker: EmbeddedBroker, worker: Worker, settings: Settings
) -> None:
    stamp = uuid.uuid4().hex[:8]
    articles = []
    for line in (SEEDS / "wire.jsonl").read_text().splitlines():
        article = json.loads(line)
        article["id"] = f"rdk-{stamp}-{article['id']}"
        articles.append(article)
    ids = {a["id"] for a in articles}

    # enable.idempotence works with librdkafka on the embedded broker (not with aiokafka).
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "enable.idempotence": True})
    errors: list[Any] = []
    for article in articles:
        producer.produce(
            ARTICLES,
            orjson.dumps(article),
            key=article["id"].encode(),
            on_delivery=lambda err, msg: errors.append(err) if err else None,
        )
    assert producer.flush(30) == 0
    assert errors == []

    topics = [t.name for t in registry(load_routes(settings.routes)) if t.name != ARTICLES]
    assigned: list[float] = []
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": f"rdk-{stamp}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,  # a join on the embedded broker waits half of it
        }
    )
    started = time.monotonic()
    consumer.subscribe(topics, on_assign=lambda c, parts: assigned.append(time.monotonic()))
    seen: dict[str, set[str]] = {}
    records: dict[str, dict[str, Any]] = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                if ids <= set(records) and all(seen[i] >= set(records[i]["routes"]) for i in ids):
                    break
                continue
            error = msg.error()
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error
                continue
            key = (msg.key() or b"").decode()
            if key not in ids:
                continue
            value = orjson.loads(msg.value())
            assert value["id"] == key
            seen.setdefault(key, set()).add(msg.topic())
            if msg.topic() == ENRICHED:
                records[key] = value
    finally:
        consumer.close()

    assert assigned and assigned[0] - started < 10  # joined without the 22 s default wait
    assert set(records) == ids
    for key, record in records.items():
        jsonschema.validate(record, SCHEMA)
        assert seen[key] == set(record["routes"]), key
    by_id = {a["id"]: a for a in articles}
    fr = [k for k, a in by_id.items() if a.get("language") == "fr"]
    assert fr and all("wirestream.lang.fr" in records[k]["routes"] for k in fr)
    assert any("wirestream.topic.sport" in r["routes"] for r in records.values())
