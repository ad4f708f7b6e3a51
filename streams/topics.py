"""The one topic registry: fixed pipeline topics plus the routed topics of the routes file."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from agents.routing import ENRICHED, Routes, load_routes
from streams.settings import Settings, kafka_options

log = logging.getLogger(__name__)

ARTICLES = "wirestream.articles"
DEADLETTER = "wirestream.deadletter"
PIPELINE_TOPICS = (ARTICLES, ENRICHED, DEADLETTER)


@dataclass(frozen=True)
class TopicInfo:
    """A topic and what feeds it, for ``wirestream topics``."""

    name: str
    fed_by: str


def registry(routes: Routes) -> list[TopicInfo]:
    """Every topic the pipeline reads or writes, with what feeds it."""
    info = [
        TopicInfo(ARTICLES, "wirestream publish (raw input)"),
        TopicInfo(ENRICHED, "enrich_articles: every valid article"),
        TopicInfo(DEADLETTER, "enrich_articles: invalid input, with the reason"),
    ]
    feeds: dict[str, list[str]] = {}
    for route in routes.routes:
        feeds.setdefault(route.topic, []).append(f"{route.name}: {route.when.describe()}")
    info += [TopicInfo(topic, "; ".join(why)) for topic, why in feeds.items()]
    return info


def all_topics(settings: Settings, routes: Routes | None = None) -> list[str]:
    """Names of every topic to create before workers start."""
    routes = routes or load_routes(settings.routes)
    return [t.name for t in registry(routes)]


async def ensure_topics(settings: Settings, names: list[str] | None = None) -> list[str]:
    """Create missing topics with the configured partition count; return those created."""
    names = names if names is not None else all_topics(settings)
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if not missing:
            return []
        new = [NewTopic(n, settings.partitions, settings.replication) for n in missing]
        try:
            await admin.create_topics(new)
        except TopicAlreadyExistsError:
            log.info("some topics were created concurrently")
        log.info("created %d topics with %d partitions", len(missing), settings.partitions)
        return missing
    finally:
        await admin.close()
