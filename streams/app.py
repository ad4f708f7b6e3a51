"""The Faust app: broker, codec, web server bound to localhost, group settings.

Agents live in ``agents/`` and register themselves on :data:`app` when imported
(``wirestream worker`` imports them).
"""

from __future__ import annotations

import logging
import re
import socket
from typing import Any

import faust

from streams import (
    codecs,  # noqa: F401  (registers the orjson codec)
    patches,
)
from streams.settings import Settings, get_settings

log = logging.getLogger(__name__)

#: What the producer accepts on top of ``WIRESTREAM_MAX_OUTPUT_BYTES`` (key + value):
#: the record's framing (batch header, lengths, headers) is far smaller than this.
RECORD_OVERHEAD = 16_384


def _credentials(settings: Settings) -> Any:
    """Faust broker credentials for TLS and SASL, or None for plaintext."""
    protocol = settings.security_protocol
    ssl_context = None
    if protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        ssl_context = create_ssl_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
        )
        if protocol == "SSL":
            return faust.SSLCredentials(ssl_context)
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password.get_secret_value(),
            mechanism=settings.sasl_mechanism,
            ssl_context=ssl_context,
        )
    return None


#: The fetch wait (s) on Tansu unless WIRESTREAM_FETCH_MAX_WAIT says otherwise.
TANSU_FETCH_MAX_WAIT = 0.05


def session_timeout(settings: Settings, kind: str) -> float:
    """``WIRESTREAM_SESSION_TIMEOUT``, or by default 5 s on Tansu (whose join waits half
    of it) and 6 s on Apache Kafka: brokers refuse less than their
    ``group.min.session.timeout.ms``, 6 s by default (a 5 s session never joins)."""
    if settings.session_timeout is not None:
        return settings.session_timeout
    return 5.0 if kind == "tansu" else 6.0


def group_instance_id(settings: Settings, kind: str) -> str | None:
    """The worker's static group member id (``group.instance.id``, KIP-345) on Apache
    Kafka: ``WIRESTREAM_INSTANCE_ID`` (``--instance``), by default ``HOSTNAME-WEBPORT``
    (unique per worker on a host, and the same when that worker restarts); None on Tansu
    or when set to ``off`` (dynamic membership).

    A restarted member with the same id gets its partitions back at once; without it the
    group waits for the dead member's session to time out, then rebalances everyone.
    aiokafka sends no LeaveGroup for a static member, so a worker stopped for good keeps
    its partitions until the session timeout (6 s). Tansu: not used (not tested there)."""
    if kind == "tansu":
        return None
    chosen = (settings.instance_id or "").strip()
    if chosen.lower() == "off":
        return None
    if not chosen:
        host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname()) or "worker"
        chosen = f"{host}-{settings.web_port}"
    return chosen


def configure_for_broker(app: faust.App, settings: Settings, kind: str) -> str:
    """Fit the app to the broker the worker found (``tansu`` or ``kafka``, from
    :func:`streams.broker.broker_kind`), before the worker starts its consumer.

    Static membership (:func:`group_instance_id`) is Apache Kafka's. Only the
    fetch wait is Tansu's (WIRESTREAM_FETCH_MAX_WAIT, when set, applies on
    both; :class:`streams.patches.ConsumerThread` uses it). The other patches fix the
    client (aiokafka and Faust) and apply on both brokers: tests/streams/test_app.py
    shows Apache Kafka storing a commit without membership for an empty group, and
    aiokafka's seek leaving a partition without a commit where the fetcher got to, as on
    Tansu (streams/patches.py, docs/patches.md). With exactly_once the consumer commits
    no offsets itself and reads read_committed (``patches.transactional_offsets``).
    Returns a line saying what was chosen."""
    patches.transactional_offsets = settings.guarantee == "exactly_once"
    wait = settings.fetch_max_wait
    if wait is None and kind == "tansu":
        wait = TANSU_FETCH_MAX_WAIT
    patches.fetch_max_wait_ms = int(wait * 1000) if wait is not None else None
    _fetch_max_wait_ms = patches.fetch_max_wait_ms
    app.conf.broker_session_timeout = session_timeout(settings, kind)
    instance = group_instance_id(settings, kind)
    app.conf.consumer_group_instance_id = instance  # type: ignore[assignment]  # None: off
    broker = "the embedded Tansu" if kind == "tansu" else "Apache Kafka (or compatible)"
    fetch = f"{_fetch_max_wait_ms} ms" if _fetch_max_wait_ms is not None else "Faust's 1500 ms"
    return (
        f"broker is {broker}: fetch wait {fetch}, "
        f"session timeout {app.conf.broker_session_timeout:g} s, "
        + (f"static member {instance}" if instance else "dynamic membership")
        + f", {settings.guarantee}"
    )


def create_app(settings: Settings) -> faust.App:
    """Build the Faust app for these settings (for Apache Kafka until
    :func:`configure_for_broker` says otherwise). No library internals are changed here:
    the worker applies :mod:`streams.patches` when it starts."""
    patches.register_transport()
    return faust.App(
        settings.app_id,
        broker=settings.broker,
        # The consumer's transport: Faust's aiokafka one with the consumer thread of
        # streams/patches.py (fetch wait, rewind), named by its URL scheme.
        broker_consumer=patches.consumer_url(settings.broker),
        # A "wirestream" client id: its metadata requests never auto-create a topic
        # (streams/patches.py); the worker creates its topics before it starts.
        broker_client_id=f"{patches.CLIENT_ID_PREFIX}-worker",
        broker_credentials=_credentials(settings),
        # Tansu makes a group join wait session_timeout / 2, and a restarted worker waits for
        # its dead predecessor to time out: short sessions keep both short (heartbeats
        # every second); see session_timeout().
        broker_session_timeout=session_timeout(settings, "kafka"),
        broker_heartbeat_interval=1.0,
        # Tansu cannot do InitProducerId, so no idempotent producer and no exactly-once:
        # at-least-once with outputs keyed by article id.
        processing_guarantee="at_least_once",
        producer_acks=-1,
        # Every output's size is checked against max_output_bytes before it is sent
        # (agents/outputs.py), so the producer never refuses one for its size.
        producer_max_request_size=settings.max_output_bytes + RECORD_OVERHEAD,
        consumer_auto_offset_reset="earliest",
        consumer_max_fetch_size=max(settings.max_article_bytes * 2, 4_194_304),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        topic_disable_leader=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        # Wirestream keeps no tables: Faust's /router and /table views only look tables
        # up, and answered 500 (KeyError) for names that do not exist (/router/x/). Off,
        # any path they served answers 404.
        web_router_enabled=False,
        web_tables_enabled=False,
        datadir=str(settings.data_dir),
        autodiscover=False,
    )


settings = get_settings()
app = create_app(settings)
