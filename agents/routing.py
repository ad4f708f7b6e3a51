"""Declarative routing: a routes file (TOML) becomes rules; ``match`` says where an
enriched article goes. Pure functions, no Kafka.

A route sends an article to ``topic`` when every condition under ``when`` holds
(within one condition, any listed value is enough). A route with
``when.unmatched = true`` catches articles that no other route took.
Every valid article also goes to ``wirestream.enriched`` (built in, not a route).
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from streams.settings import Settings
from streams.topics import ENRICHED, INTERNAL_TOPICS, all_topics, internal_topic

__all__ = ["ENRICHED", "Condition", "Route", "Routes", "RoutesError", "load_routes", "parse_routes"]

#: The NLP's data files (nlp/data), read without importing the NLP package (spaCy).
NLP_DATA_DIR = Path(__file__).resolve().parents[1] / "nlp" / "data"
#: Kafka's limits on a topic name (``org.apache.kafka.common.internals.Topic``).
MAX_TOPIC_NAME = 249
_TOPIC_CHARS = re.compile(r"[A-Za-z0-9._-]+")
_LIST_KEYS = (
    "topics",
    "tags",
    "entity_labels",
    "entity_names",
    "sources",
    "languages",
    "countries",
)
_NUMBER_KEYS = ("sentiment_below", "sentiment_above")
_KNOWN_KEYS = {*_LIST_KEYS, *_NUMBER_KEYS, "unmatched", "near"}
#: Conditions whose values must come from the taxonomy, and what one value is called.
_CHECKED_KEYS = {
    "topics": "IPTC topic slug",
    "tags": "event tag",
    "entity_labels": "entity label",
    "languages": "language code",
    "countries": "ISO 3166-1 alpha-2 country code",
}
#: Earth's mean radius (km), for ``when.near``.
EARTH_KM = 6371.0088


class RoutesError(ValueError):
    """A routes file that cannot be used, with the file and the reason."""


# -- valid condition values --------------------------------------------------------------
def _data(name: str) -> dict[str, Any]:
    with (NLP_DATA_DIR / name).open("rb") as fh:
        return tomllib.load(fh)


@lru_cache(maxsize=1)
def _detected_languages() -> tuple[str, ...]:
    """Languages the detector can name (``languages.toml``), plus its "undetermined" code."""
    settings = _data("languages.toml")["settings"]
    return (*settings["languages"], str(settings["undetermined"]))


@cache
def valid_values(key: str) -> frozenset[str]:
    """The values a route may list under ``when.<key>`` (topics, tags, entity_labels,
    languages): slugs of ``topics.toml`` and ``taxonomy.toml``, the labels the entity
    component keeps, and ISO 639 codes as the pipeline normalises them."""
    if key == "topics":
        return frozenset(_data("topics.toml").get("topic", {}))
    if key == "tags":
        return frozenset(_data("taxonomy.toml").get("tag", {}))
    if key == "entity_labels":
        from nlp.entities import KEEP_LABELS  # imports spaCy: only when needed

        return frozenset(KEEP_LABELS)
    if key == "languages":
        import pycountry

        codes = {getattr(lang, "alpha_2", None) or lang.alpha_3 for lang in pycountry.languages}
        return frozenset({*codes, *_detected_languages()})
    if key == "countries":
        import pycountry

        return frozenset(str(c.alpha_2) for c in pycountry.countries)
    raise KeyError(key)


def _suggestion(key: str, value: str) -> str | None:
    """The valid value nearest to ``value`` (same letters in another case first)."""
    valid = valid_values(key)
    if value.casefold() in valid:
        return value.casefold()
    if value.upper() in valid:
        return value.upper()
    if key == "languages":
        import pycountry

        try:  # "french", "FR", "fra" → "fr"
            found = pycountry.languages.lookup(value.strip())
        except LookupError:
            found = None
        if found is not None:
            code = getattr(found, "alpha_2", None) or found.alpha_3
            if code in valid:
                return str(code)
        valid = frozenset(_detected_languages())
    if key == "countries":
        import pycountry

        try:  # "France", "fra" → "FR"
            return str(pycountry.countries.lookup(value.strip()).alpha_2)
        except LookupError:
            return None
    folded = {v.casefold(): v for v in valid}
    if value.casefold() in folded:
        return folded[value.casefold()]
    close = difflib.get_close_matches(value.casefold(), list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else None


def condition_values() -> list[tuple[str, str]]:
    """(condition, what it may list), for ``wirestream topics --conditions``."""
    return [
        ("topics", ", ".join(sorted(valid_values("topics")))),
        ("tags", ", ".join(sorted(valid_values("tags")))),
        ("entity_labels", ", ".join(sorted(valid_values("entity_labels")))),
        (
            "languages",
            f"{', '.join(_detected_languages()[:-1])} (detected), "
            f"{_detected_languages()[-1]} (undetermined), or any ISO 639-1 code a publisher gives",
        ),
        ("entity_names", "any canonical or surface name (case-insensitive)"),
        ("sources", "any value of the article's source field"),
        ("sentiment_below", "a number: the compound score in [-1, 1] is below it"),
        ("sentiment_above", "a number: the compound score in [-1, 1] is above it"),
        ("unmatched", "true: only when no other route matched"),
        (
            "countries",
            "ISO 3166-1 alpha-2 codes: of a geocoded place (entities[].geo.country) "
            "or an entity's country",
        ),
        ("near", "{lat, lon, km}: a geocoded place (entity or event location) within km"),
    ]


# -- conditions and routes ---------------------------------------------------------------
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
    countries: frozenset[str] = frozenset()
    #: (lat, lon, km): some geocoded place of the article lies within km of the point.
    near: tuple[float, float, float] | None = None

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
        if self.countries and not self.countries & article_countries(article):
            return False
        if self.near is not None and not near_any(article_points(article), [self.near]).any():
            return False
        compound = float(article.get("sentiment", {}).get("compound", 0.0))
        if self.sentiment_below is not None and not compound < self.sentiment_below:
            return False
        return not (self.sentiment_above is not None and not compound > self.sentiment_above)

    def lists(self) -> list[tuple[str, frozenset[str]]]:
        """The list conditions that are set, as (key, values)."""
        return [(key, getattr(self, key)) for key in _LIST_KEYS if getattr(self, key)]

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
        if self.near is not None:
            lat, lon, km = self.near
            parts.append(f"within {km:g} km of ({lat:g}, {lon:g})")
        if self.unmatched:
            parts.append("no other route matched")
        return " and ".join(parts) or "always"


@dataclass(frozen=True)
class Route:
    """One rule: articles meeting ``when`` go to ``topic``."""

    name: str
    topic: str
    when: Condition


def article_countries(article: Mapping[str, Any]) -> set[str]:
    """The ISO codes ``when.countries`` matches: the country of each geocoded place (an
    entity's ``geo``, an event's ``location``) and each entity's own ``country``."""
    found: set[str] = set()
    for e in article.get("entities", ()):
        geo = e.get("geo")
        if geo and geo.get("country"):
            found.add(geo["country"])
        if e.get("country"):
            found.add(e["country"])
    for event in article.get("events", ()):
        location = event.get("location")
        if location and location.get("country"):
            found.add(location["country"])
    return found


