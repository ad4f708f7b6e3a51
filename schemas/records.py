"""Faust records for the input article and the enriched output.

The JSON Schema files beside this module (``article.v1.json``,
``enriched-article.v2.json``, ``deadletter.v1.json``) are the same contracts in a
language-neutral form; tests validate real pipeline output against them.
``enriched-article.v1.json`` stays for consumers written against version 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import faust
import orjson

ARTICLE_SCHEMA = "article/1"
ENRICHED_SCHEMA = "enriched-article/2"


class Article(faust.Record, serializer="orjson"):
    """A wire article as published to ``wirestream.articles``."""

    id: str
    headline: str
    body: str
    standfirst: str = ""
    source: str = ""
    url: str = ""
    published_at: str | None = None
    language: str | None = None


class Mention(TypedDict):
    start: int
    end: int


class Entity(TypedDict):
    text: str
    canonical: str
    label: str
    mentions: list[list[int]]
    count: int
    in_headline: bool
    country: str | None


class Sentiment(TypedDict):
    compound: float
    label: str


class Event(TypedDict):
    tag: str
    cameo: str | None  # None for news tags with no CAMEO code (election, earthquake...)
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


class Topic(TypedDict):
    slug: str
    name: str
    code: str
    score: float


class Pipeline(TypedDict):
    schema: str
    wirestream: str
    model: str
    model_version: str
    taxonomy: str


class EnrichedArticle(faust.Record, serializer="orjson"):
    """An article with entities, sentiment, events, topics and routes."""

    id: str
    headline: str
    body: str
    standfirst: str
    source: str
    url: str
    published_at: str | None
    language: str
    entities: list[dict[str, Any]]
    sentiment: dict[str, Any]
    events: list[dict[str, Any]]
    tags: list[str]
    topics: list[dict[str, Any]]
    routes: list[str]
    pipeline: dict[str, Any]
    enriched_at: str
    truncated: bool = False
    shrunk: dict[str, int] | None = None  # only on records shrunk to fit the output limit
    #: Names of the NLP caps that applied (nlp/data/limits.toml); absent from the JSON
    #: when none did.
    limits: list[str] | None = None


SCHEMA_DIR = Path(__file__).resolve().parent


def json_schema(name: str) -> dict[str, Any]:
    """Load one of the versioned JSON Schema files, e.g. ``json_schema("article.v1")``."""
    return dict(orjson.loads((SCHEMA_DIR / f"{name}.json").read_bytes()))
