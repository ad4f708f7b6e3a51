"""IPTC NewsML-G2: a ``newsItem``, or a ``newsMessage`` with several items.

Text comes from ``contentSet``: ``inlineXML`` holding NITF (``body.content``) or XHTML
(``body``), or ``inlineData`` (plain text, or HTML when its content type says so). Items
of another class (``ninat:picture``, ``video``, ``audio``, ``graphic``, ...), packages
(``packageItem``) and concept, knowledge and planning items are skipped with a count.
"""

from __future__ import annotations

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
    status,
    subject_code,
    version,
)

NAR = "http://iptc.org/std/nar/2006-10-01/"
NITF = "http://iptc.org/std/NITF/2006-10-18/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ROOTS = ("newsItem", "newsMessage", "packageItem")
TEXT_CLASSES = ("text", "composite")


def sniff(head: bytes) -> int:
    name = root_name(head)
    return 2 if name is not None and name.rsplit(":", 1)[-1] in ROOTS else 0


def q(name: str) -> str:
    return f"{{{NAR}}}{name}"


def parse(raw: bytes) -> Parsed:
    root = parse_xml(raw)
    name = local(root.tag)
    if name not in ROOTS:
        raise WireError("unsupported", f"<{name}> is not a NewsML-G2 newsItem or newsMessage")
    if namespace(root.tag) != NAR:
        raise WireError(
            "wrong_namespace",
            f"<{name}> is in the namespace {namespace(root.tag) or '(none)'!r},"
            f" not NewsML-G2's {NAR!r}",
        )
    parsed = Parsed()
    if name == "newsMessage":
        item_set = root.find(q("itemSet"))
        members = list(item_set) if item_set is not None else []
        if not members:
            raise WireError("empty", "the newsMessage has no items")
    else:
        members = [root]
    for n, item in enumerate(members, 1):
        kind = local(item.tag)
        guid = item.get("guid")
        if kind != "newsItem":
            if kind:  # comments are not items
                parsed.skipped.append(f"{kind} {guid or n}: not a news item")
            continue
        item_class = _class(item)
        if item_class and item_class not in TEXT_CLASSES:
            parsed.skipped.append(f"{item_class} {guid or n}: not text")
            continue
        fields = news_item(item)
        if fields is None:
            parsed.skipped.append(f"{item_class or 'item'} {guid or n}: no text")
            continue
        parsed.items.append((where(n, guid) if len(members) > 1 else "", fields))
    return parsed


def _code(qcode: str | None) -> str:
    """``ninat:text`` or ``http://cv.iptc.org/newscodes/ninature/text`` -> ``text``."""
    if not qcode:
        return ""
    return qcode.rsplit(":", 1)[-1].rstrip("/").rsplit("/", 1)[-1].lower()


def _class(item: Element) -> str:
    meta = item.find(q("itemMeta"))
    element = meta.find(q("itemClass")) if meta is not None else None
    if element is None:
        return ""
    return _code(element.get("qcode") or element.get("uri"))


def _text_of(parent: Element | None, name: str) -> str:
    return inline_text(parent.find(q(name))) if parent is not None else ""


def _headline(content_meta: Element | None) -> str:
    if content_meta is None:
        return ""
    headlines = content_meta.findall(q("headline"))
    main = [h for h in headlines if not h.get("role") or str(h.get("role")).endswith("main")]
    for element in main or headlines:
        text = inline_text(element)
        if text:
            return text
    return ""


def news_item(item: Element) -> dict[str, Any] | None:
    """The article fields of one text ``newsItem``; None when it has no text at all
    (a ``usable`` item with neither headline nor body)."""
    item_meta = item.find(q("itemMeta"))
    content_meta = item.find(q("contentMeta"))
    rights = item.find(q("rightsInfo"))
    body, nitf = _content(item.find(q("contentSet")))
    headline = _headline(content_meta) or nitf.get("headline", "")
    pub_status = None
    if item_meta is not None:
        element = item_meta.find(q("pubStatus"))
        if element is not None:
            pub_status = status(element.get("qcode") or element.get("uri"))
    if not headline and not body:
        if pub_status in (None, "usable"):
            return None
        headline = f"[{pub_status}]"  # a kill or a withholding needs no text to count
    fields: dict[str, Any] = {
        "guid": item.get("guid") or None,
        "version": version(item.get("version")),
        "status": pub_status,
        "body": body,
        "standfirst": _description(content_meta) or nitf.get("standfirst", ""),
        "byline": _text_of(content_meta, "by") or nitf.get("byline", "") or _creators(content_meta),
        "source": _source(item_meta, rights),
        "url": "",
        "language": _language(item, content_meta),
        "provider_subjects": _subjects(content_meta),
    }
    if headline:
        fields["headline"] = headline
    created = [_text_of(item_meta, "firstCreated"), _text_of(content_meta, "contentCreated")]
    version_created = iso_date(_text_of(item_meta, "versionCreated"))
    fields["published_at"] = next(
        (d for d in map(iso_date, created) if d is not None), version_created
    )
    fields["version_created"] = version_created
    return fields


