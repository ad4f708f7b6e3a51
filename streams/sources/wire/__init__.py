"""Wire-format readers: one module per format, each a pure function from a document's
bytes to article fields (:class:`Parsed`), knowing nothing about Kafka or files.

``streams.sources.readers`` registers them in its reader table, validates each item
with :func:`schemas.validation.article_from_dict` and turns a :class:`WireError` into its
one-line ``FileError``. All XML is parsed by :func:`parse_xml` (defusedxml): a document
that declares entities (billion laughs) or refers to external ones is refused before
anything is expanded or fetched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException


class WireError(ValueError):
    """A document that yields nothing, and why (``code``: machine-readable)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass
class Parsed:
    """A document's text items as (where, article fields) pairs, where ``where`` names
    the item in errors ("item 2 (urn:x): "), and the items skipped on purpose (pictures,
    video, audio, packages without text), one line each."""

    items: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def parse_xml(raw: bytes) -> Element:
    """Parse XML safely: entity declarations (billion laughs), external entities and
    external DTD references are refused (``unsafe_xml``) without expanding or fetching
    anything; malformed XML is ``invalid_xml`` with its line and column."""
    try:
        return SafeET.fromstring(raw, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise WireError(
            "unsafe_xml",
            f"refused: the XML {_unsafe(exc)} (entity expansion and external resources"
            " are not allowed)",
        ) from None
    except ParseError as exc:
        raise WireError("invalid_xml", f"not well-formed XML: {exc}") from None


def _unsafe(exc: DefusedXmlException) -> str:
    name = getattr(exc, "name", None)
    system_id = getattr(exc, "sysid", None)
    if system_id:
        return f"declares the external entity {name!r} ({str(system_id)[:60]})"
    if name:
        return f"declares the entity {name!r}"
    return "uses a forbidden construct"


def namespace(tag: Any) -> str:
    """``{ns}name`` -> ``ns`` ("" without a namespace)."""
    if isinstance(tag, str) and tag.startswith("{"):
        return tag[1:].split("}", 1)[0]
    return ""


_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_DOCTYPE = re.compile(rb"<!DOCTYPE\s+([A-Za-z_][\w.:-]*)")
_PROLOG = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)", re.S)


def root_name(head: bytes) -> str | None:
    """The root element's name (with its prefix, if any) from the start of a document,
    skipping the XML declaration, comments and a DOCTYPE (whose name it takes when the
    root is beyond ``head``); None if it is not XML."""
    head = head[:4096]
    pos = 0
    while True:
        match = _PROLOG.match(head, pos)
        if not match:
            break
        pos = match.end()
    rest = head[pos:].lstrip()
    doctype = _DOCTYPE.match(rest)
    if doctype:
        return doctype.group(1).decode("ascii", "replace")
    found = _ROOT.match(rest)
    return found.group(1).decode("ascii", "replace") if found else None


def where(n: int, ident: str | None) -> str:
    """How an item is named in errors: ``"item 2 (urn:x:1): "``."""
    return f"item {n} ({ident[:80]}): " if ident else f"item {n}: "
