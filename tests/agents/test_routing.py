from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.routing import ENRICHED, RoutesError, load_routes, parse_routes
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
