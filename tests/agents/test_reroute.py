from __future__ import annotations

import orjson
import pytest

from agents.enrich import get_routes
from agents.reroute import route
from agents.routing import ENRICHED


def enriched(article_id: str, slugs: list[str], language: str = "en") -> bytes:
    return orjson.dumps(
        {
            "id": article_id,
            "headline": "h",
            "language": language,
            "source": "",
            "topics": [{"slug": s, "name": s, "code": "00000000", "score": 0.5} for s in slugs],
            "tags": [],
            "entities": [],
            "sentiment": {"compound": 0.0, "label": "neutral"},
            "routes": [ENRICHED],
        }
    )


def test_route_rewrites_routes_and_skips_the_input_topic() -> None:
    topics, value = route(enriched("a", ["sport", "economy"]), get_routes())
    assert topics == ["wirestream.topic.economy", "wirestream.topic.sport"]
    assert orjson.loads(value)["routes"] == [ENRICHED, *topics]
    assert route(enriched("b", []), get_routes())[0] == ["wirestream.topic.other"]
    assert route(enriched("c", [], "fr"), get_routes())[0] == ["wirestream.lang.fr"]
    for garbage in (b"[1, 2]", b"not json", b'{"headline": "no id"}'):
        with pytest.raises(ValueError):
            route(garbage, get_routes())
