"""Output sizes: records over the limit are shrunk by the documented rules, or
dead-lettered (``output_too_large``); dead letters always fit."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import orjson
import pytest

from agents.deadletter import MAX_PAYLOAD_COPY, Received
from agents.outputs import (
    MAX_DEAD_LETTER_KEY,
    OutputTooLarge,
    check_sizes,
    dead_letter_output,
    enriched_outputs,
    output_size,
    shrink,
)
from agents.routing import ENRICHED
from schemas.records import json_schema
from streams.topics import ARTICLES, DEADLETTER

ROUTES = [ENRICHED, "wirestream.topic.conflict"]


def event(i: int, sentence_text: str) -> dict[str, Any]:
    return {
        "tag": f"tag-{i}",
        "cameo": "14",
        "name": "Protest",
        "quad_class": 3,
        "goldstein": -6.5,
        "iptc": "politics",
        "trigger": "protested",
        "trigger_span": [10 + i, 19 + i],
        "sentence": 1,
        "sentence_text": sentence_text,
        "actor1": None,
        "actor2": None,
    }


def entity(i: int, mentions: int) -> dict[str, Any]:
    return {
        "text": f"Name{i}",
        "canonical": f"Name{i}",
        "label": "PERSON",
        "mentions": [[k * 10, k * 10 + 5] for k in range(mentions)],
        "count": mentions,
        "in_headline": False,
        "country": None,
        "sentiment": {"label": "neutral", "score": 0.0},
    }


def record(
    *, body: str = "Body.", events: list | None = None, entities: list | None = None
) -> dict[str, Any]:
    return {
        "id": "a1",
        "headline": "Protests spread",
        "standfirst": "",
        "body": body,
        "source": "",
        "url": "",
        "published_at": None,
        "byline": "",
        "guid": None,
        "version": None,
        "version_created": None,
        "status": "usable",
        "provider_subjects": [],
        "language": "en",
        "entities": entities or [],
        "sentiment": {"compound": -0.2, "label": "negative"},
        "events": events or [],
        "tags": [f"tag-{i}" for i in range(len(events or []))],
        "topics": [],
        "routes": ROUTES,
        "pipeline": {
            "schema": "enriched-article/3",
            "wirestream": "0",
            "model": "m",
            "model_version": "1",
            "ner_model": "n",
            "taxonomy": "2",
        },
        "enriched_at": "2026-12-03T10:00:00.000+00:00",
        "truncated": False,
    }


def size(r: dict[str, Any]) -> int:
    return len(orjson.dumps(r))


MSG = Received(
    key=b"in-key", value=b'{"id": "a1"}', topic=ARTICLES, partition=3, offset=41, timestamp=2.0
)


def test_a_record_that_fits_is_left_as_it_is() -> None:
    r = record(events=[event(i, "A short sentence.") for i in range(3)])
    fitted = shrink(r, 100_000)
    assert fitted is not None
    assert fitted[0] is r and fitted[1] == orjson.dumps(r)
    assert "shrunk" not in fitted[0] and fitted[0]["truncated"] is False


def test_long_sentence_texts_are_cut_first_and_nothing_else() -> None:
    sentence = "word " * 14_000  # 70,000 characters, one sentence with 64 events
    r = record(body=sentence, events=[event(i, sentence) for i in range(64)])
    before = copy.deepcopy(r)
    assert size(r) > 4_500_000
    fitted = shrink(r, 200_000)
    assert fitted is not None
    small, value = fitted
    assert len(value) <= 200_000 and value == orjson.dumps(small)
    assert small["shrunk"] == {"sentence_text": 64}
    assert small["truncated"] is True
    assert len(small["events"]) == 64
    assert {e["sentence_text"] for e in small["events"]} == {sentence[:300]}
    assert small["body"] == sentence and small["tags"] == r["tags"]
    assert r == before  # the input record is not changed
    jsonschema.validate(small, json_schema("enriched-article.v3"))


def test_events_are_capped_when_cut_sentences_are_not_enough() -> None:
    r = record(events=[event(i, "s" * 400) for i in range(1_000)])
    fitted = shrink(r, 150_000)
    assert fitted is not None
    small, value = fitted
    assert small["shrunk"] == {"sentence_text": 1_000, "events": 900}
    assert [e["tag"] for e in small["events"]] == [f"tag-{i}" for i in range(100)]
    assert len(small["tags"]) == 1_000  # every tag found stays listed
    assert len(value) <= 150_000
    jsonschema.validate(small, json_schema("enriched-article.v3"))


def test_mentions_then_entities_are_capped_last() -> None:
    r = record(entities=[entity(i, 150) for i in range(1_000)])
    fitted = shrink(r, 400_000)
    assert fitted is not None
    small, _ = fitted
    assert small["shrunk"] == {"mentions": 50_000, "entities": 800}
    assert len(small["entities"]) == 200
    assert all(len(e["mentions"]) == 100 and e["count"] == 150 for e in small["entities"])
    jsonschema.validate(small, json_schema("enriched-article.v3"))


def test_a_record_whose_text_alone_is_too_large_cannot_be_shrunk() -> None:
    assert shrink(record(body="x" * 300_000), 200_000) is None


def test_enriched_outputs_send_the_same_bytes_to_every_route() -> None:
    r = record(events=[event(0, "A sentence.")])
    outputs = enriched_outputs(MSG, r, max_bytes=100_000)
    assert [(t, k) for t, k, _ in outputs] == [(t, b"a1") for t in ROUTES]
    assert {v for _, _, v in outputs} == {orjson.dumps(r)}


def test_enriched_outputs_shrink_a_record_with_the_key_counted() -> None:
    sentence = "word " * 2_000
    r = record(body=sentence, events=[event(i, sentence) for i in range(20)])
    limit = size(r) - 100  # cutting the sentences is needed, by far enough
    outputs = enriched_outputs(MSG, r, max_bytes=limit)
    assert [t for t, _, _ in outputs] == ROUTES
    sent = orjson.loads(outputs[0][2])
    assert sent["shrunk"] == {"sentence_text": 20} and sent["truncated"] is True
    assert all(output_size(k, v) <= limit for _, k, v in outputs)


def test_a_record_too_large_even_shrunk_is_dead_lettered_with_its_reason() -> None:
    r = record(body="x" * 300_000)
    outputs = enriched_outputs(MSG, r, max_bytes=200_000)
    assert len(outputs) == 1
    topic, key, value = outputs[0]
    assert (topic, key) == (DEADLETTER, b"in-key")
    dead = orjson.loads(value)
    jsonschema.validate(dead, json_schema("deadletter.v1"))
    assert dead["reason"]["code"] == "output_too_large"
    assert str(size(r) + len(b"a1")) in dead["reason"]["message"]
    assert "200000 byte output limit" in dead["reason"]["message"]
    assert (dead["origin"]["partition"], dead["origin"]["offset"]) == (3, 41)
    assert dead["payload"] == '{"id": "a1"}'


def test_a_dead_letter_that_fits_keeps_its_key_and_payload_copy() -> None:
    msg = Received(b"k", b"p" * 100_000, ARTICLES, 0, 5, None)
    topic, key, value = dead_letter_output(msg, "invalid_json", "bad", max_bytes=900_000)
    dead = orjson.loads(value)
    assert (topic, key) == (DEADLETTER, b"k")
    assert len(dead["payload"]) == MAX_PAYLOAD_COPY and dead["payload_truncated"] is True
    assert "key_truncated" not in dead["origin"]


def test_a_dead_letter_with_a_huge_key_is_cut_to_fit() -> None:
    msg = Received(b"K" * 2_000_000, b'"\x01' * 50_000, ARTICLES, 1, 9, None)
    topic, key, value = dead_letter_output(msg, "not_an_object", "not an object", max_bytes=100_000)
    dead = orjson.loads(value)
    jsonschema.validate(dead, json_schema("deadletter.v1"))
    assert topic == DEADLETTER and key == b"K" * MAX_DEAD_LETTER_KEY
    assert output_size(key, value) <= 100_000
    assert dead["origin"]["key"] == "K" * MAX_DEAD_LETTER_KEY
    assert (dead["origin"]["key_truncated"], dead["origin"]["key_size"]) == (True, 2_000_000)
    assert dead["payload_size"] == 100_000 and dead["payload_truncated"] is True
    assert msg.value is not None and msg.value.startswith(dead["payload"].encode())


def test_check_sizes_refuses_any_output_over_the_limit() -> None:
    check_sizes([(ENRICHED, b"k", b"v" * 99)], 100)
    with pytest.raises(OutputTooLarge, match="wirestream.enriched is 101 bytes, over 100"):
        check_sizes([(DEADLETTER, b"k", b"v"), (ENRICHED, b"k", b"v" * 100)], 100)
