from __future__ import annotations

import asyncio
import gc
from typing import Any
from unittest import mock

import faust
import jsonschema
import orjson
import pytest
from faust.exceptions import ProducerSendError

from agents import enrich as enrich_module
from agents.enrich import Received, decode, enrich_articles, process_batch
from agents.routing import ENRICHED
from schemas.records import json_schema
from schemas.validation import guid_id
from streams.topics import ARTICLES, DEADLETTER
from tests.agents.conftest import Sent
from tests.helpers import SEEDS, trigger_sentence

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


@pytest.fixture(autouse=True)
def nlp_in_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent tests run the NLP in a thread; the process tests say so themselves."""
    monkeypatch.setattr(
        enrich_module, "settings", enrich_module.settings.model_copy(update={"nlp_processes": 0})
    )


def test_process_batch_enriches_the_seed_routes_it_and_keeps_order() -> None:
    out = process_batch([message(b"[]", b"bad"), message(SEED_ARTICLE, b"seed-0")])
    record = orjson.loads(out[1][2])
    # The record goes to wirestream.enriched and to each routed topic, as the same bytes.
    assert [(topic, key) for topic, key, _ in out] == [(DEADLETTER, b"bad")] + [
        (topic, b"seed-0") for topic in record["routes"]
    ]
    assert len({value for _, _, value in out[1:]}) == 1
    assert record["routes"] == [ENRICHED, "wirestream.topic.conflict", "wirestream.topic.politics"]
    jsonschema.validate(record, json_schema("enriched-article.v3"))
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
    assert record["pipeline"]["schema"] == "enriched-article/3"


def test_an_article_2_story_version_is_carried_through_to_the_record() -> None:
    """guid, version, version_created, status, provider_subjects and byline reach the
    enriched record as given; the id (and Kafka key) is derived from the guid alone."""
    v2 = orjson.loads(SEED_ARTICLE) | {
        "id": None,
        "guid": "urn:newsml:wirestream.test:20261203:turkey-russia",
        "version": 2,
        "version_created": "2026-12-03T10:15:00Z",
        "status": "usable",
        "provider_subjects": ["medtop:11000000", "medtop:16000000"],
        "byline": "By A. Reporter",
    }
    out = process_batch([message(orjson.dumps(v2), b"k")])
    record = orjson.loads(out[0][2])
    jsonschema.validate(record, json_schema("enriched-article.v3"))
    assert record["id"] == guid_id(v2["guid"]) == "4969fbd2b696a920"
    assert {k: record[k] for k in ("guid", "version", "version_created", "status")} == {
        "guid": "urn:newsml:wirestream.test:20261203:turkey-russia",
        "version": 2,
        "version_created": "2026-12-03T10:15:00Z",
        "status": "usable",
    }
    assert record["provider_subjects"] == ["medtop:11000000", "medtop:16000000"]
    assert record["byline"] == "By A. Reporter"
    # article/1 input: the new fields are there with their defaults
    plain = orjson.loads(process_batch([message(SEED_ARTICLE, b"seed-0")])[0][2])
    assert (plain["guid"], plain["version"], plain["status"], plain["provider_subjects"]) == (
        None,
        None,
        "usable",
        [],
    )


def test_agent_sends_outputs_for_every_input(sent: Sent) -> None:
    async def go() -> None:
        async with enrich_articles.test_context() as agent:
            await agent.put(SEED_ARTICLE, key=b"seed-0", wait=False)
            await agent.put(b"\xff\xfe", key=b"binary", wait=False)
            await agent.put(orjson.dumps({"headline": 3, "body": ""}), key=b"typed", wait=False)
            await sent.wait_for(5)

    asyncio.run(go())
    by_key = {key: (topic, orjson.loads(value)) for topic, key, value in sent}
    seed_topics = [topic for topic, key, _ in sent if key == b"seed-0"]
    assert seed_topics == by_key[b"seed-0"][1]["routes"]
    assert seed_topics[0] == ENRICHED and len(seed_topics) == 3
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
    enrich_module.reset_nlp_pool()
    try:
        pooled = asyncio.run(enrich_module.run_nlp(batch))
    finally:
        enrich_module.reset_nlp_pool()
    assert comparable(pooled) == comparable(in_thread)
    assert [t for t, _, _ in pooled].count(DEADLETTER) == 1
    assert [t for t, _, _ in pooled].count(ENRICHED) == 6


def test_in_a_thread_a_memory_error_costs_one_article_not_the_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With WIRESTREAM_NLP_PROCESSES=0 nothing bounds the NLP, but a MemoryError on a
    batch still sends its articles through one by one: only the article that raises it
    alone is dead-lettered (enrichment_memory). NLP processes: tests/agents/test_pool.py."""
    real_enrich = enrich_module.enrich

    def hungry_enrich(articles: list, *args: Any, **kwargs: Any) -> list:
        if any(a.id == "hog" for a in articles):
            raise MemoryError
        return real_enrich(articles, *args, **kwargs)

    monkeypatch.setattr(enrich_module, "enrich", hungry_enrich)
    good = orjson.dumps({"id": "g1", "headline": "Storm hits coast", "body": "Rain in Lisbon."})
    batch = [
        message(good, b"g1", 0),
        message(good.replace(b"g1", b"hog"), b"hog", 1),
        message(b"{", b"bad", 2),
        message(good.replace(b"g1", b"g2"), b"g2", 3),
    ]
    out = asyncio.run(enrich_module.run_nlp(batch))
    enriched = [k for t, k, _ in out if t == ENRICHED]
    dead = {k: orjson.loads(v) for t, k, v in out if t == DEADLETTER}
    assert enriched == [b"g1", b"g2"]
    assert dead[b"hog"]["reason"] == {
        "code": "enrichment_memory",
        "message": "out of memory on this article alone",
    }
    assert dead[b"hog"]["origin"]["offset"] == 1
    assert dead[b"bad"]["reason"]["code"] == "invalid_json"


