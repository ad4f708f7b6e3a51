from __future__ import annotations

import json
import random
import tomllib
from pathlib import Path
from typing import Any

import pytest

from agents.routing import (
    ENRICHED,
    RoutesError,
    condition_values,
    load_routes,
    parse_routes,
    valid_values,
)
from streams.settings import Settings


def article(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "a1",
        "language": "en",
        "source": "Wire",
        "topics": [{"slug": "politics", "name": "politics", "code": "11000000", "score": 0.8}],
        "tags": ["consult"],
        "entities": [{"text": "Putin", "canonical": "Vladimir Putin", "label": "PERSON"}],
        "sentiment": {"compound": -0.6, "label": "negative"},
    }
    base.update(overrides)
    return base


def test_default_routes_send_topics_and_catch_the_rest() -> None:
    routes = load_routes(Settings().routes)
    assert routes.match(article()) == [ENRICHED, "wirestream.topic.politics"]
    two = article(topics=[{"slug": "sport"}, {"slug": "economy"}])
    assert routes.match(two) == [ENRICHED, "wirestream.topic.economy", "wirestream.topic.sport"]
    assert routes.match(article(topics=[])) == [ENRICHED, "wirestream.topic.other"]
    assert routes.match(article(topics=[], language="fr")) == [ENRICHED, "wirestream.lang.fr"]
    slugs = {t.rsplit(".", 1)[-1] for t in routes.topics() if t.startswith("wirestream.topic.")}
    assert {
        "politics",
        "conflict",
        "economy",
        "health",
        "sport",
        "science-technology",
        "disaster",
        "crime",
        "environment",
        "other",
    } <= slugs
    assert len(slugs) == 18  # 17 IPTC subjects + other


def test_every_condition_kind() -> None:
    routes = parse_routes(
        {
            "route": [
                {
                    "topic": "t.neg-leaders",
                    "when": {"entity_labels": ["PERSON"], "sentiment_below": -0.5},
                },
                {"topic": "t.pos", "when": {"sentiment_above": 0.5}},
                {"topic": "t.putin", "when": {"entity_names": ["VLADIMIR PUTIN"]}},
                {"topic": "t.consult", "when": {"tags": ["consult", "sign-agreement"]}},
                {"topic": "t.wire", "when": {"sources": ["Wire"], "languages": ["en"]}},
                {"topic": "t.other", "when": {"unmatched": True}},
            ]
        }
    )
    assert routes.match(article()) == [ENRICHED, "t.neg-leaders", "t.putin", "t.consult", "t.wire"]
    calm = article(sentiment={"compound": 0.9}, entities=[], tags=[], source="Other")
    assert routes.match(calm) == [ENRICHED, "t.pos"]
    assert routes.match(
        article(sentiment={"compound": -0.5}, entities=[], tags=[], source="x")
    ) == [ENRICHED, "t.other"]


def test_bad_routes_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(RoutesError, match="unknown condition"):
        parse_routes({"route": [{"topic": "t", "when": {"topic": ["sport"]}}]})
    with pytest.raises(RoutesError, match="Kafka topic name"):
        parse_routes({"route": [{"topic": "has space"}]})
    with pytest.raises(RoutesError, match="built in"):
        parse_routes({"route": [{"topic": ENRICHED}]})
    with pytest.raises(RoutesError, match="list of strings"):
        parse_routes({"route": [{"topic": "t", "when": {"tags": "consult"}}]})
    with pytest.raises(RoutesError, match="must be a number"):
        parse_routes({"route": [{"topic": "t", "when": {"sentiment_below": "low"}}]})
    bad = tmp_path / "routes.toml"
    bad.write_text("[[route]\n")
    with pytest.raises(RoutesError, match="not valid TOML"):
        load_routes(bad)
    with pytest.raises(RoutesError, match="does not exist"):
        load_routes(tmp_path / "missing.toml")


def test_describe_is_readable() -> None:
    routes = parse_routes(
        {
            "route": [
                {"topic": "t", "when": {"topics": ["sport"], "sentiment_above": 0.2}},
                {"topic": "u"},
            ]
        }
    )
    assert routes.routes[0].when.describe() == "topics in [sport] and sentiment > 0.2"
    assert routes.routes[1].when.describe() == "always"


def test_a_topic_name_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(RoutesError, match="Kafka topic name"):
        parse_routes({"route": [{"topic": "wirestream.topic.alerts\n"}]})
    assert [r.topic for r in parse_routes({"route": [{"topic": "t.ok"}]}).routes] == ["t.ok"]


