"""Output records that always fit: sizes are checked before anything is sent.

Every output is ``(topic, key, value)``. Its size is ``len(key) + len(value)`` and must
be at most ``WIRESTREAM_MAX_OUTPUT_BYTES`` (the worker's producer accepts a little more,
for the record's framing). An enriched record over the limit is made smaller by the
rules below, applied in order until it fits, and says what was cut (``shrunk``, and
``truncated`` is then true). If it still does not fit, the article is dead-lettered
with reason ``output_too_large``. Dead-letter records fit by construction: a shorter
copy of the payload and, for a huge original key, a cut key.

Shrinking rules (each one only when the record is still too large):

1. ``sentence_text`` of each event: at most :data:`SENTENCE_CHARS` characters (its
   start; ``trigger_span`` still points into the article text);
2. ``events``: the first :data:`MAX_EVENTS`, in text order (``tags`` keeps every tag);
3. ``mentions`` of each entity: the first :data:`MAX_MENTIONS` (``count`` keeps the
   total);
4. ``entities``: the first :data:`MAX_ENTITIES` (the most mentioned first).

The headline, standfirst, body, source and url are never cut: an article whose text
alone is over the limit is dead-lettered. Pure functions, no Kafka.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from agents.deadletter import MAX_PAYLOAD_COPY, Received, refuse
from streams import codecs
from streams.topics import DEADLETTER

log = logging.getLogger(__name__)

Output = tuple[str, bytes | None, bytes | None]

SENTENCE_CHARS = 300
MAX_EVENTS = 100
MAX_MENTIONS = 100
MAX_ENTITIES = 200
#: A dead letter whose original key is longer keeps only this many bytes of it.
MAX_DEAD_LETTER_KEY = 1024
OUTPUT_TOO_LARGE = "output_too_large"


class OutputTooLarge(ValueError):
    """An output that is over the limit reached the send loop (a bug: never sent)."""


def output_size(key: bytes | None, value: bytes | None) -> int:
    """The bytes an output counts against the limit: key plus value."""
    return len(key or b"") + len(value or b"")


def _cut_sentences(record: dict[str, Any]) -> int:
    cut = 0
    for event in record["events"]:
        if len(event["sentence_text"]) > SENTENCE_CHARS:
            event["sentence_text"] = event["sentence_text"][:SENTENCE_CHARS]
            cut += 1
    return cut


def _cap_events(record: dict[str, Any]) -> int:
    dropped = max(0, len(record["events"]) - MAX_EVENTS)
    record["events"] = record["events"][:MAX_EVENTS]
    return dropped


def _cap_mentions(record: dict[str, Any]) -> int:
    dropped = 0
    for entity in record["entities"]:
        extra = len(entity["mentions"]) - MAX_MENTIONS
        if extra > 0:
            entity["mentions"] = entity["mentions"][:MAX_MENTIONS]
            dropped += extra
    return dropped


def _cap_entities(record: dict[str, Any]) -> int:
    dropped = max(0, len(record["entities"]) - MAX_ENTITIES)
    record["entities"] = record["entities"][:MAX_ENTITIES]
    return dropped


#: (name in ``shrunk``, rule), in the order they are applied.
RULES: tuple[tuple[str, Callable[[dict[str, Any]], int]], ...] = (
    ("sentence_text", _cut_sentences),
    ("events", _cap_events),
    ("mentions", _cap_mentions),
    ("entities", _cap_entities),
)


def shrink(record: dict[str, Any], max_bytes: int) -> tuple[dict[str, Any], bytes] | None:
    """The record and its encoding, made to fit in ``max_bytes`` by the rules above (the
    record itself when it already fits; the input is never changed), or None when even
    all the rules do not make it fit. A shrunk record has ``truncated`` true and
    ``shrunk``: how many sentence texts were cut and events, mentions and entities
    dropped (rules that changed nothing are left out)."""
    value = codecs.dumps(record)
    if len(value) <= max_bytes:
        return record, value
    smaller = {
        **record,
        "events": [dict(e) for e in record["events"]],
        "entities": [dict(e) for e in record["entities"]],
        "truncated": True,
    }
    shrunk: dict[str, int] = {}
    for name, rule in RULES:
        changed = rule(smaller)
        if not changed:
            continue
        shrunk[name] = changed
        smaller["shrunk"] = dict(shrunk)
        value = codecs.dumps(smaller)
        if len(value) <= max_bytes:
            return smaller, value
    return None


def dead_letter_output(msg: Received, code: str, message: str, *, max_bytes: int) -> Output:
    """The dead-letter output for ``msg``, made to fit in ``max_bytes``: the usual record
    when it fits, else one with a huge key cut to :data:`MAX_DEAD_LETTER_KEY` bytes (the
    output's key too) and the payload copy halved until it fits."""
    value = codecs.dumps(refuse(msg, code, message))
    if output_size(msg.key, value) <= max_bytes:
        return DEADLETTER, msg.key, value
    key = msg.key
    if key is not None and len(key) > MAX_DEAD_LETTER_KEY:
        key = key[:MAX_DEAD_LETTER_KEY]
    copy = MAX_PAYLOAD_COPY
    while True:
        copy //= 2
        record = refuse(msg, code, message, max_copy=copy, max_key=MAX_DEAD_LETTER_KEY)
        value = codecs.dumps(record)
        if output_size(key, value) <= max_bytes or copy == 0:
            return DEADLETTER, key, value


def enriched_outputs(msg: Received, record: dict[str, Any], *, max_bytes: int) -> list[Output]:
    """The outputs of one enriched record: the same bytes to every topic in its
    ``routes``, shrunk if needed, or its dead letter (``output_too_large``)."""
    key = str(record["id"]).encode()
    fitted = shrink(record, max_bytes - len(key))
    if fitted is None:
        size = len(codecs.dumps(record)) + len(key)
        log.warning("enriched record for %s is %d bytes, too large even shrunk", record["id"], size)
        message = (
            f"the enriched record is {size} bytes, over the {max_bytes} byte output limit "
            "(WIRESTREAM_MAX_OUTPUT_BYTES) even after shrinking"
        )
        return [dead_letter_output(msg, OUTPUT_TOO_LARGE, message, max_bytes=max_bytes)]
    smaller, value = fitted
    if "shrunk" in smaller:
        log.warning("enriched record for %s shrunk to fit: %s", record["id"], smaller["shrunk"])
    return [(topic, key, value) for topic in smaller["routes"]]


def check_sizes(outputs: list[Output], max_bytes: int) -> None:
    """Raise :class:`OutputTooLarge` if any output is over ``max_bytes`` (the last check
    before sending; the functions above never produce one)."""
    for topic, key, value in outputs:
        size = output_size(key, value)
        if size > max_bytes:
            raise OutputTooLarge(f"an output to {topic} is {size} bytes, over {max_bytes}")
