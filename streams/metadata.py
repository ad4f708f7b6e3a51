"""No topic auto-creation by Wirestream's Kafka clients.

A Kafka metadata request (v4 and later) says whether the broker may create the topics it
names. aiokafka always says yes, so a consumer subscribed to a misspelt topic, or a
producer sending to one, made the broker create it. Wirestream creates its topics
explicitly (``wirestream topics --create`` and the worker's start, with
``WIRESTREAM_PARTITIONS``), so its clients say no.

Only clients whose ``client_id`` starts with ``wirestream`` are changed (every client
built from :func:`streams.settings.kafka_options`, the publisher, the worker), so other
aiokafka users in the same process keep the library's default.
"""

from __future__ import annotations

import contextvars
from typing import Any

from aiokafka import client as _client
from aiokafka.admin import client as _admin
from aiokafka.protocol.metadata import MetadataRequest

CLIENT_ID_PREFIX = "wirestream"
_FORBID: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "wirestream_forbid_auto_create", default=False
)


class _NoAutoCreateMetadataRequest(MetadataRequest):
    """A metadata request that forbids auto-creation while :data:`_FORBID` is set."""

    def __init__(
        self, topics: list[str] | None = None, allow_auto_topic_creation: bool | None = None
    ) -> None:
        if allow_auto_topic_creation is None and _FORBID.get():
            allow_auto_topic_creation = False
        super().__init__(topics, allow_auto_topic_creation)


def is_wirestream_client(client_id: object) -> bool:
    return str(client_id or "").startswith(CLIENT_ID_PREFIX)


def _wrap(owner: Any, name: str, client_id: Any) -> None:
    original = getattr(owner, name)
    if getattr(original, "wirestream_patched", False):
        return

    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        token = _FORBID.set(is_wirestream_client(client_id(self)))
        try:
            return await original(self, *args, **kwargs)
        finally:
            _FORBID.reset(token)

    wrapper.wirestream_patched = True  # type: ignore[attr-defined]
    setattr(owner, name, wrapper)


def forbid_topic_auto_creation() -> None:
    """Make Wirestream's aiokafka clients (and Faust's, whose client id is set by the
    app) send metadata requests with ``allow_auto_topic_creation = false``. Idempotent."""
    _client.MetadataRequest = _NoAutoCreateMetadataRequest
    _admin.MetadataRequest = _NoAutoCreateMetadataRequest
    _wrap(_client.AIOKafkaClient, "_metadata_update", lambda c: c._client_id)
    _wrap(_admin.AIOKafkaAdminClient, "_get_cluster_metadata", lambda a: a._client._client_id)