def _description(content_meta: Element | None) -> str:
    if content_meta is None:
        return ""
    for element in content_meta.findall(q("description")):
        role = element.get("role") or ""
        if not role or role.endswith("summary"):
            text = plain_text(" ".join(element.itertext()))
            if text:
                return text.replace("\n", " ")
    return ""


def _creators(content_meta: Element | None) -> str:
    if content_meta is None:
        return ""
    names = [_text_of(c, "name") for c in content_meta.findall(q("creator"))]
    return ", ".join(n for n in names if n)


def _source(item_meta: Element | None, rights: Element | None) -> str:
    provider = item_meta.find(q("provider")) if item_meta is not None else None
    if provider is not None:
        name = _text_of(provider, "name") or (provider.get("literal") or "").strip()
        if name:
            return name
        if provider.get("qcode"):
            return str(provider.get("qcode")).split(":", 1)[-1]
    holder = rights.find(q("copyrightHolder")) if rights is not None else None
    if holder is not None:
        name = _text_of(holder, "name") or (holder.get("literal") or "").strip()
        if name:
            return name
    if provider is not None and provider.get("uri"):
        return str(provider.get("uri"))
    return ""


def _language(item: Element, content_meta: Element | None) -> str | None:
    element = content_meta.find(q("language")) if content_meta is not None else None
    if element is not None and language(element.get("tag")):
        return language(element.get("tag"))
    return language(item.get(XML_LANG))


def _subjects(content_meta: Element | None) -> list[str]:
    if content_meta is None:
        return []
    return codes(
        subject_code(uri=s.get("uri")) if not s.get("qcode") else str(s.get("qcode"))
        for s in content_meta.findall(q("subject"))
    )


def _content(content_set: Element | None) -> tuple[str, dict[str, str]]:
    """The body text of a contentSet and what NITF's body.head adds (headline, byline,
    standfirst); the first inlineXML or inlineData with text wins."""
    if content_set is None:
        return "", {}
    for element in content_set:
        name = local(element.tag)
        if name == "inlineXML":
            children = [c for c in element if local(c.tag)]
            for child in children:
                body, head = _inline_xml(child)
                if body or head:
                    return body, head
        elif name == "inlineData":
            kind = (element.get("contenttype") or "text/plain").lower()
            text = element.text or ""
            body = html_text(text) if "html" in kind or "xml" in kind else plain_text(text)
            if body:
                return body, {}
    return "", {}


def _inline_xml(element: Element) -> tuple[str, dict[str, str]]:
    name = local(element.tag)
    if name == "nitf":
        body = _find_local(element, "body")
        if body is None:
            return "", {}
        head: dict[str, str] = {}
        body_head = _find_local(body, "body.head")
        if body_head is not None:
            hedline = _find_local(body_head, "hedline")
            hl1 = _find_local(hedline, "hl1") if hedline is not None else None
            head["headline"] = inline_text(hl1)
            head["byline"] = inline_text(_find_local(body_head, "byline"))
            abstract = _find_local(body_head, "abstract")
            head["standfirst"] = (
                element_text(abstract).replace("\n", " ") if abstract is not None else ""
            )
        content = _find_local(body, "body.content")
        return (element_text(content) if content is not None else ""), head
    if name == "html":
        body = _find_local(element, "body")
        return (element_text(body) if body is not None else ""), {}
    return element_text(element), {}


def _find_local(element: Element, name: str) -> Element | None:
    """The first child named ``name`` in any namespace (NITF and XHTML come with or
    without theirs)."""
    return next((c for c in element if local(c.tag) == name), None)
