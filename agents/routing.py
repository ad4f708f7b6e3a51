"""Declarative routing: a routes file (TOML) becomes rules; ``match`` says where an
enriched article goes. Pure functions, no Kafka.

A route sends an article to ``topic`` when every condition under ``when`` holds
(within one condition, any listed value is enough). A route with
``when.unmatched = true`` catches articles that no other route took.
Every valid article also goes to ``wirestream.enriched`` (built in, not a route).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENRICHED = "wirestream.enriched"
_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")  # fullmatch: "$" would accept "x\n"
_LIST_KEYS = ("topics", "tags", "entity_labels", "entity_names", "sources", "languages")
_NUMBER_KEYS = ("sentiment_below", "sentiment_above")
_KNOWN_KEYS = {*_LIST_KEYS, *_NUMBER_KEYS, "unmatched"}


class RoutesError(ValueError):
    """A routes file that cannot be used, with the file and the reason."""


@dataclass(frozen=True)
class Condition:
    """What an article must have for a route to take it. Empty fields do not constrain."""

    topics: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    entity_labels: frozenset[str] = frozenset()
    entity_names: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    sentiment_below: float | None = None
    sentiment_above: float | None = None
    unmatched: bool = False

    def holds(self, article: Mapping[str, Any]) -> bool:
        """True when the article meets every condition set here."""
        if self.topics and not self.topics & {t["slug"] for t in article.get("topics", ())}:
            return False
        if self.tags and not self.tags & set(article.get("tags", ())):
            return False
        entities = article.get("entities", ())
        if self.entity_labels and not self.entity_labels & {e["label"] for e in entities}:
            return False
        if self.entity_names and not self.entity_names & {
            name.casefold() for e in entities for name in (e["canonical"], e["text"])
        }:
            return False
        if self.sources and article.get("source", "") not in self.sources:
            return False
        if self.languages and article.get("language") not in self.languages:
            return False
        compound = float(article.get("sentiment", {}).get("compound", 0.0))
        if self.sentiment_below is not None and not compound < self.sentiment_below:
            return False
        return not (self.sentiment_above is not None and not compound > self.sentiment_above)

    def describe(self) -> str:
        """A short human-readable form, for ``wirestream topics``."""
        parts = []
        for key in _LIST_KEYS:
            values = getattr(self, key)
            if values:
                parts.append(f"{key} in [{', '.join(sorted(values))}]")
        if self.sentiment_below is not None:
            parts.append(f"sentiment < {self.sentiment_below}")
        if self.sentiment_above is not None:
            parts.append(f"sentiment > {self.sentiment_above}")
        if self.unmatched:
            parts.append("no other route matched")
        return " and ".join(parts) or "always"


@dataclass(frozen=True)
class Route:
    """One rule: articles meeting ``when`` go to ``topic``."""

    name: str
    topic: str
    when: Condition


@dataclass(frozen=True)
class Routes:
    """All rules of one routes file, in file order."""

    routes: tuple[Route, ...]
    source: str = field(default="")

    def match(self, article: Mapping[str, Any]) -> list[str]:
        """Output topics for an enriched article: ``wirestream.enriched`` first, then
        every matching route's topic in file order, without repeats."""
        out = [ENRICHED]
        for route in self.routes:
            if not route.when.unmatched and route.when.holds(article) and route.topic not in out:
                out.append(route.topic)
        if len(out) == 1:
            for route in self.routes:
                if route.when.unmatched and route.when.holds(article) and route.topic not in out:
                    out.append(route.topic)
        return out

    def topics(self) -> list[str]:
        """Every topic some route can write to, in file order."""
        seen: list[str] = []
        for route in self.routes:
            if route.topic not in seen:
                seen.append(route.topic)
        return seen


def _condition(where: str, raw: Any) -> Condition:
    if not isinstance(raw, dict):
        raise RoutesError(f"{where}: 'when' must be a table")
    unknown = set(raw) - _KNOWN_KEYS
    if unknown:
        raise RoutesError(
            f"{where}: unknown condition {sorted(unknown)}; known: {sorted(_KNOWN_KEYS)}"
        )
    kwargs: dict[str, Any] = {}
    for key in _LIST_KEYS:
        if key in raw:
            values = raw[key]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise RoutesError(f"{where}: when.{key} must be a list of strings")
            if key == "entity_names":
                values = [v.casefold() for v in values]
            kwargs[key] = frozenset(values)
    for key in _NUMBER_KEYS:
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise RoutesError(f"{where}: when.{key} must be a number")
            kwargs[key] = float(value)
    if "unmatched" in raw:
        if not isinstance(raw["unmatched"], bool):
            raise RoutesError(f"{where}: when.unmatched must be true or false")
        kwargs["unmatched"] = raw["unmatched"]
    return Condition(**kwargs)


def parse_routes(data: Mapping[str, Any], source: str = "<routes>") -> Routes:
    """Build rules from a decoded routes file, raising :class:`RoutesError`."""
    raw_routes = data.get("route", [])
    if not isinstance(raw_routes, list):
        raise RoutesError(f"{source}: [[route]] entries expected")
    routes: list[Route] = []
    for index, raw in enumerate(raw_routes, start=1):
        where = f"{source}: route {index}"
        if not isinstance(raw, dict):
            raise RoutesError(f"{where}: must be a table")
        topic = raw.get("topic")
        if not isinstance(topic, str) or not _TOPIC_NAME.fullmatch(topic):
            raise RoutesError(f"{where}: 'topic' must be a Kafka topic name, got {topic!r}")
        if topic == ENRICHED:
            raise RoutesError(f"{where}: {ENRICHED} is built in; every article goes there")
        name = raw.get("name", topic.rsplit(".", 1)[-1])
        routes.append(
            Route(name=str(name), topic=topic, when=_condition(where, raw.get("when", {})))
        )
    return Routes(routes=tuple(routes), source=source)


def load_routes(path: Path | str) -> Routes:
    """Read and check a routes file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RoutesError(f"routes file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise RoutesError(f"{path}: not valid TOML: {exc}") from None
    return parse_routes(data, source=str(path))


def predicted_topics(routes: Routes, articles: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Article id → topics it should reach, for checking a run end to end."""
    return {a["id"]: routes.match(a) for a in articles}
