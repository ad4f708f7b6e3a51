"""Places end to end: a real worker on its own real broker geocodes the seeds' places
(entities[].geo), a `near` route and a `countries` route receive exactly the articles
whose places qualify, and `wirestream subscribe --when` filters by place."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson

from streams.broker import EmbeddedBroker
from streams.settings import Settings
from streams.topics import ENRICHED
from tests.helpers import SEEDS, cli, create_topics, read, start_worker, worker_env

ROUTES = """
[[route]]
name = "bosphorus"
topic = "geo.near.istanbul"
when.near = {lat = 41.01, lon = 28.95, km = 100}

[[route]]
name = "nordic"
topic = "geo.countries.nordic"
when.countries = ["SE", "DK", "NO"]
"""
TURKEY = "000_22ed915bf0ed7153.txt"  # Istanbul, Ankara's minister, Libya, Russia, Iran
SWEDEN = "003_economy_riksbank-rate-cut.txt"  # STOCKHOLM dateline, Sweden
COPENHAGEN = "022_lifestyle_copenhagen-michelin-stars.txt"


def test_a_near_route_and_a_countries_route_get_the_geocoded_articles(tmp_path: Path) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES)
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name in (TURKEY, SWEDEN, COPENHAGEN):
        shutil.copy(SEEDS / name, seeds / name)
    with EmbeddedBroker(port=0) as broker:
        settings = Settings(broker=broker.url, routes=routes)
        create_topics(settings)
        env = worker_env(
            broker.url,
            tmp_path / "data",
            WIRESTREAM_APP_ID="wirestream-geo-test",
            WIRESTREAM_ROUTES=str(routes),
        )
        worker = start_worker(env, tmp_path / "worker.log")
        try:
            done = cli(env, "publish", str(seeds), "--quiet")
            assert done.returncode == 0, done.stderr
            enriched = read(
                settings.bootstrap_servers, [ENRICHED], until=lambda rs: len(rs) >= 3, timeout=120
            )
            routed = read(
                settings.bootstrap_servers,
                ["geo.near.istanbul", "geo.countries.nordic"],
                until=lambda rs: len(rs) >= 3,
                timeout=30,
            )
            filtered = cli(
                env,
                "subscribe",
                ENRICHED,
                "--from-beginning",
                "--json",
                "--timeout",
                "3",
                "--when",
                "near = {lat = 55.68, lon = 12.57, km = 30}",
            )
        finally:
            worker.stop()

    headlines = {r.value["headline"]: r.value for r in enriched if r.value}
    assert len(headlines) == 3
    turkey = next(v for h, v in headlines.items() if h.startswith("Turkey, Russia"))
    places = {e["canonical"]: e["geo"] for e in turkey["entities"] if e["label"] == "GPE"}
    assert places["Istanbul"]["country"] == "TR" and places["Istanbul"]["feature"] == "city"
    assert (
        abs(places["Istanbul"]["lat"] - 41.01) < 0.2
        and abs(places["Istanbul"]["lon"] - 28.95) < 0.2
    )
    assert places["Libya"]["country"] == "LY" and places["Libya"]["feature"] == "country"
    assert all(e["geo"] is None for e in turkey["entities"] if e["label"] == "PERSON")
    by_topic: dict[str, list[str]] = {}
    for r in routed:
        by_topic.setdefault(r.topic, []).append(r.value["headline"])
    assert by_topic["geo.near.istanbul"] == [turkey["headline"]]
    nordic = sorted(by_topic["geo.countries.nordic"])
    assert len(nordic) == 2
    assert nordic[0].startswith("Copenhagen") and nordic[1].startswith("Riksbank cuts")
    # subscribe --when: only the Copenhagen article has a place within 30 km of Copenhagen
    assert filtered.returncode == 0, filtered.stderr
    lines = [orjson.loads(line) for line in filtered.stdout.splitlines()]
    assert [line["value"]["headline"] for line in lines] == [nordic[0]]