# -- routes that cannot hurt the pipeline ---------------------------------------------------
@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("wirestream.articles", "may not write to wirestream.articles: it is a topic the pipeline"),
        ("wirestream.deadletter", "may not write to wirestream.deadletter: it is a topic the"),
        ("wirestream.retractions", "may not write to wirestream.retractions: it is a topic the"),
        ("wirestream.enriched", "wirestream.enriched is built in"),
        ("__consumer_offsets", "'__' are Kafka's own"),
        ("wirestream-__assignor-__leader", "'wirestream-' are the Faust app's own"),
        ("wirestream_articles", "collides with wirestream.articles"),
        (".", "Kafka does not allow '.' as a topic name"),
        ("..", "Kafka does not allow '..' as a topic name"),
        ("x" * 250, "the topic name has 250 characters; Kafka allows 249"),
        ("has space", "characters Kafka does not allow (' ')"),
        ("../etc/passwd", "characters Kafka does not allow ('/')"),
        ("caf\u00e9", "characters Kafka does not allow ('\u00e9')"),
        ("", "the topic name is empty"),
    ],
)
def test_routes_to_internal_or_invalid_topics_are_refused(topic: str, reason: str) -> None:
    data = {"route": [{"topic": "wirestream.topic.fine"}, {"topic": topic}]}
    with pytest.raises(RoutesError) as caught:
        parse_routes(data, source="mine.toml", app_id="wirestream")
    message = str(caught.value)
    assert message.startswith("mine.toml: route 2 (topic ")
    assert reason in message and "\n" not in message


def test_topic_name_limits_and_collisions_between_routes() -> None:
    longest = "t" * 249
    routes = parse_routes({"route": [{"topic": longest}, {"topic": "a-b.c_d"}]}, app_id="w")
    assert routes.topics() == [longest, "a-b.c_d"]
    with pytest.raises(RoutesError, match=r"route 2 \(topic 'a_b'\): topic a_b collides with a\.b"):
        parse_routes({"route": [{"topic": "a.b"}, {"topic": "a_b"}]}, app_id="w")
    # the Faust prefix follows the app id
    parse_routes({"route": [{"topic": "wirestream-alerts"}]}, app_id="other")
    with pytest.raises(RoutesError, match="'other-' are the Faust app's own"):
        parse_routes({"route": [{"topic": "other-alerts"}]}, app_id="other")


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (
            {"topics": ["politics", "sports"]},
            "unknown IPTC topic slug 'sports' in when.topics; did you mean 'sport'?",
        ),
        (
            {"entity_labels": ["person"]},
            "unknown entity label 'person' in when.entity_labels; did you mean 'PERSON'?",
        ),
        (
            {"tags": ["protests"]},
            "unknown event tag 'protests' in when.tags; did you mean 'protest'?",
        ),
        (
            {"languages": ["french"]},
            "unknown language code 'french' in when.languages; did you mean 'fr'?",
        ),
        ({"languages": ["EN"]}, "unknown language code 'EN' in when.languages; did you mean 'en'?"),
        (
            {"topics": ["qqqq"]},
            "unknown IPTC topic slug 'qqqq' in when.topics; "
            "`wirestream topics --conditions` lists the valid values",
        ),
    ],
)
def test_unknown_condition_values_name_the_nearest_valid_one(
    tmp_path: Path, when: dict[str, list[str]], message: str
) -> None:
    path = tmp_path / "desk.toml"
    lines = ["[[route]]", 'name = "desk"', 'topic = "alerts.desk"']
    lines += [f"when.{key} = {json.dumps(values)}" for key, values in when.items()]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RoutesError) as caught:
        load_routes(path, app_id="wirestream")
    assert str(caught.value) == f"{path}: route 1 ('desk'): {message}"


def test_condition_values_come_from_the_data_files() -> None:
    from nlp.entities import KEEP_LABELS

    data = Path(__file__).resolve().parents[2] / "nlp" / "data"
    topics = tomllib.loads((data / "topics.toml").read_text())["topic"]
    tags = tomllib.loads((data / "taxonomy.toml").read_text())["tag"]
    assert valid_values("topics") == set(topics) and "sport" in topics and len(topics) == 17
    assert valid_values("tags") == set(tags) and {"protest", "consult"} <= set(tags)
    assert valid_values("entity_labels") == set(KEEP_LABELS)
    languages = valid_values("languages")
    assert {"en", "fr", "de", "ja", "und", "haw"} <= languages  # haw: ISO 639-3, no 639-1 code
    assert "english" not in languages and "EN" not in languages
    listed = dict(condition_values())
    assert "sport" in listed["topics"] and "protest" in listed["tags"]
    assert "PERSON" in listed["entity_labels"] and "und (undetermined)" in listed["languages"]