def article_points(article: Mapping[str, Any]) -> np.ndarray:
    """(lat, lon) of every geocoded entity and event location, shape (n, 2)."""
    places = [e.get("geo") for e in article.get("entities", ())]
    places += [ev.get("location") for ev in article.get("events", ())]
    points = [(g["lat"], g["lon"]) for g in places if g]
    return np.array(points, dtype=float).reshape(-1, 2)


def near_any(points: np.ndarray, circles: Sequence[tuple[float, float, float]]) -> np.ndarray:
    """Per circle (lat, lon, km): whether some point lies within it (haversine)."""
    if not len(circles):
        return np.zeros(0, dtype=bool)
    if not len(points):
        return np.zeros(len(circles), dtype=bool)
    c = np.radians(np.array([(lat, lon) for lat, lon, _ in circles], dtype=float))
    p = np.radians(points)
    dlat = p[:, None, 0] - c[None, :, 0]
    dlon = p[:, None, 1] - c[None, :, 1]
    a = (
        np.sin(dlat / 2) ** 2
        + np.cos(p[:, None, 0]) * np.cos(c[None, :, 0]) * np.sin(dlon / 2) ** 2
    )
    km = 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    radius = np.array([r for _, _, r in circles], dtype=float)
    return np.asarray((km <= radius[None, :]).any(axis=0))


