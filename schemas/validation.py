"""Turn raw bytes into an :class:`Article`, or say exactly why not.

Pure functions, no Kafka: the producer and the worker use the same checks, so an
article the producer accepts is never dead-lettered by the worker for its shape.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from datetime import datetime
from typing import Any

import orjson

from schemas.records import STATUSES, Article

#: Characters that are never valid in wire copy (C0 controls except tab, LF, CR).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACE = re.compile(r"\s+")
#: Any control character (C0, DEL, C1), tab and line breaks included: never in an id.
_ID_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LANGUAGE = re.compile(r"[a-z]{2,3}")  # used with fullmatch: "$" would accept "fr\n"
_TEXT_FIELDS = ("headline", "standfirst", "body", "source", "url", "byline")
MAX_ID_CHARS = 200
MAX_GUID_CHARS = 1000
MAX_SUBJECTS = 200
MAX_SUBJECT_CHARS = 200
_SUBJECT = re.compile(r"[^\s\x00-\x1f\x7f-\x9f]+")  # used with fullmatch


class InvalidArticle(ValueError):
    """Raised for input that cannot become an Article. ``code`` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _normalise(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def article_id(headline: str, body: str) -> str:
    """A stable id: the same headline and body (up to case and spacing) give the same id."""
    digest = hashlib.sha256(f"{_normalise(headline)}\n{_normalise(body)}".encode())
    return digest.hexdigest()[:16]


def guid_id(guid: str) -> str:
    """The id of an article with a provider id: the first 16 hex digits of the SHA-256 of
    the guid's UTF-8 bytes. It depends on the guid alone, so every version of a story
    has the same id and therefore the same Kafka key (and partition)."""
    return hashlib.sha256(guid.encode()).hexdigest()[:16]


def article_text(article: Article) -> str:
    """The text the NLP reads; every character offset in an enriched record points into it.

    It is headline, standfirst and body joined by a blank line, skipping empty parts.
    """
    parts = (article.headline, article.standfirst, article.body)
    return "\n\n".join(p for p in parts if p)


def _check_text(name: str, value: Any, *, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise InvalidArticle("wrong_type", f"field {name!r} must be a string, got {_kind(value)}")
    if _CONTROL.search(value):
        raise InvalidArticle("control_characters", f"field {name!r} contains control characters")
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def article_from_dict(data: Any) -> Article:
    """Validate a decoded JSON value and build the Article (id derived when absent)."""
    if not isinstance(data, dict):
        raise InvalidArticle(
            "not_an_object", f"an article must be a JSON object, got {_kind(data)}"
        )
    for name in ("headline", "body"):
        if name not in data:
            raise InvalidArticle("missing_field", f"required field {name!r} is missing")
    fields = {
        name: _check_text(name, data.get(name), required=name in ("headline", "body"))
        for name in _TEXT_FIELDS
    }
    if not fields["headline"].strip():
        raise InvalidArticle("empty_field", "field 'headline' is empty")
    guid = _check_guid(data.get("guid"))
    raw_id = data.get("id")
    if raw_id is None or raw_id == "":
        ident = guid_id(guid) if guid else article_id(fields["headline"], fields["body"])
    elif isinstance(raw_id, str | int) and not isinstance(raw_id, bool):
        ident = str(raw_id)
        if len(ident) > MAX_ID_CHARS or ident != ident.strip() or _ID_CONTROL.search(ident):
            raise InvalidArticle(
                "invalid_id",
                f"id must be 1-{MAX_ID_CHARS} characters, without control characters or"
                " leading or trailing whitespace",
            )
        if guid and ident != guid_id(guid):
            raise InvalidArticle(
                "id_mismatch",
                f"id {ident[:40]!r} is not {guid_id(guid)!r}, the id derived from the guid"
                " (leave id out)",
            )
    else:
        raise InvalidArticle("wrong_type", f"field 'id' must be a string, got {_kind(raw_id)}")
    published = _check_date("published_at", data.get("published_at"))
    version_created = _check_date("version_created", data.get("version_created"))
    version = data.get("version")
    if version is not None and (
        not isinstance(version, int) or isinstance(version, bool) or version < 1
    ):
        raise InvalidArticle(
            "invalid_version", f"version must be an integer >= 1 or null, got {_shown(version)}"
        )
    status = data.get("status")
    if status is None:
        status = "usable"
    elif status not in STATUSES:
        raise InvalidArticle(
            "invalid_status", f"status must be one of {', '.join(STATUSES)}, got {_shown(status)}"
        )
    subjects = _check_subjects(data.get("provider_subjects"))
    language = data.get("language")
    if language is not None:
        if not isinstance(language, str) or not _LANGUAGE.fullmatch(language.lower()):
            raise InvalidArticle(
                "invalid_language", "language must be an ISO 639 code such as 'en' or null"
            )
        language = language.lower()
    return Article(
        id=ident,
        headline=fields["headline"].strip(),
        standfirst=fields["standfirst"].strip(),
        body=fields["body"].strip(),
        source=fields["source"],
        url=fields["url"],
        published_at=published,
        language=language,
        byline=fields["byline"].strip(),
        guid=guid,
        version=version,
        version_created=version_created,
        status=status,
        provider_subjects=subjects,
    )


def _shown(value: Any) -> str:
    """A value for a one-line message: short, printable."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _check_guid(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidArticle("wrong_type", f"field 'guid' must be a string, got {_kind(value)}")
    if len(value) > MAX_GUID_CHARS or value != value.strip() or _ID_CONTROL.search(value):
        raise InvalidArticle(
            "invalid_guid",
            f"guid must be 1-{MAX_GUID_CHARS} characters, without control characters or"
            " leading or trailing whitespace",
        )
    return value


def _check_date(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidArticle("wrong_type", f"field {name!r} must be a string, got {_kind(value)}")
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArticle(
            "invalid_date", f"{name} {value[:40]!r} is not an ISO 8601 date"
        ) from None
    return value


def _check_subjects(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise InvalidArticle(
            "wrong_type", f"field 'provider_subjects' must be a list, got {_kind(value)}"
        )
    if len(value) > MAX_SUBJECTS:
        raise InvalidArticle(
            "invalid_subjects",
            f"{len(value)} provider_subjects is over the limit of {MAX_SUBJECTS}",
        )
    for item in value:
        if (
            not isinstance(item, str)
            or len(item) > MAX_SUBJECT_CHARS
            or not _SUBJECT.fullmatch(item)
        ):
            raise InvalidArticle(
                "invalid_subjects",
                f"provider_subjects must be codes of 1-{MAX_SUBJECT_CHARS} characters without"
                f" spaces or control characters, got {_shown(item)}",
            )
    return tuple(value)


def parse_article(raw: bytes | None, *, max_bytes: int) -> Article:
    """Decode one raw Kafka value into an Article, raising :class:`InvalidArticle`."""
    if raw is None or len(raw) == 0:
        raise InvalidArticle("empty", "the message has no value")
    if len(raw) > max_bytes:
        raise InvalidArticle("too_large", f"{len(raw)} bytes is over the {max_bytes} byte limit")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArticle("invalid_utf8", f"not valid UTF-8 at byte {exc.start}") from None
    try:
        data = loads_json(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidArticle("invalid_json", f"not valid JSON: {exc}") from None
    return article_from_dict(data)


def _has_float_id(data: Any) -> bool:
    items = data if isinstance(data, list) else [data]
    return any(isinstance(item, dict) and isinstance(item.get("id"), float) for item in items)


def loads_json(text: str | bytes) -> Any:
    """Decode JSON with orjson; raises ``orjson.JSONDecodeError``.

    orjson reads an integer too large for 64 bits as a float, so a numeric id of 30
    digits would lose digits (and be refused as a float). When an article's id (or that
    of an article in a list) comes back as a float, the document, already known to be
    valid JSON, is read again with the standard library, which keeps integers exact:
    the id becomes its decimal string. A real float id (``1.5``) stays a float.
    """
    data = orjson.loads(text)
    if _has_float_id(data):
        try:
            return json.loads(text)
        except (RecursionError, ValueError):  # too deep, or over Python's digit limit
            return data
    return data