# -- indexed matching ---------------------------------------------------------------------
TOPIC_SLUGS = ["politics", "sport", "economy", "crime", "health"]
TAGS = ["consult", "protest", "attack", "election"]
LABELS = ["PERSON", "ORG", "GPE"]
NAMES = ["Vladimir Putin", "Putin", "Acme Corp", "Paris", "Angela Merkel"]
SOURCES = ["Wire", "AP", ""]
LANGUAGES = ["en", "fr", "und"]


def random_article(rng: random.Random, n: int) -> dict[str, Any]:
    entities = [
        {
            "text": rng.choice(NAMES).upper() if rng.random() < 0.3 else rng.choice(NAMES),
            "canonical": rng.choice(NAMES),
            "label": rng.choice(LABELS),
        }
        for _ in range(rng.randint(0, 4))
    ]
    article: dict[str, Any] = {
        "id": f"a{n}",
        "topics": [{"slug": s} for s in rng.sample(TOPIC_SLUGS, rng.randint(0, 3))],
        "tags": rng.sample(TAGS, rng.randint(0, 2)),
        "entities": entities,
        "source": rng.choice(SOURCES),
        "language": rng.choice(LANGUAGES),
        "sentiment": {"compound": round(rng.uniform(-1, 1), 1)},
    }
    for key in ("topics", "tags", "entities", "source", "language", "sentiment"):
        if rng.random() < 0.05:
            del article[key]  # absent fields read as in Condition.holds
    return article


def random_routes(rng: random.Random, count: int) -> list[dict[str, Any]]:
    pools = {
        "topics": TOPIC_SLUGS,
        "tags": TAGS,
        "entity_labels": LABELS,
        "entity_names": [*NAMES, "PARIS", "nobody"],
        "sources": SOURCES,
        "languages": LANGUAGES,
    }
    raw = []
    for _ in range(count):
        when: dict[str, Any] = {}
        for key in rng.sample(sorted(pools), rng.choice((0, 1, 2, 2, 3, 3))):
            when[key] = rng.sample(pools[key], rng.randint(0, 2))  # [] does not constrain
        if rng.random() < 0.3:
            when["sentiment_below"] = round(rng.uniform(-1, 1), 1)
        if rng.random() < 0.3:
            when["sentiment_above"] = round(rng.uniform(-1, 1), 1)
        if rng.random() < 0.2:
            when["unmatched"] = True
        raw.append({"topic": f"t.{rng.randint(0, count)}", "when": when})  # repeats happen
    return raw


def test_indexed_match_equals_route_by_route_match() -> None:
    rng = random.Random(25)
    outcomes = {"none": 0, "routes": 0, "unmatched": 0}
    for _ in range(300):
        routes = parse_routes({"route": random_routes(rng, rng.randint(0, 12))}, app_id="w")
        for n in range(30):
            article = random_article(rng, n)
            expected = routes.match_all(article)
            assert routes.match(article) == expected, (routes, article)
            fallback = {r.topic for r in routes.routes if r.when.unmatched}
            if len(expected) == 1:
                outcomes["none"] += 1
            elif fallback.issuperset(expected[1:]) and not any(
                not r.when.unmatched and r.when.holds(article) for r in routes.routes
            ):
                outcomes["unmatched"] += 1
            else:
                outcomes["routes"] += 1
    assert sum(outcomes.values()) == 9000
    # the random cases exercise every outcome: nothing, some routes, the unmatched fallback
    assert min(outcomes.values()) > 200, outcomes


def test_match_keeps_file_order_and_first_route_of_a_topic() -> None:
    routes = parse_routes(
        {
            "route": [
                {"topic": "t.names", "when": {"entity_names": ["Vladimir Putin"]}},
                {"topic": "t.politics", "when": {"topics": ["politics"], "languages": ["en"]}},
                {"topic": "t.names", "when": {"topics": ["politics"]}},
                {"topic": "t.neg", "when": {"sentiment_below": -0.5}},
                {"topic": "t.wire", "when": {"sources": ["Wire"], "tags": ["attack"]}},
                {"topic": "t.rest", "when": {"unmatched": True, "languages": ["en"]}},
            ]
        },
        app_id="w",
    )
    assert routes.match(article()) == [ENRICHED, "t.names", "t.politics", "t.neg"]
    quiet = article(topics=[], entities=[], sentiment={"compound": 0.1})
    assert routes.match(quiet) == [ENRICHED, "t.rest"]
    assert routes.match({**quiet, "language": "fr"}) == [ENRICHED]
