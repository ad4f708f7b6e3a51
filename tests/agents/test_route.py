from __future__ import annotations

import asyncio

import orjson
import pytest

from agents.enrich import get_routes
from agents.route import route, route_articles
from agents.routing import ENRICHED
from streams.topics import DEADLETTER
from tests.agents.conftest import Sent


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
    with pytest.raises(ValueError):
        route(b"[1, 2]", get_routes())


def test_agent_fans_out_and_dead_letters_garbage(sent: Sent) -> None:
    async def go() -> None:
        async with route_articles.test_context() as agent:
            await agent.put(enriched("a", ["sport", "health"]), key=b"a", wait=False)
            await agent.put(b"not json", key=b"junk", wait=False)
            await sent.wait_for(3)

    asyncio.run(go())
    assert sorted((t, k) for t, k, _ in sent) == [
        ("wirestream.deadletter", b"junk"),
        ("wirestream.topic.health", b"a"),
        ("wirestream.topic.sport", b"a"),
    ]
    dead = next(orjson.loads(v) for t, _, v in sent if t == DEADLETTER)
    assert dead["reason"]["code"] == "invalid_enriched"
