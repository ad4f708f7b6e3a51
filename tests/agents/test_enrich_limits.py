"""Enriched records say which NLP caps applied (``limits``) and stay valid (issue 24)."""

from __future__ import annotations

import jsonschema
import orjson

from agents.enrich import Received, process_batch
from agents.routing import ENRICHED
from bench.adversarial import distinct_names
from schemas.records import json_schema
from streams.topics import ARTICLES
from tests.helpers import SEEDS


def message(article: dict[str, object], offset: int) -> Received:
    value = orjson.dumps(article)
    return Received(
        key=b"k", value=value, topic=ARTICLES, partition=0, offset=offset, timestamp=1.0
    )


def enriched(out: list[tuple[str, bytes | None, bytes]]) -> list[dict[str, object]]:
    return [orjson.loads(value) for topic, _, value in out if topic == ENRICHED]


def test_a_capped_record_names_its_limits_and_a_normal_one_has_none() -> None:
    seed = (SEEDS / "000_22ed915bf0ed7153.txt").read_text(encoding="utf-8").splitlines()
    normal = {"id": "seed", "headline": seed[0], "body": "\n".join(seed[2:]), "language": "en"}
    names = ", ".join(distinct_names(2500))  # "James Smith, Mary Smith, ..."
    hostile = {"id": "list", "headline": "Casualty list", "body": names, "language": "en"}
    records = enriched(process_batch([message(normal, 0), message(hostile, 1)]))
    assert [r["id"] for r in records] == ["seed", "list"]
    plain, capped = records
    assert "limits" not in plain and plain["truncated"] is False
    assert capped["truncated"] is True
    assert capped["limits"] == [
        "max_tokens",
        "max_sentence_tokens",
        "max_entities",
        "max_sentiment_mentions",
    ]
    entities = capped["entities"]
    assert isinstance(entities, list) and len(entities) == 500
    for record in records:
        jsonschema.validate(record, json_schema("enriched-article.v3"))
