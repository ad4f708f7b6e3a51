"""The one place that builds dead-letter records.

A dead-letter record says why a message was refused (a machine-readable ``code`` and
a ``message``), where it came from (topic, partition, offset, timestamp) and carries
the original payload: as text when it is valid UTF-8, else base64. Oversize payloads
keep their first ``MAX_PAYLOAD_COPY`` bytes plus the full size. A record must still fit
the output limit: ``agents.outputs.dead_letter_output`` can ask for a shorter copy and
cut a huge original key (``origin.key_truncated``, ``origin.key_size``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DEADLETTER_SCHEMA = "deadletter/1"
MAX_PAYLOAD_COPY = 65_536


@dataclass(frozen=True)
class Received:
    """One input message with where it came from (``timestamp`` in seconds)."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp: float | None


def refuse(
    msg: Received,
    code: str,
    message: str,
    *,
    max_copy: int = MAX_PAYLOAD_COPY,
    max_key: int | None = None,
) -> dict[str, Any]:
    """The dead-letter record for one received message (see :func:`dead_letter_record`)."""
    return dead_letter_record(
        code=code,
        message=message,
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        timestamp=msg.timestamp,
        key=msg.key,
        payload=msg.value,
        max_copy=max_copy,
        max_key=max_key,
    )


def dead_letter_record(
    *,
    code: str,
    message: str,
    topic: str,
    partition: int,
    offset: int,
    timestamp: float | None,
    key: bytes | None,
    payload: bytes | None,
    max_copy: int = MAX_PAYLOAD_COPY,
    max_key: int | None = None,
) -> dict[str, Any]:
    """Build the JSON-ready dead-letter record for one refused message.

    The payload keeps its first ``max_copy`` bytes; with ``max_key``, a longer key keeps
    its first ``max_key`` bytes and the origin says so (``key_truncated``, ``key_size``).
    """
    raw = payload or b""
    copy = raw[:max_copy]
    try:
        text: str = copy.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        text = base64.b64encode(copy).decode("ascii")
        encoding = "base64"
    origin: dict[str, Any] = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": timestamp,
        "key": _text_or_base64(key),
    }
    if key is not None and max_key is not None and len(key) > max_key:
        origin.update(key=_text_or_base64(key[:max_key]), key_truncated=True, key_size=len(key))
    return {
        "reason": {"code": code, "message": message},
        "origin": origin,
        "payload": text if payload is not None else None,
        "payload_encoding": encoding,
        "payload_size": len(raw),
        "payload_truncated": len(raw) > len(copy),
        "schema": DEADLETTER_SCHEMA,
        "dead_lettered_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }


def _text_or_base64(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode("ascii")
