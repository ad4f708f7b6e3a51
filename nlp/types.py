"""Record shapes returned by :func:`nlp.analyse` (JSON-ready, no spaCy objects)."""

from __future__ import annotations

from typing import Literal, NamedTuple, NotRequired, TypedDict


class NlpInput(NamedTuple):
    """One article to analyse.

    ``text`` is headline, standfirst and body joined with ``"\\n\\n"`` (empty parts
    skipped); every character offset in the output points into it. Mentions that start
    before ``headline_chars`` are "in the headline". ``language`` is the publisher's
    code, or ``None`` to detect it.
    """

    text: str
    headline_chars: int
    language: str | None


SentimentLabel = Literal["negative", "neutral", "positive"]


class EntitySentiment(TypedDict):
    """Sentiment towards one entity: ``score`` = P(positive) - P(negative), in [-1, 1]."""

    label: SentimentLabel
    score: float


class Geo(TypedDict):
    """A GeoNames place (``nlp/geo.py``): ``feature`` is city, admin1, admin2, country or
    continent; ``confidence`` the resolver's share for it among the name's candidates, in
    (0, 1]; ``geonameid`` None for a region built from its towns (admin1 outside the US,
    admin2)."""

    geonameid: int | None
    name: str
    country: str | None
    admin1: str | None
    lat: float
    lon: float
    feature: str
    population: int
    confidence: float


class Entity(TypedDict):
    text: str
    canonical: str
    label: str
    mentions: list[list[int]]
    count: int
    in_headline: bool
    country: str | None
    # From the sentiment component's ``doc._.ws_entity_sentiment``, joined when the analysis
    # is built (None for labels other than PERSON, ORG and GPE); NotRequired because the
    # entity component's own dicts (``doc._.ws_entities``) do not have it.
    sentiment: NotRequired[EntitySentiment | None]
    # From the geo component's ``doc._.ws_geo``: GPE, LOC and FAC entities' place or None.
    geo: NotRequired[Geo | None]


class Sentiment(TypedDict):
    compound: float
    label: SentimentLabel


class Event(TypedDict):
    tag: str
    cameo: str | None  # None for news tags with no CAMEO code (elections, disasters...)
    name: str
    quad_class: int | None
    goldstein: float | None
    iptc: str
    trigger: str
    trigger_span: list[int]
    sentence: int
    sentence_text: str
    actor1: str | None
    actor2: str | None
    # From the geo component's ``doc._.ws_event_location``: the place of the event's sentence.
    location: NotRequired[Geo | None]


class Topic(TypedDict):
    slug: str
    name: str
    code: str
    score: float


class Analysis(TypedDict):
    language: str
    truncated: bool
    #: Caps of ``nlp/data/limits.toml`` (and "max_chars") that applied, in a fixed order.
    limits: list[str]
    entities: list[Entity]
    sentiment: Sentiment
    events: list[Event]
    tags: list[str]
    topics: list[Topic]
