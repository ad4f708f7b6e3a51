"""RSS 2.0 and Atom 1.0 feeds (and Atom entry documents).

Neither has a version number: ``version`` stays None (a poller that remembers an item's
content counts its changes). RSS and Atom allow an item without a title: its headline is
then the first sentence of its text (at most 150 characters, cut at a word). Items
whose enclosure or out-of-line content is audio or video, and items without any text,
are skipped with a count.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element

from streams.sources.wire import Parsed, WireError, namespace, parse_xml, root_name, where
from streams.sources.wire.text import (
    codes,
    element_text,
    html_text,
    inline_text,
    iso_date,
    language,
    local,
    plain_text,
)

ATOM = "http://www.w3.org/2005/Atom"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MEDIA = ("audio/", "video/")
HEADLINE_CHARS = 150
_SENTENCE = re.compile(r"(?<=[.!?])\s")


def sniff_rss(head: bytes) -> int:
    return 2 if root_name(head) == "rss" else 0


def sniff_atom(head: bytes) -> int:
    name = root_name(head)
    return 2 if name is not None and name.rsplit(":", 1)[-1] in ("feed", "entry") else 0


def first_sentence(text: str) -> str:
    """A headline for an item without a title: its first sentence, cut at a word."""
    first = _SENTENCE.split(text.strip().split("\n", 1)[0], maxsplit=1)[0]
    if len(first) <= HEADLINE_CHARS:
        return first
    return first[:HEADLINE_CHARS].rsplit(" ", 1)[0] + "..."


def _child_text(parent: Element, tag: str) -> str:
    return inline_text(parent.find(tag))


# -- RSS 2.0 -----------------------------------------------------------------------------
def parse_rss(raw: bytes) -> Parsed:
    root = parse_xml(raw)
    if local(root.tag) != "rss":
        raise WireError("unsupported", f"<{local(root.tag)}> is not an RSS 2.0 document")
    if namespace(root.tag):
        raise WireError(
            "wrong_namespace",
            f"<rss> is in the namespace {namespace(root.tag)!r}; RSS 2.0 has none",
        )
    channel = root.find("channel")
    if channel is None:
        raise WireError("missing_field", "the RSS document has no <channel>")
    feed_title = _child_text(channel, "title")
    feed_language = language(_child_text(channel, "language"))
    parsed = Parsed()
    items = channel.findall("item")
    for n, item in enumerate(items, 1):
        guid = _child_text(item, "guid") or _child_text(item, "link") or None
        enclosure = item.find("enclosure")
        kind = (enclosure.get("type") or "").lower() if enclosure is not None else ""
        if kind.startswith(MEDIA):
            parsed.skipped.append(f"{kind.split('/')[0]} {guid or n}: not text")
            continue
        description = html_text(item.findtext("description") or "")
        encoded = html_text(item.findtext(f"{{{CONTENT}}}encoded") or "")
        body = encoded or description
        headline = plain_text(_child_text(item, "title"))
        if not headline and not body:
            parsed.skipped.append(f"item {guid or n}: no text")
            continue
        link = _child_text(item, "link")
        guid_element = item.find("guid")
        if not link and guid and guid_element is not None:
            permalink = (guid_element.get("isPermaLink") or "true").lower() != "false"
            link = guid if permalink and guid.startswith(("http://", "https://")) else ""
        fields: dict[str, Any] = {
            "guid": guid,
            "headline": headline or first_sentence(body),
            "standfirst": description.replace("\n", " ") if encoded else "",
            "body": body,
            "byline": _child_text(item, f"{{{DC}}}creator") or _author(_child_text(item, "author")),
            "source": _child_text(item, "source") or feed_title,
            "url": link,
            "published_at": iso_date(_child_text(item, "pubDate"))
            or iso_date(_child_text(item, f"{{{DC}}}date")),
            "language": feed_language,
            "provider_subjects": codes(inline_text(c) for c in item.findall("category")),
        }
        parsed.items.append((where(n, guid), fields))
    if not items:
        raise WireError("empty", "the RSS channel has no items")
    return parsed


def _author(text: str) -> str:
    """RSS ``author`` is an e-mail address, often ``jo@example.com (Jo Doe)``."""
    match = re.fullmatch(r"\S+@\S+\s*\((.+)\)", text)
    return match.group(1).strip() if match else text


# -- Atom 1.0 ----------------------------------------------------------------------------
def a(name: str) -> str:
    return f"{{{ATOM}}}{name}"


def parse_atom(raw: bytes) -> Parsed:
    root = parse_xml(raw)
    name = local(root.tag)
    if name not in ("feed", "entry"):
        raise WireError("unsupported", f"<{name}> is not an Atom feed or entry")
    if namespace(root.tag) != ATOM:
        raise WireError(
            "wrong_namespace",
            f"<{name}> is in the namespace {namespace(root.tag) or '(none)'!r},"
            f" not Atom's {ATOM!r}",
        )
    entries = root.findall(a("entry")) if name == "feed" else [root]
    feed = root if name == "feed" else None
    parsed = Parsed()
    for n, entry in enumerate(entries, 1):
        ident = _child_text(entry, a("id")) or None
        fields = _entry(entry, feed)
        label = where(n, ident) if feed is not None else ""
        if isinstance(fields, str):
            parsed.skipped.append(
                f"{fields} {ident or n}: " + ("no text" if fields == "entry" else "not text")
            )
        else:
            parsed.items.append((label, fields))
    if not entries:
        raise WireError("empty", "the Atom feed has no entries")
    return parsed


def _text_construct(element: Element | None) -> str:
    """An Atom text construct (``type`` text, html or xhtml) as plain paragraphs."""
    if element is None:
        return ""
    kind = (element.get("type") or "text").lower()
    if kind == "xhtml":
        div = next((c for c in element if local(c.tag) == "div"), element)
        return element_text(div)
    if kind == "html" or kind.endswith(("/html", "+xml", "/xml")):
        return html_text(element.text or "")
    if kind == "text" or kind.startswith("text/"):
        return plain_text(element.text or "")
    return ""  # base64 or another media type: not text


def _entry(entry: Element, feed: Element | None) -> dict[str, Any] | str:
    """An entry's article fields, or what it is when it is skipped."""
    content = entry.find(a("content"))
    if content is not None and content.get("src"):
        kind = (content.get("type") or "").lower()
        if kind.startswith(MEDIA) or kind.startswith("image/"):
            return kind.split("/")[0]
    for link in entry.findall(a("link")):
        kind = (link.get("type") or "").lower()
        if link.get("rel") == "enclosure" and kind.startswith(MEDIA):
            return kind.split("/")[0]
    summary = _text_construct(entry.find(a("summary")))
    body = _text_construct(content)
    headline = _text_construct(entry.find(a("title"))).replace("\n", " ")
    text = body or summary
    if not text and not headline:
        return "entry"
    updated = iso_date(_child_text(entry, a("updated")))
    source = entry.find(a("source"))
    source_title = _text_construct(source.find(a("title"))) if source is not None else ""
    feed_title = _text_construct(feed.find(a("title"))) if feed is not None else ""
    authors = [_child_text(x, a("name")) for x in entry.findall(a("author"))]
    if not any(authors) and feed is not None:
        authors = [_child_text(x, a("name")) for x in feed.findall(a("author"))]
    lang = entry.get(XML_LANG) or (feed.get(XML_LANG) if feed is not None else None)
    return {
        "guid": _child_text(entry, a("id")) or None,
        "headline": headline or first_sentence(text),
        "standfirst": summary.replace("\n", " ") if body else "",
        "body": text,
        "byline": ", ".join(x for x in authors if x),
        "source": source_title or feed_title,
        "url": _alternate(entry),
        "published_at": iso_date(_child_text(entry, a("published"))) or updated,
        "version_created": updated,
        "language": language(lang),
        "provider_subjects": codes(c.get("term") or "" for c in entry.findall(a("category"))),
    }


def _alternate(entry: Element) -> str:
    for link in entry.findall(a("link")):
        if (link.get("rel") or "alternate") == "alternate" and link.get("href"):
            return str(link.get("href"))
    return ""
