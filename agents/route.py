"""``route_articles``: enriched articles → the output topics their routes name.

Routing is re-done here with the current routes file, so routes can change (and
articles be re-routed from ``wirestream.enriched``) without running the NLP again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import TopicT

from agents.enrich import enriched_topic, get_routes, received, refuse
from agents.routing import ENRICHED, Routes
from streams import codecs
from streams.app import app, settings
from streams.topics import DEADLETTER


def route(value: bytes | None, routes: Routes) -> tuple[list[str], bytes]:
    """The topics one enriched record goes to (``wirestream.enriched`` itself, the
    input, left out) and the record re-encoded with ``routes`` set to all its topics.
    Raises ``ValueError`` for a value that is not an enriched record."""
    record = codecs.loads(value or b"")
    if not isinstance(record, dict) or "id" not in record:
        raise ValueError("not an enriched record")
    record["routes"] = routes.match(record)
    return [t for t in record["routes"] if t != ENRICHED], codecs.dumps(record)


_topics: dict[str, TopicT] = {}


def output_topic(name: str) -> TopicT:
    """The Faust topic object for an output topic name (made once)."""
    if name not in _topics:
        _topics[name] = app.topic(name, key_type=bytes, value_type=bytes)
    return _topics[name]


@app.agent(enriched_topic)
async def route_articles(stream: Any) -> Any:
    """Send each enriched article to every topic its routes name, then acknowledge."""
    routes = get_routes()
    async for events in stream.take_events(settings.batch_size * 4, within=settings.batch_wait):
        pending = []
        for event in events:
            msg = received(event)
            try:
                topics, value = route(msg.value, routes)
            except (ValueError, KeyError, TypeError) as exc:
                record = refuse(msg, "invalid_enriched", f"cannot route: {exc}")
                topics, value = [DEADLETTER], codecs.dumps(record)
            for topic in topics:
                pending.append(await output_topic(topic).send(key=msg.key, value=value))
        await asyncio.gather(*pending)
        yield len(pending)
