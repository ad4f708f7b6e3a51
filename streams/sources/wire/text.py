"""Plain text out of HTML and XML bodies, and the small normalisations every wire reader
shares (language tags, dates, versions, statuses, subject codes).

A body becomes paragraphs joined by ``"\\n"`` (the article format): tags are gone,
entities decoded, whitespace inside a paragraph collapsed, and the text of ``script``,
``style`` and similar elements dropped. Block elements (``p``, ``div``, headings, list
items, ``br``, table rows, ...) end a paragraph.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any
from xml.etree.ElementTree import Element

#: Elements that end a paragraph (HTML, XHTML and NITF names, local names only).
BLOCK = frozenset(
    [
        "p",
        "div",
        "br",
        "hr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hl1",
        "hl2",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "pre",
        "table",
        "tr",
        "thead",
        "tbody",
        "tfoot",
        "caption",
        "section",
        "article",
        "aside",
        "header",
        "footer",
        "nav",
        "figure",
        "figcaption",
        "address",
        "main",
        "block",
        "body.content",
        "body.end",
        "tagline",
        "note",
        "fn",
        "bq",
        "credit",
    ]
)
#: Elements whose text is never article text.
SKIP = frozenset(
    [
        "script",
        "style",
        "noscript",
        "template",
        "head",
        "title",
        "iframe",
        "object",
        "embed",
        "svg",
        "math",
    ]
)
_SPACE = re.compile(r"\s+")
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_STATUS_PREFIX = re.compile(r"^(?:stat:|.*/)")


def local(tag: Any) -> str:
    """An element's name without its namespace (``{ns}p`` -> ``p``); "" for comments."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


class _Paragraphs:
    def __init__(self) -> None:
        self.done: list[str] = []
        self.current: list[str] = []

    def add(self, text: str) -> None:
        self.current.append(text)

    def end(self) -> None:
        text = _SPACE.sub(" ", "".join(self.current)).strip()
        if text:
            self.done.append(text)
        self.current = []

    def result(self) -> str:
        self.end()
        return "\n".join(self.done)


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = _Paragraphs()
        self.skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        name = tag.lower()
        if name in SKIP:
            self.skipping.append(name)
        elif name in BLOCK and not self.skipping:
            self.out.end()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.lower() in BLOCK and not self.skipping:
            self.out.end()

    def handle_endtag(self, tag: str) -> None:
        name = tag.lower()
        if self.skipping:
            if name == self.skipping[-1]:
                self.skipping.pop()
            return
        if name in BLOCK:
            self.out.end()

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.add(data)


def html_text(html: str) -> str:
    """The paragraphs of an HTML (or XHTML) fragment as plain text. Plain text without
    tags comes back with its whitespace collapsed per line."""
    if "<" not in html and "&" not in html:
        return plain_text(html)
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return parser.out.result()


def plain_text(text: str) -> str:
    """Plain text: one paragraph per non-blank line, spaces collapsed."""
    lines = (_SPACE.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def element_text(element: Element, *, skip: Iterable[str] = ()) -> str:
    """The paragraphs of a parsed XML element (NITF, XHTML) as plain text; elements named
    in ``skip`` (local names, e.g. NITF's ``body.head``) are left out with their text.
    Iterative (an explicit stack), so hostile nesting depth cannot exhaust the stack."""
    out = _Paragraphs()
    skipped = SKIP | frozenset(skip)
    # ("open", element) visits an element; ("text", str) adds text; ("end", None) ends a
    # paragraph. Children are pushed in reverse so they pop in document order.
    stack: list[tuple[str, Any]] = [("open", element)]
    while stack:
        action, value = stack.pop()
        if action == "text":
            out.add(value)
            continue
        if action == "end":
            out.end()
            continue
        node: Element = value
        name = local(node.tag)
        if not name or name in skipped:  # a comment, or skipped with its text
            continue
        block = name in BLOCK
        if block:
            out.end()
            stack.append(("end", None))
        for child in reversed(node):
            if child.tail:
                stack.append(("text", child.tail))
            stack.append(("open", child))
        if node.text:
            stack.append(("text", node.text))
    return out.result()


def inline_text(element: Element | None) -> str:
    """All the text inside one element, on one line (headlines, names, bylines)."""
    if element is None:
        return ""
    return _SPACE.sub(" ", "".join(element.itertext())).strip()


def language(tag: Any) -> str | None:
    """An ISO 639 code from a language tag (``en-US`` -> ``en``, ``nb_NO`` -> ``nb``);
    None when there is none or it is not a 2-3 letter code (the worker then detects)."""
    if not isinstance(tag, str):
        return None
    code = re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0]
    return code if _LANGUAGE.fullmatch(code) else None


def iso_date(value: Any) -> str | None:
    """An ISO 8601 date-time string from an ISO or RFC 822 (RSS) date, or None when it is
    neither. ISO strings are kept as given; RFC 822 dates become ISO with their offset."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
        return text
    except ValueError:
        pass
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()


def version(value: Any) -> int | None:
    """A provider's version as an integer >= 1 (``"2"`` -> 2), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 1 else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
        return number if number >= 1 else None
    return None


def status(value: Any) -> str | None:
    """A publication status: ``stat:canceled``, ``usable``, or the URI of the IPTC
    pubstatus code -> ``canceled`` / ``usable``; other values are kept (lower case) so
    that validation refuses them with ``invalid_status``. None when absent."""
    if not isinstance(value, str) or not value.strip():
        return None
    code = _STATUS_PREFIX.sub("", value.strip().lower())
    return "canceled" if code == "cancelled" else code


#: IPTC NewsCodes URIs -> their qcode scheme alias.
_SCHEMES = {
    "http://cv.iptc.org/newscodes/mediatopic/": "medtop",
    "https://cv.iptc.org/newscodes/mediatopic/": "medtop",
    "http://cv.iptc.org/newscodes/subjectcode/": "subj",
    "https://cv.iptc.org/newscodes/subjectcode/": "subj",
}


def subject_code(uri: str | None = None, scheme: str | None = None, code: str | None = None) -> str:
    """A subject's code: a qcode as is; a NewsCodes URI as its qcode
    (``http://cv.iptc.org/newscodes/mediatopic/04000000`` -> ``medtop:04000000``); a
    scheme URI and a code joined the same way. "" when there is nothing usable."""
    if uri:
        for prefix, alias in _SCHEMES.items():
            if uri.startswith(prefix) and uri[len(prefix) :].strip("/"):
                return f"{alias}:{uri[len(prefix) :].strip('/')}"
        return uri
    if code:
        if ":" in code or not scheme:
            return code
        base = scheme if scheme.endswith("/") else scheme + "/"
        scheme_alias = _SCHEMES.get(base)
        return f"{scheme_alias}:{code}" if scheme_alias else f"{base}{code}"
    return ""


def codes(values: Iterable[str]) -> list[str]:
    """Distinct subject codes in order, without blanks or codes holding whitespace (free
    text categories are not codes), at most 200 (the article/2 limit)."""
    seen: dict[str, None] = {}
    for value in values:
        text = (value or "").strip()
        if text and len(text) <= 200 and not _SPACE.search(text):
            seen.setdefault(text, None)
    return list(seen)[:200]