def _features(article: Mapping[str, Any], keys: Iterable[str]) -> dict[str, set[Any]]:
    """The article's values for each list condition in ``keys`` (as :meth:`Condition.holds`
    reads them; single values as one-element sets)."""
    out: dict[str, set[Any]] = {}
    for key in keys:
        if key == "topics":
            out[key] = {t["slug"] for t in article.get("topics", ())}
        elif key == "tags":
            out[key] = set(article.get("tags", ()))
        elif key == "entity_labels":
            out[key] = {e["label"] for e in article.get("entities", ())}
        elif key == "entity_names":
            out[key] = {
                name.casefold()
                for e in article.get("entities", ())
                for name in (e["canonical"], e["text"])
            }
        elif key == "sources":
            out[key] = {article.get("source", "")}
        elif key == "countries":
            out[key] = article_countries(article)
        else:
            out[key] = {article.get("language")}
    return out


@dataclass(frozen=True)
class _Index:
    """Routes as arrays, one slot per route in file order: for each list condition, the
    routes it does not constrain and, per value, the routes that list it; the sentiment
    thresholds; which routes are ``unmatched``."""

    free: dict[str, np.ndarray]
    listed: dict[str, dict[Any, np.ndarray]]
    below: np.ndarray
    has_below: np.ndarray
    above: np.ndarray
    has_above: np.ndarray
    unmatched: np.ndarray
    #: Routes with ``when.near`` (slots) and their circles.
    near_slots: np.ndarray
    near_circles: tuple[tuple[float, float, float], ...]

    @classmethod
    def build(cls, routes: Sequence[Route]) -> _Index:
        n = len(routes)
        free: dict[str, np.ndarray] = {}
        listed: dict[str, dict[Any, list[int]]] = {}
        for i, route in enumerate(routes):
            for key, values in route.when.lists():
                free.setdefault(key, np.ones(n, dtype=bool))[i] = False
                for value in values:
                    listed.setdefault(key, {}).setdefault(value, []).append(i)
        below = [r.when.sentiment_below for r in routes]
        above = [r.when.sentiment_above for r in routes]
        return cls(
            free=free,
            listed={
                key: {value: np.array(slots, dtype=np.intp) for value, slots in by_value.items()}
                for key, by_value in listed.items()
            },
            below=np.array([math.inf if b is None else b for b in below], dtype=float),
            has_below=np.array([b is not None for b in below], dtype=bool),
            above=np.array([-math.inf if a is None else a for a in above], dtype=float),
            has_above=np.array([a is not None for a in above], dtype=bool),
            unmatched=np.array([r.when.unmatched for r in routes], dtype=bool),
            near_slots=np.array(
                [i for i, r in enumerate(routes) if r.when.near is not None], dtype=np.intp
            ),
            near_circles=tuple(r.when.near for r in routes if r.when.near is not None),
        )

    def accepted(self, article: Mapping[str, Any]) -> np.ndarray:
        """Which routes' conditions the article meets (``unmatched`` aside)."""
        features = _features(article, self.free)
        compound = float(article.get("sentiment", {}).get("compound", 0.0))
        ok = (~self.has_below | (compound < self.below)) & (
            ~self.has_above | (compound > self.above)
        )
        for key, free in self.free.items():
            accept = free.copy()
            by_value = self.listed[key]
            for value in features[key]:
                slots = by_value.get(value)
                if slots is not None:
                    accept[slots] = True
            ok &= accept
        if self.near_slots.size:
            ok[self.near_slots] &= near_any(article_points(article), self.near_circles)
        return ok