def test_the_nlp_runs_with_one_blas_thread() -> None:
    """Multi-threaded BLAS was measured no faster but a third more CPU (bench/README.md)."""
    from threadpoolctl import threadpool_info

    enrich_module.get_nlp()
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas, "numpy's BLAS is not visible to threadpoolctl"
    assert {pool["num_threads"] for pool in blas} == {enrich_module.settings.nlp_threads} == {1}


def test_process_batch_shrinks_or_dead_letters_records_over_the_output_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An article of one 20,000-character sentence full of event triggers (the NLP breaks
    it every 200 tokens, max_sentence_tokens) makes a record of about 96 KB, over a 60 KB
    limit: it is shrunk (sentence texts cut to 300 characters) to fit. An article whose
    text alone is over the limit is dead-lettered (output_too_large); its neighbour is
    enriched as usual."""
    monkeypatch.setattr(
        enrich_module,
        "settings",
        enrich_module.settings.model_copy(update={"nlp_processes": 0, "max_output_bytes": 60_000}),
    )
    many = {"id": "many", "headline": "Ministry statement", "body": trigger_sentence(20_000)}
    long = {"id": "long", "headline": "Un long texte", "body": "mot " * 40_000, "language": "fr"}
    batch = [
        message(orjson.dumps(many), b"many", 0),
        message(orjson.dumps(long), b"long", 1),
        message(SEED_ARTICLE, b"seed-0", 2),
    ]
    out = process_batch(batch)
    assert all(len(k or b"") + len(v) <= 60_000 for _, k, v in out)
    enriched = {k: orjson.loads(v) for t, k, v in out if t == ENRICHED}
    dead = {k: orjson.loads(v) for t, k, v in out if t == DEADLETTER}
    assert set(enriched) == {b"many", b"seed-0"} and set(dead) == {b"long"}
    shrunk = enriched[b"many"]
    in_body = [e for e in shrunk["events"] if e["sentence"] >= 1]  # 0 is the headline
    assert len(in_body) >= 50
    assert shrunk["shrunk"] == {"sentence_text": len(in_body)}
    assert shrunk["truncated"] is True and shrunk["limits"] == ["max_sentence_tokens"]
    assert {len(e["sentence_text"]) for e in in_body} == {300}
    assert all(e["sentence_text"] in many["body"] for e in in_body)
    jsonschema.validate(shrunk, json_schema("enriched-article.v3"))
    assert "shrunk" not in enriched[b"seed-0"] and enriched[b"seed-0"]["truncated"] is False
    assert dead[b"long"]["reason"]["code"] == "output_too_large"
    assert dead[b"long"]["origin"]["offset"] == 1


def test_a_batch_whose_send_fails_is_never_acknowledged(
    sent: Sent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faust's take_events acknowledges a batch's events even when the agent fails; the
    agent holds them so that a failed send acknowledges nothing, and it stops the worker
    (here: app.crash is recorded) so the batch is delivered again."""
    crashes: list[BaseException] = []

    async def crash(exc: BaseException) -> None:
        crashes.append(exc)

    monkeypatch.setattr(enrich_module.app, "crash", crash)
    real_send = faust.topics.Topic.send

    async def send(self: Any, **kwargs: Any) -> Any:
        if kwargs.get("key") == b"seed-0":
            raise ProducerSendError("MessageSizeTooLargeError: the broker refused it")
        return await real_send(self, **kwargs)

    async def go() -> tuple[Any, Any]:
        async with enrich_articles.test_context() as agent:
            # A consumed message carries one reference per stream (the conductor adds it);
            # test_context does not, so the test adds it, as the conductor would.
            first = await agent.put(b"[]", key=b"bad", wait=False)
            first.message.incref()
            await sent.wait_for(1)
            with mock.patch("faust.topics.Topic.send", send):
                second = await agent.put(SEED_ARTICLE, key=b"seed-0", wait=False)
                second.message.incref()
                deadline = asyncio.get_running_loop().time() + 60
                while not crashes and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)
                gc.collect()  # finalise the failed take_events generator (it acks there)
                await asyncio.sleep(0.5)
            return first, second

    first, second = asyncio.run(go())
    assert [type(e) for e in crashes] == [ProducerSendError]
    assert [k for _, k, _ in sent] == [b"bad"]
    assert first.message.acked is True
    assert second.message.acked is False
    assert second.message.refcount == 1


def test_a_component_added_to_the_table_reaches_the_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The record's NLP fields come from nlp/components.py: a component added there (the
    test's word counter) gives its field in the enriched record, after ``topics`` and
    before ``routes``, with no edit to agents/enrich.py."""
    from nlp import build_nlp, components
    from schemas.validation import parse_article
    from tests.nlp.test_components import WORDCOUNT

    monkeypatch.setattr(components, "COMPONENTS", (*components.COMPONENTS, WORDCOUNT))
    nlp = build_nlp()
    article = parse_article(SEED_ARTICLE, max_bytes=1_000_000)
    (record,) = enrich_module.enrich(
        [article], nlp, enrich_module.get_routes(), max_chars=100_000, batch_size=1
    )
    keys = list(record)
    assert keys[keys.index("language") :] == [
        "language",
        "entities",
        "sentiment",
        "events",
        "tags",
        "topics",
        "wordcount",
        "routes",
        "pipeline",
        "enriched_at",
        "truncated",
    ]
    # "Turkey, Russia to continue talks for truce in Libya": 9 words in the headline
    assert record["wordcount"]["headline"] == 9
    assert record["wordcount"]["entities"] == len(record["entities"]) > 0
