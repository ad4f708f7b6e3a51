"""The one topic registry: fixed pipeline topics plus the routed topics of the routes file."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code
from aiokafka.protocol.offset import OffsetRequest

from streams.settings import Settings, kafka_options

log = logging.getLogger(__name__)

ARTICLES = "wirestream.articles"
ENRICHED = "wirestream.enriched"
DEADLETTER = "wirestream.deadletter"
RETRACTIONS = "wirestream.retractions"
PIPELINE_TOPICS = (ARTICLES, ENRICHED, DEADLETTER)
#: The worker's table of story versions (agents.versions); its changelog is
#: ``APP_ID-versions-changelog`` (:func:`changelog_topic`), created with the others.
VERSIONS_TABLE = "versions"
#: Topics created compacted (one value per key is all they need).
COMPACTED_SUFFIX = "-changelog"
#: Topics Wirestream reads or owns besides the routed outputs: no route may write to them
#: (a route to the input topic would feed every article back in, for ever).
INTERNAL_TOPICS = frozenset({ARTICLES, ENRICHED, DEADLETTER, RETRACTIONS})
#: Topics created per request by :func:`ensure_topics`: one request with thousands of
#: topics outlasts the admin client's request timeout.
CREATE_BATCH = 100


class _Condition(Protocol):
    def describe(self) -> str: ...


class _Route(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def topic(self) -> str: ...
    @property
    def when(self) -> _Condition: ...


class RouteTable(Protocol):
    """What the registry needs of a routes file (``agents.routing.Routes`` is one):
    ``streams`` never imports ``agents``; the caller loads the routes."""

    @property
    def routes(self) -> Sequence[_Route]: ...


def internal_topic(name: str, app_id: str) -> str | None:
    """Why no route may write to ``name`` (a topic Wirestream, Faust or Kafka owns), or None."""
    if name in INTERNAL_TOPICS:
        return "it is a topic the pipeline reads or owns"
    if name.startswith("__"):
        return "topics starting with '__' are Kafka's own (__consumer_offsets...)"
    if name.startswith(f"{app_id}-"):
        return f"topics starting with '{app_id}-' are the Faust app's own (the app id)"
    return None


@dataclass(frozen=True)
class TopicInfo:
    """A topic and what feeds it, for ``wirestream topics``."""

    name: str
    fed_by: str


def changelog_topic(app_id: str | None = None, table: str = VERSIONS_TABLE) -> str:
    """The changelog topic of a worker table (Faust's name: ``APP_ID-TABLE-changelog``)."""
    if app_id is None:
        from streams.settings import get_settings

        app_id = get_settings().app_id
    return f"{app_id}-{table}{COMPACTED_SUFFIX}"


def topic_config(name: str) -> dict[str, str]:
    """Configs a topic is created with: changelogs are compacted (docs/versions.md)."""
    return {"cleanup.policy": "compact"} if name.endswith(COMPACTED_SUFFIX) else {}


def registry(routes: RouteTable) -> list[TopicInfo]:
    """Every topic the pipeline reads or writes, with what feeds it (the worker's table
    changelog is the worker's own: see :func:`all_topics`)."""
    info = [
        TopicInfo(ARTICLES, "wirestream publish (raw input)"),
        TopicInfo(ENRICHED, "enrich_articles: every valid article"),
        TopicInfo(DEADLETTER, "enrich_articles: invalid input, with the reason"),
        TopicInfo(RETRACTIONS, "enrich_articles: withheld and canceled stories"),
    ]
    feeds: dict[str, list[str]] = {}
    for route in routes.routes:
        feeds.setdefault(route.topic, []).append(f"{route.name}: {route.when.describe()}")
    info += [TopicInfo(topic, "; ".join(why)) for topic, why in feeds.items()]
    return info


def all_topics(routes: RouteTable, app_id: str | None = None) -> list[str]:
    """Names of every topic to create before workers start (``routes``: the loaded
    routes file, e.g. ``agents.routing.load_routes(settings.routes)``)."""
    return [*(t.name for t in registry(routes)), changelog_topic(app_id)]


async def ensure_topics(
    settings: Settings, names: Sequence[str], *, batch: int = CREATE_BATCH
) -> list[str]:
    """Create missing topics with the configured partition count; return those created.

    Topics are created ``batch`` per request, each request awaited before the next, so
    thousands of routed topics are created within the admin client's request timeout.
    """
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = list(dict.fromkeys(n for n in names if n not in existing))
        created: list[str] = []
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            new = [
                NewTopic(
                    n, settings.partitions, settings.replication, topic_configs=topic_config(n)
                )
                for n in chunk
            ]
            try:
                response = await admin.create_topics(new)
            except TopicAlreadyExistsError:
                log.info("some topics were created concurrently")
                continue
            failed = {}
            for error in response.topic_errors:
                topic, code = error[0], error[1]
                if code not in (0, TopicAlreadyExistsError.errno):
                    failed[topic] = for_code(code).__name__
            if failed:
                log.warning("could not create %d topics: %s", len(failed), failed)
            created += [n for n in chunk if n not in failed]
        if created:
            await wait_until_listed(admin, created, settings)
            log.info("created %d topics with %d partitions", len(created), settings.partitions)
        return created
    finally:
        await admin.close()


#: Seconds :func:`ensure_topics` waits for the topics it created to be in the metadata.
LISTED_TIMEOUT = 60.0


async def wait_until_listed(
    admin: Any, names: list[str], settings: Settings, timeout: float = LISTED_TIMEOUT
) -> None:
    """Wait until the broker lists every topic in ``names`` with a leader for each partition.

    Apache Kafka answers CreateTopics once its controller has the topics, and each broker
    learns them from the metadata log a moment later: a metadata request right after the
    creation can still miss some (seen on a loaded machine with 250 topics: listed, some
    were missing, and clients got UnknownTopicOrPartition), or list a partition with no
    leader yet, or name a leader that does not serve the partition yet (`make run` on
    Apache Kafka then printed NotLeaderForPartitionError warnings from its first produce
    and offset requests). So each partition must also answer a ListOffsets request from
    its leader. Tansu lists them at once.
    """
    wanted = sorted(set(names))
    deadline = time.monotonic() + timeout
    client = AIOKafkaClient(**kafka_options(settings))
    await client.bootstrap()
    try:
        while missing := await _not_ready(admin, client, wanted):
            if time.monotonic() > deadline:
                log.warning(
                    "%d created topics are not served by a leader yet: %s",
                    len(missing),
                    sorted(missing)[:5],
                )
                return
            await asyncio.sleep(0.2)
    finally:
        await client.close()


async def _not_ready(admin: Any, client: AIOKafkaClient, names: list[str]) -> set[str]:
    """The topics in ``names`` not listed, with a partition that has no leader, or with a
    partition whose leader does not answer ListOffsets for it yet."""
    by_leader: dict[int, dict[str, list[int]]] = {}
    listed: set[str] = set()
    for topic in await admin.describe_topics(names):
        partitions = topic["partitions"]
        if topic["error_code"] or not partitions:
            continue
        if any(p["error_code"] or p["leader"] < 0 for p in partitions):
            continue
        listed.add(topic["topic"])
        for p in partitions:
            by_leader.setdefault(p["leader"], {}).setdefault(topic["topic"], []).append(
                p["partition"]
            )
    served = set(listed)
    for leader, topics in by_leader.items():
        request = OffsetRequest(
            -1, 0, [(topic, [(p, -1) for p in parts]) for topic, parts in topics.items()]
        )
        try:
            response = await client.send(leader, request)
        except KafkaError:
            return set(names)
        for topic, partitions in response.topics:
            if any(error_code for _, error_code, *_ in partitions):
                served.discard(topic)
    return set(names) - served
