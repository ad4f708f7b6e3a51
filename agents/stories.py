"""The stories stage over enriched records, pure (no Faust, no Kafka I/O): it adds
``duplicate_of``, ``similarity`` and ``story`` to each record and makes the messages of
``wirestream.stories`` (keyed by story id: the story's current state, on every change) and
``wirestream.trending`` (:meth:`StoriesStage.trending`, once a minute). Not yet wired into
the worker: see docs/stories.md ("The stream stage: design")."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from stories import DuplicateIndex, StoryClusterer, Trending
from stories.config import Config
from stories.features import story_features

STORIES = "wirestream.stories"
TRENDING = "wirestream.trending"
#: Article ids and sources kept per story in its state record (the most recent ones).
MAX_IDS = 50
TOP_ENTITIES = 10

Message = tuple[str, bytes | None, bytes]


def epoch(published_at: str) -> float:
    """Seconds since the epoch of an ISO 8601 time with a zone."""
    return datetime.fromisoformat(published_at.replace("Z", "+00:00")).timestamp()


def article_text(record: dict[str, Any]) -> str:
    parts = (record.get("headline"), record.get("standfirst"), record.get("body"))
    return "\n\n".join(str(p) for p in parts if p)


@dataclass
class StoryState:
    """What ``wirestream.stories`` says of one story."""

    id: str
    headline: str
    first_article: str
    first_seen: float
    last_seen: float = 0.0
    size: int = 0
    articles: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    entities: Counter[str] = field(default_factory=Counter)
    countries: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "headline": self.headline,
            "size": self.size,
            "first_article": self.first_article,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "articles": self.articles,
            "sources": self.sources,
            "entities": [n for n, _ in self.entities.most_common(TOP_ENTITIES)],
            "countries": sorted(self.countries),
            "events": sorted(self.events),
        }


def iso(t: float) -> str:
    return datetime.fromtimestamp(t).astimezone().isoformat()


class StoriesStage:
    def __init__(self, config: Config) -> None:
        self.duplicates = DuplicateIndex(config)
        self.clusters = StoryClusterer(config)
        self.trends = Trending(config)
        self.stories: dict[str, StoryState] = {}

    def process(self, record: dict[str, Any]) -> tuple[dict[str, Any], list[Message]]:
        """The record with ``duplicate_of``, ``similarity`` and ``story``, and the
        ``wirestream.stories`` message of its story's new state."""
        t = epoch(str(record["published_at"]))
        text = article_text(record)
        aid = str(record["id"])
        match = self.duplicates.add(aid, text, t)
        entities = record.get("entities") or []
        assigned = self.clusters.add(aid, text, t, story_features(entities))
        state = self.stories.get(assigned.id)
        if state is None:
            state = StoryState(
                assigned.id, str(record.get("headline") or ""), aid, assigned.first_seen
            )
            self.stories[assigned.id] = state
        state.size = assigned.size
        state.last_seen = max(state.last_seen, t)
        state.articles = [*state.articles, aid][-MAX_IDS:]
        source = str(record.get("source") or "")
        if source and source not in state.sources:
            state.sources = [*state.sources, source][-MAX_IDS:]
        names = [str(e["canonical"]) for e in entities if e.get("canonical")]
        state.entities.update(names)
        state.countries.update(str(e["country"]) for e in entities if e.get("country"))
        state.events.update(str(e["tag"]) for e in record.get("events") or [] if e.get("tag"))
        self.trends.add([f"story:{assigned.id}", *(f"entity:{n}" for n in names)], t)
        story = {
            "id": assigned.id,
            "size": assigned.size,
            "first_seen": iso(assigned.first_seen),
            "first_article": assigned.first_article,
        }
        out = {
            **record,
            "duplicate_of": match.duplicate_of,
            "similarity": round(match.similarity, 4),
            "story": story,
        }
        message = (STORIES, assigned.id.encode(), orjson.dumps(state.record()))
        return out, [message]

    def trending(self, now: float) -> Message:
        """The ``wirestream.trending`` record at ``now``: the top items and their scores."""
        top = self.trends.top(now)
        value = {
            "at": iso(now),
            "items": [
                {
                    "item": t.item,
                    "score": round(t.score, 4),
                    "recent": t.recent,
                    "baseline": t.baseline,
                }
                for t in top
            ],
        }
        return (TRENDING, None, orjson.dumps(value))
