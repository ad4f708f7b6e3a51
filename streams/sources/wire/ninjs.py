"""IPTC ninjs 1.x, 2.x and 3.x (JSON): one item, or a list of items.

1.x has ``headline``, ``body_text``/``body_html``/``body_xhtml``, ``description_text``/
``description_html``, ``byline``, ``subject``; 2.x has ``headlines[]``, ``bodies[]``,
``descriptions[]``, ``by``, ``subjects`` with lower-case names (``versioncreated``,
``pubstatus``, ``contenttype``); 3.x the same in camelCase (``versionCreated``,
``pubStatus``, ``contentType``). Both spellings are read whatever the version.

Items whose ``type`` is not ``text`` or ``composite`` (pictures, video, audio, graphics,
events, planning) are skipped. A package (``composite``, or an item with no text of its
own) gives the text items among its ``associations`` (nested packages too, up to
:data:`MAX_DEPTH` levels); one without any is skipped.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from schemas.validation import loads_json
from streams.sources.wire import Parsed, WireError, where
from streams.sources.wire.text import (
    codes,
    html_text,
    iso_date,
    language,
    plain_text,
    status,
    subject_code,
    version,
)

TEXT_TYPES = ("text", "composite")
MAX_DEPTH = 5
#: Keys only ninjs has (our own article format has ``body``, which ninjs never has).
_MARKS = re.compile(
    rb'"(?:uri|headlines|bodies|body_text|body_html|body_xhtml|versioncreated|versionCreated'
    rb'|firstcreated|firstCreated|pubstatus|pubStatus|descriptions|description_text)"\s*:'
)
_OUR_BODY = re.compile(rb'"body"\s*:')


def sniff(document: bytes) -> int:
    if document[:1] not in (b"{", b"["):
        return 0
    head = document[:4096]
    return 2 if _MARKS.search(head) and not _OUR_BODY.search(head) else 0


def get(item: dict[str, Any], *names: str) -> Any:
    """The first of ``names`` present (the 1.x/2.x and 3.x spellings)."""
    for name in names:
        if item.get(name) not in (None, "", []):
            return item[name]
    return None


def parse(raw: bytes) -> Parsed:
    try:
        data = loads_json(raw)
    except orjson.JSONDecodeError as exc:
        raise WireError("invalid_json", f"not valid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("items"), list) and "uri" not in data:
        data = data["items"]  # a feed-like wrapper: {"items": [...]}
    items = data if isinstance(data, list) else [data]
    if not items:
        raise WireError("empty", "the ninjs list has no items")
    parsed = Parsed()
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise WireError("not_an_object", f"item {n}: a ninjs item must be an object")
        label = where(n, _str(item.get("uri"))) if len(items) > 1 else ""
        _collect(item, label, parsed, depth=0)
    return parsed


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _collect(item: dict[str, Any], label: str, parsed: Parsed, depth: int) -> None:
    kind = str(item.get("type") or "text").lower()
    ident = _str(item.get("uri")) or "(no uri)"
    if kind not in TEXT_TYPES:
        parsed.skipped.append(f"{kind} {ident}: not text")
        return
    fields = ninjs_item(item)
    if fields is not None:
        parsed.items.append((label, fields))
        return
    found = len(parsed.items)
    associations = item.get("associations")
    if depth < MAX_DEPTH:
        for name, member in _members(associations):
            if isinstance(member, dict):
                inner = _str(member.get("uri")) or name
                _collect(member, f"{label}association {inner[:80]}: ", parsed, depth + 1)
    if len(parsed.items) == found:
        parsed.skipped.append(f"{kind} {ident}: no text")


def _members(associations: Any) -> list[tuple[str, Any]]:
    """ninjs 1.x/2.x: an object of name -> item; 3.x: a list of items with ``name``."""
    if isinstance(associations, dict):
        return [(str(k), v) for k, v in associations.items()]
    if isinstance(associations, list):
        return [
            (str(m.get("name", n)) if isinstance(m, dict) else str(n), m)
            for n, m in enumerate(associations, 1)
        ]
    return []


def _texts(blocks: Any, plain_roles: tuple[str, ...]) -> str:
    """The text of ``bodies[]``/``descriptions[]``/``headlines[]``: a plain-text block
    first, else an HTML/XHTML one made plain."""
    if not isinstance(blocks, list):
        return ""
    plain, marked = [], []
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("value"), str):
            continue
        kind = str(get(block, "contentType", "contenttype") or "text/plain").lower()
        role = str(block.get("role") or "")
        if "html" in kind or "xml" in kind:
            marked.append(block["value"])
        elif not role or role in plain_roles or "plain" in kind:
            plain.append(block["value"])
    for value in plain:
        if text := plain_text(value):
            return text
    for value in marked:
        if text := html_text(value):
            return text
    return ""


def _one_line(text: str) -> str:
    return text.replace("\n", " ")


def ninjs_item(item: dict[str, Any]) -> dict[str, Any] | None:
    """The article fields of one ninjs text item; None when it has no text of its own
    (a usable item with neither headline nor body)."""
    headline = _str(get(item, "headline")) or _texts(item.get("headlines"), ("main",))
    body = (
        plain_text(_str(get(item, "body_text")) or "")
        or html_text(_str(get(item, "body_html", "body_xhtml")) or "")
        or _texts(item.get("bodies"), ("main", "text"))
    )
    headline = _one_line(plain_text(headline))
    pub_status = status(get(item, "pubStatus", "pubstatus"))
    killed = pub_status not in (None, "usable")
    if not body and not killed and (not headline or _members(item.get("associations"))):
        return None  # no text of its own: a package, or an empty item
    if not headline and killed:
        headline = f"[{pub_status}]"  # a kill or a withholding needs no text to count
    standfirst = (
        plain_text(_str(get(item, "description_text")) or "")
        or html_text(_str(get(item, "description_html", "description_xhtml")) or "")
        or _texts(item.get("descriptions"), ("text", "summary", "main"))
    )
    version_created = iso_date(get(item, "versionCreated", "versioncreated"))
    first = iso_date(get(item, "firstCreated", "firstcreated", "contentCreated", "contentcreated"))
    fields: dict[str, Any] = {
        "guid": _str(get(item, "uri")),
        "version": version(get(item, "version")),
        "version_created": version_created,
        "status": pub_status,
        "body": body,
        "standfirst": _one_line(standfirst),
        "byline": _str(get(item, "by", "byline")) or "",
        "source": _source(item),
        "url": "",
        "published_at": first or version_created,
        "language": language(get(item, "language")),
        "provider_subjects": _subjects(item),
    }
    if headline:
        fields["headline"] = headline
    return fields


def _source(item: dict[str, Any]) -> str:
    holder = get(item, "copyrightHolder", "copyrightholder")
    if isinstance(holder, str):
        return holder
    if isinstance(holder, dict) and isinstance(holder.get("name"), str):
        return str(holder["name"])
    provider = get(item, "provider")  # not in the standard, but common
    if isinstance(provider, str):
        return provider
    if isinstance(provider, dict) and isinstance(provider.get("name"), str):
        return str(provider["name"])
    return ""


def _subjects(item: dict[str, Any]) -> list[str]:
    found = []
    for key in ("subjects", "subject"):
        entries = item.get(key)
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, str):
                found.append(entry)
            elif isinstance(entry, dict):
                found.append(
                    subject_code(
                        uri=_str(entry.get("uri")),
                        scheme=_str(entry.get("scheme")),
                        code=_str(entry.get("code")) or _str(entry.get("qcode")),
                    )
                )
    return codes(found)
