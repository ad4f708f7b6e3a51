"""Records and versioned JSON Schemas: the contract downstream services rely on."""

from schemas.records import (
    ARTICLE_SCHEMA,
    ENRICHED_SCHEMA,
    Article,
)
from schemas.validation import InvalidArticle, article_id, article_text, parse_article

__all__ = [
    "ARTICLE_SCHEMA",
    "ENRICHED_SCHEMA",
    "Article",
    "InvalidArticle",
    "article_id",
    "article_text",
    "parse_article",
]
