"""End to end on the embedded broker: publish the seeds with the CLI, then check every
article arrives on exactly the topics its routes predict, valid against the schema."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from agents.enrich import enrich, get_nlp
from agents.routing import ENRICHED, load_routes, pipeline_topics
from schemas.records import json_schema
from streams.settings import Settings
from streams.sources import load_file
from streams.topics import ARTICLES, DEADLETTER
from tests.helpers import SEEDS, cli, read
from tests.integration.conftest import Worker

pytestmark = pytest.mark.integration

SEED_SLUG = re.compile(r"^\d{3}_([a-z-]+)_")


def seed_files() -> list[Path]:
    """The seeds with one version per story (seeds/wire/ has versions and a kill, which
    the keyed-update tests cover)."""
    return sorted(p for p in SEEDS.iterdir() if p.suffix in (".txt", ".jsonl"))


def seed_articles() -> list:
    return [a for f in seed_files() for a in load_file(f)]


def test_every_seed_reaches_exactly_its_predicted_topics(
    worker: Worker, env: dict[str, str], settings: Settings
) -> None:
    articles = seed_articles()
    assert len(articles) >= 20
    routes = load_routes(settings.routes)
    predicted = {
        r["id"]: r["routes"]
        for r in enrich(articles, get_nlp(), routes, max_chars=100_000, batch_size=16)
    }
    assert len(predicted) == len(articles), "seed ids must be unique"

    result = cli(env, "publish", *map(str, seed_files()), "--quiet")
    assert result.returncode == 0, result.stderr
    assert f"published {len(articles)} articles" in result.stderr

    outputs = [t for t in pipeline_topics(settings) if t not in (ARTICLES, DEADLETTER)]
    wanted = Counter((i, t) for i, topics in predicted.items() for t in topics)

    def arrived(records: list) -> bool:
        got = {(r.key, r.topic) for r in records}
        return all(pair in got for pair in wanted)

    records = [
        r
        for r in read(settings.bootstrap_servers, outputs, until=arrived, timeout=120)
        if r.key in predicted
    ]
    got = Counter((r.key, r.topic) for r in records)
    missing = set(wanted) - set(got)
    assert not missing, f"not delivered: {sorted(missing)}"
    extra = set(got) - set(wanted)
    assert not extra, f"delivered to unpredicted topics: {sorted(extra)}"
    assert all(n == 1 for n in got.values()), f"duplicates: {[k for k, n in got.items() if n > 1]}"
    assert worker.alive()

    schema = json_schema("enriched-article.v3")
    for r in records:
        jsonschema.validate(r.value, schema)
        assert r.value["routes"] == predicted[r.key]
        assert r.value["id"] == r.key
        if r.topic == ENRICHED:
            assert r.value["pipeline"]["model"] == "en_core_web_sm"


def test_seed_articles_route_to_their_subject(settings: Settings) -> None:
    """The primary subject in each seed file name is among its routed topics."""
    routes = load_routes(settings.routes)
    nlp = get_nlp()
    checked = 0
    for path in sorted(SEEDS.glob("*.txt")):
        match = SEED_SLUG.match(path.name)
        if not match:
            continue
        (record,) = enrich(load_file(path), nlp, routes, max_chars=100_000, batch_size=1)
        assert f"wirestream.topic.{match.group(1)}" in record["routes"], (
            path.name,
            record["topics"],
        )
        checked += 1
    assert checked >= 15


def test_spec_seed_is_politics_and_conflict(settings: Settings) -> None:
    (article,) = load_file(Path(SEEDS / "000_22ed915bf0ed7153.txt"))
    (record,) = enrich(
        [article], get_nlp(), load_routes(settings.routes), max_chars=100_000, batch_size=1
    )
    assert {"wirestream.topic.politics", "wirestream.topic.conflict"} <= set(record["routes"])
    assert record["routes"][0] == ENRICHED