@dataclass(frozen=True)
class Routes:
    """All rules of one routes file, in file order.

    Matching is indexed (:class:`_Index`): per condition, the routes an article's values
    satisfy are marked in one array per condition and the arrays are combined, so the
    cost per article grows with the routes it reaches, not with every route's
    conditions. The result is the same as checking every route in order
    (:meth:`match_all`).
    """

    routes: tuple[Route, ...]
    source: str = field(default="")
    _index: _Index | None = field(init=False, repr=False, compare=False, default=None)
    _topic_of: tuple[str, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", _Index.build(self.routes))
        object.__setattr__(self, "_topic_of", tuple(route.topic for route in self.routes))

    def match(self, article: Mapping[str, Any]) -> list[str]:
        """Output topics for an enriched article: ``wirestream.enriched`` first, then
        every matching route's topic in file order, without repeats. Routes with
        ``when.unmatched`` only when no other route matched."""
        assert self._index is not None
        accepted = self._index.accepted(article)
        unmatched = self._index.unmatched
        slots = np.flatnonzero(accepted & ~unmatched)
        if not slots.size:
            slots = np.flatnonzero(accepted & unmatched)
        topic_of = self._topic_of
        return list(dict.fromkeys([ENRICHED, *(topic_of[i] for i in slots.tolist())]))

    def match_all(self, article: Mapping[str, Any]) -> list[str]:
        """:meth:`match` without the index: every route checked in file order (the
        reference the indexed match is tested against)."""
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


# -- reading a routes file ---------------------------------------------------------------
def _shown(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


def topic_name_error(topic: str) -> str | None:
    """Why Kafka would refuse ``topic`` as a topic name, or None."""
    if not topic:
        return "the topic name is empty"
    if topic in (".", ".."):
        return f"Kafka does not allow {topic!r} as a topic name"
    if len(topic) > MAX_TOPIC_NAME:
        return f"the topic name has {len(topic)} characters; Kafka allows {MAX_TOPIC_NAME}"
    if not _TOPIC_CHARS.fullmatch(topic):
        bad = "".join(sorted({c for c in topic if not _TOPIC_CHARS.fullmatch(c)}))
        return (
            f"topic {_shown(topic)} has characters Kafka does not allow ({bad!r}); "
            "use letters, digits, '.', '_' and '-'"
        )
    return None


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
            if key in _CHECKED_KEYS:
                valid = valid_values(key)
                for value in values:
                    if value not in valid:
                        near = _suggestion(key, value)
                        hint = (
                            f"did you mean {near!r}?"
                            if near
                            else "`wirestream topics --conditions` lists the valid values"
                        )
                        raise RoutesError(
                            f"{where}: unknown {_CHECKED_KEYS[key]} {_shown(value)} "
                            f"in when.{key}; {hint}"
                        )
            if key == "entity_names":
                values = [v.casefold() for v in values]
            kwargs[key] = frozenset(values)
    for key in _NUMBER_KEYS:
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise RoutesError(f"{where}: when.{key} must be a number")
            kwargs[key] = float(value)
    if "near" in raw:
        kwargs["near"] = _near(where, raw["near"])
    if "unmatched" in raw:
        if not isinstance(raw["unmatched"], bool):
            raise RoutesError(f"{where}: when.unmatched must be true or false")
        kwargs["unmatched"] = raw["unmatched"]
    return Condition(**kwargs)


def _near(where: str, raw: Any) -> tuple[float, float, float]:
    """``when.near = {lat, lon, km}`` checked: numbers, lat in [-90, 90], lon in
    [-180, 180], km > 0."""
    shape = "when.near must be a table {lat = <-90..90>, lon = <-180..180>, km = <above 0>}"
    if not isinstance(raw, dict):
        raise RoutesError(f"{where}: {shape}")
    if set(raw) != {"lat", "lon", "km"}:
        missing, extra = {"lat", "lon", "km"} - set(raw), set(raw) - {"lat", "lon", "km"}
        detail = "; ".join(
            part
            for part in (
                f"missing {sorted(missing)}" if missing else "",
                f"unknown {sorted(extra)}" if extra else "",
            )
            if part
        )
        raise RoutesError(f"{where}: {shape} ({detail})")
    values = {}
    for key in ("lat", "lon", "km"):
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise RoutesError(f"{where}: when.near.{key} must be a number, got {value!r}")
        values[key] = float(value)
    if not -90 <= values["lat"] <= 90:
        raise RoutesError(f"{where}: when.near.lat {values['lat']:g} is not in [-90, 90]")
    if not -180 <= values["lon"] <= 180:
        raise RoutesError(f"{where}: when.near.lon {values['lon']:g} is not in [-180, 180]")
    if not 0 < values["km"] < math.inf:
        raise RoutesError(f"{where}: when.near.km must be above 0, got {values['km']:g}")
    return values["lat"], values["lon"], values["km"]


def parse_condition(raw: Any, where: str = "condition") -> Condition:
    """A ``when`` table (as decoded TOML) checked like a route's: for filters outside a
    routes file (``wirestream subscribe --when``)."""
    return _condition(where, raw)


def _app_id() -> str:
    from streams.settings import get_settings

    return get_settings().app_id


def parse_routes(
    data: Mapping[str, Any], source: str = "<routes>", *, app_id: str | None = None
) -> Routes:
    """Build rules from a decoded routes file, raising :class:`RoutesError` (one line
    naming the file, the route and the reason). A route may not write to a topic
    Wirestream reads or owns (:func:`streams.topics.internal_topic`; Faust's own topics
    start with ``app_id`` + "-", by default the configured app id), nor to a name Kafka
    refuses or would take for another one ("a.b" and "a_b")."""
    app_id = app_id if app_id is not None else _app_id()
    raw_routes = data.get("route", [])
    if not isinstance(raw_routes, list):
        raise RoutesError(f"{source}: [[route]] entries expected")
    routes: list[Route] = []
    #: Kafka refuses a topic whose name equals another's once "." is read as "_".
    claimed = {name.replace(".", "_"): name for name in sorted(INTERNAL_TOPICS)}
    for index, raw in enumerate(raw_routes, start=1):
        where = f"{source}: route {index}"
        if not isinstance(raw, dict):
            raise RoutesError(f"{where}: must be a table")
        topic = raw.get("topic")
        if "name" in raw:
            where += f" ({_shown(str(raw['name']))})"
        elif isinstance(topic, str):
            where += f" (topic {_shown(topic)})"
        if not isinstance(topic, str):
            raise RoutesError(f"{where}: 'topic' must be a Kafka topic name, got {topic!r}")
        problem = topic_name_error(topic)
        if problem:
            raise RoutesError(f"{where}: not a Kafka topic name: {problem}")
        if topic == ENRICHED:
            raise RoutesError(f"{where}: {ENRICHED} is built in; every article goes there")
        internal = internal_topic(topic, app_id)
        if internal:
            raise RoutesError(f"{where}: a route may not write to {topic}: {internal}")
        other = claimed.setdefault(topic.replace(".", "_"), topic)
        if other != topic:
            raise RoutesError(
                f"{where}: topic {topic} collides with {other} (Kafka treats '.' and '_' "
                "alike in topic names)"
            )
        name = raw.get("name", topic.rsplit(".", 1)[-1])
        routes.append(
            Route(name=str(name), topic=topic, when=_condition(where, raw.get("when", {})))
        )
    return Routes(routes=tuple(routes), source=source)


def load_routes(path: Path | str, *, app_id: str | None = None) -> Routes:
    """Read and check a routes file (:func:`parse_routes`)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RoutesError(f"routes file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RoutesError(f"{path}: cannot read the routes file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RoutesError(f"{path}: not valid TOML: {exc}") from None
    return parse_routes(data, source=str(path), app_id=app_id)


def pipeline_topics(settings: Settings) -> list[str]:
    """Every topic to create before workers start: the pipeline's own and those the
    configured routes file names (:func:`streams.topics.all_topics`)."""
    return all_topics(load_routes(settings.routes, app_id=settings.app_id), settings.app_id)


def predicted_topics(routes: Routes, articles: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Article id → topics it should reach, for checking a run end to end."""
    return {a["id"]: routes.match(a) for a in articles}


def condition_from_query(query: Mapping[str, Sequence[str]]) -> Condition:
    """A route condition from URL query parameters (``wirestream serve``'s stream filters):
    each list condition as comma-separated or repeated values, ``sentiment_below`` and
    ``sentiment_above`` as numbers; checked as a route's ``when`` is (:class:`RoutesError`
    with one line naming the bad key or value)."""
    raw: dict[str, Any] = {}
    for key, given in query.items():
        values = [v.strip() for value in given for v in value.split(",") if v.strip()]
        if key in _NUMBER_KEYS:
            if len(values) != 1:
                raise RoutesError(f"filter: {key} takes one number")
            try:
                raw[key] = float(values[0])
            except ValueError:
                raise RoutesError(f"filter: {key} must be a number, got {values[0]!r}") from None
        elif key == "unmatched":
            raise RoutesError("filter: unmatched is a route-only condition")
        else:
            raw[key] = values
    return _condition("filter", raw)
