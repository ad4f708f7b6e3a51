"""The Faust record for the input article, and the versioned JSON Schemas.

The JSON Schema files beside this module (``article.v2.json``,
``enriched-article.v3.json``, ``deadletter.v1.json``) are the contracts in a
language-neutral form (the enriched record is built as a dict by ``agents.enrich``);
tests validate real pipeline output against them.
``article.v1.json``, ``enriched-article.v1.json`` and ``enriched-article.v2.json`` stay
for producers and consumers written against those versions (article/1 input is valid
article/2 input).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faust
import orjson

ARTICLE_SCHEMA = "article/2"
ENRICHED_SCHEMA = "enriched-article/3"
#: The publication statuses (IPTC pubStatus); ``usable`` is the default.
STATUSES = ("usable", "withheld", "canceled")


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
    # article/2: the provider's identity and version of the story (all optional).
    byline: str = ""
    guid: str | None = None
    version: int | None = None
    version_created: str | None = None
    status: str = "usable"
    provider_subjects: tuple[str, ...] = ()


SCHEMA_DIR = Path(__file__).resolve().parent


def json_schema(name: str) -> dict[str, Any]:
    """Load one of the versioned JSON Schema files, e.g. ``json_schema("article.v1")``."""
    return dict(orjson.loads((SCHEMA_DIR / f"{name}.json").read_bytes()))
